"""The pattern-attack family: ROA stickers, adversarial framing, the universal patch and universal framing.

Every member fits one printable pattern and takes from here what they all share: the options
(:class:`PatternOptions`; the defaults that differ per attack are the rows of :data:`PATTERN_DEFAULTS`), the
renderer (:func:`render_layout`: a pattern's :class:`Layout` onto the clips, moved by jitter and seen through
one physical draw), the EOT step (:meth:`PatternAttack.eot_step`: one sign-gradient step through ``draws``
physical draws, minus the print penalty), the ``physical`` threat model's views
(:meth:`PatternAttack.physical_views`) and ``settings()``. A member defines only its layout (where the pattern
goes and what it is) and how it is fitted: on the batch it attacks
(:class:`~videoabnn.attacks.physical.StickerAttack`) or over a loader
(:class:`~videoabnn.attacks.universal.UniversalAttack`).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from videoabnn.attacks.base import Attack, clip_generators
from videoabnn.attacks.pattern import PATTERNS, Jitter, check_choice, identity, mask_centre, parse_jitter
from videoabnn.attacks.physical_eot import (
    CONDITIONS,
    PhysicalDistribution,
    capture_scene,
    parse_physical,
    render_pattern,
    stream_seed,
)
from videoabnn.attacks.printability import PrintPenalty
from videoabnn.capabilities import Capability

# The per-attack defaults of the pattern options: one row per registered attack, naming only what differs
# from the PatternOptions field defaults. Why they differ: a sticker or frame follows the field's digital
# protocol (new content on every frame) and is fitted on every call (seed None: a fresh seed per call); a
# universal pattern is one for all clips and frames and is fitted once (seed None: 0, a reproducible fit).
PATTERN_DEFAULTS: dict[str, dict[str, Any]] = {
    "roa": {},
    "framing": {},
    "flicker": {},
    "universal_patch": {"pattern": "shared", "unseeded": 0},
    "universal_framing": {"pattern": "shared", "unseeded": 0},
}


@dataclass(frozen=True)
class PatternOptions:
    """The options every pattern attack takes (documented on each attack), checked once, with what they
    parse to: ``moves`` (the jitter; None for a fixed placement), ``distribution`` and ``draws`` (the physical
    EOT; None and 1 without it) and ``penalty`` (the print terms). ``unseeded`` is the seed a fit and the
    views use when the attack's ``seed`` is None (None: a fresh one per call)."""

    pattern: str = "per_frame"
    placement: str = "fixed"
    jitter: Jitter | Mapping[str, Any] | None = None
    physical: Any = None
    nps_weight: float = 0.0
    tv_weight: float = 0.0
    palette: str | None = None
    unseeded: int | None = None
    moves: Jitter | None = field(init=False, repr=False, compare=False)
    distribution: PhysicalDistribution | None = field(init=False, repr=False, compare=False)
    draws: int = field(init=False, repr=False, compare=False)
    penalty: PrintPenalty = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_choice(self.pattern, PATTERNS, "pattern")
        distribution, draws = parse_physical(self.physical)
        parsed = {"moves": parse_jitter(self.placement, self.jitter), "distribution": distribution, "draws": draws,
                  "penalty": PrintPenalty(self.nps_weight, self.tv_weight, self.palette)}
        for name, value in parsed.items():
            object.__setattr__(self, name, value)

    @classmethod
    def of(cls, attack: str, **given: Any) -> PatternOptions:
        """The options of the attack registered as ``attack``: the given values (None: not given) over its row
        of :data:`PATTERN_DEFAULTS` over the field defaults; errors name the attack."""
        chosen = {k: v for k, v in given.items() if v is not None}
        try:
            return cls(**{**PATTERN_DEFAULTS.get(attack, {}), **chosen})
        except ValueError as err:
            raise ValueError(f"{attack}: {err}") from None

    def settings(self) -> dict:
        """The options as run (what a results row's details record)."""
        physical = None if self.distribution is None else {**self.distribution.to_dict(), "draws": self.draws}
        return {"pattern": self.pattern, "placement": self.placement,
                "jitter": None if self.moves is None else vars(self.moves).copy(), "physical": physical,
                **self.penalty.settings()}

    def seed_for(self, seed: int | None) -> int:
        """The seed a fit or a set of views runs under: ``seed``, else ``unseeded``, else a fresh one."""
        if seed is None:
            seed = self.unseeded if self.unseeded is not None else int(torch.randint(0, 2**62, (1,)))
        return int(seed)

    def view_distribution(self, dist: Any) -> PhysicalDistribution | None:
        """What ``physical_views`` draws from: ``dist`` (a distribution or a spec), else the attack's own
        distribution, else the ``default`` preset (the one reading of a views spec)."""
        dist = self.distribution if dist is None else dist
        return dist if isinstance(dist, PhysicalDistribution) else parse_physical(dist or "default")[0]


