"""First-order digital attacks: FGSM, PGD (Linf / L2, random start, restarts) and MI-FGSM.

Norms and projections are taken per clip over all non-batch dims, so they work for any rank.
``shared_over_time=True`` optimises one perturbation (C, 1, H, W) added to every attacked frame
(a temporally universal perturbation); its L2 budget applies to the whole clip perturbation.
"""

from __future__ import annotations

from abc import abstractmethod

import torch
from torch import Tensor, nn

from videoabnn.attacks.base import Attack, clip_generators, flat_norm, per_clip_rand
from videoabnn.attacks.registry import register_attack

NORMS = ("linf", "l2")


def check_norm(norm: str) -> str:
    """Validate a norm name."""
    key = str(norm).lower()
    if key not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; expected one of {', '.join(NORMS)}")
    return key


def check_budget(eps: float, steps: int, restarts: int = 1) -> None:
    """Common parameter checks with clear messages."""
    if eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    if int(steps) < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if int(restarts) < 1:
        raise ValueError(f"restarts must be >= 1, got {restarts}")


class NormBallAttack(Attack):
    """Base of the iterative attacks in an Linf or L2 ball: budget checks and restarts over ``_run``."""

    def __init__(self, model: nn.Module, *, eps: float, steps: int, norm: str, restarts: int, **kwargs) -> None:
        super().__init__(model, **kwargs)
        check_budget(eps, steps, restarts)
        self.eps = float(eps)
        self.steps = int(steps)
        self.norm = check_norm(norm)
        self.restarts = int(restarts)
        self.threat = self.norm

    def perturb(self, x: Tensor, y: Tensor, seed: int) -> Tensor:
        if self.eps == 0:
            return x.clone()
        gens = clip_generators(x, seed)
        mask = self.make_mask(x, y, gens)

        def run(xs: Tensor, ys: Tensor, idx: Tensor) -> Tensor:
            return self._run(xs, ys, mask[idx], [gens[i] for i in idx.tolist()])

        return self.with_restarts(x, y, self.restarts, run)

    @abstractmethod
    def _run(self, x: Tensor, y: Tensor, mask: Tensor, gens: list[torch.Generator]) -> Tensor:
        """One attack run from a (random) start: the subclass's update rule."""


@register_attack("pgd", "pgd_linf", "pgd_l2", defaults={"pgd": {"norm": "linf"}, "pgd_linf": {"norm": "linf"}, "pgd_l2": {"norm": "l2"}})
class PGD(NormBallAttack):
    """Projected gradient ascent in an Linf or L2 ball (Madry et al.), optional momentum (MI-FGSM)."""

    name = "pgd"

    def __init__(
        self,
        model: nn.Module,
        *,
        eps: float = 4 / 255,
        alpha: float | None = None,
        steps: int = 10,
        norm: str = "linf",
        random_start: bool = True,
        restarts: int = 1,
        shared_over_time: bool = False,
        momentum: float = 0.0,
        **kwargs,
    ) -> None:
        super().__init__(model, eps=eps, steps=steps, norm=norm, restarts=restarts, **kwargs)
        self.alpha = float(alpha) if alpha is not None else 2.5 * self.eps / self.steps
        self.random_start = bool(random_start)
        self.shared_over_time = bool(shared_over_time)
        self.momentum = float(momentum)

    # --------------------------------------------------------------- internals
    def _shared(self, x: Tensor) -> bool:
        return self.shared_over_time and x.dim() >= 5

    def _eps_per_clip(self, x: Tensor, mask: Tensor) -> Tensor | float:
        """L2 budget of the optimised tensor: a shared delta counts once per attacked frame."""
        if self.norm == "l2" and self._shared(x):
            frames = mask.reshape(mask.shape[0], -1).sum(dim=1).clamp_min(1.0)
            return (self.eps / frames.sqrt()).reshape([-1] + [1] * (x.dim() - 1))
        return self.eps

    def _init_delta(self, x: Tensor, mask: Tensor, gens: list[torch.Generator], eps: Tensor | float) -> Tensor:
        shape = list(x.shape)
        if self._shared(x):
            shape[2] = 1
        pmask = torch.ones((), dtype=x.dtype, device=x.device) if self._shared(x) else mask
        if not self.random_start:
            return torch.zeros(shape, dtype=x.dtype, device=x.device)
        if self.norm == "linf":
            delta = (per_clip_rand(gens, tuple(shape[1:]), x) * 2 - 1) * self.eps * pmask
        else:
            noise = per_clip_rand(gens, tuple(shape[1:]), x, normal=True) * pmask
            radius = per_clip_rand(gens, (), x).reshape([-1] + [1] * (x.dim() - 1))
            delta = noise / flat_norm(noise).clamp_min(1e-12) * radius * eps
        if not self._shared(x):
            delta = (x + delta).clamp_(0, 1) - x
        return delta

    def _run(self, x: Tensor, y: Tensor, mask: Tensor, gens: list[torch.Generator]) -> Tensor:
        shared = self._shared(x)
        eps = self._eps_per_clip(x, mask)
        delta = self._init_delta(x, mask, gens, eps).requires_grad_(True)
        velocity = torch.zeros_like(delta) if self.momentum > 0 else None
        for _ in range(self.steps):
            x_adv = (x + delta * mask).clamp(0, 1) if shared else x + delta
            (g,) = torch.autograd.grad(self.loss_fn(self.model(x_adv), y).sum(), delta)
            with torch.no_grad():
                if not shared:
                    g.mul_(mask)
                if velocity is not None:
                    velocity.mul_(self.momentum).add_(g / g.abs().mean(dim=tuple(range(1, g.dim())), keepdim=True).clamp_min(1e-12))
                    g = velocity.clone()
                self._step(delta, g, eps)
                if not shared:
                    delta.add_(x).clamp_(0, 1).sub_(x)
        with torch.no_grad():
            return (x + delta * mask).clamp(0, 1) if shared else x + delta

    def _step(self, delta: Tensor, g: Tensor, eps: Tensor | float) -> None:
        """One ascent step plus projection onto the norm ball, in place."""
        if self.norm == "linf":
            delta.add_(g.sign_(), alpha=self.alpha).clamp_(-self.eps, self.eps)
            return
        delta.add_(g.div_(flat_norm(g).clamp_min(1e-12)), alpha=self.alpha)
        delta.mul_((eps / flat_norm(delta).clamp_min(1e-12)).clamp(max=1.0))


@register_attack("fgsm")
class FGSM(PGD):
    """Fast gradient sign method: one step of size eps, no random start (Goodfellow et al.)."""

    name = "fgsm"
    fixed_params = ("alpha", "steps", "random_start", "restarts", "momentum")

    def __init__(self, model: nn.Module, *, eps: float = 4 / 255, norm: str = "linf", **kwargs) -> None:
        super().__init__(model, eps=eps, alpha=eps, steps=1, norm=norm, random_start=False, restarts=1, **kwargs)


@register_attack("mifgsm")
class MIFGSM(PGD):
    """Momentum iterative FGSM (Dong et al.): step along sign of accumulated L1-normalised gradients."""

    name = "mifgsm"
    fixed_params = ("momentum",)

    def __init__(
        self,
        model: nn.Module,
        *,
        eps: float = 4 / 255,
        alpha: float | None = None,
        steps: int = 10,
        decay: float = 1.0,
        **kwargs,
    ) -> None:
        kwargs.setdefault("random_start", False)
        alpha = eps / steps if alpha is None else alpha
        super().__init__(model, eps=eps, alpha=alpha, steps=steps, momentum=decay, **kwargs)
