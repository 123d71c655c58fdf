r"""Physically realizable attacks, unbounded inside a region: ROA sticker, adversarial framing
and salt-and-pepper pixels. Sizes are pixels (int) or fractions of the frame (float in (0, 1]).

All three pick a region, then take sign-gradient steps on the pixel values inside it; pixels
outside are returned unchanged. ROA and framing are :class:`StickerAttack`\ s: members of the pattern-attack
family (:mod:`videoabnn.attacks.pattern_family`) with its options (one pattern over time, jitter, physical
EOT, printability), documented on each class.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from videoabnn.attacks.base import (
    Attack,
    attack_mode,
    clip_generators,
    per_clip_rand,
    per_clip_randint,
    resolve_length,
)
from videoabnn.attacks.frames import num_frames
from videoabnn.attacks.pattern import mask_corner, translation
from videoabnn.attacks.pattern_family import (
    Layout,
    PatternAttack,
    check_rank,
    frame_layout,
    placed_layout,
    render_layout,
)
from videoabnn.attacks.physical_eot import PhysicalDistribution
from videoabnn.attacks.ranking import top_indices
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
    """Shared machinery: choose a region, then optimise the pixels inside it by sign-gradient ascent
    (``alpha``, ``steps``, ``init``: see :class:`ROA`, :class:`Framing`, :class:`SaltPepper`)."""

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
        """Starting pixel values of the whole clip, by ``init``."""
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


@dataclass
class Sticker:
    """A fitted pattern: ``param`` (the trainable tensor), the region ``sel`` (N, T, H, W) bool and the
    attacked frames (N, T, 1, 1) bool it was fitted for."""

    param: Tensor
    sel: Tensor
    frames: Tensor


class StickerAttack(PatternAttack, RegionAttack):
    """A pattern attack fitted on the batch it attacks: choose a region per clip, then fit its pattern by
    :meth:`~videoabnn.attacks.pattern_family.PatternAttack.eot_step` (the pattern options: see :class:`ROA`
    and :class:`Framing`). Subclasses define the region and, where it is not whole-frame content shown
    inside it, the pattern's layout.

    The returned clip shows the pattern as printed, seen under ideal conditions; :meth:`physical_views`
    renders it under fresh draws and fixed conditions (the ``physical`` threat model).
    """

    def digital(self) -> bool:
        """Whether the attack is the field's digital protocol (content per frame, fixed place, no EOT, no print
        terms): then the attack renders by the plain compositing and takes NCHW images too."""
        o = self.options
        return o.pattern == "per_frame" and o.moves is None and o.distribution is None and not o.penalty.active

    def perturb(self, x: Tensor, y: Tensor, seed: int) -> Tensor:
        plain = self.digital()
        sticker = self.fit_sticker(x, y, seed, plain)
        with torch.no_grad():
            return self.render(x, sticker, seed, "show", None, plain=plain)

    # --- the pattern as a texture placed on the frames
    def new_param(self, x: Tensor, sel: Tensor, gens: list[torch.Generator]) -> Tensor:
        """Fresh pattern: full-frame content per frame (per_frame) or one full frame (shared)."""
        if self.pattern == "per_frame":
            return self.initial_content(x, gens)
        if self.init == "grey":
            return torch.full_like(x[:, :, 0], 0.5)
        if self.init == "random":
            return per_clip_rand(gens, (x.shape[1], *x.shape[-2:]), x)
        return x.mean(dim=2)

    def layout(self, x: Tensor, sticker: Sticker, param: Tensor) -> Layout:
        """Whole-frame content (per frame, or one frame for all) shown inside the region."""
        return frame_layout(param if param.dim() == 5 else param.unsqueeze(2), sticker.sel)

    def render(self, x: Tensor, sticker: Sticker, seed: int, stream: str, dist: PhysicalDistribution | None,
               param: Tensor | None = None, gens: tuple | None = None, plain: bool = False) -> Tensor:
        """The clip with the pattern placed (jitter drawn from ``stream``) and, with ``dist``, seen through
        one draw of it; ``gens`` (jitter, physical generators) continue a stream across calls."""
        layout = self.layout(x, sticker, sticker.param if param is None else param)
        return render_layout(x, layout, dist, gens or self.streams(x, seed, stream), self.options.moves, plain)

    # --- fitting
    def fit_sticker(self, x: Tensor, y: Tensor, seed: int, plain: bool = False) -> Sticker:
        """Choose the region and fit the pattern (through the EOT draws of the ``fit`` stream)."""
        check_rank(type(self).__name__, x, plain)
        gens = clip_generators(x, seed)
        frames = _frames_bool(self.make_mask(x, y, gens))
        sel = self.region(x, y, frames, gens) & frames
        sticker = Sticker(self.new_param(x, sel, gens), sel, frames)
        fit_gens = self.streams(x, seed, "fit")

        def render(param: Tensor) -> Tensor:
            return self.render(x, sticker, seed, "fit", self.options.distribution, param, fit_gens, plain)

        def print_view(param: Tensor) -> tuple[Tensor, Tensor]:
            return self.layout(x, sticker, param).expanded()

        param = sticker.param
        for _ in range(self.steps):
            param = self.eot_step(param, y, render, print_view, torch.sum)
        return replace(sticker, param=param.detach())

    def viewer(self, x: Tensor, y: Tensor, seed: int) -> Callable[[PhysicalDistribution | None, str], Tensor]:
        """Fit on ``(x, y)``, then show that sticker through a draw of the named stream."""
        with attack_mode(self.model), torch.enable_grad():
            sticker = self.fit_sticker(x.detach(), y.detach(), seed)
        return lambda dist, stream: self.render(x, sticker, seed, stream, dist)


@register_attack("roa")
class ROA(StickerAttack):
    """Rectangular occlusion attack (ROA): place a sticker, then optimise its pixels without a bound.

    Paper: Wu, Wang & Vorobeychik, "Defending against Physically Realizable Attacks on Image
    Classification", ICLR 2020.
    Distance: none inside the sticker (any value in [0, 1]); pixels outside it are unchanged.
    Threat model: white-box; the fitted pattern can also be scored under the ``physical`` threat model
    (:meth:`~StickerAttack.physical_views`).

    Args:
        model: classifier on (N, C, T, H, W) clips in [0, 1] returning logits; run in eval mode, never modified.
        size: sticker side: int pixels or float fraction of the frame side in (0, 1], or a (height, width)
            pair of them. Default: 30/112.
        position: ``"random"``; ``"exhaustive"`` (a grey sticker at every place of a ``stride`` grid, keep the
            highest loss); ``"gradient"`` (rank windows by summed squared input gradient, try a grey sticker
            at the top ``candidates``, keep the highest loss). Default: ``"gradient"``.
        per_frame: a place per frame (True) or one place for all frames (False); not with ``"exhaustive"``.
            Not the same as ``pattern="per_frame"`` (content per frame). Default: False.
        stride: grid step in pixels for ``"exhaustive"`` and ``"gradient"``; None: 1 for gradient, half the
            smaller sticker side for exhaustive. Default: None.
        candidates: windows ``"gradient"`` tries. Default: 25.
        alpha: sign-gradient step on the pixel values inside the region, in [0, 1] pixel units.
            Default: 70/255.
        steps: sign-gradient steps, >= 0 (0 keeps the initial content). Default: 5.
        init: initial content: ``"grey"`` (0.5), ``"random"`` (uniform) or ``"keep"`` (the clip's own
            pixels). Default: ``"grey"``.
        pattern: ``"per_frame"`` (new content on every frame: the digital protocol) or ``"shared"`` (one
            pattern for all frames of the clip, as printed; NCTHW only). Default: ``"per_frame"``.
        placement: ``"fixed"`` (the chosen place on every frame) or ``"jitter"`` (a random offset, scale and
            rotation per frame: a moving camera; NCTHW only). Default: ``"fixed"``.
        jitter: with ``placement="jitter"``: ``{shift, scale, rotation}`` ranges (fraction of the frame side,
            relative scale, degrees); None: shift 0.03, scale 0.05, rotation 5.0. Default: None.
        physical: fit through the expectation over real-world changes (physical EOT, NCTHW only): None or
            ``"none"``, True or ``"default"``, a ``PhysicalDistribution`` or ``{preset, draws, <field>: [low,
            high]}`` (draws per step, default 4). Default: None.
        nps_weight: weight of the non-printability score (distance to a printer palette; RGB only) subtracted
            from the objective, >= 0. Default: 0.0.
        tv_weight: weight of the pattern's total variation subtracted from the objective, >= 0. Default: 0.0.
        palette: printer palette file for the NPS (one ``r g b`` line per colour, in [0, 1]); None: the
            shipped approximation. Default: None.
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
        - x: (N, C, T, H, W) float in [0, 1]; NCHW images also accepted by the plain digital attack (no
          shared pattern, jitter, physical or print terms).
        - y: (N,) int64 labels (target labels when targeted).
        - output: same shape and dtype as x, in [0, 1]; pixels outside the region are unchanged.

    Examples:
        >>> attack = ROA(model, size=30 / 112, position="gradient", alpha=70 / 255, steps=5)
        >>> x_adv = attack(x, y)
        >>> views = attack.physical_views(x, y)  # digital, fresh, no_pattern and the fixed conditions
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

    def new_param(self, x: Tensor, sel: Tensor, gens: list[torch.Generator]) -> Tensor:
        """Shared: one (C, h, w) sticker per clip (``keep``: the clip's mean frame under its first place)."""
        if self.pattern == "per_frame":
            return super().new_param(x, sel, gens)
        n, c = x.shape[:2]
        sh, sw = self.sticker_size(*x.shape[-2:])
        if self.init == "grey":
            return torch.full((n, c, sh, sw), 0.5, dtype=x.dtype, device=x.device)
        if self.init == "random":
            return per_clip_rand(gens, (c, sh, sw), x)
        rows, cols = mask_corner(sel)
        first = sel.flatten(2).any(-1).float().argmax(-1)
        mean = x.mean(dim=2)
        return torch.stack([mean[i, :, int(rows[i, first[i]]):int(rows[i, first[i]]) + sh,
                                 int(cols[i, first[i]]):int(cols[i, first[i]]) + sw] for i in range(n)])

    def layout(self, x: Tensor, sticker: Sticker, param: Tensor) -> Layout:
        """Shared: the sticker itself, moved to the region's place on every frame (an exact pixel copy)."""
        if self.pattern == "per_frame":
            return super().layout(x, sticker, param)
        n, t = x.shape[0], x.shape[2]
        rows, cols = mask_corner(sticker.sel)
        forward = translation(torch.stack([cols, rows], dim=-1).to(x.dtype))
        return placed_layout(param.unsqueeze(2), sticker.frames.to(x.dtype).reshape(n, 1, t, 1, 1), forward)

    def sticker_size(self, h: int, w: int) -> tuple[int, int]:
        """(height, width) of the sticker in pixels on frames of ``h`` x ``w``."""
        sh, sw = self.size if isinstance(self.size, (tuple, list)) else (self.size, self.size)
        return resolve_length(sh, h, "ROA size (height)"), resolve_length(sw, w, "ROA size (width)")

    def region(self, x: Tensor, y: Tensor, frames: Tensor, gens: list[torch.Generator]) -> Tensor:
        """(N, T, H, W) bool: the sticker's place on every frame, by ``position``."""
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
        return top_indices(scores, self.candidates)