@dataclass(frozen=True)
class Layout:
    """A pattern as placed on clips: ``texture`` (N|1, C, T|1, h, w) and its ``mask`` (N|1, 1, T|1, h|1, w|1),
    mapped to frame pixels by ``forward`` (N, T, 3, 3); ``centre`` (N, T, 2) and ``half`` (N, T) locate the
    pattern in its texture (the physical warp turns about them). ``theta`` (N, 2, 3), set for a placed patch,
    is the same placement in the normalised form the digital path resamples with."""

    texture: Tensor
    mask: Tensor
    forward: Tensor
    centre: Tensor
    half: Tensor
    theta: Tensor | None = None

    def expanded(self) -> tuple[Tensor, Tensor]:
        """(texture (N, C, T, h, w), mask (N, 1, T, h, w)): the pattern of every clip and frame."""
        n, t = self.forward.shape[:2]
        h, w = self.texture.shape[-2:]
        return self.texture.expand(n, -1, t, -1, -1), self.mask.expand(n, 1, t, h, w)


def frame_layout(texture: Tensor, sel: Tensor, half: Tensor | None = None) -> Layout:
    """A whole-frame texture shown in place where ``sel`` (N, T, H, W) bool is set; ``half`` defaults to half
    the longer side of each frame's selection box."""
    if half is None:
        rows, cols = sel.any(-1), sel.any(-2)
        half = (torch.maximum(rows.sum(-1), cols.sum(-1)).to(texture.dtype) / 2).clamp_min(0.5)
    n, t = sel.shape[:2]
    return Layout(texture, sel.to(texture.dtype).unsqueeze(1), identity(n, t, texture),
                  mask_centre(sel).to(texture.dtype), half)


def texture_centre(texture: Tensor, n: int, t: int) -> Tensor:
    """(N, T, 2) the middle (col, row) of a texture, in its pixels."""
    h, w = texture.shape[-2:]
    return torch.tensor([(w - 1) / 2, (h - 1) / 2], dtype=texture.dtype, device=texture.device).expand(n, t, 2)


def placed_layout(texture: Tensor, mask: Tensor, forward: Tensor, theta: Tensor | None = None) -> Layout:
    """A texture smaller than the frame, mapped to frame pixels by ``forward``, turning about its middle."""
    n, t = forward.shape[:2]
    half = torch.full((n, t), max(texture.shape[-2:]) / 2, dtype=texture.dtype, device=texture.device)
    return Layout(texture, mask, forward, texture_centre(texture, n, t), half, theta)


def drawn(dist: PhysicalDistribution | None) -> PhysicalDistribution | None:
    """``dist``, or None when it draws nothing (a neutral distribution renders exactly what none does)."""
    return None if dist is None or dist.is_neutral() else dist


def check_rank(owner: str, x: Tensor, plain: bool) -> None:
    """Only the digital protocol (``plain``) takes NCHW images; the pattern options need NCTHW clips."""
    if x.dim() == 5 or (plain and x.dim() == 4):
        return
    if plain:
        raise ValueError(f"{owner}: expected NCTHW clips or NCHW images, got rank {x.dim()}")
    raise ValueError(f"{owner}: pattern, placement and physical options need NCTHW clips")


def render_layout(x: Tensor, layout: Layout, dist: PhysicalDistribution | None = None,
                  streams: tuple[list | None, list | None] = (None, None), jitter: Jitter | None = None,
                  plain: bool = False) -> Tensor:
    """The clips with the pattern of ``layout`` over them, moved by ``jitter`` and seen through one draw of
    ``dist``, from ``streams`` (jitter generators, physical generators). ``plain`` (no draw, no jitter): the
    digital protocol's own compositing, which rounds differently from the general path and takes NCHW
    images too."""
    if plain:
        return _digital(x, layout)
    texture, mask = layout.expanded()
    jit_gens, phys_gens = streams
    return render_pattern(x, texture, mask, layout.forward, layout.centre, layout.half, drawn(dist), phys_gens,
                          jitter, jit_gens)


def _digital(x: Tensor, layout: Layout) -> Tensor:
    """A whole-frame texture in place: x + mask (texture - x); a placed patch (``theta``): the shared patch
    resampled by ``affine_grid`` and laid over x (1 - cover) with the frame mask."""
    video = x if x.dim() == 5 else x.unsqueeze(2)
    if layout.theta is None:
        out = video + layout.mask * (layout.texture - video)
    else:
        n, (h, w) = video.shape[0], video.shape[-2:]
        texture = layout.texture[:, :, 0].expand(n, -1, -1, -1)
        grid = F.affine_grid(layout.theta, [n, 1, h, w], align_corners=False)
        patch = F.grid_sample(texture, grid, align_corners=False).unsqueeze(2)
        cover = F.grid_sample(torch.ones_like(texture[:, :1]), grid, align_corners=False).unsqueeze(2)
        out = video * (1 - cover * layout.mask) + patch * layout.mask
    return out if x.dim() == 5 else out.squeeze(2)


