"""Clip-level feature statistics: per clip and channel, over (T, H, W); no batch coupling."""

from __future__ import annotations

import torch


def clip_statistics(features: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and ``sqrt(var + eps)`` of ``features`` (B, C, T, H, W) over (T, H, W); each (B, C)."""
    if features.ndim != 5:
        raise ValueError(f"clip_statistics expects (B, C, T, H, W) features, got shape {tuple(features.shape)}")
    if eps <= 0:
        raise ValueError(f"clip_statistics: eps must be positive, got {eps}")
    var, mu = torch.var_mean(features, dim=(2, 3, 4), unbiased=False)
    return mu, torch.sqrt(var + eps)
