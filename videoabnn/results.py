"""The one results schema: what an evaluation (evaluator, patch study, study) writes and the report reads.

Typed dataclasses with ``to_dict()`` / ``from_dict(data, source)``; ``from_dict`` validates and
raises :class:`ResultsError` naming the file and the key. Accuracies are fractions in [0, 1] (None
where not measured). A leaf module: it imports nothing from videoabnn, so every layer may use it.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from videoabnn.errors import UserError

SCHEMA_VERSION = 2


class ResultsError(UserError, ValueError):
    """A results file does not follow the schema; the message names the file and the key."""


def _need(data: Mapping, key: str, source: str, kind: type | tuple = object) -> Any:
    if not isinstance(data, Mapping):
        raise ResultsError(f"{source}: expected an object, got {type(data).__name__}")
    if key not in data:
        raise ResultsError(f"{source}: missing key {key!r}")
    value = data[key]
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ResultsError(f"{source}: key {key!r} must be {names}, got {value!r}")
    return value


def _fraction(data: Mapping, key: str, source: str, required: bool = True) -> float | None:
    """An accuracy-like value: a number in [0, 1], or None (missing is allowed unless ``required``)."""
    if key not in data and not required:
        return None
    value = _need(data, key, source, (int, float, type(None)))
    if value is None:
        return None
    value = float(value)
    if not math.isnan(value) and not 0.0 <= value <= 1.0:
        raise ResultsError(f"{source}: key {key!r} must be a fraction in [0, 1], got {value}")
    return value


def _opt_float(data: Mapping, key: str) -> float | None:
    value = data.get(key)
    return None if value is None else float(value)


@dataclass
class RunInfo:
    """Which model produced the numbers."""

    name: str
    method: str
    checkpoint: str | None = None
    checkpoint_digest: str | None = None
    train_seconds: float | None = None
    epochs: int | None = None
    train_cost: dict[str, Any] = field(default_factory=dict)
    # a clip's output depends on the other clips of its batch (test-time BN, prototype_exact batch statistics)
    batch_coupled: bool = False

    @classmethod
    def from_dict(cls, data: Mapping, source: str) -> RunInfo:
        return cls(name=str(_need(data, "name", source)), method=str(_need(data, "method", source)),
                   checkpoint=data.get("checkpoint"), checkpoint_digest=data.get("checkpoint_digest"),
                   train_seconds=_opt_float(data, "train_seconds"),
                   epochs=None if data.get("epochs") is None else int(data["epochs"]),
                   train_cost=dict(data.get("train_cost") or {}), batch_coupled=bool(data.get("batch_coupled", False)))


@dataclass
class CleanResult:
    """Clean accuracy: per clip, per video (softmax averaged over a video's clips) and per class."""

    clip_acc: float
    video_acc: float | None = None
    per_class: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping, source: str) -> CleanResult:
        return cls(clip_acc=_fraction(data, "clip_acc", source), video_acc=_fraction(data, "video_acc", source, False),
                   per_class={str(k): float(v) for k, v in (data.get("per_class") or {}).items()})


@dataclass
class AttackRow:
    """One attack under one threat model: its exact settings and what it did."""

    name: str
    threat: str
    params: dict[str, Any]
    clip_acc: float
    video_acc: float | None = None
    success_rate: float | None = None
    mean_linf: float | None = None
    mean_l2: float | None = None
    seconds: float | None = None
    seed: int | None = None
    details: dict[str, Any] = field(default_factory=dict)  # an ensemble's full settings (version, parts)
    parts: dict[str, float] = field(default_factory=dict)  # an ensemble's robust accuracy after each part
    artifact: str | None = None  # a fitted universal patch file, for example

    @classmethod
    def from_dict(cls, data: Mapping, source: str) -> AttackRow:
        return cls(name=str(_need(data, "name", source)), threat=str(_need(data, "threat", source)),
                   params=dict(_need(data, "params", source, dict)), clip_acc=_fraction(data, "clip_acc", source),
                   video_acc=_fraction(data, "video_acc", source, False),
                   success_rate=_fraction(data, "success_rate", source, False),
                   mean_linf=_opt_float(data, "mean_linf"), mean_l2=_opt_float(data, "mean_l2"),
                   seconds=_opt_float(data, "seconds"), seed=None if data.get("seed") is None else int(data["seed"]),
                   details=dict(data.get("details") or {}),
                   parts={str(k): float(v) for k, v in (data.get("parts") or {}).items()},
                   artifact=data.get("artifact"))


@dataclass
class Summary:
    """Acc_adv / Acc_all over the headline threat model and the per-clip worst case per threat model."""

    threat: str
    acc_adv: float | None
    acc_all: float | None
    acc_adv_video: float | None = None
    acc_all_video: float | None = None
    worst_case: dict[str, float] = field(default_factory=dict)
    worst_case_attacks: dict[str, list[str]] = field(default_factory=dict)
    # per threat model, per norm-ball budget ("linf 4/255"): {"clip_acc", "attacks"}, the worst case over
    # the attacks within that ball (the robust accuracy a reader compares across defenses)
    worst_case_budget: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping, source: str) -> Summary:
        worst = dict(_need(data, "worst_case", source, dict))
        for threat in worst:
            _fraction(worst, threat, f"{source}.worst_case")
        return cls(threat=str(_need(data, "threat", source)), acc_adv=_fraction(data, "acc_adv", source),
                   acc_all=_fraction(data, "acc_all", source),
                   acc_adv_video=_fraction(data, "acc_adv_video", source, False),
                   acc_all_video=_fraction(data, "acc_all_video", source, False),
                   worst_case={k: float(v) for k, v in worst.items() if v is not None},
                   worst_case_attacks={k: list(v) for k, v in (data.get("worst_case_attacks") or {}).items()},
                   worst_case_budget={str(th): {str(b): dict(v) for b, v in budgets.items()}
                                      for th, budgets in (data.get("worst_case_budget") or {}).items()})