def _option(name: str, doc: str) -> property:
    """A read-only attack attribute: field ``name`` of its :class:`PatternOptions`."""
    return property(lambda self: getattr(self.options, name), doc=doc)


class PatternAttack(Attack):
    """What every pattern attack shares: its :class:`PatternOptions`, ``settings()``, the seed streams, the
    EOT step and the ``physical`` threat model's views. The options are documented on each attack; None
    stands for the attack's default (:data:`PATTERN_DEFAULTS`)."""

    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.PHYSICAL})
    clamp_control: ClassVar[bool] = True  # whether physical_views clamps its no_pattern view to [0, 1]
    alpha: float

    def __init__(self, model: nn.Module, *, pattern: str | None = None, placement: str | None = None,
                 jitter: Mapping[str, Any] | None = None, physical: Any = None, nps_weight: float | None = None,
                 tv_weight: float | None = None, palette: str | None = None, **kwargs) -> None:
        super().__init__(model, **kwargs)
        self.options = PatternOptions.of(self.name, pattern=pattern, placement=placement, jitter=jitter,
                                          physical=physical, nps_weight=nps_weight, tv_weight=tv_weight,
                                          palette=palette)

    pattern = _option("pattern", "The pattern mode as run: ``per_frame`` or ``shared``.")
    placement = _option("placement", "The placement as run: ``fixed`` or ``jitter``.")
    nps_weight = _option("nps_weight", "The weight of the non-printability score.")
    tv_weight = _option("tv_weight", "The weight of the total variation.")
    draws = _option("draws", "Physical draws per step (1 without physical EOT).")

    def settings(self) -> dict:
        """The pattern options as run (what the results' details record)."""
        return self.options.settings()

    @staticmethod
    def streams(x: Tensor, seed: int, stream: str) -> tuple[list, list]:
        """Per-clip generators of the jitter and physical draws of a named seed stream."""
        return clip_generators(x, stream_seed(seed, f"{stream}-jitter")), clip_generators(x, stream_seed(seed, stream))

    def eot_step(self, param: Tensor, y: Tensor, render: Callable[[Tensor], Tensor],
                 print_view: Callable[[Tensor], tuple[Tensor, Tensor | None]],
                 reduce: Callable[[Tensor], Tensor]) -> Tensor:
        """One sign-gradient step of ``alpha`` on ``param``: the gradient of ``reduce`` (sum or batch mean) of
        the loss on ``render(param)``, minus the print penalty of ``print_view(param)``, summed over ``draws``
        renders (each one physical draw)."""
        param = param.detach().requires_grad_(True)
        grad = None
        for _ in range(self.options.draws):
            objective = reduce(self.loss_fn(self.model(render(param)), y))
            if self.options.penalty.active:
                objective = objective - self.options.penalty(*print_view(param)).sum()
            (g,) = torch.autograd.grad(objective, param)
            grad = g if grad is None else grad + g
        return (param.detach() + self.alpha * grad.sign()).clamp_(0, 1)

    @abstractmethod
    def viewer(self, x: Tensor, y: Tensor, seed: int) -> Callable[[PhysicalDistribution | None, str], Tensor]:
        """``show(dist, stream)``: the attack's pattern for ``x`` rendered through one draw of ``dist`` from the
        named seed stream (a sticker is fitted on ``(x, y)`` first; a universal pattern is the fitted one)."""

    def physical_views(self, x: Tensor, y: Tensor, dist: Any = None,
                       conditions: Mapping[str, PhysicalDistribution] | None = None) -> dict[str, Tensor]:
        """The pattern rendered ``digital`` (ideal capture), ``fresh`` (one draw per clip of ``dist``, default
        this attack's own distribution or the ``default`` preset, from a seed stream independent of the fit's),
        ``no_pattern`` (the clips through the camera of the same fresh draws, no pattern) and under each fixed
        condition (default :data:`CONDITIONS`); a sticker is fitted on ``(x, y)`` first, same places in all."""
        x, y = self._check_inputs(x, y)
        dist = self.options.view_distribution(dist)
        seed = self.options.seed_for(self.seed)
        show = self.viewer(x, y, seed)
        with torch.no_grad():
            views = {"digital": show(None, "show"), "fresh": show(dist, "eval"),
                     "no_pattern": capture_scene(x, dist, clip_generators(x, stream_seed(seed, "eval")))}
            for name, cond in (CONDITIONS if conditions is None else conditions).items():
                views[name] = show(cond, f"eval-{name}")
        return {k: v if k == "no_pattern" and not self.clamp_control else v.clamp(0, 1).to(x.dtype)
                for k, v in views.items()}
