"""Differentiable stand-ins for re-encoding: per-frame JPEG and H.264 at a CRF.

``diff_jpeg(frames, quality)`` follows baseline JPEG as libjpeg (Pillow) codes it: RGB -> YCbCr
(JFIF, full range), chroma 4:2:0 (2x2 mean), level shift, 8x8 orthonormal DCT, division by the
standard tables scaled for ``quality`` (libjpeg's rule, entries clamped to 1..255), rounding,
dequantization, inverse DCT, chroma upsampling by the triangle filter libjpeg's decoder uses
(bilinear, half-pixel centres), YCbCr -> RGB and rounding to 8 bits. Every rounding is
straight-through: forward rounded; backward the identity (``rounding="identity"``: the gradient is
that of the linear parts, i.e. the identity on luma and a 2x2 blur on chroma) or the derivative of
Shin and Song's cubic approximation ``round(v) + (v - round(v))**3`` of the coefficient rounding
(``rounding="cubic"``: coefficients the codec rounds to a level pass little gradient).

``diff_h264(frames, crf)`` is the same per-frame DCT quantization at the JPEG quality whose error
on real clips matches libx264's at that CRF (:data:`CRF_QUALITY`, measured with PyAV): intra-frame
only, no motion compensation or deblocking, so it is a stand-in for the codec's loss of detail (its
pixels differ from the real codec's by about as much as the codec's own error), not a model of it.

Frames are ``(B, 3, H, W)`` in [0, 1]; ``quality``/``crf`` a number or one per frame ``(B,)``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

_LUMA = [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
         14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
         49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99]
_CHROMA = [17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
           47, 66, 99, 99, 99, 99, 99, 99] + [99] * 32

# libx264 CRF (preset ultrafast, tune zerolatency, as the ``codec`` transform encodes) -> the diff_jpeg quality
# with the same mean absolute error against the original, measured on the first 16 frames of four of the real
# clips in ../shared/data/real-videos/ resized (area) to side x side; per frame side, the nearest measured
# side (log scale) is used, and CRFs in between are interpolated linearly. Mean absolute error of libx264
# itself at CRF 18/28/35/51 (0-255 scale): 2.4/3.8/5.7/14.6 at 112 px, 3.8/6.1/8.9/21.7 at 32 px.
CRF_QUALITY = {
    32: {18: 91.0, 23: 86.0, 28: 75.0, 30: 65.0, 35: 32.0, 40: 13.0, 45: 6.0, 51: 2.0},
    112: {18: 87.0, 23: 79.0, 28: 62.0, 30: 47.0, 35: 23.0, 40: 13.0, 45: 7.0, 51: 4.0},
}


ROUNDINGS = ("identity", "cubic")


def ste_round(v: Tensor, rounding: str = "identity") -> Tensor:
    """Rounded forward; backward the identity or the cubic approximation's derivative 3 (v - round v)^2."""
    r = torch.round(v).detach()
    if rounding == "cubic":
        soft = (v - r) ** 3
        return r + soft - soft.detach()
    return v + (r - v).detach()


def _dct_matrix(device, dtype) -> Tensor:
    """The 8x8 orthonormal DCT-II matrix D (coefficients = D @ block @ D.T)."""
    k = torch.arange(8, dtype=torch.float64).reshape(-1, 1)
    n = torch.arange(8, dtype=torch.float64).reshape(1, -1)
    d = torch.cos((2 * n + 1) * k * math.pi / 16) * math.sqrt(2 / 8)
    d[0] /= math.sqrt(2)
    return d.to(device=device, dtype=dtype)


def quant_tables(quality: Tensor) -> tuple[Tensor, Tensor]:
    """(B, 8, 8) luma and chroma tables for per-frame qualities in [1, 100] (libjpeg's scaling; baseline)."""
    q = quality.clamp(1, 100)
    scale = torch.where(q < 50, 5000 / q, 200 - 2 * q).reshape(-1, 1, 1)

    def table(base: list[int]) -> Tensor:
        t = torch.tensor(base, dtype=q.dtype, device=q.device).reshape(1, 8, 8)
        return torch.floor((t * scale + 50) / 100).clamp(1, 255)

    return table(_LUMA), table(_CHROMA)


def rgb_to_ycbcr(rgb: Tensor) -> Tensor:
    """JFIF full-range conversion of (B, 3, H, W) on the 0-255 scale."""
    r, g, b = rgb.unbind(1)
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = -0.168735892 * r - 0.331264108 * g + 0.5 * b + 128
    cr = 0.5 * r - 0.418687589 * g - 0.081312411 * b + 128
    return torch.stack([y, cb, cr], dim=1)


