"""An adaptive attack aimed at ABNN's design: move the substitute's clip statistics as well as the logits
(see :class:`ABNNAdaptive`). The model is used only through duck typing."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from videoabnn.attacks.base import per_clip_rand
from videoabnn.attacks.gradient import NormBallAttack
from videoabnn.attacks.losses import attack_loss
from videoabnn.attacks.registry import register_attack
from videoabnn.capabilities import Capability, supports


def _is_abnn(model: nn.Module) -> bool:
    return supports(model, Capability.STATISTICS)


def statistics_shift(stats: list, clean: list) -> Tensor:
    """Per clip: summed squared standardised change of every stage's (mu, log sigma) from ``clean``."""
    total = 0.0
    for (mu, sigma, _), (mu0, sigma0, _) in zip(stats, clean):
        scale = mu0.std(dim=1, keepdim=True).clamp_min(1e-6)
        total = total + ((mu - mu0) / scale).pow(2).mean(dim=1) + (sigma.log() - sigma0.log()).pow(2).mean(dim=1)
    return total


@register_attack("abnn_adaptive")
class ABNNAdaptive(NormBallAttack):
    """PGD-Linf on white-box + gray-box margins plus a statistics-shift term (ABNN); margin PGD otherwise.

    Paper: none: this package's own adaptive attack, designed against ABNN (Lo & Patel, AVSS 2024).
    Distance: Linf (``norm`` is fixed).
    Threat model: white-box, adaptive: uses ABNN's ``substitute_statistics`` and ``forward_with_statistics``
    when the model has them; any other model gets a PGD with the same budget and loss.

    ABNN's adaptive layers read per-clip mean and std of the frozen substitute's stage features. The
    objective, maximised per clip, is

    ```text
    loss(white-box logits) + loss(gray-box logits)
        + stats_weight * sum_k mean_c [((mu_k - mu_k0) / s_k0)^2 + (log sigma_k - log sigma_k0)^2]
    ```

    where the white-box logits differentiate through substitute and target, the gray-box ones treat the
    statistics as constants (both from one forward), and the last term pushes every stage's statistics
    away from their clean values (``s_k0``: the clean std of ``mu_k0`` over channels, for scale). Random
    start and sign-gradient steps; over restarts, a clip keeps its first run the real (white-box) model
    misclassifies.

    Args:
        model: classifier on (N, C, T, H, W) clips in [0, 1] returning logits; run in eval mode, never modified.
        eps: radius of the Linf ball, in [0, 1] pixel units (4/255 = 4 grey levels); 0 returns x.
            Default: 4/255.
        alpha: step size, same units as eps; None: 2.5 * eps / steps. Default: None.
        steps: gradient steps, >= 1. Default: 20.
        restarts: runs per clip, >= 1; later runs only revisit clips not yet fooled. Default: 2.
        stats_weight: weight of the statistics-shift term (0: the two logit terms only). Default: 1.0.
        loss: objective to maximise: ``"ce"``, ``"margin"`` (alias ``"cw"``) or ``"dlr"``;
            used for both logit terms. Default: ``"margin"`` (set by ABNNAdaptive).
        targeted: ``y`` holds target labels and the attack pushes towards them. Default: False.
        frames: frames that may change: ``"all"``, ``"first:k"``, ``"random:k"``, ``"every:n"`` or
            ``"salient:k"`` (largest input gradient). Default: ``"all"``.
        seed: seed of the per-clip random draws (with each clip's pixels); None: a fresh seed per call.
            Default: None.
        bpda: (``build_attack`` only) backward through a model's input transform: ``"auto"``, ``"none"``,
            ``"identity"``, ``"median"`` or ``"standin"``. Default: None (the model as is).
        eot: (``build_attack`` only) draws of a random input transform averaged per forward pass.
            Default: None (the model as is; 8 for a random transform when only ``bpda`` is set).

    Shape:
        - x: (N, C, T, H, W) float in [0, 1].
        - y: (N,) int64 labels (target labels when targeted).
        - output: same shape and dtype as x, in [0, 1], within eps of x (Linf).

    Examples:
        >>> attack = ABNNAdaptive(abnn_model, eps=4 / 255, steps=20, restarts=2)
        >>> x_adv = attack(x, y)
    """

    name = "abnn_adaptive"
    fixed_params = ("norm",)

    def __init__(self, model: nn.Module, *, eps: float = 4 / 255, alpha: float | None = None, steps: int = 20,
                 restarts: int = 2, stats_weight: float = 1.0, loss: str = "margin", **kwargs) -> None:
        super().__init__(model, eps=eps, steps=steps, norm="linf", restarts=restarts, loss=loss, **kwargs)
        self.alpha = float(alpha) if alpha is not None else 2.5 * self.eps / self.steps
        self.stats_weight = float(stats_weight)

    def objective(self, x_adv: Tensor, y: Tensor, clean: list | None) -> Tensor:
        """Per-clip objective to maximise (see the class docstring)."""
        if clean is None:
            return self.loss_fn(self.model(x_adv), y)
        stats = self.model.substitute_statistics(x_adv)
        white = self.model.forward_with_statistics(x_adv, stats)
        frozen = [(m.detach(), s.detach(), None if f is None else f.detach()) for m, s, f in stats]
        gray = self.model.forward_with_statistics(x_adv, frozen)
        value = attack_loss(self.loss, white, y, self.targeted) + attack_loss(self.loss, gray, y, self.targeted)
        return value + self.stats_weight * statistics_shift(stats, clean)

    def _run(self, x: Tensor, y: Tensor, mask: Tensor, gens: list[torch.Generator]) -> Tensor:
        clean = None
        if _is_abnn(self.model):
            with torch.no_grad():
                clean = [(m.detach(), s.detach(), None) for m, s, _ in self.model.substitute_statistics(x)]
        delta = ((per_clip_rand(gens, tuple(x.shape[1:]), x) * 2 - 1) * self.eps * mask)
        delta = ((x + delta).clamp(0, 1) - x).requires_grad_(True)
        for _ in range(self.steps):
            (g,) = torch.autograd.grad(self.objective(x + delta, y, clean).sum(), delta)
            with torch.no_grad():
                delta.add_(g.mul_(mask).sign_(), alpha=self.alpha).clamp_(-self.eps, self.eps)
                delta.add_(x).clamp_(0, 1).sub_(x)
        return (x + delta).detach()
