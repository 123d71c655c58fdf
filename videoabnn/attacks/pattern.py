"""How an adversarial pattern is laid onto the frames of a clip: one pattern over time, and its place.

Pattern modes: ``per_frame`` (a new pattern on every frame: the field's digital protocol) or
``shared`` (one pattern for all frames of a clip, as a printed sticker; for universal attacks one
for all clips too). Placement: ``fixed`` (the place the attack chose, on every frame) or ``jitter``
(the place follows the scene with an independent per-frame offset, scale and rotation drawn from
:class:`Jitter`: a sticker seen by a hand-held, moving camera).

Geometry is a 3x3 matrix per frame mapping *texture* pixels (the pattern, or a whole-frame content
layer) to *frame* pixels, in (column, row, 1) homogeneous coordinates with pixel centres at integer
positions. :func:`place` renders a texture and its mask through such matrices; an identity or
integer-translation matrix copies pixels exactly (no resampling), anything else samples bilinearly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

PATTERNS = ("per_frame", "shared")
PLACEMENTS = ("fixed", "jitter")


def check_choice(value: str, choices: tuple[str, ...], what: str) -> str:
    """``value`` if it is one of ``choices``, else a ValueError naming them."""
    if value not in choices:
        raise ValueError(f"{what}: expected one of {', '.join(choices)}, got {value!r}")
    return value


@dataclass(frozen=True)
class Jitter:
    """Per-frame placement changes, each uniform and independent per frame: offset in
    [-shift, shift] x the frame side (each axis), scale in [1 - scale, 1 + scale], rotation in
    [-rotation, rotation] degrees, about the pattern's placed centre."""

    shift: float = 0.03
    scale: float = 0.05
    rotation: float = 5.0

    def __post_init__(self) -> None:
        if self.shift < 0 or not 0 <= self.scale < 1 or self.rotation < 0:
            raise ValueError(f"jitter: expected shift >= 0, 0 <= scale < 1, rotation >= 0; got {self}")

    def matrices(self, gens: list[torch.Generator], t: int, hw: tuple[int, int], centre: Tensor) -> Tensor:
        """(N, T, 3, 3) frame-pixel maps moving the pattern about ``centre`` (N, T, 2: col, row)."""
        u = torch.stack([torch.rand(t, 4, generator=g, device=g.device) for g in gens]).to(centre)
        dx, dy = (2 * u[..., 0] - 1) * self.shift * hw[1], (2 * u[..., 1] - 1) * self.shift * hw[0]
        s = 1 + (2 * u[..., 2] - 1) * self.scale
        a = torch.deg2rad((2 * u[..., 3] - 1) * self.rotation)
        m = similarity(s, a)
        m[..., 0, 2], m[..., 1, 2] = dx, dy
        return about(m, centre)


def parse_jitter(placement: str, jitter: Jitter | Mapping[str, Any] | None) -> Jitter | None:
    """The jitter distribution of a placement mode (``fixed``: None)."""
    check_choice(placement, PLACEMENTS, "placement")
    if placement == "fixed":
        if jitter:
            raise ValueError("jitter: given with placement 'fixed'; use placement: jitter")
        return None
    if isinstance(jitter, Jitter):
        return jitter
    try:
        return Jitter(**dict(jitter or {}))
    except TypeError as err:
        raise ValueError(f"jitter: expected keys shift, scale, rotation; got {sorted(jitter or {})}") from err


def similarity(scale: Tensor, angle: Tensor) -> Tensor:
    """(..., 3, 3) scale-and-rotate matrices (angle in radians, image axes: column right, row down)."""
    c, s = torch.cos(angle) * scale, torch.sin(angle) * scale
    m = torch.zeros(*scale.shape, 3, 3, dtype=scale.dtype, device=scale.device)
    m[..., 0, 0], m[..., 0, 1], m[..., 1, 0], m[..., 1, 1], m[..., 2, 2] = c, -s, s, c, 1
    return m


