"""Physically realizable attacks, unbounded inside a region: ROA sticker, adversarial framing
and salt-and-pepper pixels. Sizes are pixels (int) or fractions of the frame (float in (0, 1]).

All three pick a region (N, 1, T, H, W), then take sign-gradient steps of size ``alpha`` on the
pixel values inside it (clamped to [0, 1]); pixels outside the region are returned unchanged.
Inputs must be NCTHW clips or NCHW images.
"""

from __future__ import annotations

from abc import abstractmethod

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from videoabnn.attacks.base import Attack, clip_generators, per_clip_rand, per_clip_randint, resolve_length
from videoabnn.attacks.frames import num_frames
from videoabnn.attacks.registry import register_attack

INITS = ("grey", "random", "keep")
POSITIONS = ("random", "exhaustive", "gradient")


def _as_region(sel: Tensor, x: Tensor) -> Tensor:
    """(N, T, H, W) bool -> float region broadcastable against ``x``."""
    return sel.to(x.dtype).unsqueeze(1) if x.dim() == 5 else sel.to(x.dtype)


def _frames_bool(mask: Tensor) -> Tensor:
    """Frame mask (N, 1, T, 1, 1) or (N, 1, 1, 1) -> (N, T, 1, 1) bool."""
    return (mask.reshape(mask.shape[0], -1) > 0)[:, :, None, None]


def rect_region(rows: Tensor, cols: Tensor, size: tuple[int, int], hw: tuple[int, int]) -> Tensor:
    """(N, T, H, W) bool with a size[0] x size[1] rectangle at top-left (rows, cols), each (N, T)."""
    r = torch.arange(hw[0], device=rows.device).reshape(1, 1, -1, 1)
    c = torch.arange(hw[1], device=rows.device).reshape(1, 1, 1, -1)
    r0, c0 = rows[:, :, None, None], cols[:, :, None, None]
    return (r >= r0) & (r < r0 + size[0]) & (c >= c0) & (c < c0 + size[1])


class RegionAttack(Attack):
    """Shared machinery: choose a region, then optimise the pixels inside it by sign-gradient ascent."""

    def __init__(
        self, model: nn.Module, *, alpha: float = 70 / 255, steps: int = 5, init: str = "grey", **kwargs
    ) -> None:
        super().__init__(model, **kwargs)
        if int(steps) < 0 or alpha < 0:
            raise ValueError(f"{type(self).__name__}: steps and alpha must be >= 0; got {steps}, {alpha}")
        if init not in INITS:
            raise ValueError(f"{type(self).__name__}: init must be one of {INITS}, got {init!r}")
        self.alpha, self.steps, self.init = float(alpha), int(steps), init

    @abstractmethod
    def region(self, x: Tensor, y: Tensor, frames: Tensor, gens: list[torch.Generator]) -> Tensor:
        """(N, T, H, W) bool: pixels the attack may change (``frames`` is (N, T, 1, 1) bool)."""

    def perturb(self, x: Tensor, y: Tensor, seed: int) -> Tensor:
        if x.dim() not in (4, 5):
            raise ValueError(f"{type(self).__name__}: expected NCTHW clips or NCHW images, got rank {x.dim()}")
        gens = clip_generators(x, seed)
        frames = _frames_bool(self.make_mask(x, y, gens))
        region = _as_region(self.region(x, y, frames, gens) & frames, x)
        return self.optimize(x, y, region, gens)

    def initial_content(self, x: Tensor, gens: list[torch.Generator]) -> Tensor:
        if self.init == "grey":
            return torch.full_like(x, 0.5)
        if self.init == "random":
            return per_clip_rand(gens, tuple(x.shape[1:]), x)
        return x.clone()

    def optimize(self, x: Tensor, y: Tensor, region: Tensor, gens: list[torch.Generator]) -> Tensor:
        """Sign-gradient steps on the content inside ``region``; outside stays exactly ``x``."""
        content = self.initial_content(x, gens).requires_grad_(True)
        for _ in range(self.steps):
            x_adv = x + region * (content - x)
            (g,) = torch.autograd.grad(self.loss_fn(self.model(x_adv), y).sum(), content)
            with torch.no_grad():
                content.add_(g.sign_(), alpha=self.alpha).clamp_(0, 1)
        with torch.no_grad():
            return x + region * (content - x)

    def _losses_for(self, x: Tensor, y: Tensor, sel: Tensor, fill: float = 0.5) -> Tensor:
        """Per-clip loss with a grey patch over ``sel`` (no gradient)."""
        with torch.no_grad():
            region = _as_region(sel, x)
            return self.loss_fn(self.model(x + region * (fill - x)), y)


