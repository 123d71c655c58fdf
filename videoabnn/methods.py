"""The training-method registry: one `TrainingMethod` declaration per ``train.method`` (a leaf module).

Everything the package decides from a method name is declared here, in one row per method: its objective
class, where it comes in the report, which network it trains (the plain classifier, the ABNN composite
with its frozen substitute, or a feature-denoising model), whether its training crafts adversarial
examples, and the ``train.method_args`` it takes with their defaults. The config schema, the engine
(model, optimizer, objective), the study and the report read these rows; none of them spells a method
name. The objective class is named as ``"<module of videoabnn.defenses>:<class>"`` and imported by
:mod:`videoabnn.defenses.registry`, so this module imports nothing and the config schema can read the
names without torch.

Adding a method: write its objective (a subclass of ``videoabnn.defenses.Objective``) in a module of
``videoabnn/defenses/`` and add its row to `TRAINING_METHODS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

NETWORKS = ("plain", "abnn", "feature_denoise")
"""What a method trains: ``model.name`` itself, the ABNN composite (target ``model.name``, substitute
``abnn.substitute``) or ``model.name`` with non-local denoising blocks after ``train.denoise_stages``."""


def _frozen(args: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(args or {}))


@dataclass(frozen=True)
class TrainingMethod:
    """One ``train.method``: the one place that says what the package does with it.

    Attributes:
        name: the ``train.method`` value (also the objective's ``name``).
        objective: its objective class as ``"<module>:<class>"``, the module under ``videoabnn.defenses``.
        summary: one line: the loss and its paper.
        report_order: its place in the report's comparisons (lower first: the strongest adversarial baseline
            before the others).
        network: one of `NETWORKS`.
        adversarial: whether its training crafts adversarial examples (from ``train.attack``).
        method_args: the objective's ``train.method_args`` with their defaults.
        optimizer_args: ``train.method_args`` read by the optimizer, not the objective (None: not set).
        model_args: ``train.method_args`` read by the model spec, not the objective, with their defaults.
    """

    name: str
    objective: str
    summary: str
    report_order: int
    network: str = "plain"
    adversarial: bool = False
    method_args: Mapping[str, Any] = field(default_factory=dict)
    optimizer_args: Mapping[str, Any] = field(default_factory=dict)
    model_args: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.network not in NETWORKS:
            raise ValueError(f"training method {self.name!r}: network must be one of {NETWORKS}, got {self.network!r}")
        for part in ("method_args", "optimizer_args", "model_args"):
            object.__setattr__(self, part, _frozen(getattr(self, part)))

    @property
    def composite(self) -> bool:
        """Whether it trains the ABNN composite (so it needs ``abnn.substitute``)."""
        return self.network == "abnn"

    def accepted_args(self) -> tuple[str, ...]:
        """Every ``train.method_args`` key the method reads."""
        return (*self.method_args, *self.optimizer_args, *self.model_args)

    def check_args(self, given: Mapping[str, Any] | None) -> None:
        """Raise ValueError naming the ``train.method_args`` keys this method does not read."""
        unknown = sorted(set(given or {}) - set(self.accepted_args()))
        if unknown:
            raise ValueError(f"method {self.name!r}: unknown train.method_args {unknown}; expected some of "
                             f"{', '.join(self.accepted_args())}")

    def objective_args(self, given: Mapping[str, Any] | None) -> dict[str, Any]:
        """The objective's keyword arguments: its defaults updated by ``given`` (checked; others dropped)."""
        self.check_args(given)
        return {**self.method_args, **{k: v for k, v in (given or {}).items() if k in self.method_args}}

    def optimizer_options(self, given: Mapping[str, Any] | None) -> dict[str, Any]:
        """The optimizer options set in ``given`` (those of `optimizer_args`)."""
        return {k: v for k, v in (given or {}).items() if k in self.optimizer_args}

    def model_options(self, given: Mapping[str, Any] | None) -> dict[str, Any]:
        """The model options: the defaults of `model_args` updated by ``given``."""
        return {**self.model_args, **{k: v for k, v in (given or {}).items() if k in self.model_args}}


STATS_OPTIMIZER_ARGS = {"stats_lr_scale": None, "stats_weight_decay": None}
"""The ABNN composite's statistics-pathway lr scale and weight decay (``engine.trainer.build_optimizer``)."""

TRAINING_METHODS: tuple[TrainingMethod, ...] = (
    TrainingMethod("standard", "objectives:Objective", "clean cross-entropy", 0,
                   method_args={"eps_warmup_epochs": 0}),
    TrainingMethod("abnn", "objectives:AbnnObjective", "clean cross-entropy on the ABNN composite, substitute "
                   "frozen (Lo & Patel, AVSS 2024)", 1, network="abnn",
                   method_args={"align_weight": 0.0, "eps_warmup_epochs": 0}, optimizer_args=STATS_OPTIMIZER_ARGS),
    TrainingMethod("at", "objectives:MixObjective", "mix * L(x) + (1 - mix) * L(x_adv) (Goodfellow et al., "
                   "ICLR 2015; the attack is train.attack)", 3, adversarial=True,
                   method_args={"mix": 0.5, "eps_warmup_epochs": 0}),
    TrainingMethod("pgd_at", "objectives:PgdAtObjective", "L(x_adv) with an eps warm-up (Madry et al., ICLR 2018)",
                   2, adversarial=True, method_args={"eps_warmup_epochs": 5}),
    TrainingMethod("alp", "objectives:AlpObjective", "the at mix + alp_weight * ||f(x) - f(x_adv)||^2 (Kannan "
                   "et al., 2018)", 4, adversarial=True,
                   method_args={"mix": 0.5, "alp_weight": 0.5, "eps_warmup_epochs": 0}),
    TrainingMethod("trades", "objectives:TradesObjective", "L(x) + beta * KL(f(x) || f(x_adv)), KL-maximising PGD "
                   "(Zhang et al., ICML 2019)", 5, adversarial=True,
                   method_args={"trades_beta": 6.0, "eps_warmup_epochs": 0}),
    TrainingMethod("feature_denoise", "objectives:FeatureDenoiseObjective", "PGD-AT of a model with non-local "
                   "denoising blocks (Xie et al., CVPR 2019)", 6, network="feature_denoise", adversarial=True,
                   method_args={"eps_warmup_epochs": 5}, model_args={"denoise_affinity": "embedded_gaussian"}),
    TrainingMethod("abnn_pgd_at", "abnn_pgd_at:AbnnPgdAtObjective", "PGD-AT of the ABNN composite's target, "
                   "crafted white-box through substitute and target", 7, network="abnn", adversarial=True,
                   method_args={"eps_warmup_epochs": 5}, optimizer_args=STATS_OPTIMIZER_ARGS),
)
"""Every training method, in declaration order."""

_BY_NAME = {m.name: m for m in TRAINING_METHODS}

METHODS = tuple(_BY_NAME)
"""Every ``train.method``, in declaration order."""
ADVERSARIAL_METHODS = tuple(m.name for m in sorted(TRAINING_METHODS, key=lambda m: m.report_order) if m.adversarial)
"""The methods whose training crafts adversarial examples (report order: the strongest baseline first)."""
COMPOSITE_METHODS = tuple(m.name for m in TRAINING_METHODS if m.composite)
"""The methods that train the ABNN composite (they need ``abnn.substitute``)."""


def training_method(name: str) -> TrainingMethod:
    """The declaration of ``train.method`` ``name`` (ValueError naming the known ones otherwise)."""
    try:
        return _BY_NAME[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown train.method {name!r}; expected one of {', '.join(METHODS)}") from None
