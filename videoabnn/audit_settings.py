"""The gradient-masking audit's settings: every parameter once, with its default and what it is for (a leaf module).

:class:`AuditSettings` is what :func:`videoabnn.attacks.audit_gradient_masking` runs with. Its defaults are the
thorough audit (the study's ``study.audit`` overrides some of them); the evaluation of ``videoabnn-test`` bounds
the fields named in `BUDGET` by ``eval.audit_budget``. The config schema reads the ``study.audit`` and
``eval.audit_budget`` sections from these fields (types and ranges in each field's ``metadata``), so this module
imports neither torch nor pydantic.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


def _setting(default: Any, **bounds: float) -> Any:
    """A field with its default and the range a config value must lie in (``gt``, ``ge``, ``le``)."""
    return field(default=default, metadata=bounds)


@dataclass(frozen=True)
class AuditSettings:
    """The parameters of the gradient-masking audit; each comment says which check needs it (radii are Linf, in
    [0, 1] pixel units; accuracies are fractions of the audited clips)."""

    # radius of the robust accuracy, more_iterations_do_not_help, whitebox_beats_blackbox/_transfer
    eps: float = _setting(8 / 255, gt=0)
    # further radii of accuracy_falls_with_eps (eps and large_eps are added)
    eps_list: tuple[float, ...] = _setting((2 / 255, 4 / 255, 8 / 255, 16 / 255, 64 / 255), gt=0)
    # large_eps_breaks_model: a radius that should break any model
    large_eps: float = _setting(64 / 255, gt=0)
    # PGD steps of every attacked radius (step size 2.5 * radius / steps) and of the transfer attack
    steps: int = _setting(10, ge=1)
    # more_iterations_do_not_help: steps of its stronger PGD ...
    more_steps: int = _setting(40, ge=1)
    # ... and its restarts
    restarts: int = _setting(2, ge=1)
    # whitebox_beats_blackbox: Square queries per clip
    square_queries: int = _setting(300, ge=0)
    # whitebox_beats_blackbox: Square's initial square fraction
    square_p_init: float = _setting(0.8, gt=0)
    # slack of the checks expecting "no higher" accuracy; None: max(0.02, 1 / clips)
    tol: float | None = _setting(None, ge=0)
    # margin_not_far_stronger_than_ce: largest CE-minus-margin PGD accuracy gap (saturated cross-entropy)
    margin_gap: float = _setting(0.10, ge=0)
    # large_eps_breaks_model: largest accuracy allowed at large_eps
    large_eps_max_acc: float = _setting(0.05, ge=0, le=1)
    # no_zero_gradients: largest share of clips whose CE input gradient is exactly zero
    zero_grad_tol: float = _setting(0.0, ge=0)
    # the frames every attack may change ("all", "first:k", ...)
    frames: str = _setting("all")
    # audit only the first batches (None: all)
    max_batches: int | None = _setting(None, ge=1)
    # gradient_matches_finite_differences: clips of the first batch it checks ...
    gradcheck_clips: int = _setting(2, ge=1)
    # ... random unit directions per clip ...
    gradcheck_directions: int = _setting(3, ge=1)
    # ... finite-difference step sizes (pixel units) ...
    gradcheck_steps: tuple[float, ...] = _setting((1e-5, 1e-6), gt=0)
    # ... and its largest relative error
    gradcheck_tol: float = _setting(1e-3, gt=0)
    # the checks that attack: fewest correct audited clips they need (below: "not applicable"; 0: always judge)
    min_correct: int = _setting(0, ge=0)
    # the same as a clean accuracy, a multiple of chance (2: twice 1 / classes; 0: always judge)
    min_clean_over_chance: float = _setting(0.0, ge=0)
    # the checks that attack: attack only the clean-correct clips (they count only those; not batch-coupled models)
    correct_only: bool = _setting(False)

    def __post_init__(self) -> None:
        for name in ("eps_list", "gradcheck_steps"):  # a config's lists, as tuples (the settings are frozen)
            object.__setattr__(self, name, tuple(getattr(self, name)))

    def replace(self, **changes: Any) -> AuditSettings:
        """These settings with ``changes`` (keyword arguments named as the fields)."""
        return dataclasses.replace(self, **changes) if changes else self

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None, base: AuditSettings | None = None) -> AuditSettings:
        """``base`` (default: the defaults) with the values of a config section; a null value keeps the default."""
        return (base or cls()).replace(**{k: v for k, v in (values or {}).items() if v is not None})


# the fields eval.audit_budget bounds (what the evaluation's audit may spend), beside its own ``clips``
BUDGET = ("steps", "more_steps", "restarts", "square_queries", "eps_list", "gradcheck_clips", "gradcheck_directions")
