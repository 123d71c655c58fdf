"""Sanity-check attacks that do not use the model's gradients: the Square attack on video
(score-based, Linf) and transfer from a surrogate model."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from videoabnn.attacks.base import Attack, clip_generators, per_clip_rand, per_clip_randint
from videoabnn.attacks.losses import margin_loss
from videoabnn.attacks.registry import build_attack, register_attack


def square_fraction(p_init: float, it: int, queries: int) -> float:
    """Square-size schedule of Andriushchenko et al. (2020), rescaled to the query budget."""
    i = int(it / max(queries, 1) * 10000)
    for bound, div in ((8000, 512), (6000, 256), (4000, 128), (2000, 64), (1000, 32), (500, 16), (200, 8), (50, 4), (10, 2)):
        if i > bound:
            return p_init / div
    return p_init


@register_attack("square")
class Square(Attack):
    """Square attack (Linf) for clips: random squares at one spatial place across the attacked frames,
    values +-eps per channel and frame, accepted when the margin drops. Stops per clip once fooled."""

    name = "square"
    threat = "linf"

    def __init__(
        self,
        model: nn.Module,
        *,
        eps: float = 4 / 255,
        queries: int = 1000,
        p_init: float = 0.8,
        **kwargs,
    ) -> None:
        kwargs.setdefault("loss", "margin")
        super().__init__(model, **kwargs)
        if eps < 0 or int(queries) < 1:
            raise ValueError(f"Square needs eps >= 0 and queries >= 1; got eps={eps}, queries={queries}")
        self.eps, self.queries, self.p_init = float(eps), int(queries), float(p_init)

    def _score(self, x: Tensor, y: Tensor) -> Tensor:
        """Lower is better for the attacker; < 0 means adversarial."""
        with torch.no_grad():
            return -margin_loss(self.model(x), y, self.targeted)

    def perturb(self, x: Tensor, y: Tensor, seed: int) -> Tensor:
        if self.eps == 0:
            return x.clone()
        gens = clip_generators(x, seed)
        mask = self.make_mask(x, y, gens)
        n, c = x.shape[:2]
        h, w = x.shape[-2], x.shape[-1]
        # Vertical stripes: one sign per channel and column, shared over time and rows.
        stripe_shape = (c,) + (1,) * (x.dim() - 3) + (w,)
        stripes = torch.where(per_clip_rand(gens, stripe_shape, x) < 0.5, -1.0, 1.0).to(x.dtype)
        best = (x + self.eps * stripes * mask).clamp(0, 1)
        score = self._score(best, y)
        rows = torch.arange(h, device=x.device).reshape(1, h, 1)
        cols = torch.arange(w, device=x.device).reshape(1, 1, w)
        val_shape = (c,) + tuple(x.shape[2:-2]) + (1, 1)
        for it in range(self.queries - 1):
            active = (score > 0).nonzero().flatten()
            if active.numel() == 0:
                break
            sub = [gens[i] for i in active.tolist()]
            s = int(round((square_fraction(self.p_init, it, self.queries) * h * w) ** 0.5))
            s = max(1, min(s, h - 1, w - 1)) if min(h, w) > 1 else 1
            r0 = torch.tensor(per_clip_randint(sub, h - s + 1), device=x.device).reshape(-1, 1, 1)
            c0 = torch.tensor(per_clip_randint(sub, w - s + 1), device=x.device).reshape(-1, 1, 1)
            win = ((rows >= r0) & (rows < r0 + s) & (cols >= c0) & (cols < c0 + s)).to(x.dtype)
            win = win.reshape([active.numel()] + [1] * (x.dim() - 3) + [h, w])
            values = torch.where(per_clip_rand(sub, val_shape, x) < 0.5, -1.0, 1.0).to(x.dtype) * self.eps
            xa = x[active]
            region = win * mask[active]
            cand = torch.where(region > 0, (xa + values).clamp(0, 1), best[active])
            new_score = self._score(cand, y[active])
            take = new_score < score[active]
            best[active[take]] = cand[take]
            score[active[take]] = new_score[take]
        return best


@register_attack("transfer")
class Transfer(Attack):
    """Transfer attack: craft on ``surrogate`` with any registered attack, then hand to the target."""

    name = "transfer"
    open_params = True  # the inner attack checks its own parameters

    def __init__(self, model: nn.Module, *, surrogate: nn.Module, attack: str = "pgd", **params) -> None:
        keys = {k: params.pop(k) for k in ("targeted", "frames", "seed", "loss") if k in params}
        super().__init__(model, **keys)
        if not isinstance(surrogate, nn.Module):
            raise TypeError("Transfer: surrogate must be a torch.nn.Module")
        self.surrogate = surrogate
        self.inner = build_attack(attack, surrogate, **keys, **params)
        self.threat = getattr(self.inner, "threat", "none")

    def perturb(self, x: Tensor, y: Tensor, seed: int) -> Tensor:
        if self.inner.seed is None:
            self.inner.seed = seed
            try:
                return self.inner(x, y)
            finally:
                self.inner.seed = None
        return self.inner(x, y)
