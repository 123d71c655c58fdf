#!/usr/bin/env python
"""The study's numbers do not depend on the machine's load: the quick study (``make demo-quick``) run on an
idle machine and again while a competing process keeps cores busy, its result files compared number by number.

    python benchmarks/bench_reproducible.py [--competitors 1] [--profile quick]

Each run has a folder of its own (data, pretraining set, work dir). Compared: every ``results/*.json`` and ``seeds/*/results/*.json``
(accuracies, per-clip records, audit verdicts, digests of the checkpoints that produced them) with the fields
that are measurements of time or of the machine left out (seconds, timestamps, environment). Prints
``identical`` or the differing keys, and the two wall times (the busy run is slower; its numbers must not
differ). The study pins its thread count (``threads`` in configs/synthetic/study.yaml); ``threads=auto`` on the
command line shows what happens without the pin.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BURN = "import time\nt = time.time()\nwhile time.time() - t < {seconds}:\n    sum(i * i for i in range(10000))\n"
VOLATILE = ("seconds", "time", "timestamp", "environment", "machine", "created", "date", "duration", "elapsed",
            "host", "pid", "path", "dir", "root", "work_dir", "command")


def _strip(value):
    """``value`` without the keys that measure time or name the machine or a folder."""
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if not any(word in k.lower() for word in VOLATILE)}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def result_files(work: Path) -> dict[str, object]:
    """Every result file of a study work dir, keyed by its path inside it, volatile fields removed."""
    files = sorted([*work.glob("results/*.json"), *work.glob("seeds/*/results/*.json")])
    return {str(p.relative_to(work)): _strip(json.loads(p.read_text())) for p in files}


def differences(a, b, prefix: str = "") -> list[str]:
    """Dotted keys where ``a`` and ``b`` differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{prefix}{k} (only one run)" for k in sorted(set(a) ^ set(b))]
        for k in sorted(set(a) & set(b)):
            out += differences(a[k], b[k], f"{prefix}{k}.")
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{prefix}{i}.")]
    return [] if a == b else [prefix.rstrip(".")]


def run_study(tmp: Path, name: str, profile: str, extra: list[str]) -> tuple[Path, float]:
    """One study run in a folder of its own (its data, pretraining set and work dir); (work dir, wall seconds)."""
    here = tmp / name
    here.mkdir()
    cmd = [sys.executable, str(ROOT / "tools" / "study.py"), str(ROOT / "configs" / "synthetic" / "study.yaml"),
           f"--{profile}", "work_dir=work", *extra]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=here, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return here / "work", time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--competitors", type=int, default=1, help="CPU-bound processes during the second run")
    parser.add_argument("--profile", default="quick", choices=["quick", "default"])
    parser.add_argument("overrides", nargs="*", help="key=value overrides for both runs (e.g. threads=auto)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        idle, idle_s = run_study(tmp, "idle", args.profile, args.overrides)
        burners = [subprocess.Popen([sys.executable, "-c", BURN.format(seconds=3600)]) for _ in range(args.competitors)]
        try:
            time.sleep(1.0)  # the competitors are running before the study starts (what `auto` would sample)
            busy, busy_s = run_study(tmp, "busy", args.profile, args.overrides)
        finally:
            for proc in burners:
                proc.kill()
        a, b = result_files(idle), result_files(busy)
        diff = differences(a, b)
        print(f"profile {args.profile}, overrides {args.overrides or 'none'}, {args.competitors} competing process(es)")
        print(f"result files compared: {len(a)} (idle) vs {len(b)} (busy)")
        print(f"wall time: idle {idle_s:.1f} s, busy {busy_s:.1f} s ({busy_s / idle_s:.2f}x)")
        print("identical" if not diff and a else f"DIFFERENT at {len(diff)} keys: {', '.join(diff[:20])}")
        return 0 if not diff and a else 1


if __name__ == "__main__":
    sys.exit(main())
