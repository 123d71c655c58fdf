"""APGD (Croce & Hein, ICML 2020): step-size-free PGD with momentum and checkpoint-based step
halving, for Linf and L2, any input rank. ``loss='ce'`` is APGD-CE, ``loss='dlr'`` APGD-DLR."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from videoabnn.attacks.base import flat_norm, per_clip_rand
from videoabnn.attacks.gradient import NormBallAttack
from videoabnn.attacks.registry import register_attack


def checkpoints(steps: int) -> list[int]:
    """Iterations at which the step size may be halved: p0=0, p1=0.22, p_j+1 = p_j + max(p_j - p_j-1 - 0.03, 0.06)."""
    p = [0.0, 0.22]
    while p[-1] < 1.0:
        p.append(p[-1] + max(p[-1] - p[-2] - 0.03, 0.06))
    return sorted({int(round(q * steps)) for q in p[1:] if q <= 1.0} - {0})


@register_attack("apgd", "apgd_ce", "apgd_dlr", defaults={"apgd_ce": {"loss": "ce"}, "apgd_dlr": {"loss": "dlr"}})
class APGD(NormBallAttack):
    """Auto-PGD: step-size-free PGD with momentum and checkpoint-based step halving, per clip.

    Paper: Croce & Hein, "Reliable evaluation of adversarial robustness with an ensemble of diverse
    parameter-free attacks", ICML 2020.
    Distance: Linf (``norm="linf"``) or L2 over the whole clip (``norm="l2"``).
    Threat model: white-box (differentiates through everything the model computes).

    Registered as ``apgd``, ``apgd_ce`` (``loss="ce"``) and ``apgd_dlr`` (``loss="dlr"``). The step starts at
    2 * eps and is halved at the paper's checkpoints; the start is uniform in the Linf ball or on the L2
    sphere. Returns the first adversarial point found, else the highest-loss point.

    Args:
        model: classifier on (N, C, T, H, W) clips in [0, 1] returning logits; run in eval mode, never modified.
        eps: radius of the ball, in [0, 1] pixel units (8/255 = 8 grey levels; for L2 the norm of the whole
            clip's perturbation); 0 returns x. Default: 8/255.
        steps: iterations (gradient evaluations after the start), >= 1. Default: 100.
        norm: ``"linf"`` or ``"l2"``. Default: ``"linf"``.
        restarts: runs per clip, >= 1; later runs only revisit clips not yet fooled. Default: 1.
        rho: at a checkpoint the step is halved when fewer than ``rho`` of the iterations since the last
            checkpoint raised the best loss (or the best loss did not move and the step was not just halved).
            Default: 0.75.
        momentum: the paper's alpha: weight of the new step, ``1 - momentum`` goes to the previous one
            (1: no momentum). Default: 0.75.
        loss: objective to maximise: ``"ce"`` (APGD-CE), ``"margin"`` (alias ``"cw"``) or ``"dlr"`` (APGD-DLR;
            needs >= 3 classes, >= 4 when targeted). Default: ``"ce"``.
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
        >>> attack = APGD(model, eps=8 / 255, steps=50, loss="dlr")
        >>> x_adv = attack(x, y)
    """

    name = "apgd"

    def __init__(
        self,
        model: nn.Module,
        *,
        eps: float = 8 / 255,
        steps: int = 100,
        norm: str = "linf",
        restarts: int = 1,
        rho: float = 0.75,
        momentum: float = 0.75,
        loss: str = "ce",
        **kwargs,
    ) -> None:
        super().__init__(model, eps=eps, steps=steps, norm=norm, restarts=restarts, loss=loss, **kwargs)
        self.rho = float(rho)
        self.momentum = float(momentum)

    def _project(self, x: Tensor, x_new: Tensor) -> Tensor:
        delta = x_new - x
        if self.norm == "linf":
            delta.clamp_(-self.eps, self.eps)
        else:
            delta.mul_((self.eps / flat_norm(delta).clamp_min(1e-12)).clamp(max=1.0))
        return (x + delta).clamp_(0, 1)

    def _direction(self, g: Tensor, mask: Tensor) -> Tensor:
        g = g * mask
        return g.sign() if self.norm == "linf" else g / flat_norm(g).clamp_min(1e-12)

    def _loss_grad(self, x_adv: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        x_adv = x_adv.detach().requires_grad_(True)
        logits = self.model(x_adv)
        loss = self.loss_fn(logits, y)
        (g,) = torch.autograd.grad(loss.sum(), x_adv)
        return loss.detach(), g, self.adversarial(logits.detach(), y)

    def _start(self, x: Tensor, mask: Tensor, gens: list[torch.Generator]) -> Tensor:
        if self.norm == "linf":
            noise = (per_clip_rand(gens, tuple(x.shape[1:]), x) * 2 - 1) * mask
            return (x + self.eps * noise).clamp(0, 1)
        noise = per_clip_rand(gens, tuple(x.shape[1:]), x, normal=True) * mask
        return (x + self.eps * noise / flat_norm(noise).clamp_min(1e-12)).clamp(0, 1)

    def _run(self, x: Tensor, y: Tensor, mask: Tensor, gens: list[torch.Generator]) -> Tensor:
        n = x.shape[0]
        view = [-1] + [1] * (x.dim() - 1)
        step = torch.full((n,), 2.0 * self.eps, device=x.device, dtype=x.dtype)
        x_adv = self._start(x, mask, gens)
        loss, grad, succ = self._loss_grad(x_adv, y)
        x_found = torch.where(succ.reshape(view), x_adv, x)
        found = succ.clone()
        x_best, loss_best, grad_best = x_adv.clone(), loss.clone(), grad.clone()
        x_prev = x_adv.clone()
        cps = checkpoints(self.steps)
        last_cp, improved_count = 0, torch.zeros(n, device=x.device)
        loss_best_cp = loss_best.clone()
        reduced_last = torch.zeros(n, dtype=torch.bool, device=x.device)
        for i in range(self.steps):
            with torch.no_grad():
                a = 1.0 if i == 0 else self.momentum
                z = self._project(x, x_adv + step.reshape(view) * self._direction(grad, mask))
                x_new = self._project(x, x_adv + a * (z - x_adv) + (1 - a) * (x_adv - x_prev))
                x_prev = x_adv
            x_adv = x_new
            loss, grad, succ = self._loss_grad(x_adv, y)
            with torch.no_grad():
                newly = succ & ~found
                x_found[newly] = x_adv[newly]
                found |= succ
                better = loss > loss_best
                improved_count += better.float()
                x_best[better], grad_best[better], loss_best[better] = x_adv[better], grad[better], loss[better]
                if i + 1 in cps:
                    span = i + 1 - last_cp
                    reduce = (improved_count < self.rho * span) | (~reduced_last & (loss_best_cp >= loss_best))
                    step[reduce] /= 2.0
                    x_adv[reduce], grad[reduce] = x_best[reduce], grad_best[reduce]
                    last_cp, improved_count = i + 1, torch.zeros_like(improved_count)
                    loss_best_cp, reduced_last = loss_best.clone(), reduce
        return torch.where(found.reshape(view), x_found, x_best)
