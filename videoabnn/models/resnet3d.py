"""3D ResNets in the layout of Hara et al.'s 3D-ResNets-PyTorch (ResNet-10..101, ResNeXt, WRN).

Module names match that repository (``conv1``, ``bn1``, ``layer1..4``, ``fc``; blocks with
``conv1..3``/``bn1..3``/``downsample``), so its ``.pth`` checkpoints load through the
``native_prefixes`` of the stage view. Shortcut ``A`` (parameter-free: strided identity plus
zero channels) and ``B`` (1x1x1 conv + BN) are both supported.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from videoabnn.models.registry import register_model
from videoabnn.models.stages import ClassifierHead, StagedBackbone

HARA_MEAN = (0.4345, 0.4051, 0.3775)
HARA_STD = (0.2768, 0.2713, 0.2737)
HARA_PREFIXES = [("conv1.", "stem.conv1."), ("bn1.", "stem.bn1."), ("fc.", "head.fc.")] + [
    (f"layer{i}.", f"stages.{i - 1}.") for i in range(1, 5)]


class ShortcutA(nn.Module):
    """Parameter-free shortcut: strided subsampling, then zero-padding of the extra channels."""

    def __init__(self, out_channels: int, stride: int | tuple[int, int, int]) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.avg_pool3d(x, kernel_size=1, stride=self.stride)
        extra = self.out_channels - out.shape[1]
        return F.pad(out, (0, 0, 0, 0, 0, 0, 0, extra)) if extra > 0 else out


def _shortcut(kind: str, in_ch: int, out_ch: int, stride) -> nn.Module | None:
    if stride == 1 and in_ch == out_ch:
        return None
    if kind == "A":
        return ShortcutA(out_ch, stride)
    if kind == "B":
        return nn.Sequential(nn.Conv3d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm3d(out_ch))
    raise ValueError(f"shortcut must be 'A' or 'B', got {kind!r}")


class BasicBlock(nn.Module):
    """Two 3x3x3 convolutions with a residual connection."""

    def __init__(self, in_ch: int, out_ch: int, stride=1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv3d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm3d(out_ch)
        self.conv2 = nn.Conv3d(out_ch, out_ch, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm3d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class Bottleneck(nn.Module):
    """1x1x1 reduce -> 3x3x3 (optionally grouped, strided) -> 1x1x1 expand, with a residual."""

    def __init__(self, in_ch: int, mid_ch: int, out_ch: int, stride=1, groups: int = 1,
                 downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv3d(in_ch, mid_ch, 1, bias=False)
        self.bn1 = nn.BatchNorm3d(mid_ch)
        self.conv2 = nn.Conv3d(mid_ch, mid_ch, 3, stride=stride, padding=1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm3d(mid_ch)
        self.conv3 = nn.Conv3d(mid_ch, out_ch, 1, bias=False)
        self.bn3 = nn.BatchNorm3d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + identity)


class HaraStem(nn.Module):
    """conv1 (t x 7 x 7, spatial stride 2) -> bn1 -> ReLU -> optional 3x3x3 max-pool (stride 2)."""

    def __init__(self, out_ch: int, kernel=(7, 7, 7), stride=(1, 2, 2), max_pool: bool = True) -> None:
        super().__init__()
        padding = tuple(k // 2 for k in kernel)
        self.conv1 = nn.Conv3d(3, out_ch, kernel, stride=stride, padding=padding, bias=False)
        self.bn1 = nn.BatchNorm3d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool3d(3, stride=2, padding=1) if max_pool else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.maxpool(self.relu(self.bn1(self.conv1(x))))


def _make_stage(block: str, in_ch: int, planes: int, blocks: int, stride, shortcut: str,
                groups: int, expansion: int, mid_ratio: float) -> tuple[nn.Sequential, int]:
    out_ch = planes * expansion
    layers = []
    for i in range(blocks):
        s = stride if i == 0 else 1
        down = _shortcut(shortcut, in_ch, out_ch, s)
        if block == "basic":
            layers.append(BasicBlock(in_ch, out_ch, s, down))
        else:
            layers.append(Bottleneck(in_ch, int(planes * mid_ratio), out_ch, s, groups, down))
        in_ch = out_ch
    return nn.Sequential(*layers), out_ch


def hara_backbone(num_classes: int, *, block: str, layers: Sequence[int], planes: Sequence[int],
                  shortcut: str = "B", groups: int = 1, expansion: int = 1, mid_ratio: float = 1.0,
                  stem_channels: int = 64, stem: nn.Module | None = None, dropout: float = 0.0,
                  strides: Sequence = (1, 2, 2, 2), family: str = "resnet3d",
                  conv_init: str = "kaiming_fan_out") -> StagedBackbone:
    """Assemble a Hara-style 3D ResNet as a :class:`StagedBackbone`.

    ``conv_init``: ``kaiming_fan_out`` (Hara et al.'s init) or ``default`` (PyTorch's own Conv3d init,
    which trains tiny networks from scratch much faster: measured on the synthetic study set).
    """
    if len(layers) != 4 or len(planes) != 4:
        raise ValueError(f"need 4 stages, got layers={list(layers)} planes={list(planes)}")
    stem = stem if stem is not None else HaraStem(stem_channels)
    stages, channels, in_ch = [], [stem_channels], stem_channels
    for n, p, s in zip(layers, planes, strides):
        stage, in_ch = _make_stage(block, in_ch, p, n, s, shortcut, groups, expansion, mid_ratio)
        stages.append(stage)
        channels.append(in_ch)
    backbone = StagedBackbone(stem, stages, ClassifierHead(in_ch, num_classes, dropout), channels,
                              family=family, native_prefixes=HARA_PREFIXES)
    _init_weights(backbone, conv_init)
    return backbone


def _init_weights(module: nn.Module, conv_init: str = "kaiming_fan_out") -> None:
    if conv_init not in ("kaiming_fan_out", "default"):
        raise ValueError(f"conv_init must be 'kaiming_fan_out' or 'default', got {conv_init!r}")
    for m in module.modules():
        if isinstance(m, nn.Conv3d) and conv_init == "kaiming_fan_out":
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm3d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


_RESNET_LAYERS = {10: [1, 1, 1, 1], 18: [2, 2, 2, 2], 34: [3, 4, 6, 3], 50: [3, 4, 6, 3], 101: [3, 4, 23, 3]}


_HARA_PAPER = ('Hara, Kataoka & Satoh, "Can Spatiotemporal 3D CNNs Retrace the History of 2D CNNs and ImageNet?", '
               "CVPR 2018.")
# Per depth: the released files (tag, file, the shortcut it was trained with), as `models.pretrained` registers them.
_RESNET_WEIGHTS = {
    depth: ([("kinetics400_2018", f"resnet-{depth}-kinetics.pth", "A" if depth < 50 else "B")] if depth > 10 else [])
    + [("kinetics700_2020", f"r3d{depth}_K_200ep.pth", "B"),
       ("kinetics700_moments_2020", f"r3d{depth}_KM_200ep.pth", "B")]
    for depth in (10, 18, 34, 50, 101)
}
# The docstring of each loop-generated ``resnet3d_<depth>`` builder (the static text of the same template is the
# docstring of ``_register_resnet``, which documentation tools read).
_RESNET_DOC = """3D ResNet-{depth} of Hara et al.'s 3D-ResNets-PyTorch ({block} blocks, {layers} per stage).

    Paper: {paper}

    Weights: local files, see `list_weights`; build with the ``shortcut`` a file was trained with:
{weights}

    Args:
        num_classes: size of the classification head (``fc``); required, no default.
        shortcut: residual shortcut of the blocks that change shape, ``"A"`` (parameter-free: strided identity
            plus zero-padded channels) or ``"B"`` (1x1x1 conv + BN). Default: "{shortcut}".
        width: channels of the stem and of the first stage's {width_of};
            the stages use width x (1, 2, 4, 8). Default: 64.
        dropout: dropout probability before ``fc`` (0 disables it). Default: 0.0.
        max_pool: keep the stem's 3x3x3 max pool (stride 2 in T, H and W). Default: True.

    Shape:
        - input: (N, 3, T, H, W) float in [0, 1] (normalized inside the `VideoClassifier` that
          `create_model` wraps around this backbone); any T, H, W >= 1 (the head pools adaptively);
          registry default 16 x 112 x 112.
        - output: (N, num_classes) logits.

    Examples:
        >>> model = create_model("resnet3d_{depth}", num_classes=101)
        >>> logits = model(torch.rand(2, 3, 16, 112, 112))
    """


def _register_resnet(depth: int) -> None:
    """Register ``resnet3d_<depth>``: 3D ResNet-<depth> of Hara et al.'s 3D-ResNets-PyTorch (depth 10..101).

    The registered builder ``resnet3d_<depth>(num_classes, shortcut, width, dropout, max_pool)`` gets this text as
    its docstring, with the depth filled in (``_RESNET_DOC``). Depths 10, 18 and 34 use basic blocks
    (layers 1-1-1-1, 2-2-2-2, 3-4-6-3) and default to shortcut ``"A"``; 50 and 101 use bottleneck blocks
    (expansion 4; layers 3-4-6-3, 3-4-23-3) and default to shortcut ``"B"``.

    Paper: Hara, Kataoka & Satoh, "Can Spatiotemporal 3D CNNs Retrace the History of 2D CNNs and ImageNet?", CVPR 2018.

    Weights: ``kinetics400_2018`` (depths 18, 34 with shortcut A; 50, 101 with B), ``kinetics700_2020`` and
    ``kinetics700_moments_2020`` (every depth, shortcut B); local files, see `list_weights`.

    Args:
        depth: network depth, one of 10, 18, 34, 50, 101 (fixed by the registered name, not a builder argument).
        num_classes: size of the classification head (``fc``); required, no default.
        shortcut: residual shortcut of the blocks that change shape, ``"A"`` (parameter-free: strided identity
            plus zero-padded channels) or ``"B"`` (1x1x1 conv + BN). Default: "A" for depth < 50, else "B".
        width: channels of the stem and of the first stage's blocks (bottleneck: its inner width); the stages
            use width x (1, 2, 4, 8). Default: 64.
        dropout: dropout probability before ``fc`` (0 disables it). Default: 0.0.
        max_pool: keep the stem's 3x3x3 max pool (stride 2 in T, H and W). Default: True.

    Shape:
        - input: (N, 3, T, H, W) float in [0, 1] (normalized inside the `VideoClassifier` that
          `create_model` wraps around this backbone); any T, H, W >= 1 (the head pools adaptively);
          registry default 16 x 112 x 112.
        - output: (N, num_classes) logits.

    Examples:
        >>> model = create_model("resnet3d_18", num_classes=101)
        >>> logits = model(torch.rand(2, 3, 16, 112, 112))
    """
    bottleneck = depth >= 50
    default_shortcut = "B" if bottleneck else "A"

    @register_model(f"resnet3d_{depth}", frames=16, crop=112, mean=HARA_MEAN, std=HARA_STD, family="resnet3d",
                    description=f"3D ResNet-{depth} (Hara et al.), shortcut A or B")
    def build(num_classes: int, shortcut: str = default_shortcut, width: int = 64, dropout: float = 0.0,
              max_pool: bool = True) -> StagedBackbone:
        return hara_backbone(num_classes, block="bottleneck" if bottleneck else "basic",
                             layers=_RESNET_LAYERS[depth], planes=[width, width * 2, width * 4, width * 8],
                             shortcut=shortcut, expansion=4 if bottleneck else 1, stem_channels=width,
                             stem=HaraStem(width, max_pool=max_pool), dropout=dropout)

    build.__name__ = build.__qualname__ = f"build_resnet3d_{depth}"
    build.__doc__ = _RESNET_DOC.format(
        depth=depth, block="bottleneck" if bottleneck else "basic", layers="-".join(map(str, _RESNET_LAYERS[depth])),
        paper=_HARA_PAPER, shortcut=default_shortcut,
        weights="\n".join(f'    - ``{tag}``: {file}, ``shortcut="{cut}"``' for tag, file, cut in _RESNET_WEIGHTS[depth]),
        width_of="blocks' inner width (bottleneck expansion 4)" if bottleneck else "blocks")


for _depth in _RESNET_LAYERS:
    _register_resnet(_depth)


@register_model("resnext3d_101", frames=16, crop=112, mean=HARA_MEAN, std=HARA_STD, family="resnet3d")
def build_resnext3d_101(num_classes: int, cardinality: int = 32, shortcut: str = "B", dropout: float = 0.0,
                        max_pool: bool = True) -> StagedBackbone:
    """3D ResNeXt-101 (32x4d) of Hara et al.'s 3D-ResNets-PyTorch, the ABNN paper's target network.

    Bottleneck blocks (layers 3-4-23-3, planes 128-256-512-1024, expansion 2) whose 3x3x3 convolution is grouped
    into ``cardinality`` groups; stem: 64-channel 7x7x7 convolution.

    Paper: Hara, Kataoka & Satoh, "Can Spatiotemporal 3D CNNs Retrace the History of 2D CNNs and ImageNet?", CVPR 2018.

    Weights: ``kinetics400_2018`` (resnext-101-kinetics.pth, ``shortcut="B"``; local file, see `list_weights`).

    Args:
        num_classes: size of the classification head (``fc``); required, no default.
        cardinality: groups of each block's 3x3x3 convolution; its width is 4 x cardinality channels in the first
            stage (doubling per stage). Default: 32.
        shortcut: residual shortcut of the blocks that change shape, ``"A"`` (parameter-free: strided identity
            plus zero-padded channels) or ``"B"`` (1x1x1 conv + BN). Default: "B".
        dropout: dropout probability before ``fc`` (0 disables it). Default: 0.0.
        max_pool: keep the stem's 3x3x3 max pool (stride 2 in T, H and W). Default: True.

    Shape:
        - input: (N, 3, T, H, W) float in [0, 1] (normalized inside the `VideoClassifier` that
          `create_model` wraps around this backbone); any T, H, W >= 1 (the head pools adaptively);
          registry default 16 x 112 x 112.
        - output: (N, num_classes) logits.

    Examples:
        >>> model = create_model("resnext3d_101", num_classes=101)
        >>> logits = model(torch.rand(2, 3, 16, 112, 112))
    """
    return hara_backbone(num_classes, block="bottleneck", layers=_RESNET_LAYERS[101],
                         planes=[128, 256, 512, 1024], shortcut=shortcut, groups=cardinality, expansion=2,
                         mid_ratio=cardinality * (128 // 32) / 128, stem=HaraStem(64, max_pool=max_pool),
                         dropout=dropout)


@register_model("wide_resnet3d_50", frames=16, crop=112, mean=HARA_MEAN, std=HARA_STD, family="resnet3d")
def build_wide_resnet3d_50(num_classes: int, k: int = 2, shortcut: str = "B", dropout: float = 0.0,
                           max_pool: bool = True) -> StagedBackbone:
    """3D Wide ResNet-50 of Hara et al.'s 3D-ResNets-PyTorch (WRN-50, widening factor ``k``).

    Bottleneck blocks (layers 3-4-6-3, inner width 64k-128k-256k-512k, expansion 2); stem: 64-channel 7x7x7
    convolution.

    Paper: Hara, Kataoka & Satoh, "Can Spatiotemporal 3D CNNs Retrace the History of 2D CNNs and ImageNet?", CVPR 2018.

    Weights: ``kinetics400_2018`` (wideresnet-50-kinetics.pth, ``shortcut="B"``; local file, see `list_weights`).

    Args:
        num_classes: size of the classification head (``fc``); required, no default.
        k: widening factor of the blocks' inner width (64k channels in the first stage). Default: 2.
        shortcut: residual shortcut of the blocks that change shape, ``"A"`` (parameter-free: strided identity
            plus zero-padded channels) or ``"B"`` (1x1x1 conv + BN). Default: "B".
        dropout: dropout probability before ``fc`` (0 disables it). Default: 0.0.
        max_pool: keep the stem's 3x3x3 max pool (stride 2 in T, H and W). Default: True.

    Shape:
        - input: (N, 3, T, H, W) float in [0, 1] (normalized inside the `VideoClassifier` that
          `create_model` wraps around this backbone); any T, H, W >= 1 (the head pools adaptively);
          registry default 16 x 112 x 112.
        - output: (N, num_classes) logits.

    Examples:
        >>> model = create_model("wide_resnet3d_50", num_classes=101)
        >>> logits = model(torch.rand(2, 3, 16, 112, 112))
    """
    return hara_backbone(num_classes, block="bottleneck", layers=_RESNET_LAYERS[50],
                         planes=[64 * k, 128 * k, 256 * k, 512 * k], shortcut=shortcut, expansion=2,
                         stem=HaraStem(64, max_pool=max_pool), dropout=dropout)
