"""Provenance keys: a digest of everything that produced an artefact, so reuse happens only on an exact match.

A key is a flat mapping ``{component: value}`` (checkpoint digest, clip ids, attack spec, seed, versions,
...). Its digest names the artefact; when a stored artefact's key differs from the wanted one,
:func:`changed_components` says which components changed, so the recomputation can be explained.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_FILE_DIGESTS: dict[tuple[str, int, int], str] = {}
CHUNK = 1 << 20


def canonical(value: Any) -> str:
    """Deterministic JSON text of ``value`` (sorted keys; tuples as lists; other objects by ``str``)."""
    from videoabnn.utils.io import json_safe

    return json.dumps(json_safe(value), sort_keys=True, separators=(",", ":"), default=str)


def digest_of(value: Any, length: int = 64) -> str:
    """SHA-256 hex digest of :func:`canonical` text, cut to ``length`` characters."""
    return hashlib.sha256(canonical(value).encode()).hexdigest()[:length]


def file_digest(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes (memoised per path, size and modification time)."""
    path = Path(path).resolve()
    stat = path.stat()
    memo = (str(path), stat.st_size, stat.st_mtime_ns)
    if memo not in _FILE_DIGESTS:
        sha = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(CHUNK), b""):
                sha.update(block)
        _FILE_DIGESTS[memo] = sha.hexdigest()
    return _FILE_DIGESTS[memo]


def code_versions() -> dict[str, str | None]:
    """Versions of the code whose change can change a number: videoabnn and torch."""
    import torch

    import videoabnn

    return {"videoabnn": videoabnn.__version__, "torch": torch.__version__}


def changed_components(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "", limit: int = 6) -> list[str]:
    """Human-readable list of what differs between ``old`` and ``new``, by dotted key down to the leaves
    (``config.train.lr (0.006 -> 0.003)``); at most ``limit`` entries, then a count of the rest."""
    out: list[str] = []
    for name in sorted(set(old) | set(new)):
        a, b = old.get(name, "<absent>"), new.get(name, "<absent>")
        if canonical(a) == canonical(b):
            continue
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            out += changed_components(a, b, f"{prefix}{name}.", limit=10**9)
        else:
            out.append(f"{prefix}{name} ({_short(a)} -> {_short(b)})")
    if len(out) > limit:
        out = out[:limit] + [f"and {len(out) - limit} more"]
    return out


def _short(value: Any, limit: int = 60) -> str:
    text = value if isinstance(value, str) else canonical(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
