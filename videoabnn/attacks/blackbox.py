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
    """Square attack for clips: random search over squares of +-eps, accepted when the margin drops.

    Paper: Andriushchenko, Croce, Flammarion & Hein, "Square Attack: a query-efficient black-box adversarial
    attack via random search", ECCV 2020.
    Distance: Linf.
    Threat model: black-box (score-based): only the logits are used (except by ``frames="salient:k"``, which
    ranks frames by the input gradient).

    Starts from vertical stripes of +-eps (one sign per channel and column); each query draws one square
    at one spatial place across the attacked frames, with values +-eps per channel and frame, and keeps it
    when the margin drops. Stops per clip once fooled.

    Args:
        model: classifier on (N, C, T, H, W) clips in [0, 1] returning logits; run in eval mode, never modified.
        eps: radius of the Linf ball, in [0, 1] pixel units (4/255 = 4 grey levels), >= 0; 0 returns x.
            Default: 4/255.
        queries: model queries per clip including the start, >= 1. Default: 1000.
        p_init: initial fraction of the frame area a square covers; shrinks on the paper's schedule, rescaled
            to ``queries``. Default: 0.8.
        loss: the acceptance score is always the margin; ``loss`` is only used by ``frames="salient:k"``.
            Default: ``"margin"`` (set by Square).
        targeted: ``y`` holds target labels and the attack pushes towards them. Default: False.
        frames: frames that may change: ``"all"``, ``"first:k"``, ``"random:k"``, ``"every:n"`` or
            ``"salient:k"`` (largest input gradient). Default: ``"all"``.
        seed: seed of the per-clip random draws (with each clip's pixels); None: a fresh seed per call.
            Default: None.
        eot: (``build_attack`` only) draws of a random input transform averaged per forward pass.
            Default: None (the model as is).

    Shape:
        - x: (N, C, T, H, W) float in [0, 1]; any rank >= 4 (NCHW images count as one frame).
        - y: (N,) int64 labels (target labels when targeted).
        - output: same shape and dtype as x, in [0, 1], within eps of x (Linf).

    Examples:
        >>> attack = Square(model, eps=4 / 255, queries=500, seed=0)
        >>> x_adv = attack(x, y)
    """

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
    """Transfer attack: craft with any registered attack on ``surrogate``, then hand the clips to the target.

    Paper: Papernot, McDaniel & Goodfellow, "Transferability in Machine Learning: from Phenomena to Black-Box
    Attacks using Adversarial Samples", arXiv 2016; Liu, Chen, Liu & Song, "Delving into Transferable
    Adversarial Examples and Black-box Attacks", ICLR 2017.
    Distance: that of the inner attack (e.g. Linf for ``pgd``).
    Threat model: transfer (the target is neither differentiated nor queried while crafting).

    ``bpda``/``eot`` given to ``build_attack`` wrap the target, which this attack never uses: they have no
    effect here.

    Args:
        model: target classifier on (N, C, T, H, W) clips in [0, 1]; not used to craft the clips.
        surrogate: the classifier (an ``nn.Module``) the inner attack differentiates through; required.
        attack: registered name of the inner attack (see ``list_attacks()``). Default: ``"pgd"``.
        loss: objective of the inner attack, as for it. Default: the inner attack's (``"ce"`` for ``pgd``).
        targeted: ``y`` holds target labels (passed to the inner attack). Default: False.
        frames: frames that may change (passed to the inner attack): ``"all"``, ``"first:k"``, ``"random:k"``,
            ``"every:n"`` or ``"salient:k"``. Default: ``"all"``.
        seed: seed of the inner attack's draws; None: a fresh seed per call. Default: None.
        **params: every other keyword goes to the inner attack, which checks it (e.g. ``eps``, ``steps``).

    Shape:
        - x: (N, C, T, H, W) float in [0, 1], as the inner attack accepts.
        - y: (N,) int64 labels (target labels when targeted).
        - output: the inner attack's output on the surrogate: same shape and dtype as x, in [0, 1].

    Examples:
        >>> attack = Transfer(model, surrogate=other_model, attack="pgd", eps=4 / 255, steps=10)
        >>> x_adv = attack(x, y)
    """

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