@dataclass
class AuditCheckResult:
    """One gradient-masking check: ``passed`` is None when it was skipped."""

    name: str
    passed: bool | None
    reason: str
    value: float | None = None
    threshold: float | None = None

    @classmethod
    def from_dict(cls, data: Mapping, source: str) -> AuditCheckResult:
        passed = _need(data, "passed", source, (bool, type(None)))
        return cls(name=str(_need(data, "name", source)), passed=passed, reason=str(_need(data, "reason", source)),
                   value=_opt_float(data, "value"), threshold=_opt_float(data, "threshold"))


@dataclass
class AuditResult:
    """The gradient-masking audit of one model (``videoabnn.attacks.audit_gradient_masking``).

    ``passed`` is None when the audit is not applicable (``not_applicable`` says why: a model with too
    few correctly classified clips to attack); files written before that field read as applicable."""

    passed: bool | None
    checks: list[AuditCheckResult]
    robust_accuracy: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    not_applicable: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping, source: str) -> AuditResult:
        checks = _need(data, "checks", source, list)
        passed = _need(data, "passed", source, (bool, type(None)))
        reason = data.get("not_applicable")
        if passed is None and not reason:
            raise ResultsError(f"{source}: key 'passed' is null but 'not_applicable' gives no reason")
        return cls(passed=passed,
                   checks=[AuditCheckResult.from_dict(c, f"{source}.checks[{i}]") for i, c in enumerate(checks)],
                   robust_accuracy=_fraction(data, "robust_accuracy", source, False),
                   metrics=dict(data.get("metrics") or {}), settings=dict(data.get("settings") or {}),
                   not_applicable=None if reason is None else str(reason))


@dataclass
class Results:
    """Everything one evaluated model's results file holds."""

    run: RunInfo
    clean: CleanResult
    attacks: dict[str, AttackRow]
    summary: Summary
    num_clips: int
    seed: int
    audit: AuditResult | None = None
    # a model behind an input transformation: the audit of the naive view (autograd through the transform)
    audit_naive: AuditResult | None = None
    complete: bool = True
    data_subset: dict[str, Any] = field(default_factory=dict)
    skipped_videos: list[dict[str, str]] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION
    # several seeds read as one (videoabnn.report.aggregate): numbers are means, spread their std
    seeds: list[int] = field(default_factory=list)
    spread: dict[str, float] = field(default_factory=dict)
    per_seed: dict[str, list[float]] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping, source: str = "results") -> Results:
        """Validate ``data`` against the schema; errors name ``source`` and the key."""
        version = _need(data, "schema_version", source, int)
        if version != SCHEMA_VERSION:
            raise ResultsError(f"{source}: schema_version {version}; this videoabnn reads version {SCHEMA_VERSION} "
                               "(re-run the evaluation to refresh the file)")
        attacks = _need(data, "attacks", source, dict)
        audit, naive = data.get("audit"), data.get("audit_naive")
        return cls(run=RunInfo.from_dict(_need(data, "run", source, dict), f"{source}: run"),
                   clean=CleanResult.from_dict(_need(data, "clean", source, dict), f"{source}: clean"),
                   attacks={str(k): AttackRow.from_dict(v, f"{source}: attacks.{k}") for k, v in attacks.items()},
                   summary=Summary.from_dict(_need(data, "summary", source, dict), f"{source}: summary"),
                   num_clips=int(_need(data, "num_clips", source, int)), seed=int(_need(data, "seed", source, int)),
                   audit=None if audit is None else AuditResult.from_dict(audit, f"{source}: audit"),
                   audit_naive=None if naive is None else AuditResult.from_dict(naive, f"{source}: audit_naive"),
                   complete=bool(data.get("complete", True)), data_subset=dict(data.get("data_subset") or {}),
                   skipped_videos=[dict(s) for s in data.get("skipped_videos") or []],
                   provenance=dict(data.get("provenance") or {}), config=dict(data.get("config") or {}),
                   environment=dict(data.get("environment") or {}), schema_version=version,
                   seeds=[int(s) for s in data.get("seeds") or []],
                   spread={str(k): float(v) for k, v in (data.get("spread") or {}).items()},
                   per_seed={str(k): [float(x) for x in v] for k, v in (data.get("per_seed") or {}).items()})

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (the file format)."""
        return asdict(self)

    def threat_rows(self, threat: str) -> dict[str, AttackRow]:
        """The attack rows of one threat model, in file order."""
        return {k: row for k, row in self.attacks.items() if row.threat == threat}


def load_results(path: str | os.PathLike) -> Results:
    """Read and validate one results file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as err:
        raise FileNotFoundError(f"results file not found: {path}") from err
    except json.JSONDecodeError as err:
        raise ResultsError(f"{path}: not valid JSON: {err}") from err
    return Results.from_dict(data, str(path))


def field_names(cls: type) -> list[str]:
    """The keys a schema class writes (for documentation and tests)."""
    return [f.name for f in fields(cls)]
