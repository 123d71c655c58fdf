"""Run-directory locks: one writer per run or evaluation directory at a time.

A lock is a file ``.lock`` created exclusively (``O_EXCL``) that names its holder (pid, host, start
time, command). A second writer gets :class:`RunLockedError` naming the holder. A lock left by a
killed process on this host (its pid no longer runs) is stale and is taken over, with a warning.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import time
from pathlib import Path
from types import TracebackType

from videoabnn.errors import UserError

log = logging.getLogger(__name__)
LOCK_NAME = ".lock"


class RunLockedError(UserError, RuntimeError):
    """Another live process holds the lock of a run directory."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _holder() -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "command": " ".join(sys.argv)[:300]}


class RunLock:
    """Context manager holding ``<directory>/.lock`` while a run writes there."""

    def __init__(self, directory: str | os.PathLike, what: str = "run directory") -> None:
        self.path = Path(directory) / LOCK_NAME
        self.what = what
        self.held = False

    def acquire(self) -> RunLock:
        """Take the lock, taking over a stale one; raise RunLockedError when a live process holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
            except FileExistsError:
                self._check_existing()
                continue
            with os.fdopen(fd, "w") as f:
                json.dump(_holder(), f)
            self.held = True
            return self
        raise RunLockedError(f"{self.path}: could not take the lock (another process keeps taking it)")

    def _check_existing(self) -> None:
        """Raise for a live holder; remove a stale lock (dead pid on this host, or unreadable)."""
        try:
            holder = json.loads(self.path.read_text())
        except (OSError, json.JSONDecodeError):
            holder = {}
        pid, host = holder.get("pid"), holder.get("host")
        if isinstance(pid, int) and host == socket.gethostname() and not _pid_alive(pid):
            log.warning("%s: taking over a stale lock of process %d (started %s), which no longer runs",
                        self.path.parent, pid, holder.get("started"))
            self.path.unlink(missing_ok=True)
            return
        if not holder:
            raise RunLockedError(f"{self.path.parent}: {self.what} is locked by an unreadable {self.path}; "
                                 "remove it if no other run uses this directory")
        raise RunLockedError(
            f"{self.path.parent}: {self.what} is in use by process {pid} on {host} (started {holder.get('started')}: "
            f"{holder.get('command')}); wait for it, or use another directory. If that process is gone, "
            f"remove {self.path}")

    def release(self) -> None:
        """Remove the lock file if this process holds it."""
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
