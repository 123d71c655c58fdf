"""Where an evaluation keeps its work: per-checkpoint folders, provenance-keyed cached items, locks.

Layout under an evaluation root (default ``<work_dir>/eval``)::

    <checkpoint stem>-<checkpoint digest8>/
        .lock                      while an evaluation of this checkpoint runs
        cache/index.json           item name -> the provenance key of its latest stored version
        cache/<item>-<key16>.pt    one cached item (clean logits, one attack's logits, the audit, ...)
        cache/universal/...        fitted universal patches, keyed the same way
        <settings digest8>/        results.json, results.md, config.yaml, eval.log of one set of settings

An item is reused only when its whole provenance key (checkpoint digest, clip ids, threat model,
resolved attack spec with its seed, surrogate digest, code versions, ...) matches; otherwise it is
recomputed and the log says which key components changed.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from videoabnn.utils.io import atomic_torch_save, atomic_write_json
from videoabnn.utils.provenance import changed_components, digest_of

log = logging.getLogger(__name__)
INDEX = "index.json"


def checkpoint_folder(checkpoint: str | Path, digest: str) -> str:
    """``<stem>-<digest8>``: one folder per checkpoint content."""
    return f"{Path(checkpoint).stem}-{digest[:8]}"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


class ItemStore:
    """Provenance-keyed cache of evaluation items in one folder (written by the main process only)."""

    def __init__(self, folder: str | Path, writable: bool = True) -> None:
        self.folder = Path(folder)
        self.writable = writable
        self.reused: list[str] = []
        self.computed: list[str] = []

    def path_for(self, name: str, key: Mapping[str, Any], suffix: str = ".pt") -> Path:
        """File of item ``name`` under ``key`` (the key's digest is part of the name)."""
        return self.folder / f"{_safe(name)}-{digest_of(key, 16)}{suffix}"

    def _index(self) -> dict[str, Any]:
        path = self.folder / INDEX
        try:
            return json.loads(path.read_text()) if path.is_file() else {}
        except json.JSONDecodeError:
            return {}

    def get(self, name: str, key: Mapping[str, Any]) -> dict | None:
        """The stored record of ``name`` under exactly ``key``, else None (logging which components changed)."""
        path = self.path_for(name, key)
        if path.is_file():
            data = torch.load(path, map_location="cpu", weights_only=True)
            if data.get("key") == json.loads(json.dumps(key, default=str)):
                self.reused.append(name)
                log.info("reusing %s (same provenance key %s)", name, path.name)
                return data["record"]
        self.explain(name, key)
        return None

    def explain(self, name: str, key: Mapping[str, Any]) -> list[str]:
        """Log (and return) what changed since the last stored version of ``name``."""
        previous = self._index().get(name)
        changes = changed_components(previous, key) if isinstance(previous, Mapping) else []
        if changes:
            log.info("recomputing %s: changed %s", name, "; ".join(changes))
        return changes

    def put(self, name: str, key: Mapping[str, Any], record: dict) -> Path:
        """Store ``record`` for ``name`` under ``key`` and remember ``key`` as its latest version."""
        path = self.path_for(name, key)
        if self.writable:
            atomic_torch_save({"key": json.loads(json.dumps(key, default=str)), "record": record}, path)
        self.remember(name, key)
        return path

    def remember(self, name: str, key: Mapping[str, Any]) -> None:
        """Record ``key`` as the latest version of ``name`` (an item written elsewhere, e.g. a patch file)."""
        self.computed.append(name)
        if self.writable:
            index = self._index()
            index[name] = json.loads(json.dumps(key, default=str))
            atomic_write_json(self.folder / INDEX, index)