def translation(offset: Tensor) -> Tensor:
    """(..., 3, 3) translations by ``offset`` (..., 2: col, row)."""
    m = torch.eye(3, dtype=offset.dtype, device=offset.device).expand(*offset.shape[:-1], 3, 3).clone()
    m[..., 0, 2], m[..., 1, 2] = offset[..., 0], offset[..., 1]
    return m


def about(m: Tensor, centre: Tensor) -> Tensor:
    """``m`` (a map fixing the origin) conjugated to act about ``centre``: T(c) m T(-c)."""
    return translation(centre) @ m @ translation(-centre)


def mask_centre(mask: Tensor) -> Tensor:
    """(N, T, 2) centre (col, row) of each frame's mask bounding box (N, T, H, W); frame centre if empty."""
    h, w = mask.shape[-2:]
    rows, cols = mask.any(dim=-1), mask.any(dim=-2)

    def mid(line: Tensor, full: int) -> Tensor:
        idx = torch.arange(full, device=line.device, dtype=torch.float32)
        lo = torch.where(line, idx, torch.full_like(idx, float(full))).amin(-1)
        hi = torch.where(line, idx, torch.full_like(idx, -1.0)).amax(-1)
        return torch.where(hi >= lo, (lo + hi) / 2, torch.full_like(lo, (full - 1) / 2))

    return torch.stack([mid(cols, w), mid(rows, h)], dim=-1)


def mask_corner(mask: Tensor) -> tuple[Tensor, Tensor]:
    """(N, T) top row and left column of each frame's mask (0 where the frame's mask is empty)."""
    rows = mask.any(dim=-1).float().argmax(dim=-1)
    cols = mask.any(dim=-2).float().argmax(dim=-1)
    return rows, cols


def _integer_shift(m: Tensor) -> Tensor | None:
    """(N, T, 2) integer (col, row) offsets when every matrix is an integer translation, else None."""
    eye = torch.eye(2, dtype=m.dtype, device=m.device)
    if not torch.equal(m[..., :2, :2], eye.expand_as(m[..., :2, :2])) or bool((m[..., 2, :2] != 0).any()):
        return None
    if float(m[..., 2, 2].sub(1).abs().max()) != 0.0:
        return None
    shift = m[..., :2, 2]
    return shift.long() if torch.equal(shift, shift.round()) else None


def _paste(texture: Tensor, shift: Tensor, hw: tuple[int, int]) -> tuple[Tensor, Tensor]:
    """Exact copy of texture (N, C, T, h, w) at integer offsets (N, T, 2) into (N, C, T, H, W) frames."""
    n, c, t, th, tw = texture.shape
    h, w = hw
    rows = torch.arange(h, device=texture.device).view(1, 1, h) - shift[..., 1:2]  # N, T, H
    cols = torch.arange(w, device=texture.device).view(1, 1, w) - shift[..., 0:1]  # N, T, W
    inside = ((rows >= 0) & (rows < th))[..., :, None] & ((cols >= 0) & (cols < tw))[..., None, :]
    ni = torch.arange(n, device=texture.device).view(n, 1, 1, 1)
    ti = torch.arange(t, device=texture.device).view(1, t, 1, 1)
    picked = texture.permute(0, 2, 3, 4, 1)[ni, ti, rows.clamp(0, th - 1)[..., :, None], cols.clamp(0, tw - 1)[..., None, :]]
    return picked.permute(0, 4, 1, 2, 3), inside.unsqueeze(1)


