"""The model wrapper: pixel-space input in [0, 1] -> normalization -> backbone -> logits."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from videoabnn.models.stages import StagedBackbone


class Normalize(nn.Module):
    """Per-channel ``(x - mean) / std`` for NCTHW input; mean/std are buffers saved with the model."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        mean_t = torch.as_tensor(list(mean), dtype=torch.float32)
        std_t = torch.as_tensor(list(std), dtype=torch.float32)
        if mean_t.shape != std_t.shape or mean_t.ndim != 1:
            raise ValueError(f"mean and std must be equal-length sequences, got {list(mean)} and {list(std)}")
        if bool((std_t <= 0).any()):
            raise ValueError(f"std must be positive, got {list(std)}")
        self.register_buffer("mean", mean_t.view(1, -1, 1, 1, 1))
        self.register_buffer("std", std_t.view(1, -1, 1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5 or x.shape[1] != self.mean.shape[1]:
            raise ValueError(f"expected NCTHW input with {self.mean.shape[1]} channels, got shape {tuple(x.shape)}")
        return (x - self.mean) / self.std

    def extra_repr(self) -> str:
        return f"mean={self.mean.flatten().tolist()}, std={self.std.flatten().tolist()}"


class VideoClassifier(nn.Module):
    """A video classifier taking float NCTHW clips in [0, 1]; normalization happens inside.

    What `create_model` returns for every backbone: ``normalize`` (a `Normalize` with the model's or its
    weights' mean/std, saved with the model) followed by the `StagedBackbone`, so attacks and defenses work in
    pixel space and an epsilon is a pixel budget.

    Args:
        backbone: the network on normalized input, in the stage view (stem, four stages, head).
        mean: per-channel mean subtracted from the [0, 1] input, one value per input channel.
        std: per-channel standard deviation dividing it; positive, as many values as ``mean``.

    Shape:
        - input: (N, C, T, H, W) float in [0, 1], C = len(mean) (3 for every registry model).
        - output: (N, num_classes) logits; ``forward_stages`` gives the stem and stage outputs instead.

    Examples:
        >>> from videoabnn.models.tiny import build_tiny_r3d
        >>> model = VideoClassifier(build_tiny_r3d(10), mean=(0.45,) * 3, std=(0.225,) * 3)
        >>> logits = model(torch.rand(2, 3, 8, 32, 32))
    """

    def __init__(self, backbone: StagedBackbone, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.normalize = Normalize(mean, std)
        self.backbone = backbone

    @property
    def stage_channels(self) -> list[int]:
        """Output channels of the stem and each stage."""
        return self.backbone.stage_channels

    @property
    def num_classes(self) -> int:
        """Number of output classes (from the final linear layer)."""
        return self.backbone.get_submodule(self.backbone.classifier).out_features

    def forward_stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Stem and stage outputs (input normalized first), stem first."""
        return self.backbone.forward_stages(self.normalize(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(self.normalize(x))
