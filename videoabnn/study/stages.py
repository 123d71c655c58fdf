"""Resumable stages: each stage's outputs are recorded atomically once it finishes, with the provenance
key of its inputs (configs, checkpoint digests); a rerun skips a stage only when its record exists, its
recorded files are still there and its key is unchanged, and otherwise says which key changed."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from videoabnn.utils.io import atomic_write_json
from videoabnn.utils.provenance import canonical, changed_components


class StageRunner:
    """Runs named stages in order, printing one line per stage, skipping finished ones."""

    def __init__(self, work_dir: str | os.PathLike, total: int | None = None, log: Callable[[str], None] = print,
                 force: bool = False, label: str = "") -> None:
        self.label = f"{label}, " if label else ""
        self.work_dir = Path(work_dir)
        self.state_dir = self.work_dir / "stages"
        self.total = total
        self.log = log
        self.force = force
        self.index = 0
        self.timings: dict[str, dict] = {}

    def record_path(self, name: str) -> Path:
        return self.state_dir / f"{name}.json"

    def finished(self, name: str, key: Mapping[str, Any] | None = None) -> dict | None:
        """The stored record of a finished stage with the same key, or None when it must (re)run."""
        path = self.record_path(name)
        if self.force or not path.is_file():
            return None
        try:
            record = json.loads(path.read_text())
        except json.JSONDecodeError:
            return None
        files = record.get("files") or []
        if any(not (self.work_dir / f).exists() for f in files):
            return None
        wanted = json.loads(canonical(key or {}))
        if record.get("key", {}) != wanted:
            changes = changed_components(record.get("key") or {}, wanted)
            self.log(f"[study] {name}: inputs changed since the last run ({'; '.join(changes)}), rerunning")
            return None
        return record

    def run(self, name: str, fn: Callable[[], dict[str, Any] | None], files: Callable[[dict], list[str]] | None = None,
            key: Mapping[str, Any] | None = None) -> dict:
        """Run ``fn`` unless ``name`` already finished under the same ``key``; returns ``fn``'s outputs."""
        self.index += 1
        prefix = f"[study {self.label}{self.index}/{self.total}]" if self.total else f"[study {self.label}{self.index}]"
        done = self.finished(name, key)
        if done is not None:
            self.log(f"{prefix} {name}: already done ({done['seconds']:.1f} s), skipped")
            self.timings[name] = {"seconds": done["seconds"], "skipped": True}
            return done["outputs"]
        self.log(f"{prefix} {name} ...")
        start = time.perf_counter()
        outputs = fn() or {}
        seconds = time.perf_counter() - start
        rel = files(outputs) if files else []
        atomic_write_json(self.record_path(name), {"name": name, "seconds": seconds, "outputs": outputs,
                                                   "files": rel, "key": json.loads(canonical(key or {})),
                                                   "finished": time.strftime("%Y-%m-%d %H:%M:%S")})
        self.timings[name] = {"seconds": seconds, "skipped": False}
        self.log(f"{prefix} {name}: done in {seconds:.1f} s")
        return outputs

    def all_timings(self) -> dict[str, dict]:
        """Seconds per stage, including those recorded by earlier (interrupted) runs."""
        out = {}
        for path in sorted(self.state_dir.glob("*.json")):
            try:
                record = json.loads(path.read_text())
            except json.JSONDecodeError:
                continue
            out[record["name"]] = {"seconds": record["seconds"]}
        return out
