"""Run logs: a progress bar, one JSONL record and one CSV row per epoch, TensorBoard scalars.

Only the main process writes. On resume the log is cut back to the epochs the checkpoint
holds, so a resumed run's log equals an uninterrupted one's.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from tqdm.auto import tqdm

from videoabnn.utils.io import atomic_write_text

T = TypeVar("T")

LOG_NAME = "log.jsonl"
CSV_NAME = "metrics.csv"
TB_DIR = "tensorboard"


def progress(iterable: Iterable[T], desc: str, enabled: bool = True, total: int | None = None) -> Iterator[T]:
    """A tqdm progress bar (silent on non-main ranks or when disabled)."""
    return iter(tqdm(iterable, desc=desc, total=total, disable=not enabled, leave=False, dynamic_ncols=True))


class RunLogger:
    """Writes ``log.jsonl``, ``metrics.csv`` and TensorBoard events into a run directory."""

    def __init__(self, run_dir: str | Path, enabled: bool = True, tensorboard: bool = True) -> None:
        self.run_dir = Path(run_dir)
        self.enabled = enabled
        self._writer = None
        if enabled and tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(log_dir=str(self.run_dir / TB_DIR))

    @property
    def log_path(self) -> Path:
        return self.run_dir / LOG_NAME

    def records(self) -> list[dict]:
        """Every epoch record written so far."""
        if not self.log_path.is_file():
            return []
        return [json.loads(line) for line in self.log_path.read_text().splitlines() if line.strip()]

    def truncate(self, last_epoch: int) -> None:
        """Keep only records with ``epoch <= last_epoch`` (resume from that epoch's checkpoint)."""
        if not self.enabled:
            return
        kept = [r for r in self.records() if r.get("epoch", -1) <= last_epoch]
        self._write_all(kept)

    def log_epoch(self, record: dict[str, Any]) -> None:
        """Append one epoch's record to the JSONL/CSV logs and TensorBoard."""
        if not self.enabled:
            return
        self._write_all([*self.records(), record])
        if self._writer is not None:
            step = int(record.get("epoch", 0))
            for key, value in record.items():
                if isinstance(value, (int, float)) and key != "epoch":
                    self._writer.add_scalar(key.replace(".", "/"), value, step)
            self._writer.flush()

    def _write_all(self, records: list[dict]) -> None:
        atomic_write_text(self.log_path, "".join(json.dumps(r) + "\n" for r in records))
        atomic_write_text(self.run_dir / CSV_NAME, _to_csv(records))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def _to_csv(records: list[dict]) -> str:
    columns: list[str] = []
    for record in records:
        columns += [k for k in record if k not in columns and not isinstance(record[k], (dict, list))]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    return buf.getvalue()
