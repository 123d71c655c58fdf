"""Expectation over real-world changes (physical EOT): a documented, seedable distribution of what
happens between a printed pattern and the classifier, drawn independently per clip, per frame and
per draw.

What changes, in the order applied (every range is ``(low, high)``, drawn uniformly):

- on the *pattern* (print and illumination): ``brightness`` (added), ``contrast`` (scaled about
  0.5), ``gamma`` (exponent), ``color`` (a gain per channel: colour cast); then its geometry about
  its centre, in units of its half side: ``rotation`` (degrees), ``shear``, ``scale`` and
  ``perspective`` (the two projective coefficients);
- on the *captured frame* (camera): ``defocus`` (Gaussian blur sigma) and ``motion`` (blur length
  at a uniform angle in ``motion_angle`` degrees), both fractions of the frame's short side;
  ``noise`` (Gaussian sensor noise, standard deviation); then with probability
  ``compression_prob`` re-encoding through the differentiable stand-in of
  :mod:`videoabnn.defenses.diff_codec`: ``compression: jpeg`` at a per-frame ``quality`` or
  ``h264`` at a per-clip ``crf``.

A distribution is written ``physical: default`` (the preset), ``physical: {preset: default,
draws: 4, noise: [0, 0.03], ...}`` (a preset with fields replaced; ``draws`` is the number of
draws the attack averages its gradient over per step), or ``none``. :data:`CONDITIONS` is the
fixed grid (dark, bright, blurred, compressed) of the ``physical`` threat model's worst case. A
field whose range is a single neutral value is skipped, so a distribution of neutral points
renders exactly what the plain attack renders.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from videoabnn.attacks.pattern import Jitter, about, composite, place

Range = tuple[float, float]
COMPRESSIONS = ("none", "jpeg", "h264")
NEUTRAL = {"brightness": 0.0, "contrast": 1.0, "gamma": 1.0, "color": 1.0, "rotation": 0.0, "shear": 0.0,
           "scale": 1.0, "perspective": 0.0, "defocus": 0.0, "motion": 0.0, "noise": 0.0}


@dataclass(frozen=True)
class PhysicalDistribution:
    """Ranges of the real-world changes (see the module docstring); the defaults are the ``default`` preset."""

    brightness: Range = (-0.08, 0.08)
    contrast: Range = (0.85, 1.15)
    gamma: Range = (0.85, 1.2)
    color: Range = (0.93, 1.07)
    rotation: Range = (-8.0, 8.0)
    shear: Range = (-0.05, 0.05)
    scale: Range = (0.9, 1.1)
    perspective: Range = (-0.05, 0.05)
    defocus: Range = (0.0, 0.02)
    motion: Range = (0.0, 0.04)
    motion_angle: Range = (0.0, 180.0)
    noise: Range = (0.0, 0.02)
    compression: str = "jpeg"
    quality: Range = (40.0, 95.0)
    crf: Range = (23.0, 35.0)
    compression_prob: float = 0.5

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("compression", "compression_prob"):
                continue
            if not (isinstance(value, (tuple, list)) and len(value) == 2 and float(value[0]) <= float(value[1])):
                raise ValueError(f"physical.{f.name}: expected a [low, high] range with low <= high, got {value!r}")
            object.__setattr__(self, f.name, (float(value[0]), float(value[1])))
        if self.compression not in COMPRESSIONS:
            raise ValueError(f"physical.compression: expected one of {', '.join(COMPRESSIONS)}, got {self.compression!r}")
        if not 0.0 <= float(self.compression_prob) <= 1.0:
            raise ValueError(f"physical.compression_prob: expected a probability in [0, 1], got {self.compression_prob}")
        if self.scale[0] <= 0 or self.contrast[0] < 0 or self.gamma[0] <= 0 or self.color[0] < 0:
            raise ValueError("physical: scale and gamma must be > 0, contrast and color >= 0")
        if min(self.defocus[0], self.motion[0], self.noise[0]) < 0:
            raise ValueError("physical: defocus, motion and noise must be >= 0")
        if not (1 <= self.quality[0] and self.quality[1] <= 100 and 0 <= self.crf[0] and self.crf[1] <= 51):
            raise ValueError("physical: quality must lie in [1, 100] and crf in [0, 51]")

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-ready dict (ranges as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def fixed(self, name: str) -> bool:
        """Whether field ``name`` is a single neutral value (then it is skipped)."""
        lo, hi = getattr(self, name)
        return lo == hi == NEUTRAL[name]

    def is_neutral(self) -> bool:
        """Every change at its neutral point and no re-encoding: the distribution is the identity."""
        return all(self.fixed(name) for name in NEUTRAL) and not self.compresses()

    def compresses(self) -> bool:
        """Whether any draw is re-encoded (a codec and a probability above 0)."""
        return self.compression != "none" and self.compression_prob > 0

    def sample(self, gens: list[torch.Generator], t: int, channels: int) -> dict[str, Tensor]:
        """Per-clip, per-frame draws: ``{field: (N, T)}`` (``color``: (N, T, C); ``compress``: bool)."""
        names = [f.name for f in fields(self) if isinstance(getattr(self, f.name), tuple)]
        width = len(names) + channels + 3
        u = torch.stack([torch.rand(t, width, generator=g, device=g.device) for g in gens])
        out = {}
        for i, name in enumerate(names):
            lo, hi = getattr(self, name)
            frac = u[:, :1, i].expand(-1, t) if name == "crf" else u[..., i]  # one CRF per clip (video)
            out[name] = lo + (hi - lo) * frac
        lo, hi = self.color
        out["color"] = lo + (hi - lo) * u[..., len(names):len(names) + channels]
        out["perspective_y"] = self.perspective[0] + (self.perspective[1] - self.perspective[0]) * u[..., -3]
        out["compress"] = u[..., -2] < self.compression_prob if self.compresses() else torch.zeros_like(u[..., 0]).bool()
        out["shear_y"] = self.shear[0] + (self.shear[1] - self.shear[0]) * u[..., -1]
        return out


PRESETS: dict[str, PhysicalDistribution | None] = {"default": PhysicalDistribution(), "none": None}


def _point(**values: Any) -> PhysicalDistribution:
    """A fixed condition: every field at one value (neutral unless given), compression always when named."""
    base = {k: (v, v) for k, v in NEUTRAL.items()}
    base.update({"motion_angle": (0.0, 0.0), "compression": "none", "compression_prob": 0.0})
    for key, value in values.items():
        base[key] = value if key in ("compression", "compression_prob") else (float(value), float(value))
    return PhysicalDistribution(**base)


# The physical threat model's fixed grid: its worst case is over these four conditions.
CONDITIONS: dict[str, PhysicalDistribution] = {
    "dark": _point(brightness=-0.15, contrast=0.8, gamma=1.3),
    "bright": _point(brightness=0.15, contrast=1.1, gamma=0.8),
    "blurred": _point(defocus=0.03, motion=0.05),
    "compressed": _point(compression="jpeg", quality=30, compression_prob=1.0),
}
DEFAULT_DRAWS = 4


def parse_physical(spec: Any) -> tuple[PhysicalDistribution | None, int]:
    """(distribution or None, draws per step) from ``None``/``False``/``"none"``, ``True``/a preset
    name, a :class:`PhysicalDistribution` or a mapping ``{preset, draws, <field>: [low, high], ...}``."""
    if spec is None or spec is False:
        return None, 1
    if isinstance(spec, PhysicalDistribution):
        return spec, DEFAULT_DRAWS
    if spec is True:
        spec = "default"
    if isinstance(spec, str):
        spec = {"preset": spec}
    if not isinstance(spec, Mapping):
        raise ValueError(f"physical: expected a preset name ({', '.join(PRESETS)}) or a mapping, got {spec!r}")
    spec = dict(spec)
    preset = spec.pop("preset", "default")
    if preset not in PRESETS:
        raise ValueError(f"physical.preset: expected one of {', '.join(PRESETS)}, got {preset!r}")
    draws = spec.pop("draws", DEFAULT_DRAWS)
    if isinstance(draws, bool) or not isinstance(draws, int) or draws < 1:
        raise ValueError(f"physical.draws: expected a number of draws >= 1, got {draws!r}")
    base = PRESETS[preset]
    if base is None:
        if spec:
            raise ValueError(f"physical: preset 'none' takes no fields, got {sorted(spec)}")
        return None, 1
    known = {f.name for f in fields(PhysicalDistribution)}
    unknown = sorted(set(spec) - known)
    if unknown:
        raise ValueError(f"physical: unknown field(s) {unknown}; known: {sorted(known) + ['draws', 'preset']}")
    return replace(base, **{k: tuple(v) if isinstance(v, list) else v for k, v in spec.items()}), int(draws)


def stream_seed(seed: int, stream: str) -> int:
    """An independent seed per named stream (``fit``: the attacker's draws; ``eval``: fresh ones)."""
    digest = hashlib.blake2b(f"{int(seed)}:{stream}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 62) - 1)


# ----------------------------------------------------------------------------- the pattern
def photometric(texture: Tensor, draw: Mapping[str, Tensor], dist: PhysicalDistribution) -> Tensor:
    """Brightness, contrast, gamma and colour cast on a texture (N, C, T, h, w), per clip and frame."""
    out = texture

    def per_frame(v: Tensor) -> Tensor:
        return v.to(out)[:, None, :, None, None]

    if not dist.fixed("gamma"):
        out = out.clamp_min(1e-4) ** per_frame(draw["gamma"])
    if not (dist.color[0] == dist.color[1] == 1.0):
        out = out * draw["color"].to(out).permute(0, 2, 1)[..., None, None]
    if not dist.fixed("contrast"):
        out = (out - 0.5) * per_frame(draw["contrast"]) + 0.5
    if not dist.fixed("brightness"):
        out = out + per_frame(draw["brightness"])
    return out.clamp(0, 1) if out is not texture else out


def pattern_warp(draw: Mapping[str, Tensor], dist: PhysicalDistribution, centre: Tensor, half: Tensor) -> Tensor | None:
    """(N, T, 3, 3) texture-pixel maps deforming the pattern about ``centre`` (N, T, 2) in units of its
    half side ``half`` (N, T); None when the distribution has no geometric change."""
    if all(dist.fixed(k) for k in ("rotation", "shear", "scale", "perspective")):
        return None
    a = torch.deg2rad(draw["rotation"]).to(centre)
    s = draw["scale"].to(centre)
    m = torch.zeros(*a.shape, 3, 3, dtype=centre.dtype, device=centre.device)
    c, sn = torch.cos(a) * s, torch.sin(a) * s
    kx, ky = draw["shear"].to(centre), draw["shear_y"].to(centre)
    m[..., 0, 0], m[..., 0, 1] = c + kx * sn, -sn + kx * c
    m[..., 1, 0], m[..., 1, 1] = sn + ky * c, c - ky * sn
    m[..., 2, 0], m[..., 2, 1] = draw["perspective"].to(centre) / half, draw["perspective_y"].to(centre) / half
    m[..., 2, 2] = 1
    return about(m, centre)


# ----------------------------------------------------------------------------- the camera
def _grouped_conv(frames: Tensor, kernels: Tensor) -> Tensor:
    """Each (N, T) frame of (N, C, T, H, W) convolved with its own kernel (N, T, k, k), replicate padding."""
    n, c, t, h, w = frames.shape
    k = kernels.shape[-1]
    flat = frames.permute(0, 2, 1, 3, 4).reshape(1, n * t * c, h, w)
    flat = F.pad(flat, (k // 2, k // 2, k // 2, k // 2), mode="replicate")
    weight = kernels.reshape(n * t, 1, 1, k, k).expand(n * t, c, 1, k, k).reshape(n * t * c, 1, k, k)
    out = F.conv2d(flat, weight.to(frames), groups=n * t * c)
    return out.reshape(n, t, c, h, w).permute(0, 2, 1, 3, 4)


def _offsets(radius: int, like: Tensor) -> tuple[Tensor, Tensor]:
    r = torch.arange(-radius, radius + 1, dtype=like.dtype, device=like.device)
    return r.reshape(1, 1, 1, -1), r.reshape(1, 1, -1, 1)  # dx (cols), dy (rows)


def defocus_kernels(sigma: Tensor) -> Tensor:
    """(N, T, k, k) normalised Gaussian kernels of per-frame sigma (pixels; 0 = no blur)."""
    radius = max(1, math.ceil(3 * float(sigma.max())))
    dx, dy = _offsets(radius, sigma)
    s = sigma.clamp_min(1e-3)[..., None, None]
    k = torch.exp(-(dx ** 2 + dy ** 2) / (2 * s ** 2))
    return k / k.sum(dim=(-1, -2), keepdim=True)


def motion_kernels(length: Tensor, angle_deg: Tensor) -> Tensor:
    """(N, T, k, k) normalised line kernels: a segment of ``length`` pixels at ``angle_deg``, antialiased."""
    radius = max(1, math.ceil(float(length.max()) / 2) + 1)
    dx, dy = _offsets(radius, length)
    a = torch.deg2rad(angle_deg)[..., None, None]
    half = (length / 2)[..., None, None]
    along = dx * torch.cos(a) + dy * torch.sin(a)
    across = -dx * torch.sin(a) + dy * torch.cos(a)
    beyond = (along.abs() - half).clamp_min(0)
    k = (1 - torch.sqrt(across ** 2 + beyond ** 2)).clamp_min(0)
    return k / k.sum(dim=(-1, -2), keepdim=True)


def camera(frames: Tensor, draw: Mapping[str, Tensor], dist: PhysicalDistribution,
           gens: list[torch.Generator]) -> Tensor:
    """Defocus and motion blur, sensor noise and re-encoding (the stand-in) of NCTHW frames in [0, 1]."""
    from videoabnn.defenses.diff_codec import diff_jpeg, quality_for_crf

    out = frames
    side = min(frames.shape[-2:])
    if not dist.fixed("defocus"):
        out = _grouped_conv(out, defocus_kernels(draw["defocus"].to(out) * side))
    if not dist.fixed("motion"):
        out = _grouped_conv(out, motion_kernels(draw["motion"].to(out) * side, draw["motion_angle"].to(out)))
    if not dist.fixed("noise"):
        noise = torch.stack([torch.randn(frames.shape[1:], generator=g, device=g.device) for g in gens]).to(out)
        out = (out + noise * draw["noise"].to(out)[:, None, :, None, None]).clamp(0, 1)
    if dist.compresses() and bool(draw["compress"].any()):
        n, c, t, h, w = out.shape
        level = draw["quality"] if dist.compression == "jpeg" else quality_for_crf(draw["crf"].cpu(), side)
        flat = out.transpose(1, 2).reshape(n * t, c, h, w)
        coded = diff_jpeg(flat, level.reshape(-1).to(out)).reshape(n, t, c, h, w).transpose(1, 2)
        out = torch.where(draw["compress"].to(out.device)[:, None, :, None, None], coded, out)
    return out


def capture_scene(x: Tensor, dist: PhysicalDistribution | None, gens: list[torch.Generator]) -> Tensor:
    """The clips with no pattern, seen through the camera part of one draw of ``dist`` from ``gens``: the
    same blur, noise and re-encoding that a patterned view of the same seed stream gets (the control that
    separates what the pattern does from what the camera alone does to the classifier)."""
    if dist is None or dist.is_neutral():
        return x
    return camera(x, dist.sample(gens, x.shape[2], x.shape[1]), dist, gens)


def render_pattern(x: Tensor, texture: Tensor, mask: Tensor, forward: Tensor, centre: Tensor, half: Tensor,
                   dist: PhysicalDistribution | None = None, phys_gens: list | None = None,
                   jitter: Jitter | None = None, jit_gens: list | None = None) -> Tensor:
    """The clips ``x`` with a texture (N, C, T, h, w) and its mask placed by ``forward`` (N, T, 3, 3), seen
    through one draw of ``dist`` (photometric and geometric changes of the pattern, then the camera's) and
    moved by ``jitter``; ``centre`` (N, T, 2) and ``half`` (N, T) locate the pattern in its texture."""
    draw = dist.sample(phys_gens, x.shape[2], x.shape[1]) if dist is not None else None
    if draw is not None:
        texture = photometric(texture, draw, dist)
        warp = pattern_warp(draw, dist, centre, half)
        forward = forward if warp is None else forward @ warp
    if jitter is not None:
        placed = (forward @ torch.cat([centre, torch.ones_like(centre[..., :1])], -1).unsqueeze(-1))[..., :2, 0]
        forward = jitter.matrices(jit_gens, x.shape[2], tuple(x.shape[-2:]), placed) @ forward
    layer, cover = place(texture, mask, forward, tuple(x.shape[-2:]))
    out = composite(x, layer, cover)
    return out if draw is None else camera(out, draw, dist, phys_gens)
