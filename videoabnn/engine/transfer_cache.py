"""Adversarial clips crafted on the transfer surrogate, kept in memory for the next model evaluated in the
same process.

A study evaluates several targets against one surrogate: each target's transfer rows attack the same
clips of the same surrogate with the same attack and seed, so the crafted clips are identical. The first
evaluation computes them; later ones in the process reuse them (same numbers, no recomputation). The
cache holds at most ``VIDEOABNN_TRANSFER_CACHE_MB`` MiB (default 512; 0 turns it off) and forgets the
oldest entries first, so large data sets simply fall back to recomputing.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from torch import Tensor

from videoabnn.utils.provenance import digest_of

DEFAULT_MB = 512


def _limit_bytes() -> int:
    """The cache size from ``VIDEOABNN_TRANSFER_CACHE_MB`` (MiB)."""
    raw = os.environ.get("VIDEOABNN_TRANSFER_CACHE_MB", str(DEFAULT_MB))
    try:
        return max(0, int(raw)) * 2**20
    except ValueError as err:
        raise ValueError(f"VIDEOABNN_TRANSFER_CACHE_MB: expected a number of MiB, got {raw!r}") from err


class TransferCache:
    """A size-bounded, least-recently-used map from a crafting key to (adversarial clips, attack report)."""

    def __init__(self, limit_bytes: int | None = None) -> None:
        self._items: OrderedDict[str, tuple[Tensor, dict]] = OrderedDict()
        self._bytes = 0
        self._limit = limit_bytes
        self.hits = 0

    @property
    def limit(self) -> int:
        return _limit_bytes() if self._limit is None else self._limit

    def get(self, key: str) -> tuple[Tensor, dict] | None:
        """The clips and report stored under ``key``, or None."""
        item = self._items.get(key)
        if item is not None:
            self._items.move_to_end(key)
            self.hits += 1
        return item

    def put(self, key: str, clips: Tensor, report: Mapping | None = None) -> None:
        """Keep ``clips`` (moved to the CPU) under ``key`` if they fit in the size limit."""
        clips = clips.detach().cpu()
        size = clips.numel() * clips.element_size()
        if size > self.limit or key in self._items:
            return
        self._items[key] = (clips, dict(report or {}))
        self._bytes += size
        while self._bytes > self.limit:
            _, (old, _) = self._items.popitem(last=False)
            self._bytes -= old.numel() * old.element_size()

    def clear(self) -> None:
        self._items.clear()
        self._bytes = 0
        self.hits = 0

    def __len__(self) -> int:
        return len(self._items)


def crafting_key(**parts: Any) -> str:
    """The key of one batch's transfer clips: everything that decides them (surrogate, attack, seed, clips)."""
    return digest_of(parts)


TRANSFER_CLIPS = TransferCache()
