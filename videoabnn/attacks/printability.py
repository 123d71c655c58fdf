"""Printability and smoothness of a pattern, and its print file.

- Non-printability score (NPS, after Sharif et al. 2016): the mean over the pattern's pixels of the
  Euclidean RGB distance to the nearest colour of a printer palette (default: the shipped
  ``data/printable_palette.txt``, an approximation; replace it with a measured one).
- Total variation (TV): the mean absolute difference between horizontally and vertically
  neighbouring pixels of the pattern (both inside its mask): printers and cameras lose fine detail.

:class:`PrintPenalty` subtracts ``nps_weight * NPS + tv_weight * TV`` (per clip) from an attack's
objective. :func:`save_print_png` writes a pattern as a PNG of a given physical size and DPI.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import torch
from torch import Tensor

DEFAULT_PALETTE = Path(__file__).with_name("data") / "printable_palette.txt"


@lru_cache(maxsize=8)
def _read_palette(path: str) -> tuple[tuple[float, float, float], ...]:
    rows = []
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        values = line.replace(",", " ").split()
        try:
            rgb = tuple(float(v) for v in values)
        except ValueError:
            rgb = ()
        if len(rgb) != 3 or not all(0.0 <= v <= 1.0 for v in rgb):
            raise ValueError(f"palette {path}:{number}: expected three numbers in [0, 1] (r g b), got {line!r}")
        rows.append(rgb)
    if not rows:
        raise ValueError(f"palette {path}: no colours in it (one 'r g b' line per colour, values in [0, 1])")
    return tuple(rows)


def load_palette(path: str | os.PathLike | None = None) -> Tensor:
    """(K, 3) palette colours from ``path`` (None: the shipped default)."""
    path = Path(path) if path is not None else DEFAULT_PALETTE
    if not path.is_file():
        raise ValueError(f"palette: file not found: {path} (expected one 'r g b' line per colour, values in [0, 1])")
    return torch.tensor(_read_palette(str(path)), dtype=torch.float32)


def _flat(pattern: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
    """(N, C, P) pixels and (N, 1, P) weights of an (N, C, ...) pattern."""
    n, c = pattern.shape[:2]
    pixels = pattern.reshape(n, c, -1)
    weights = torch.ones_like(pixels[:, :1]) if mask is None else mask.expand(n, 1, *pattern.shape[2:]).reshape(n, 1, -1)
    return pixels, weights.to(pixels)


def non_printability(pattern: Tensor, palette: Tensor, mask: Tensor | None = None) -> Tensor:
    """Per-clip NPS of an (N, 3, ...) pattern in [0, 1] (weighted by ``mask``, broadcastable, if given)."""
    if pattern.shape[1] != 3:
        raise ValueError(f"non-printability needs RGB patterns (N, 3, ...), got shape {tuple(pattern.shape)}")
    pixels, weights = _flat(pattern, mask)
    pal = palette.to(pixels).reshape(1, -1, 3, 1)
    dist = (pixels.unsqueeze(1) - pal).pow(2).sum(dim=2).add(1e-12).sqrt().amin(dim=1)  # N, P
    return (dist * weights[:, 0]).sum(-1) / weights[:, 0].sum(-1).clamp_min(1)


def total_variation(pattern: Tensor, mask: Tensor | None = None) -> Tensor:
    """Per-clip mean absolute neighbour difference over the last two (H, W) axes of an (N, C, ..., H, W) pattern."""
    m = torch.ones_like(pattern[:, :1]) if mask is None else mask.expand(pattern.shape[0], 1, *pattern.shape[2:]).to(pattern)
    dx = (pattern[..., :, 1:] - pattern[..., :, :-1]).abs() * (m[..., :, 1:] * m[..., :, :-1])
    dy = (pattern[..., 1:, :] - pattern[..., :-1, :]).abs() * (m[..., 1:, :] * m[..., :-1, :])
    n = pattern.shape[0]
    pairs = (m[..., :, 1:] * m[..., :, :-1]).reshape(n, -1).sum(-1) + (m[..., 1:, :] * m[..., :-1, :]).reshape(n, -1).sum(-1)
    total = dx.reshape(n, -1).sum(-1) + dy.reshape(n, -1).sum(-1)
    return total / (pairs * pattern.shape[1]).clamp_min(1)


class PrintPenalty:
    """``nps_weight * NPS + tv_weight * TV`` per clip (0 when both weights are 0)."""

    def __init__(self, nps_weight: float = 0.0, tv_weight: float = 0.0, palette: str | None = None) -> None:
        if nps_weight < 0 or tv_weight < 0:
            raise ValueError(f"nps_weight and tv_weight must be >= 0; got {nps_weight}, {tv_weight}")
        self.nps_weight, self.tv_weight, self.palette_path = float(nps_weight), float(tv_weight), palette
        self.palette = load_palette(palette) if nps_weight > 0 else None

    @property
    def active(self) -> bool:
        """Whether either weight is above 0."""
        return self.nps_weight > 0 or self.tv_weight > 0

    def __call__(self, pattern: Tensor, mask: Tensor | None = None) -> Tensor:
        """Per-clip penalty of an (N, C, ...) pattern in [0, 1] (``mask``: the pixels that count)."""
        out = torch.zeros(pattern.shape[0], dtype=pattern.dtype, device=pattern.device)
        if self.nps_weight > 0:
            out = out + self.nps_weight * non_printability(pattern, self.palette, mask)
        if self.tv_weight > 0:
            out = out + self.tv_weight * total_variation(pattern, mask)
        return out

    def settings(self) -> dict:
        """The weights and palette path, as run."""
        return {"nps_weight": self.nps_weight, "tv_weight": self.tv_weight, "palette": self.palette_path}


def save_print_png(image: Tensor, path: str | os.PathLike, size_cm: float, dpi: int = 300) -> Path:
    """Write a (C, H, W) image in [0, 1] as an RGB PNG whose longer side is ``size_cm`` at ``dpi``
    (nearest-neighbour enlargement, so each pattern pixel prints as a solid square; dpi stored in the file)."""
    from PIL import Image

    from videoabnn.utils.io import atomic_save_image

    if size_cm <= 0 or int(dpi) < 1:
        raise ValueError(f"print size must be > 0 cm and dpi >= 1; got {size_cm} cm, {dpi} dpi")
    image = image.detach().cpu().clamp(0, 1)
    image = image.expand(3, -1, -1) if image.shape[0] == 1 else image[:3]
    h, w = image.shape[-2:]
    longer = round(size_cm / 2.54 * int(dpi))
    size = (max(1, round(longer * w / max(h, w))), max(1, round(longer * h / max(h, w))))
    pixels = (image * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    big = Image.fromarray(pixels).resize(size, Image.NEAREST)
    return atomic_save_image(big, path, "PNG", dpi=(int(dpi), int(dpi)))