def ycbcr_to_rgb(ycc: Tensor) -> Tensor:
    """Inverse of :func:`rgb_to_ycbcr`."""
    y, cb, cr = ycc[:, 0], ycc[:, 1] - 128, ycc[:, 2] - 128
    return torch.stack([y + 1.402 * cr, y - 0.344136286 * cb - 0.714136286 * cr, y + 1.772 * cb], dim=1)


def _blocks_quantized(plane: Tensor, table: Tensor, rounding: str) -> Tensor:
    """DCT, quantize (straight-through), dequantize and invert every 8x8 block of (B, 1, H, W)."""
    b, _, h, w = plane.shape
    d = _dct_matrix(plane.device, plane.dtype)
    blocks = plane.reshape(b, h // 8, 8, w // 8, 8).transpose(2, 3)  # B, H/8, W/8, 8, 8
    coeff = d @ blocks @ d.T
    t = table.reshape(b, 1, 1, 8, 8)
    coeff = ste_round(coeff / t, rounding) * t
    return (d.T @ coeff @ d).transpose(2, 3).reshape(b, 1, h, w)


def diff_jpeg(frames: Tensor, quality: float | Tensor, subsample: bool = True, rounding: str = "identity") -> Tensor:
    """Per-frame JPEG round trip of ``frames`` (B, 3, H, W) in [0, 1], differentiable (see the module doc)."""
    if frames.dim() != 4 or frames.shape[1] != 3:
        raise ValueError(f"diff_jpeg: expected frames (B, 3, H, W), got shape {tuple(frames.shape)}")
    if rounding not in ROUNDINGS:
        raise ValueError(f"diff_jpeg: rounding must be one of {', '.join(ROUNDINGS)}, got {rounding!r}")
    b, _, h, w = frames.shape
    quality = torch.as_tensor(quality, dtype=frames.dtype, device=frames.device).expand(b) if not \
        isinstance(quality, Tensor) or quality.dim() == 0 else quality.to(frames)
    luma_t, chroma_t = quant_tables(quality)
    block = 16 if subsample else 8
    ph, pw = (-h) % block, (-w) % block
    ycc = rgb_to_ycbcr(F.pad(frames * 255, (0, pw, 0, ph), mode="replicate"))
    y = _blocks_quantized(ycc[:, :1] - 128, luma_t, rounding) + 128
    chroma = F.avg_pool2d(ycc[:, 1:], 2) if subsample else ycc[:, 1:]
    c = torch.cat([_blocks_quantized(chroma[:, i:i + 1] - 128, chroma_t, rounding) for i in range(2)], dim=1) + 128
    if subsample:
        c = F.interpolate(c, scale_factor=2, mode="bilinear", align_corners=False)
    rgb = ycbcr_to_rgb(torch.cat([y, c], dim=1))[:, :, :h, :w]
    return ste_round(rgb.clamp(0, 255)) / 255


def quality_for_crf(crf: float | Tensor, side: int = 112) -> Tensor:
    """The diff_jpeg quality standing in for libx264 at ``crf`` on frames of short ``side`` (:data:`CRF_QUALITY`)."""
    crf = torch.as_tensor(crf, dtype=torch.float32)
    table = CRF_QUALITY[min(CRF_QUALITY, key=lambda s: abs(math.log(s / max(1, side))))]
    keys = sorted(table)
    xs = torch.tensor(keys, dtype=torch.float32)
    ys = torch.tensor([table[k] for k in keys], dtype=torch.float32)
    c = crf.clamp(xs[0], xs[-1])
    i = torch.searchsorted(xs, c.reshape(-1).contiguous(), right=True).clamp(1, len(keys) - 1)
    lo, hi = xs[i - 1], xs[i]
    frac = (c.reshape(-1) - lo) / (hi - lo)
    return (ys[i - 1] + frac * (ys[i] - ys[i - 1])).reshape(crf.shape)


def diff_h264(frames: Tensor, crf: float | Tensor, rounding: str = "identity") -> Tensor:
    """Stand-in for a libx264 round trip at ``crf``: diff_jpeg at the matched quality."""
    side = min(frames.shape[-2:])
    quality = quality_for_crf(crf if isinstance(crf, Tensor) else float(crf), side).to(frames.device)
    return diff_jpeg(frames, quality, rounding=rounding)


def diff_clip_codec(clips: Tensor, kind: str, level: float, rounding: str = "identity") -> Tensor:
    """The stand-in applied to every frame of NCTHW clips: ``kind`` jpeg (``level`` = quality) or h264 (CRF)."""
    n, c, t, h, w = clips.shape
    frames = clips.transpose(1, 2).reshape(n * t, c, h, w)
    out = diff_jpeg(frames, level, rounding=rounding) if kind == "jpeg" else diff_h264(frames, level, rounding)
    return out.reshape(n, t, c, h, w).transpose(1, 2)
