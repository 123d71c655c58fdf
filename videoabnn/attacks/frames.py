"""Which frames an attack may change: ``all``, ``first:k``, ``random:k``, ``every:n``, ``salient:k``.

Masks have shape ``(N, 1, T, 1, ..., 1)`` (broadcastable over the clip); a rank-4 input (images)
counts as one frame. ``k`` larger than the clip length selects every frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from videoabnn.attacks.ranking import top_indices

FRAME_KINDS = ("all", "first", "random", "every", "salient")


@dataclass(frozen=True)
class FrameSpec:
    """A parsed frame-selection rule."""

    kind: str
    k: int = 0

    def __str__(self) -> str:
        return "all" if self.kind == "all" else f"{self.kind}:{self.k}"


def parse_frames(spec: str | FrameSpec | None) -> FrameSpec:
    """Parse a frame-selection string such as ``"first:4"``; errors name the expected forms."""
    if isinstance(spec, FrameSpec):
        return spec
    if spec is None:
        return FrameSpec("all")
    text = str(spec).strip().lower()
    if text == "all":
        return FrameSpec("all")
    kind, _, num = text.partition(":")
    if kind not in FRAME_KINDS[1:] or not num.strip().isdigit() or int(num) < 1:
        raise ValueError(
            f"bad frames spec {spec!r}; expected 'all', 'first:k', 'random:k', 'every:n' or 'salient:k' "
            "with a positive integer"
        )
    return FrameSpec(kind, int(num))


def num_frames(x: Tensor) -> int:
    """Clip length: dim 2 of an NCTHW (rank >= 5) tensor, 1 for images."""
    return x.shape[2] if x.dim() >= 5 else 1


def mask_shape(x: Tensor) -> list[int]:
    """Shape of a per-frame mask for ``x``: ``(N, 1, T, 1, ...)``."""
    if x.dim() >= 5:
        return [x.shape[0], 1, x.shape[2]] + [1] * (x.dim() - 3)
    return [x.shape[0]] + [1] * (x.dim() - 1)


def frame_mask(
    spec: FrameSpec,
    x: Tensor,
    generators: list[torch.Generator] | None = None,
    saliency: Tensor | None = None,
) -> Tensor:
    """Float mask (1 = attacked frame). ``random`` needs one generator per clip, ``salient`` an (N, T) score."""
    n, t = x.shape[0], num_frames(x)
    sel = torch.zeros(n, t, dtype=torch.bool, device=x.device)
    k = min(spec.k, t)
    if spec.kind == "all":
        sel[:] = True
    elif spec.kind == "first":
        sel[:, :k] = True
    elif spec.kind == "every":
        sel[:, :: spec.k] = True
    elif spec.kind == "random":
        if generators is None or len(generators) != n:
            raise ValueError("frames='random:k' needs one random generator per clip")
        for i, gen in enumerate(generators):
            idx = torch.randperm(t, generator=gen, device=gen.device)[:k].to(x.device)
            sel[i, idx] = True
    elif spec.kind == "salient":
        if saliency is None or saliency.shape != (n, t):
            raise ValueError(f"frames='salient:k' needs a per-frame saliency of shape ({n}, {t})")
        sel.scatter_(1, top_indices(saliency, k, dim=1), True)
    else:
        raise ValueError(f"unknown frame selection {spec.kind!r}")
    return sel.to(x.dtype).reshape(mask_shape(x))


def frame_saliency(grad: Tensor) -> Tensor:
    """Per-frame saliency (N, T): summed absolute input gradient of each frame."""
    if grad.dim() >= 5:
        g = grad.abs().transpose(1, 2).reshape(grad.shape[0], grad.shape[2], -1)
        return g.sum(dim=2)
    return grad.abs().reshape(grad.shape[0], -1).sum(dim=1, keepdim=True)
