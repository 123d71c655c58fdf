"""Decoded-frame cache: whole videos stored once at the training resolution, so epoch 2+ skips decoding.

Each entry is one ``.npy`` file of uint8 frames (N, h, w, 3), resized so the short side is
``short_side``, keyed by the video's absolute path, size, modification time and the resolution
(a changed video or another resolution never reads a stale entry). Entries are written atomically
(temp file + rename), so concurrent loader workers and interrupted runs never leave a half file,
and read back memory-mapped, so only the frames of the sampled clip are touched.

When it pays off: decoding dominates data loading whenever the training resolution is much smaller
than the stored video (e.g. UCF101's 320x240 Xvid decoded only to be resized to a short side of
36-128 pixels) and a run reads every video for several epochs. The first epoch is slower (every
frame of every video is decoded and written once); later epochs read a few small arrays per clip,
typically from the page cache. It does not pay off for a single pass (evaluation only) or when the
cache lives on a slower disk than the videos.

What it costs on disk: ``frames x h x w x 3`` bytes per video, uncompressed (about 5 KB per frame
at 48x36, 16 KB at 85x64, 66 KB at 171x128). UCF101 (13,320 videos, ~186 frames each, 4:3) takes
about 13 GB at short side 36, 41 GB at 64 and 163 GB at 128; HMDB51 (6,766 clips, ~95 frames)
roughly a quarter of that (~3.3 GB at 36, ~42 GB at 128). The default synthetic study set (750
videos of 20 frames at 64x48, cached at 48x36) takes about 78 MB. A cache is safe to delete at any
time; it is rebuilt on demand.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from videoabnn.utils.io import atomic_write


class FrameCache:
    """A directory of decoded, resized videos (uint8 ``.npy``), one file per (video, resolution)."""

    def __init__(self, cache_dir: str | os.PathLike):
        self.dir = Path(cache_dir)
        self.hits = 0
        self.misses = 0

    def key(self, path: str | os.PathLike, short_side: int | None) -> str:
        """Cache key of ``path`` at ``short_side``: changes whenever the file or the resolution does."""
        path = Path(path).resolve()
        stat = path.stat()
        ident = f"{path}|{stat.st_size}|{stat.st_mtime_ns}|{short_side}"
        return hashlib.sha1(ident.encode()).hexdigest()

    def entry(self, path: str | os.PathLike, short_side: int | None) -> Path:
        """File that holds (or will hold) the frames of ``path`` at ``short_side``."""
        key = self.key(path, short_side)
        return self.dir / key[:2] / f"{key}.npy"

    def get(self, path: str | os.PathLike, short_side: int | None,
            load: Callable[[], np.ndarray]) -> np.ndarray:
        """The cached frames of ``path`` (memory-mapped); on a miss ``load()`` them and store them first."""
        entry = self.entry(path, short_side)
        if entry.is_file():
            try:
                frames = np.load(entry, mmap_mode="r")
                self.hits += 1
                return frames
            except (ValueError, OSError):
                entry.unlink(missing_ok=True)  # unreadable entry (e.g. disk full at write time): rebuild
        frames = np.ascontiguousarray(load(), dtype=np.uint8)
        self._store(entry, frames)
        self.misses += 1
        return frames

    @staticmethod
    def _store(entry: Path, frames: np.ndarray) -> None:
        def write(tmp: str) -> None:
            with open(tmp, "wb") as f:
                np.save(f, frames)

        atomic_write(entry, write)

    def size_bytes(self) -> int:
        """Total size of the cache entries on disk."""
        return sum(p.stat().st_size for p in self.dir.rglob("*.npy")) if self.dir.is_dir() else 0