@register_attack("roa")
class ROA(RegionAttack):
    """Rectangular occlusion (sticker) attack of Wu et al. (ICLR 2020), for clips.

    ``position``: ``random``; ``exhaustive`` (grey sticker at every stride-grid place, keep the
    worst); ``gradient`` (score windows by summed squared input gradient, try a grey sticker at the
    top ``candidates``, keep the worst). ``per_frame=False`` keeps one place for all frames.
    """

    name = "roa"
    threat = "sticker"

    def __init__(
        self,
        model: nn.Module,
        *,
        size: int | float | tuple = 30 / 112,
        position: str = "gradient",
        per_frame: bool = False,
        stride: int | None = None,
        candidates: int = 25,
        **kwargs,
    ) -> None:
        super().__init__(model, **kwargs)
        if position not in POSITIONS:
            raise ValueError(f"ROA: position must be one of {POSITIONS}, got {position!r}")
        if per_frame and position == "exhaustive":
            raise ValueError("ROA: exhaustive search is over one place for all frames; use per_frame=False")
        self.size, self.position, self.per_frame = size, position, bool(per_frame)
        self.stride, self.candidates = stride, int(candidates)

    def sticker_size(self, h: int, w: int) -> tuple[int, int]:
        sh, sw = self.size if isinstance(self.size, (tuple, list)) else (self.size, self.size)
        return resolve_length(sh, h, "ROA size (height)"), resolve_length(sw, w, "ROA size (width)")

    def region(self, x: Tensor, y: Tensor, frames: Tensor, gens: list[torch.Generator]) -> Tensor:
        n, t, (h, w) = x.shape[0], num_frames(x), x.shape[-2:]
        size = self.sticker_size(h, w)
        slots = t if self.per_frame else 1
        if self.position == "random":
            rows = torch.tensor([[per_clip_randint([g], h - size[0] + 1)[0] for _ in range(slots)] for g in gens])
            cols = torch.tensor([[per_clip_randint([g], w - size[1] + 1)[0] for _ in range(slots)] for g in gens])
            rows, cols = rows.to(x.device).expand(n, t), cols.to(x.device).expand(n, t)
            return rect_region(rows, cols, size, (h, w))
        stride = self.stride or (1 if self.position == "gradient" else max(1, min(size) // 2))
        n_w = (w - size[1]) // stride + 1
        if self.position == "exhaustive":
            n_places = ((h - size[0]) // stride + 1) * n_w
            cand = torch.arange(n_places, device=x.device).expand(n, slots, n_places)
        else:
            cand = self._gradient_candidates(x, y, frames, size, stride)
        best_loss = torch.full((n,), float("-inf"), device=x.device)
        best = torch.zeros(n, t, h, w, dtype=torch.bool, device=x.device)
        for k in range(cand.shape[-1]):
            idx = cand[..., k].expand(n, t)
            sel = rect_region(idx // n_w * stride, idx % n_w * stride, size, (h, w))
            loss = self._losses_for(x, y, sel & frames).float()
            take = loss > best_loss
            best[take], best_loss[take] = sel[take], loss[take]
        return best

    def _gradient_candidates(self, x: Tensor, y: Tensor, frames: Tensor, size: tuple, stride: int) -> Tensor:
        """Top window indices (N, slots, C) by summed squared input gradient."""
        g = self.input_grad(x, y)
        sal = g.pow(2).sum(dim=1)
        sal = sal if x.dim() == 5 else sal.unsqueeze(1)
        sal = sal * frames.to(sal.dtype)
        if not self.per_frame:
            sal = sal.sum(dim=1, keepdim=True)
        n, slots, h, w = sal.shape
        scores = F.avg_pool2d(sal.reshape(n * slots, 1, h, w), size, stride=stride).reshape(n, slots, -1)
        return scores.topk(min(self.candidates, scores.shape[-1]), dim=-1).indices


@register_attack("framing", "af")
class Framing(RegionAttack):
    """Adversarial framing (Zajac et al., AAAI 2019) per clip: a border of ``width`` on every attacked frame."""

    name = "framing"
    threat = "framing"

    def __init__(self, model: nn.Module, *, width: int | float = 5 / 112, **kwargs) -> None:
        kwargs.setdefault("init", "random")
        super().__init__(model, **kwargs)
        self.width = width

    def region(self, x: Tensor, y: Tensor, frames: Tensor, gens: list[torch.Generator]) -> Tensor:
        return border_region(x, self.width).expand(x.shape[0], num_frames(x), -1, -1)


def border_region(x: Tensor, width: int | float) -> Tensor:
    """(1, 1, H, W) bool border of ``width`` pixels (int) or fraction of the smaller side (float)."""
    h, w = x.shape[-2:]
    b = resolve_length(width, min(h, w), "framing width")
    r = torch.arange(h, device=x.device).reshape(-1, 1)
    c = torch.arange(w, device=x.device).reshape(1, -1)
    return ((r < b) | (r >= h - b) | (c < b) | (c >= w - b))[None, None]


@register_attack("spa")
class SaltPepper(RegionAttack):
    """Salt-and-pepper attack (SPA): ``pixels`` adversarial pixels per frame (int, or a fraction of
    H*W), chosen at random or by the largest input gradient, then optimised without a bound."""

    name = "spa"
    threat = "sparse"

    def __init__(self, model: nn.Module, *, pixels: int | float = 100 / (112 * 112), select: str = "gradient", **kwargs) -> None:
        kwargs.setdefault("init", "random")
        super().__init__(model, **kwargs)
        if select not in ("random", "gradient"):
            raise ValueError(f"SPA: select must be 'random' or 'gradient', got {select!r}")
        self.pixels, self.select = pixels, select

    def region(self, x: Tensor, y: Tensor, frames: Tensor, gens: list[torch.Generator]) -> Tensor:
        n, t, (h, w) = x.shape[0], num_frames(x), x.shape[-2:]
        k = resolve_length(self.pixels, h * w, "SPA pixels")
        if self.select == "random":
            idx = torch.stack(
                [torch.stack([torch.randperm(h * w, generator=g, device=g.device)[:k] for _ in range(t)]) for g in gens]
            ).to(x.device)
        else:
            sal = self.input_grad(x, y).abs().sum(dim=1)
            sal = sal if x.dim() == 5 else sal.unsqueeze(1)
            idx = sal.reshape(n, t, h * w).topk(k, dim=-1).indices
        sel = torch.zeros(n, t, h * w, dtype=torch.bool, device=x.device)
        sel.scatter_(2, idx, True)
        return sel.reshape(n, t, h, w)
