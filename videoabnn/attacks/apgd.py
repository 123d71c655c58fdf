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
    """Auto-PGD with per-clip step sizes; returns the first adversarial point found, else the best-loss point."""

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
