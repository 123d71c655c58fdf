"""Readable text logs: the ``videoabnn`` loggers on the console and in a run's log file."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
ROOT = "videoabnn"


class _Stderr(logging.StreamHandler):
    """A handler writing to whatever ``sys.stderr`` is at the time of each record (test captures, redirects)."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler.__init__ assigns it; the property always reads sys.stderr
        pass


def setup_console(level: int = logging.INFO) -> None:
    """INFO messages of every videoabnn logger on stderr (once; tools call this at start)."""
    logger = logging.getLogger(ROOT)
    logger.setLevel(min(logger.level or level, level))
    if not any(getattr(h, "_videoabnn_console", False) for h in logger.handlers):
        handler = _Stderr()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        handler._videoabnn_console = True  # type: ignore[attr-defined]
        logger.addHandler(handler)


@contextmanager
def log_to_file(path: str | os.PathLike, enabled: bool = True, level: int = logging.INFO) -> Iterator[None]:
    """Append every videoabnn log record (INFO and up) to ``path`` while the block runs."""
    if not enabled:
        yield
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    logger = logging.getLogger(ROOT)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.setLevel(level)
    previous = logger.level
    if logger.level == logging.NOTSET or logger.level > level:
        logger.setLevel(level)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        handler.close()
        logger.setLevel(previous)
