"""AdaptiveBatchNorm3d: normalization of target features steered by substitute clip statistics.

Modes (see docs of the ABNN formulation):
- ``modulate``: ``gamma * BN(z) + beta`` with ``[gamma, beta] = W [mu; log sigma] + b``;
  ``W = 0, b = (1, 0)`` at init, so the layer starts as exactly ``BatchNorm3d(affine=False)``.
- ``replace``: ``g * (z - mu_hat) / sigma_hat + h`` where ``mu_hat`` and ``log sigma_hat`` are
  linear maps of the substitute statistics (channel-assignment init, identity when C_s == C_t);
  ``sigma_hat`` is floored smoothly at ``min_sigma`` (dead substitute channels have sigma ~ 0 and
  would otherwise amplify the target's features without bound).
- ``prototype``: the author's prototype layer, made size-independent by pooling the substitute
  features to a fixed grid and using per-clip (not per-batch) scalar statistics.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

MODES = ("modulate", "replace", "prototype")
LOG_SIGMA_CLAMP = 20.0


def _channel_assignment(out_ch: int, in_ch: int) -> torch.Tensor:
    """(out_ch, in_ch) 0/1 matrix sending target channel j to substitute channel floor(j * in / out)."""
    matrix = torch.zeros(out_ch, in_ch)
    matrix[torch.arange(out_ch), (torch.arange(out_ch) * in_ch) // out_ch] = 1.0
    return matrix


class AdaptiveBatchNorm3d(nn.Module):
    """Normalize target features ``z`` (B, C_t, T, H, W) using substitute statistics (B, C_s)."""

    def __init__(self, num_features: int, stats_channels: int, mode: str = "modulate", eps: float = 1e-5,
                 momentum: float = 0.1, grid: tuple[int, int, int] = (1, 2, 2), min_sigma: float = 0.1) -> None:
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"AdaptiveBatchNorm3d: mode must be one of {MODES}, got {mode!r}")
        self.num_features, self.stats_channels, self.mode = num_features, stats_channels, mode
        self.grid = tuple(int(g) for g in grid)
        self.min_sigma = float(min_sigma)
        if mode == "modulate":
            self.bn = nn.BatchNorm3d(num_features, eps=eps, momentum=momentum, affine=False)
            # Standardizes [mu; log sigma] (batch statistics while training, running ones in eval, so a
            # clip's output never depends on its batch at test time): a re-parametrisation of the linear
            # map that keeps its input at unit scale; raw statistics made SGD diverge at lr 0.05.
            self.stats_norm = nn.BatchNorm1d(2 * stats_channels, eps=eps, momentum=momentum, affine=False)
            self.affine = nn.Linear(2 * stats_channels, 2 * num_features)
            nn.init.zeros_(self.affine.weight)
            with torch.no_grad():
                self.affine.bias.copy_(torch.cat([torch.ones(num_features), torch.zeros(num_features)]))
        elif mode == "replace":
            self.mean_map = nn.Linear(stats_channels, num_features)
            self.log_std_map = nn.Linear(stats_channels, num_features)
            with torch.no_grad():
                for layer in (self.mean_map, self.log_std_map):
                    layer.weight.copy_(_channel_assignment(num_features, stats_channels))
                    layer.bias.zero_()
            self.weight = nn.Parameter(torch.ones(num_features))
            self.bias = nn.Parameter(torch.zeros(num_features))
        else:
            self.bn = nn.BatchNorm3d(num_features, eps=eps, momentum=momentum, affine=False)
            fan_in = stats_channels * math.prod(self.grid)
            self.affine = nn.Linear(fan_in, 2 * num_features)
            with torch.no_grad():
                self.affine.weight.normal_(0.0, 1.0 / math.sqrt(fan_in))
                self.affine.bias.copy_(torch.cat([torch.ones(num_features), torch.zeros(num_features)]))

    @staticmethod
    def _expand(v: torch.Tensor) -> torch.Tensor:
        return v[:, :, None, None, None]

    def forward(self, z: torch.Tensor, mu: torch.Tensor, sigma: torch.Tensor,
                features: torch.Tensor | None = None) -> torch.Tensor:
        """Adapt ``z`` with statistics ``mu``/``sigma`` (``features``: raw substitute output, prototype only)."""
        if mu.shape != (z.shape[0], self.stats_channels) or sigma.shape != mu.shape:
            raise ValueError(f"AdaptiveBatchNorm3d: expected statistics of shape ({z.shape[0]}, {self.stats_channels}),"
                             f" got {tuple(mu.shape)} and {tuple(sigma.shape)}")
        if self.mode == "modulate":
            stats = self.stats_norm(torch.cat([mu, torch.log(sigma)], dim=1))
            gamma, beta = self.affine(stats).chunk(2, dim=1)
            return self._expand(gamma) * self.bn(z) + self._expand(beta)
        if self.mode == "replace":
            mu_hat = self.mean_map(mu)
            log_sigma_hat = self.log_std_map(torch.log(sigma)).clamp(-LOG_SIGMA_CLAMP, LOG_SIGMA_CLAMP)
            sigma_hat = torch.sqrt(torch.exp(2 * log_sigma_hat) + self.min_sigma ** 2)
            scale = self.weight / sigma_hat
            return self._expand(scale) * (z - self._expand(mu_hat)) + self._expand(self.bias.expand_as(mu_hat))
        if features is None:
            raise ValueError("AdaptiveBatchNorm3d(mode='prototype') needs the substitute features")
        clip_mean = features.mean(dim=(1, 2, 3, 4))[:, None, None, None, None]
        clip_std = features.std(dim=(1, 2, 3, 4), unbiased=False)[:, None, None, None, None]
        h = clip_std * self.bn(z) + clip_mean
        pooled = F.adaptive_avg_pool3d(features, self.grid).flatten(1)
        gamma, beta = self.affine(pooled).chunk(2, dim=1)
        return self._expand(gamma) * h + self._expand(beta)

    def extra_repr(self) -> str:
        return f"{self.num_features}, stats_channels={self.stats_channels}, mode={self.mode!r}"
