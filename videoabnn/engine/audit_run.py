"""Running the gradient-masking audit for a caller: its clips, the evaluation's rows read instead of
re-attacking, the report cached under the digest of everything it depends on.

One implementation, :func:`run_audit`, for both callers; each says in an :class:`AuditJob` which clips
(ids and how to load them), which settings and which key:

- the evaluation (``videoabnn-test``, :mod:`videoabnn.engine.evaluator`): a class-stratified subset of the
  evaluated clips (:func:`evaluation_clip_ids`), the bounded settings of ``eval.audit_budget`` /
  ``eval.audit_min_*`` (:func:`evaluation_budget`), its own Linf rows (:func:`evaluation_reuse`), an item of
  its store (:class:`StoredReports`);
- the study (:func:`videoabnn.study.steps.run_audit`): ``eval.audit_batches`` batches' worth of test clips,
  ``study.audit`` on top of the thorough defaults, a JSON file per report (:class:`JsonReports`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from videoabnn.attacks import attack_budget, audit_gradient_masking
from videoabnn.attacks.audit import EvaluationReuse
from videoabnn.audit_settings import BUDGET, AuditSettings
from videoabnn.engine import metrics as M
from videoabnn.engine.attack_specs import threat_params
from videoabnn.engine.eval_store import ItemStore
from videoabnn.engine.subsets import stratified_clip_subset
from videoabnn.threats import TRANSFER, WHITE, ResultKey
from videoabnn.utils.io import atomic_write_json
from videoabnn.utils.provenance import digest_of

log = logging.getLogger(__name__)
Batches = list[tuple[Tensor, Tensor]]


class ReportCache(Protocol):
    """Where audit reports are kept, by the key of everything a report depends on."""

    def get(self, key: Mapping[str, Any]) -> dict | None: ...

    def put(self, key: Mapping[str, Any], report: dict) -> None: ...


class JsonReports:
    """One JSON file per report, ``<folder>/<digest16 of the key>.json`` (the study's audits)."""

    def __init__(self, folder: str | Path | None) -> None:
        self.folder = Path(folder) if folder is not None else None

    def _path(self, key: Mapping[str, Any]) -> Path | None:
        return self.folder / f"{digest_of(dict(key), 16)}.json" if self.folder is not None else None

    def get(self, key: Mapping[str, Any]) -> dict | None:
        """The report stored under ``key``, else None (always None without a folder)."""
        path = self._path(key)
        return json.loads(path.read_text()) if path is not None and path.is_file() else None

    def put(self, key: Mapping[str, Any], report: dict) -> None:
        """Keep ``report`` under ``key`` (nothing without a folder)."""
        path = self._path(key)
        if path is not None:
            atomic_write_json(path, report)


class StoredReports:
    """Item ``name`` of an evaluation's item store (the evaluation's audits: ``audit``, ``audit_naive``)."""

    def __init__(self, store: ItemStore, name: str) -> None:
        self.store, self.name = store, name

    def get(self, key: Mapping[str, Any]) -> dict | None:
        """The report stored under exactly ``key``, else None."""
        found = self.store.get(self.name, key)
        return found["report"] if found is not None else None

    def put(self, key: Mapping[str, Any], report: dict) -> None:
        """Keep ``report`` under ``key``."""
        self.store.put(self.name, key, {"report": report})


@dataclass
class AuditJob:
    """One audit as a caller chose it.

    Attributes:
        name: the report's name in the log (``audit``, ``audit_naive``).
        ids: the audited clips (dataset indices), recorded in the report's ``settings.clip_ids``.
        load: the audited clips as ``(x, y)`` batches (called on a cache miss only).
        models: the audited model and the surrogate (or None), built on a cache miss only.
        settings: the audit's parameters.
        seed: seed of every attack.
        key: everything the report depends on (its cache key).
        cache: where the report is kept.
        reuse: the evaluation's per-clip results on the clips, read instead of re-attacking; None: attack.
        reuse_labels: the labels of the clips in the evaluation's order: the loaded clips must match them, or
            ``reuse`` is dropped (with a warning).
    """

    name: str
    ids: Sequence[int]
    load: Callable[[], Batches]
    models: Callable[[], tuple[nn.Module, nn.Module | None]]
    settings: AuditSettings
    seed: int
    key: Mapping[str, Any]
    cache: ReportCache
    reuse: EvaluationReuse | None = None
    reuse_labels: Tensor | None = None


def run_audit(job: AuditJob, compute: bool = True) -> dict | None:
    """The job's report: from its cache, else computed (when ``compute``; None otherwise: another process
    computes it), stored and logged."""
    found = job.cache.get(job.key)
    if found is not None:
        log_verdict(job.name, found, None)
        return found
    if not compute:
        return None
    batches = job.load()
    reuse = job.reuse
    if reuse is not None and job.reuse_labels is not None and not torch.equal(
            torch.cat([y.cpu() for _, y in batches]).long(), job.reuse_labels.long()):
        log.warning("gradient-masking audit: the audited clips are not in the evaluation's order; re-attacking")
        reuse = None
    model, surrogate = job.models()
    log.info("gradient-masking audit on %d clips", len(job.ids))
    start = time.perf_counter()
    report = audit_gradient_masking(model, batches, surrogate, settings=job.settings, seed=job.seed,
                                    reuse=reuse).to_dict()
    report["settings"]["clip_ids"] = list(job.ids)
    log_verdict(job.name, report, time.perf_counter() - start)
    job.cache.put(job.key, report)
    return report


def log_verdict(name: str, report: Mapping, seconds: float | None) -> None:
    """The verdict in the log: passed, FAILED (with the failed checks) or not applicable (with the reason)."""
    from videoabnn.report.tables import audit_verdict

    failed = [c["name"] for c in report.get("checks") or [] if c.get("passed") is False]
    verdict = audit_verdict(report) + (f" ({', '.join(failed)})" if report.get("passed") is False else "")
    took = "reused from the cache" if seconds is None else f"{seconds:.1f} s"
    log.info("%s: gradient-masking audit %s (%s)", name, verdict, took)


# --------------------------------------------------------------------------- the evaluation's choices
def evaluation_budget(cfg: Mapping) -> dict[str, Any]:
    """The settings an evaluation's audit changes from the defaults: the `BUDGET` fields of
    ``eval.audit_budget`` and the applicability thresholds ``eval.audit_min_correct`` /
    ``eval.audit_min_clean_over_chance`` (unset keys keep the defaults; part of the cache keys as it is)."""
    e = cfg["eval"]
    budget = dict(e.get("audit_budget") or {})
    out: dict[str, Any] = {k: budget[k] for k in BUDGET if k != "eps_list" and budget.get(k) is not None}
    if budget.get("eps_list") is not None:
        out["eps_list"] = tuple(float(v) for v in budget["eps_list"])
    for key, arg in (("audit_min_correct", "min_correct"), ("audit_min_clean_over_chance", "min_clean_over_chance")):
        if e.get(key) is not None:
            out[arg] = e[key]
    return out


def evaluation_clip_ids(cfg: Mapping, test_set: Dataset, evaluated: Sequence[int], batch_size: int) -> list[int]:
    """A class-stratified, seeded subset of the evaluated clips: ``eval.audit_batches`` test batches' worth,
    at most ``eval.audit_budget.clips``."""
    size = int(cfg["eval"]["audit_batches"]) * batch_size
    cap = (cfg["eval"].get("audit_budget") or {}).get("clips")
    if cap is not None:
        size = min(size, int(cap))
    return stratified_clip_subset(test_set, evaluated, size, int(cfg["seed"]))


def rows_of(evaluated: Sequence[int], ids: Sequence[int]) -> Tensor | None:
    """Rows of the evaluation's records (in the order of ``evaluated``) holding clips ``ids``; None if one is absent."""
    position = {int(i): k for k, i in enumerate(evaluated)}
    if any(int(i) not in position for i in ids):
        return None
    return torch.tensor([position[int(i)] for i in ids], dtype=torch.long)


def evaluation_reuse(records: Mapping[str, Mapping], clean: Mapping, rows: Tensor, specs: Sequence[Mapping],
                     threats: Sequence[str], white: str = WHITE) -> EvaluationReuse | None:
    """What the audit reads from an evaluation instead of re-attacking, or None (no evaluated Linf attack).

    Per Linf radius of the evaluated attacks: each audited clip (``rows`` of the records) is clean-correct and
    survived every attack of threat model ``white`` (``naive`` for the naive view of a transformed model), and
    of ``transfer``, within that radius."""
    labels = clean["labels"][rows]
    clean_ok = M.clip_correct(clean["logits"][rows], labels)
    reuse = EvaluationReuse()
    for threat, target in ((white, reuse.white), (TRANSFER, reuse.transfer)):
        if threat not in threats:
            continue
        balls: dict[str, tuple[float, Tensor]] = {}
        for spec in specs:
            record = records.get(ResultKey(spec["id"], threat).format())
            budget = attack_budget(spec["name"], threat_params(spec, threat))
            if record is None or budget is None or budget[0] != "linf":
                continue
            balls[spec["id"]] = (budget[1], M.clip_correct(record["logits"][rows], labels))
        for radius in sorted({r for r, _ in balls.values()}):
            within = sorted(k for k, (r, _) in balls.items() if r <= radius + 1e-9)
            ok = clean_ok.clone()
            for k in within:
                ok &= balls[k][1]
            target[radius] = ok
            reuse.attacks[f"{threat} {radius * 255:g}/255"] = within
    return reuse if reuse.white or reuse.transfer else None


def reuse_key(reuse: EvaluationReuse | None) -> dict | None:
    """The reused per-clip results, for the audit's cache key."""
    if reuse is None:
        return None
    return {part: {f"{r:.10g}": [int(v) for v in t.tolist()] for r, t in rows.items()}
            for part, rows in ((WHITE, reuse.white), (TRANSFER, reuse.transfer))}
