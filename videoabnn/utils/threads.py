"""CPU thread settings that never lose badly on a busy machine (the ``threads`` config key, ``--threads``).

With torch's default (one thread per physical core) a 2-core machine that is also running something
else was measured 8x slower than with one thread: OpenMP threads spin waiting for a core. ``auto``
therefore uses the cores that are idle now (cores minus the 1-minute load average), at least one and
at most torch's default. The same count goes to the video decoders.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator

import torch

log = logging.getLogger(__name__)
_TORCH_DEFAULT = torch.get_num_threads()  # torch's choice at import: the physical cores


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity), at most torch's default (physical cores)."""
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        available = os.cpu_count() or 1
    return max(1, min(available, _TORCH_DEFAULT))


def idle_cores() -> int:
    """Usable cores minus the 1-minute load average (rounded), at least one."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return usable_cores()
    return max(1, min(usable_cores(), round(usable_cores() - load)))


def resolve_threads(setting: int | str | None) -> int:
    """The thread count for ``setting``: ``auto``/None (idle cores) or a positive integer."""
    if setting in (None, "auto"):
        return idle_cores()
    count = int(setting)
    if count < 1:
        raise ValueError(f"threads: expected auto or an integer >= 1, got {setting!r}")
    return count


def apply_threads(setting: int | str | None) -> int:
    """Set torch's intra-op threads and the decoders' threads; returns the count used."""
    from videoabnn.data.decode import set_decoder_threads

    count = resolve_threads(setting)
    torch.set_num_threads(count)
    set_decoder_threads(count)
    log.info("threads: %d (setting %s; %d usable cores, load %.1f)", count, setting, usable_cores(),
             os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan"))
    return count


@contextlib.contextmanager
def threads_scope(setting: int | str | None) -> Iterator[int]:
    """:func:`apply_threads` for a block; the previous torch and decoder settings come back afterwards."""
    from videoabnn.data.decode import decoder_threads, set_decoder_threads

    before, before_decoder = torch.get_num_threads(), decoder_threads()
    try:
        yield apply_threads(setting)
    finally:
        torch.set_num_threads(before)
        set_decoder_threads(before_decoder)
