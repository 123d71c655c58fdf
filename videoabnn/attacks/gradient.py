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
    """Base of the iterative attacks in an Linf or L2 ball (``eps``, ``steps``, ``norm``, ``restarts``, checked
    here): restarts over the subclass's ``_run``; see :class:`PGD` for the arguments."""

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
    """Projected gradient descent in an Linf or L2 ball, with random start, restarts and optional momentum.

    Paper: Madry et al., "Towards Deep Learning Models Resistant to Adversarial Attacks", ICLR 2018.
    Distance: Linf (``norm="linf"``; registered as ``pgd`` and ``pgd_linf``) or L2 over the whole clip
    (``norm="l2"``; registered as ``pgd_l2``).
    Threat model: white-box (differentiates through everything the model computes).

    Each step adds ``alpha`` times the gradient sign (Linf) or the L2-normalised gradient (L2), then projects
    onto the ball and onto [0, 1]. Norms are per clip over all non-batch dims, so any input rank works.

    Args:
        model: classifier on (N, C, T, H, W) clips in [0, 1] returning logits; run in eval mode, never modified.
        eps: radius of the ball, in [0, 1] pixel units (4/255 = 4 grey levels; for L2 the norm of the whole
            clip's perturbation); 0 returns x. Default: 4/255.
        alpha: step size, same units as eps; None: 2.5 * eps / steps. Default: None.
        steps: gradient steps, >= 1. Default: 10.
        norm: ``"linf"`` or ``"l2"``. Default: ``"linf"`` (``pgd_l2`` sets ``"l2"``).
        random_start: start from a uniform point of the Linf ball, or a uniform direction and radius in the
            L2 ball; False starts at x. Default: True.
        restarts: runs per clip, >= 1; later runs only revisit clips not yet fooled; kept per clip: the first
            success, else the highest loss. Default: 1.
        shared_over_time: optimise one (C, 1, H, W) perturbation added to every attacked frame of an NCTHW
            clip (temporally universal; the L2 budget still covers the whole clip). Default: False.
        momentum: decay of the accumulated L1-normalised gradient (MI-FGSM's update); 0 is plain PGD.
            Default: 0.0.
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
        - output: same shape and dtype as x, in [0, 1], within eps of x (Linf per pixel, L2 per clip).

    Examples:
        >>> attack = PGD(model, eps=4 / 255, alpha=1 / 255, steps=5)
        >>> x_adv = attack(x, y)
        >>> l2 = build_attack("pgd_l2", model, eps=160 / 255, steps=10, loss="margin")
    """

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
    """Fast gradient sign method: one gradient step of size eps from the clean clip.

    Paper: Goodfellow, Shlens & Szegedy, "Explaining and Harnessing Adversarial Examples", ICLR 2015.
    Distance: Linf (a sign step, ``norm="linf"``) or L2 over the whole clip (an L2-normalised step).
    Threat model: white-box (differentiates through everything the model computes).

    A :class:`PGD` with ``alpha=eps``, ``steps=1``, ``random_start=False``, ``restarts=1`` (fixed, not
    accepted by ``build_attack``).

    Args:
        model: classifier on (N, C, T, H, W) clips in [0, 1] returning logits; run in eval mode, never modified.
        eps: step size and radius, in [0, 1] pixel units (4/255 = 4 grey levels); 0 returns x. Default: 4/255.
        norm: ``"linf"`` or ``"l2"``. Default: ``"linf"``.
        shared_over_time: one (C, 1, H, W) step added to every attacked frame of an NCTHW clip.
            Default: False.
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
        - output: same shape and dtype as x, in [0, 1], within eps of x.

    Examples:
        >>> attack = FGSM(model, eps=4 / 255)
        >>> x_adv = attack(x, y)
    """

    name = "fgsm"
    fixed_params = ("alpha", "steps", "random_start", "restarts", "momentum")

    def __init__(self, model: nn.Module, *, eps: float = 4 / 255, norm: str = "linf", **kwargs) -> None:
        super().__init__(model, eps=eps, alpha=eps, steps=1, norm=norm, random_start=False, restarts=1, **kwargs)


@register_attack("mifgsm")
class MIFGSM(PGD):
    """Momentum iterative FGSM: steps along the sign of the accumulated L1-normalised gradients.

    Paper: Dong et al., "Boosting Adversarial Attacks with Momentum", CVPR 2018.
    Distance: Linf (``norm="linf"``) or L2 over the whole clip (``norm="l2"``).
    Threat model: white-box (differentiates through everything the model computes).

    A :class:`PGD` with ``momentum=decay`` (``momentum`` itself is not accepted) and no random start by
    default.

    Args:
        model: classifier on (N, C, T, H, W) clips in [0, 1] returning logits; run in eval mode, never modified.
        eps: radius of the ball, in [0, 1] pixel units (4/255 = 4 grey levels); 0 returns x. Default: 4/255.
        alpha: step size, same units as eps; None: eps / steps. Default: None.
        steps: gradient steps, >= 1. Default: 10.
        decay: momentum decay factor (mu of the paper). Default: 1.0.
        norm: ``"linf"`` or ``"l2"``. Default: ``"linf"``.
        random_start: start from a random point of the ball instead of x. Default: False (set by MIFGSM).
        restarts: runs per clip, >= 1 (identical runs unless ``random_start``); kept per clip: the first
            success, else the highest loss. Default: 1.
        shared_over_time: one (C, 1, H, W) perturbation added to every attacked frame of an NCTHW clip.
            Default: False.
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
        - output: same shape and dtype as x, in [0, 1], within eps of x.

    Examples:
        >>> attack = MIFGSM(model, eps=4 / 255, steps=10, decay=1.0)
        >>> x_adv = attack(x, y)
    """

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
