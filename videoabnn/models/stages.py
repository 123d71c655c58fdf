"""The stage view every backbone provides: stem, four residual stages, and a size-agnostic head.

ABNN reads substitute stage outputs and places adaptive layers after target stages through
this view only; feature-denoising defenses insert modules after stages through ``post``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

PostStage = Callable[[int, int], "nn.Module | None"]


class ClassifierHead(nn.Module):
    """Global average pool over (T, H, W) -> dropout -> linear; works for any input size."""

    def __init__(self, in_channels: int, num_classes: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(in_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.pool(x).flatten(1)))


class StagedBackbone(nn.Module):
    """A backbone as ``stem -> stages[0..3] -> head`` with optional modules after each stage.

    ``stage_channels`` lists output channels, stem first. ``native_prefixes`` maps the
    family's own state-dict prefixes (e.g. ``layer1.``) to ours (``stages.0.``) so published
    checkpoints load; ``classifier`` names the final linear layer (re-initialised when the
    number of classes differs).
    """

    def __init__(self, stem: nn.Module, stages: Sequence[nn.Module], head: nn.Module,
                 stage_channels: Sequence[int], *, family: str,
                 native_prefixes: Sequence[tuple[str, str]] = (), classifier: str = "head.fc") -> None:
        super().__init__()
        if len(stage_channels) != len(stages) + 1:
            raise ValueError(f"stage_channels needs {len(stages) + 1} entries (stem first), got {stage_channels}")
        self.stem = stem
        self.stages = nn.ModuleList(stages)
        self.head = head
        self.post = nn.ModuleList(nn.Identity() for _ in range(len(stages) + 1))
        self.stage_channels = [int(c) for c in stage_channels]
        self.family = family
        self.native_prefixes = list(native_prefixes)
        self.classifier = classifier

    @property
    def num_stages(self) -> int:
        """Number of stage outputs including the stem (5 for every registry backbone)."""
        return len(self.stages) + 1

    def set_post_stage(self, post_stage: PostStage) -> None:
        """Insert ``post_stage(index, channels)`` after the stem (index 0) and each stage (1..)."""
        for index, channels in enumerate(self.stage_channels):
            module = post_stage(index, channels)
            self.post[index] = module if module is not None else nn.Identity()

    def run_stage(self, index: int, x: torch.Tensor) -> torch.Tensor:
        """Apply stage ``index`` (0 = stem) followed by its post-stage module."""
        block = self.stem if index == 0 else self.stages[index - 1]
        return self.post[index](block(x))

    def forward_stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Outputs of the stem and every stage for an already normalized input."""
        outputs = []
        for index in range(self.num_stages):
            x = self.run_stage(index, x)
            outputs.append(x)
        return outputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for index in range(self.num_stages):
            x = self.run_stage(index, x)
        return self.head(x)

    def reset_classifier(self) -> None:
        """Re-initialise the final linear layer (used when the number of classes changes)."""
        layer = self.get_submodule(self.classifier)
        layer.reset_parameters()
