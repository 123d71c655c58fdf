"""The objective class of every training method, and `build_objective`.

The methods and their objective classes are declared in :mod:`videoabnn.methods` (a leaf module the config
schema reads); this module imports each declared objective (``"<module>:<class>"`` under
``videoabnn.defenses``) and builds objectives from a ``train.method`` and its ``train.method_args``. No
objective module imports this one, so the imports it makes by name close no cycle (a test checks it).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from videoabnn.defenses.objectives import AttackFactory, Objective, attack_factory
from videoabnn.methods import METHODS, TRAINING_METHODS, TrainingMethod, training_method

PACKAGE = "videoabnn.defenses"


def objective_class(method: TrainingMethod) -> type[Objective]:
    """The objective class ``method.objective`` names (an `Objective` whose ``name`` is the method's)."""
    module, _, cls_name = method.objective.partition(":")
    cls = getattr(importlib.import_module(f"{PACKAGE}.{module}"), cls_name, None)
    if not (isinstance(cls, type) and issubclass(cls, Objective)) or cls.name != method.name:
        raise TypeError(f"training method {method.name!r}: objective {method.objective!r} must name an Objective "
                        f"subclass of {PACKAGE} whose name is {method.name!r}, got {cls!r}")
    return cls


OBJECTIVES: dict[str, type[Objective]] = {m.name: objective_class(m) for m in TRAINING_METHODS}
"""``train.method`` -> its objective class, in declaration order."""


def build_objective(method: str, *, attack_cfg: Mapping[str, Any] | None = None,
                    attack: AttackFactory | None = None, label_smoothing: float = 0.0,
                    **method_args: Any) -> Objective:
    """The objective for ``train.method``; ``attack`` (a factory) overrides ``attack_cfg``.

    Args:
        method: a name of `METHODS` (``standard``, ``abnn``, ``at``, ``pgd_at``, ``alp``, ``trades``,
            ``feature_denoise``, ``abnn_pgd_at``); another raises ValueError.
        attack_cfg: ``train.attack`` (see `attack_factory`; TRADES reads its ``eps``/``alpha``/``steps``).
            Default: None (`DEFAULT_TRAIN_ATTACK`).
        attack: an attack factory used instead of ``attack_cfg`` (methods that craft with an attack).
            Default: None.
        label_smoothing: label smoothing of the cross-entropy terms. Default: 0.0.
        **method_args: ``train.method_args``: the objective's own arguments (``mix``, ``alp_weight``,
            ``trades_beta``, ``align_weight``, ``eps_warmup_epochs``; their defaults are the method's
            declaration's) and the optimizer and model options it declares (not passed to the objective);
            others raise ValueError.

    Returns:
        The `Objective`.

    Examples:
        >>> objective = build_objective("trades", attack_cfg={"eps": 4 / 255}, trades_beta=6.0)
    """
    spec = training_method(method)
    cls = OBJECTIVES[spec.name]
    kwargs: dict[str, Any] = {"label_smoothing": label_smoothing, **spec.objective_args(method_args)}
    if cls.reads_attack_params:
        kwargs["attack_params"] = dict(attack_cfg or {})
    elif cls.needs_attack:
        kwargs["attack_factory"] = attack if attack is not None else attack_factory(attack_cfg or {})
    return cls(**kwargs)


__all__ = ["METHODS", "OBJECTIVES", "build_objective", "objective_class"]