@register_attack("framing", "af")
class Framing(StickerAttack):
    """Adversarial framing per clip: a border of ``width`` on every attacked frame, optimised without a bound.

    Paper: Zajac, Zolna, Rostamzadeh & Pinheiro, "Adversarial Framing for Image and Video Classification",
    AAAI 2019.
    Distance: none inside the border (any value in [0, 1]); the pixels it encloses are unchanged.
    Threat model: white-box; the fitted frame can also be scored under the ``physical`` threat model
    (:meth:`~StickerAttack.physical_views`).

    Registered as ``framing`` and ``af``.

    Args:
        model: classifier on (N, C, T, H, W) clips in [0, 1] returning logits; run in eval mode, never modified.
        width: border width: int pixels or float fraction of the frame's shorter side in (0, 1].
            Default: 5/112.
        alpha: sign-gradient step on the pixel values inside the region, in [0, 1] pixel units.
            Default: 70/255.
        steps: sign-gradient steps, >= 0 (0 keeps the initial content). Default: 5.
        init: initial content: ``"grey"`` (0.5), ``"random"`` (uniform) or ``"keep"`` (the clip's own
            pixels). Default: ``"random"`` (set by Framing).
        pattern: ``"per_frame"`` (new content on every frame: the digital protocol) or ``"shared"`` (one
            pattern for all frames of the clip, as printed; NCTHW only). Default: ``"per_frame"``.
        placement: ``"fixed"`` (the chosen place on every frame) or ``"jitter"`` (a random offset, scale and
            rotation per frame: a moving camera; NCTHW only). Default: ``"fixed"``.
        jitter: with ``placement="jitter"``: ``{shift, scale, rotation}`` ranges (fraction of the frame side,
            relative scale, degrees); None: shift 0.03, scale 0.05, rotation 5.0. Default: None.
        physical: fit through the expectation over real-world changes (physical EOT, NCTHW only): None or
            ``"none"``, True or ``"default"``, a ``PhysicalDistribution`` or ``{preset, draws, <field>: [low,
            high]}`` (draws per step, default 4). Default: None.
        nps_weight: weight of the non-printability score (distance to a printer palette; RGB only) subtracted
            from the objective, >= 0. Default: 0.0.
        tv_weight: weight of the pattern's total variation subtracted from the objective, >= 0. Default: 0.0.
        palette: printer palette file for the NPS (one ``r g b`` line per colour, in [0, 1]); None: the
            shipped approximation. Default: None.
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
        - x: (N, C, T, H, W) float in [0, 1]; NCHW images also accepted by the plain digital attack (no
          shared pattern, jitter, physical or print terms).
        - y: (N,) int64 labels (target labels when targeted).
        - output: same shape and dtype as x, in [0, 1]; only the border changes.

    Examples:
        >>> attack = Framing(model, width=5 / 112, alpha=70 / 255, steps=5)
        >>> x_adv = attack(x, y)
    """

    name = "framing"
    threat = "framing"

    def __init__(self, model: nn.Module, *, width: int | float = 5 / 112, **kwargs) -> None:
        kwargs.setdefault("init", "random")
        super().__init__(model, **kwargs)
        self.width = width

    def region(self, x: Tensor, y: Tensor, frames: Tensor, gens: list[torch.Generator]) -> Tensor:
        """(N, T, H, W) bool: the border on every frame."""
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
    """Salt-and-pepper attack (SPA): a few adversarial pixels per frame, optimised without a bound.

    Paper: none named in the code: the salt-and-pepper (SPA) setting of the video-defense protocol this
    package reproduces (``docs/attack-protocol.md``).
    Distance: sparse (L0-type): at most ``pixels`` pixel positions per frame change (all channels), to any
    value in [0, 1].
    Threat model: white-box (``select="gradient"`` and the pixel updates use the input gradient).

    Args:
        model: classifier on (N, C, T, H, W) clips in [0, 1] returning logits; run in eval mode, never modified.
        pixels: adversarial pixels per frame: int count or float fraction of H * W in (0, 1].
            Default: 100/(112*112).
        select: ``"gradient"`` (largest summed absolute input gradient per frame) or ``"random"``.
            Default: ``"gradient"``.
        alpha: sign-gradient step on the pixel values inside the region, in [0, 1] pixel units.
            Default: 70/255.
        steps: sign-gradient steps, >= 0 (0 keeps the initial content). Default: 5.
        init: initial content: ``"grey"`` (0.5), ``"random"`` (uniform) or ``"keep"`` (the clip's own
            pixels). Default: ``"random"`` (set by SaltPepper).
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
        - x: (N, C, T, H, W) float in [0, 1], or (N, C, H, W) images.
        - y: (N,) int64 labels (target labels when targeted).
        - output: same shape and dtype as x, in [0, 1]; only the selected pixels change.

    Examples:
        >>> attack = SaltPepper(model, pixels=100 / 112**2, alpha=70 / 255, steps=5)
        >>> x_adv = attack(x, y)
    """

    name = "spa"
    threat = "sparse"

    def __init__(self, model: nn.Module, *, pixels: int | float = 100 / (112 * 112), select: str = "gradient", **kwargs) -> None:
        kwargs.setdefault("init", "random")
        super().__init__(model, **kwargs)
        if select not in ("random", "gradient"):
            raise ValueError(f"SPA: select must be 'random' or 'gradient', got {select!r}")
        self.pixels, self.select = pixels, select

    def region(self, x: Tensor, y: Tensor, frames: Tensor, gens: list[torch.Generator]) -> Tensor:
        """(N, T, H, W) bool: the selected pixels of every frame."""
        n, t, (h, w) = x.shape[0], num_frames(x), x.shape[-2:]
        k = resolve_length(self.pixels, h * w, "SPA pixels")
        if self.select == "random":
            idx = torch.stack(
                [torch.stack([torch.randperm(h * w, generator=g, device=g.device)[:k] for _ in range(t)]) for g in gens]
            ).to(x.device)
        else:
            sal = self.input_grad(x, y).abs().sum(dim=1)
            sal = sal if x.dim() == 5 else sal.unsqueeze(1)
            idx = top_indices(sal.reshape(n, t, h * w), k)
        sel = torch.zeros(n, t, h * w, dtype=torch.bool, device=x.device)
        sel.scatter_(2, idx, True)
        return sel.reshape(n, t, h, w)
