"""A tiny 3D ResNet for CPU work (tests, the synthetic study): 3x3x3 stem + 4 basic-block stages."""

from __future__ import annotations

import torch
from torch import nn

from videoabnn.models.registry import register_model
from videoabnn.models.resnet3d import hara_backbone
from videoabnn.models.stages import StagedBackbone

TINY_MEAN = (0.45, 0.45, 0.45)
TINY_STD = (0.225, 0.225, 0.225)


class TinyStem(nn.Module):
    """3x3x3 conv with spatial stride 2 -> BN -> ReLU (named like the Hara stem)."""

    def __init__(self, out_ch: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv3d(3, out_ch, 3, stride=(1, 2, 2), padding=1, bias=False)
        self.bn1 = nn.BatchNorm3d(out_ch)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn1(self.conv1(x)))


@register_model("tiny_r3d", frames=8, crop=32, mean=TINY_MEAN, std=TINY_STD, family="tiny")
def build_tiny_r3d(num_classes: int, width: int = 16, depth: int = 1, shortcut: str = "B",
                   dropout: float = 0.0) -> StagedBackbone:
    """Tiny 3D ResNet: widths w/2w/4w/8w, ``depth`` basic blocks per stage, for 8x32x32 clips.

    A Hara-style 3D ResNet (basic blocks, 3x3x3 stem with spatial stride 2, no max pool) for CPU work: the
    tests, the synthetic study and the default ABNN substitute and target. Convolutions keep PyTorch's default
    init: with Hara's kaiming fan-out init this network fitted the synthetic motion classes several times slower
    (10 epochs: 15% vs 84% test accuracy).

    Paper: none of its own; a scaled-down 3D ResNet after Hara, Kataoka & Satoh, CVPR 2018.

    Weights: none released (train it: ``videoabnn-train``).

    Args:
        num_classes: size of the classification head (``fc``); required, no default.
        width: channels of the stem and first stage, w; the stages use w x (1, 2, 4, 8); >= 1. Default: 16.
        depth: basic blocks per stage; >= 1. Default: 1.
        shortcut: residual shortcut of the blocks that change shape, ``"A"`` (parameter-free: strided identity
            plus zero-padded channels) or ``"B"`` (1x1x1 conv + BN). Default: "B".
        dropout: dropout probability before ``fc`` (0 disables it). Default: 0.0.

    Shape:
        - input: (N, 3, T, H, W) float in [0, 1] (normalized inside the `VideoClassifier` that
          `create_model` wraps around this backbone, mean/std 0.45/0.225); any T, H, W >= 1 (the head pools
          adaptively); registry default 8 x 32 x 32.
        - output: (N, num_classes) logits.

    Examples:
        >>> model = create_model("tiny_r3d", num_classes=10)
        >>> logits = model(torch.rand(2, 3, 8, 32, 32))
    """
    if width < 1 or depth < 1:
        raise ValueError(f"tiny_r3d: width and depth must be >= 1, got width={width} depth={depth}")
    return hara_backbone(num_classes, block="basic", layers=[depth] * 4,
                         planes=[width, width * 2, width * 4, width * 8], shortcut=shortcut,
                         stem_channels=width, stem=TinyStem(width), dropout=dropout, family="tiny",
                         conv_init="default")
