"""pytorchvideo backbones (X3D-XS/S/M, Slow R50) built with its own builders, in the stage view.

Heads are made input-size agnostic (adaptive average pooling replaces the fixed pool kernel) and
return logits (no softmax). ``norm`` selects the normalization layer class pytorchvideo uses.
Weights: pytorchvideo ``model_state`` checkpoints from local files (``pretrained="kinetics400"``
looks for the model-zoo file name in the torch hub cache; entries in ``models.pretrained``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from videoabnn.models.registry import register_model
from videoabnn.models.stages import StagedBackbone

PV_MEAN = (0.45, 0.45, 0.45)
PV_STD = (0.225, 0.225, 0.225)
PV_PREFIXES = [("blocks.0.", "stem."), ("blocks.5.", "head.")] + [(f"blocks.{i}.", f"stages.{i - 1}.")
                                                                   for i in range(1, 5)]
NORMS: dict[str, Callable[..., nn.Module]] = {"batchnorm": nn.BatchNorm3d}


def _norm(norm: str | Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    if callable(norm):
        return norm
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; known: {sorted(NORMS)} (or pass a norm class)")
    return NORMS[norm]


@torch.no_grad()
def _stage_channels(blocks: list[nn.Module]) -> list[int]:
    """Output channels of stem + stages, from one forward of a 1x3x1x32x32 probe (eval mode)."""
    x = torch.zeros(1, 3, 1, 32, 32)
    channels = []
    modes = [b.training for b in blocks]
    for block in blocks:
        block.eval()
        x = block(x)
        channels.append(int(x.shape[1]))
    for block, mode in zip(blocks, modes):
        block.train(mode)
    return channels


def pytorchvideo_backbone(net: nn.Module) -> StagedBackbone:
    """Split a pytorchvideo ``Net`` (blocks: stem, 4 stages, head) into a :class:`StagedBackbone`."""
    blocks = list(net.blocks)
    if len(blocks) != 6:
        raise ValueError(f"expected a pytorchvideo Net with 6 blocks (stem, 4 stages, head), got {len(blocks)}")
    head = blocks[5]
    inner = getattr(head.pool, "pool", None)  # X3D: ProjectedPool(pre_conv, ..., pool, post_conv)
    if isinstance(inner, nn.Module):
        head.pool.pool = nn.AdaptiveAvgPool3d(1)
    else:
        head.pool = nn.AdaptiveAvgPool3d(1)
    head.activation = None
    return StagedBackbone(blocks[0], blocks[1:5], head, _stage_channels(blocks[:5]), family="pytorchvideo",
                          native_prefixes=PV_PREFIXES, classifier="head.proj")


_X3D = {"x3d_xs": (4, 160, "X3D_XS.pyth"), "x3d_s": (13, 160, "X3D_S.pyth"), "x3d_m": (16, 224, "X3D_M.pyth")}


_X3D_PAPER = 'Feichtenhofer, "X3D: Expanding Architectures for Efficient Video Recognition", CVPR 2020.'
# The docstring of each loop-generated X3D builder (the same template, as static text, is ``_register_x3d``'s).
_X3D_DOC = """pytorchvideo {title}: X3D for {frames}-frame clips of {crop} x {crop} pixels (``create_x3d``).

    Paper: {paper}

    Weights: ``kinetics400`` ({filename}, pytorchvideo model zoo; local file or the torch hub cache, see
    `list_weights`).

    Args:
        num_classes: size of the classification head (``head.proj``); required, no default.
        dropout: dropout probability before the head's projection. Default: 0.5.
        norm: normalization layer of every block: ``"batchnorm"`` (`torch.nn.BatchNorm3d`) or a norm class or
            callable (called as ``norm(num_features=C, ...)``, like `torch.nn.BatchNorm3d`). Default: "batchnorm".
        depth_factor: X3D's depth expansion factor (blocks per stage). Default: 2.2.
        width_factor: X3D's width expansion factor (channels). Default: 2.0.

    Shape:
        - input: (N, 3, T, H, W) float in [0, 1] (normalized inside the `VideoClassifier` that
          `create_model` wraps around this backbone, with pytorchvideo's mean/std); any T, H, W >= 1 (the
          head pools adaptively); registry default {frames} x {crop} x {crop}.
        - output: (N, num_classes) logits (no softmax).

    Examples:
        >>> model = create_model("{name}", num_classes=101)
        >>> logits = model(torch.rand(2, 3, {frames}, {crop}, {crop}))
    """


def _register_x3d(name: str) -> None:
    """Register the pytorchvideo X3D variant ``name`` (``x3d_xs``: 4 x 160 x 160, ``x3d_s``: 13 x 160 x 160,
    ``x3d_m``: 16 x 224 x 224 clips).

    The registered builder ``<name>(num_classes, dropout, norm, depth_factor, width_factor)`` gets this text as
    its docstring, with the variant filled in (``_X3D_DOC``). The three variants share the depth and width
    factors; they differ in the clip length and crop size the network is built for.

    Paper: Feichtenhofer, "X3D: Expanding Architectures for Efficient Video Recognition", CVPR 2020.

    Weights: ``kinetics400`` (X3D_XS.pyth, X3D_S.pyth, X3D_M.pyth; pytorchvideo model zoo; local file or the
    torch hub cache, see `list_weights`).

    Args:
        name: ``x3d_xs``, ``x3d_s`` or ``x3d_m`` (fixed by the registered name, not a builder argument).
        num_classes: size of the classification head (``head.proj``); required, no default.
        dropout: dropout probability before the head's projection. Default: 0.5.
        norm: normalization layer of every block: ``"batchnorm"`` (`torch.nn.BatchNorm3d`) or a norm class or
            callable (called as ``norm(num_features=C, ...)``, like `torch.nn.BatchNorm3d`). Default: "batchnorm".
        depth_factor: X3D's depth expansion factor (blocks per stage). Default: 2.2.
        width_factor: X3D's width expansion factor (channels). Default: 2.0.

    Shape:
        - input: (N, 3, T, H, W) float in [0, 1] (normalized inside the `VideoClassifier` that
          `create_model` wraps around this backbone, with pytorchvideo's mean/std); any T, H, W >= 1 (the
          head pools adaptively); registry default: the variant's clip size above.
        - output: (N, num_classes) logits (no softmax).

    Examples:
        >>> model = create_model("x3d_s", num_classes=101)
        >>> logits = model(torch.rand(2, 3, 13, 160, 160))
    """
    frames, crop, filename = _X3D[name]

    @register_model(name, frames=frames, crop=crop, mean=PV_MEAN, std=PV_STD, family="pytorchvideo",
                    description=f"pytorchvideo {name.upper()} ({frames}x{crop})")
    def build(num_classes: int, dropout: float = 0.5, norm: str | Callable = "batchnorm",
              depth_factor: float = 2.2, width_factor: float = 2.0) -> StagedBackbone:
        from pytorchvideo.models.x3d import create_x3d  # imported on use: pytorchvideo is slow to import

        net = create_x3d(input_clip_length=frames, input_crop_size=crop, model_num_class=num_classes,
                         dropout_rate=dropout, norm=_norm(norm), depth_factor=depth_factor,
                         width_factor=width_factor, head_activation=None)
        return pytorchvideo_backbone(net)

    build.__name__ = build.__qualname__ = f"build_{name}"
    build.__doc__ = _X3D_DOC.format(title=name.upper().replace("_", "-"), name=name, frames=frames, crop=crop,
                                    filename=filename, paper=_X3D_PAPER)


for _name in _X3D:
    _register_x3d(_name)


@register_model("slow_r50", frames=8, crop=224, mean=PV_MEAN, std=PV_STD, family="pytorchvideo")
def build_slow_r50(num_classes: int, dropout: float = 0.5, norm: str | Callable = "batchnorm") -> StagedBackbone:
    """pytorchvideo Slow R50 (8x8): the slow pathway of SlowFast, a 3D ResNet-50 with a 1x7x7 stem.

    Built by pytorchvideo's ``create_resnet`` (depth 50, stem kernel 1x7x7); temporal convolutions only in the
    last two stages, as the slow pathway has them.

    Paper: Feichtenhofer, Fan, Malik & He, "SlowFast Networks for Video Recognition", ICCV 2019.

    Weights: ``kinetics400`` (SLOW_8x8_R50.pyth, pytorchvideo model zoo; local file or the torch hub cache, see
    `list_weights`).

    Args:
        num_classes: size of the classification head (``head.proj``); required, no default.
        dropout: dropout probability before the head's projection. Default: 0.5.
        norm: normalization layer of every block: ``"batchnorm"`` (`torch.nn.BatchNorm3d`) or a norm class or
            callable (called as ``norm(num_features=C, ...)``, like `torch.nn.BatchNorm3d`). Default: "batchnorm".

    Shape:
        - input: (N, 3, T, H, W) float in [0, 1] (normalized inside the `VideoClassifier` that
          `create_model` wraps around this backbone, with pytorchvideo's mean/std); any T, H, W >= 1 (the
          head pools adaptively); registry default 8 x 224 x 224.
        - output: (N, num_classes) logits (no softmax).

    Examples:
        >>> model = create_model("slow_r50", num_classes=101)
        >>> logits = model(torch.rand(2, 3, 8, 224, 224))
    """
    from pytorchvideo.models.resnet import create_resnet

    net = create_resnet(model_depth=50, model_num_class=num_classes, dropout_rate=dropout, norm=_norm(norm),
                        stem_conv_kernel_size=(1, 7, 7), head_pool_kernel_size=(8, 7, 7), head_activation=None)
    return pytorchvideo_backbone(net)
