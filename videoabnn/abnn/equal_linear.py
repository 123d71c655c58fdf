"""A linear layer with run-time weight scaling (equalized learning rate), as in the ABNN authors' prototype.

The stored weight is drawn from N(0, 1) and multiplied by ``sqrt(2 / fan_in)`` at every forward, so
each weight's effective step size under SGD scales with ``1 / fan_in`` the same way for every layer
(the StyleGAN "equalized learning rate" trick the prototype uses). The bias is stored unscaled.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class EqualLinear(nn.Module):
    """``y = x @ (w * sqrt(2 / in_features)).T + b`` with ``w ~ N(0, 1)`` and ``b = 0`` at init."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.weight = nn.Parameter(torch.randn(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features))
        self.scale = math.sqrt(2.0 / in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, scale={self.scale:.3g}"
