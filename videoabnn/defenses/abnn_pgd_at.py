"""ABNN + PGD-AT (``train.method: abnn_pgd_at``): Madry's adversarial training of the ABNN composite's target.

The composite is built as for ``abnn`` (target ``model.name``, frozen substitute ``abnn.substitute``); the
loss is `PgdAtObjective`'s, on clips crafted by ``train.attack`` through the composite's forward, so the
attack's gradient runs through the substitute's statistics as well as the target (white-box).
"""

from __future__ import annotations

from torch import nn

from videoabnn.defenses.objectives import PgdAtObjective, require_frozen_substitute


class AbnnPgdAtObjective(PgdAtObjective):
    """PGD adversarial training of the ABNN composite: ``CE(f(x_adv), y)`` with the substitute frozen.

    Method ``abnn_pgd_at``: the `PgdAtObjective` loss (and eps warm-up) on the ABNN composite; the substitute
    must have no trainable weights (checked as for ``abnn``), so only the target and its adaptive layers learn.
    ``x_adv`` is crafted by ``train.attack`` on the composite itself: every attack step differentiates through
    substitute and target. The logged training accuracy is adversarial accuracy.

    Paper: Lo & Patel, "Adaptive Batch Normalization Networks for Adversarial Robustness", AVSS 2024 (the
    composite), trained as in Madry et al., "Towards Deep Learning Models Resistant to Adversarial Attacks",
    ICLR 2018.

    Threat model: trains against the white-box attack of ``train.attack`` through both networks, by default
    `DEFAULT_TRAIN_ATTACK` (PGD-Linf, eps 4/255, step 1/255, 5 steps), crafted in eval mode.

    Args:
        eps_warmup_epochs: `PgdAtObjective`'s linear eps (and step) warm-up, in epochs. Default: 5.
        **kwargs: `Objective`'s: ``attack_factory`` (required), ``label_smoothing``.

    Shape:
        - input and output: as `PgdAtObjective`'s; ``model`` is the ABNN composite.

    Examples:
        >>> objective = build_objective("abnn_pgd_at", attack_cfg={"eps": 4 / 255, "alpha": 1 / 255, "steps": 5})
        >>> objective.start_epoch(abnn_model, epoch=0, seed=0)
        >>> out = objective(abnn_model, x, y)
    """

    name = "abnn_pgd_at"

    def start_epoch(self, model: nn.Module, epoch: int, seed: int) -> None:
        """Check the composite's substitute is frozen, then build this epoch's attack on the composite."""
        require_frozen_substitute(model, self.name)
        super().start_epoch(model, epoch, seed)
