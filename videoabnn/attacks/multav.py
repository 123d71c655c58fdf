"""MultAV (Lo & Patel, 2021): a multiplicative adversarial video x' = x * m with the ratio m
in [1/eps, eps], updated multiplicatively m <- m * alpha^sign(grad). Here ``eps`` and ``alpha``
are ratios >= 1 (eps=1 leaves the clip unchanged); black pixels cannot change."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from videoabnn.attacks.base import Attack, clip_generators, per_clip_rand
from videoabnn.attacks.registry import register_attack


@register_attack("multav")
class MultAV(Attack):
    """Multiplicative adversarial video: x' = x * m, sign-gradient steps on the per-pixel ratio m.

    Paper: Lo & Patel, "MultAV: Multiplicative Adversarial Videos", AVSS 2021.
    Distance: multiplicative: every ratio m in [1/eps, eps] (the Linf-type MultAV, Linf on log m).
    Threat model: white-box (differentiates through everything the model computes).

    Updates m <- m * alpha^sign(grad), clipped to [1/eps, eps] and to x * m <= 1; black pixels cannot change.
    Not a norm ball: ``attack_budget`` returns None for it.

    Args:
        model: classifier on (N, C, T, H, W) clips in [0, 1] returning logits; run in eval mode, never modified.
        eps: bound of the ratio, >= 1 (1 leaves the clip unchanged). Default: 1.04.
        alpha: ratio applied per step, >= 1. Default: 1.01.
        steps: sign-gradient steps, >= 1. Default: 5.
        random_start: start from log m uniform in [-log eps, log eps] instead of m = 1. Default: False.
        loss: objective to maximise: ``"ce"``, ``"margin"`` (alias ``"cw"``) or ``"dlr"``. Default: ``"ce"``.
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
        - x: (N, C, T, H, W) float in [0, 1]; any rank >= 4 (NCHW images count as one frame).
        - y: (N,) int64 labels (target labels when targeted).
        - output: same shape and dtype as x, each pixel in [x / eps, min(x * eps, 1)].

    Examples:
        >>> attack = MultAV(model, eps=1.04, alpha=1.01, steps=5)
        >>> x_adv = attack(x, y)
    """

    name = "multav"
    threat = "multiplicative"

    def __init__(
        self,
        model: nn.Module,
        *,
        eps: float = 1.04,
        alpha: float = 1.01,
        steps: int = 5,
        random_start: bool = False,
        **kwargs,
    ) -> None:
        super().__init__(model, **kwargs)
        if eps < 1.0 or alpha < 1.0:
            raise ValueError(f"MultAV eps and alpha are ratios >= 1; got eps={eps}, alpha={alpha}")
        if int(steps) < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        self.eps, self.alpha, self.steps = float(eps), float(alpha), int(steps)
        self.random_start = bool(random_start)

    def perturb(self, x: Tensor, y: Tensor, seed: int) -> Tensor:
        if self.eps == 1.0:
            return x.clone()
        gens = clip_generators(x, seed)
        mask = self.make_mask(x, y, gens)
        log_eps, log_alpha = float(torch.tensor(self.eps).log()), float(torch.tensor(self.alpha).log())
        # Work on log m so bounds and steps are additive; x * m <= 1 caps the upper bound per pixel.
        upper = torch.where(x > 0, (1.0 / x.clamp_min(1e-12)).log().clamp(max=log_eps), torch.full_like(x, log_eps))
        if self.random_start:
            log_m = (per_clip_rand(gens, tuple(x.shape[1:]), x) * 2 - 1) * log_eps * mask
        else:
            log_m = torch.zeros_like(x)
        log_m = torch.minimum(log_m, upper).requires_grad_(True)
        for _ in range(self.steps):
            x_adv = x * log_m.exp()
            (g,) = torch.autograd.grad(self.loss_fn(self.model(x_adv), y).sum(), log_m)
            with torch.no_grad():
                log_m.add_(g.sign_().mul_(mask), alpha=log_alpha).clamp_(-log_eps, log_eps)
                torch.minimum(log_m, upper, out=log_m)
        with torch.no_grad():
            return (x * log_m.exp()).clamp(0, 1)
