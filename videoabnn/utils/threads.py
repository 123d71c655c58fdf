"""CPU thread settings that never lose badly on a busy machine (the ``threads`` config key, ``--threads``).

With torch's default (one thread per physical core) a 2-core machine that is also running something
else was measured 8x slower than with one thread: OpenMP threads spin waiting for a core. ``auto``
therefore uses the cores that are idle now, at least one and at most torch's default. "Now" is a
0.2 s sample of the kernel's CPU counters (``/proc/stat``) where there is one: the 1-minute load
average lags, and right after another job ended it kept an idle machine at one thread (1.7x slower).
Elsewhere the load average is used. The same count goes to the video decoders.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
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


def _cpu_counters(path: str = "/proc/stat") -> tuple[int, int, int] | None:
    """(busy jiffies, total jiffies, CPUs) from the kernel's counters, or None where there are none."""
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    fields = [int(v) for v in lines[0].split()[1:]]
    cpus = sum(1 for line in lines if line.startswith("cpu") and line[3:4].isdigit())
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields), max(cpus, 1)


def busy_cores(window: float = 0.2) -> float | None:
    """Cores busy with other work now: a ``window``-second sample of the CPU counters (this process is
    asleep meanwhile), else the 1-minute load average, else None."""
    first = _cpu_counters()
    if first is not None:
        time.sleep(window)
        second = _cpu_counters()
        if second is not None and second[1] > first[1]:
            return (second[0] - first[0]) / (second[1] - first[1]) * second[2]
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def idle_cores() -> int:
    """Usable cores minus the cores busy with other work (rounded), at least one."""
    busy = busy_cores()
    if busy is None:
        return usable_cores()
    return max(1, min(usable_cores(), round(usable_cores() - busy)))


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

    global _applied
    count = resolve_threads(setting)
    torch.set_num_threads(count)
    set_decoder_threads(count)
    _applied = count
    log.info("threads: %d (setting %s; %d usable cores)", count, setting, usable_cores())
    return count


_applied: int | None = None  # the count of the last apply_threads (the tool's --threads)
MAX_AUTO_WORKERS = 8


def resolve_workers(setting: int | str | None) -> int:
    """DataLoader worker processes for ``data.num_workers``: an integer as given; ``auto``/None = at most 8 and
    at most one fewer than the usable cores and than the tool's threads (``--threads N`` bounds the CPUs a tool
    keeps busy: the main process plus N - 1 workers; ``--threads 1`` loads in the main process)."""
    if setting not in (None, "auto"):
        return int(setting)
    threads = _applied if _applied is not None else torch.get_num_threads()
    count = max(0, min(MAX_AUTO_WORKERS, usable_cores() - 1, threads - 1))
    if (count, threads) not in _logged:
        _logged.add((count, threads))
        log.info("data loader workers: %d (num_workers auto: at most %d, %d usable cores - 1, %d threads - 1)",
                 count, MAX_AUTO_WORKERS, usable_cores(), threads)
    return count


_logged: set = set()


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