def place(texture: Tensor, mask: Tensor, forward: Tensor, hw: tuple[int, int]) -> tuple[Tensor, Tensor]:
    """Render texture (N, C, T, h, w) with its mask (N, 1, T, h, w) through ``forward`` (N, T, 3, 3,
    texture px -> frame px) into frames of size ``hw``: (layer, cover), the layer premultiplied by the
    cover (outside the cover it is 0), both (N, ., T, H, W)."""
    shift = _integer_shift(forward)
    if shift is not None:
        layer, inside = _paste(texture * mask, shift, hw)
        cover, _ = _paste(mask, shift, hw)
        return layer * inside, cover * inside
    n, c, t, th, tw = texture.shape
    h, w = hw
    inv = torch.linalg.inv(forward.double()).to(texture.dtype)  # frame px -> texture px
    ys, xs = torch.meshgrid(torch.arange(h, device=texture.device, dtype=texture.dtype),
                            torch.arange(w, device=texture.device, dtype=texture.dtype), indexing="ij")
    pts = torch.stack([xs, ys, torch.ones_like(xs)], dim=-1).reshape(1, 1, h * w, 3)
    src = pts @ inv.transpose(-1, -2)  # N, T, HW, 3
    z = src[..., 2:].clamp_min(1e-6)
    u, v = src[..., 0:1] / z, src[..., 1:2] / z
    grid = torch.cat([(2 * u + 1) / tw - 1, (2 * v + 1) / th - 1], dim=-1).reshape(n * t, h, w, 2)
    stack = torch.cat([texture * mask, mask], dim=1).transpose(1, 2).reshape(n * t, c + 1, th, tw)
    out = F.grid_sample(stack, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    out = out.reshape(n, t, c + 1, h, w).transpose(1, 2)
    return out[:, :c], out[:, c:]


def composite(x: Tensor, layer: Tensor, cover: Tensor) -> Tensor:
    """The frames with the premultiplied ``layer`` over them: x (1 - cover) + layer."""
    return x - cover * x + layer


def identity(n: int, t: int, like: Tensor) -> Tensor:
    """(N, T, 3, 3) identity maps."""
    return torch.eye(3, dtype=like.dtype, device=like.device).expand(n, t, 3, 3).clone()


def rotation_extent(side: float, angle_deg: float) -> float:
    """Half the bounding-box side of a square of ``side`` rotated by ``angle_deg``."""
    rad = math.radians(abs(angle_deg))
    return 0.5 * side * (math.cos(rad) + math.sin(rad))


# A placement of a square patch: {"cx", "cy" (its centre, in frame coordinates whose pixel centres sit at
# +0.5), "scale" (a factor on its side, default 1), "angle" (degrees, default 0)}. The general renderer takes
# it as a 3x3 map (placement_forward); the digital patch path as its affine_grid form (placement_theta).
def placement_forward(placements: list[dict], centre: Tensor) -> Tensor:
    """(N, T, 3, 3) texture px -> frame px maps of patches placed by ``placements`` (one per clip), turning
    about ``centre`` (N, T, 2: the patch's middle, in its pixels)."""
    like = dict(dtype=centre.dtype, device=centre.device)
    where = torch.tensor([[p["cx"] - 0.5, p["cy"] - 0.5] for p in placements], **like)
    scale = torch.tensor([float(p.get("scale", 1.0)) for p in placements], **like)
    angle = torch.deg2rad(torch.tensor([float(p.get("angle", 0.0)) for p in placements], **like))
    return (translation(where) @ similarity(scale, angle))[:, None] @ translation(-centre)


def placement_theta(placements: list[dict], side: int, hw: tuple[int, int], like: Tensor) -> Tensor:
    """(N, 2, 3) ``affine_grid`` maps (output grid -> patch coordinates, both normalised) of square patches of
    ``side`` pixels placed by ``placements`` on frames of ``hw``: :func:`placement_forward` inverted in
    closed form (in double precision; deriving it from the 3x3 map instead rounds some grids differently)."""
    h, w = hw
    rows = []
    for p in placements:
        s, a = float(p.get("scale", 1.0)) * side, math.radians(float(p.get("angle", 0.0)))
        cu, cv = 2 * float(p["cx"]) / w - 1, 2 * float(p["cy"]) / h - 1
        ax, bx = math.cos(a) * w / s, math.sin(a) * h / s
        ay, by = -math.sin(a) * w / s, math.cos(a) * h / s
        rows.append([[ax, bx, -(ax * cu + bx * cv)], [ay, by, -(ay * cu + by * cv)]])
    return torch.tensor(rows, device=like.device, dtype=like.dtype)
