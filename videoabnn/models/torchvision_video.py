"""torchvision video ResNets (r3d_18, mc3_18, r2plus1d_18) in the stage view.

Built with ``weights=None``; Kinetics-400 weights come from a local file or the torch hub cache
(``pretrained="kinetics400"`` looks for the official file name in ``<hub dir>/checkpoints``).
"""

from __future__ import annotations

from torchvision.models import video as tv_video

from videoabnn.models.registry import KINETICS_MEAN, KINETICS_STD, register_model
from videoabnn.models.stages import ClassifierHead, StagedBackbone

TV_PREFIXES = [("stem.", "stem."), ("fc.", "head.fc.")] + [(f"layer{i}.", f"stages.{i - 1}.") for i in range(1, 5)]
TV_ARCHS = ("r3d_18", "mc3_18", "r2plus1d_18")  # weight entries: videoabnn.models.pretrained


def torchvision_backbone(arch: str, num_classes: int, dropout: float = 0.0) -> StagedBackbone:
    """Wrap a torchvision VideoResNet's stem/layers/fc in a :class:`StagedBackbone`."""
    net = getattr(tv_video, arch)(weights=None, num_classes=num_classes)
    head = ClassifierHead(net.fc.in_features, num_classes, dropout)
    head.fc = net.fc
    stages = [net.layer1, net.layer2, net.layer3, net.layer4]
    channels = [net.stem[-2].num_features] + [stage[-1].conv2[1].num_features for stage in stages]
    return StagedBackbone(net.stem, stages, head, channels, family="torchvision", native_prefixes=TV_PREFIXES)


_TV_DESIGN = {
    "r3d_18": "R3D-18: a 3D ResNet-18 with full 3x3x3 convolutions in every block",
    "mc3_18": "MC3-18: mixed convolutions, 3D in the stem and layer1, 1x3x3 (2D) in layers 2-4",
    "r2plus1d_18": "R(2+1)D-18: each 3x3x3 convolution factorized into a 1x3x3 spatial and a 3x1x1 temporal one",
}
_TV_FILES = {"r3d_18": "r3d_18-b3b3357e.pth", "mc3_18": "mc3_18-a90a0ba3.pth",
             "r2plus1d_18": "r2plus1d_18-91a641e6.pth"}
# The docstring of each loop-generated builder (the same template, as static text, is ``_register``'s docstring).
_TV_DOC = """torchvision {arch}, {design}.

    Paper: Tran et al., "A Closer Look at Spatiotemporal Convolutions for Action Recognition", CVPR 2018.

    Weights: ``kinetics400`` ({file}, torchvision KINETICS400_V1; local file or the torch hub cache, see
    `list_weights`).

    Args:
        num_classes: size of the classification head (``fc``); required, no default.
        dropout: dropout probability before ``fc`` (0 disables it; torchvision's model has none). Default: 0.0.

    Shape:
        - input: (N, 3, T, H, W) float in [0, 1] (normalized inside the `VideoClassifier` that
          `create_model` wraps around this backbone, with torchvision's Kinetics mean/std); any T, H, W >= 1
          (the head pools adaptively); registry default 16 x 112 x 112.
        - output: (N, num_classes) logits.

    Examples:
        >>> model = create_model("{arch}", num_classes=101)
        >>> logits = model(torch.rand(2, 3, 16, 112, 112))
    """


def _register(arch: str) -> None:
    """Register the torchvision video ResNet ``arch`` (``r3d_18``, ``mc3_18`` or ``r2plus1d_18``).

    The registered builder ``<arch>(num_classes, dropout)`` gets this text as its docstring, with the arch filled
    in (``_TV_DOC``): ``r3d_18`` uses full 3x3x3 convolutions, ``mc3_18`` 3D convolutions only up to layer1 and 2D
    ones after, ``r2plus1d_18`` (2+1)D factorized convolutions.

    Paper: Tran et al., "A Closer Look at Spatiotemporal Convolutions for Action Recognition", CVPR 2018.

    Weights: ``kinetics400`` (torchvision KINETICS400_V1; local file or the torch hub cache, see `list_weights`).

    Args:
        arch: torchvision model name, one of ``TV_ARCHS`` (fixed by the registered name, not a builder argument).
        num_classes: size of the classification head (``fc``); required, no default.
        dropout: dropout probability before ``fc`` (0 disables it; torchvision's model has none). Default: 0.0.

    Shape:
        - input: (N, 3, T, H, W) float in [0, 1] (normalized inside the `VideoClassifier` that
          `create_model` wraps around this backbone, with torchvision's Kinetics mean/std); any T, H, W >= 1
          (the head pools adaptively); registry default 16 x 112 x 112.
        - output: (N, num_classes) logits.

    Examples:
        >>> model = create_model("r2plus1d_18", num_classes=101)
        >>> logits = model(torch.rand(2, 3, 16, 112, 112))
    """

    @register_model(arch, frames=16, crop=112, mean=KINETICS_MEAN, std=KINETICS_STD, family="torchvision",
                    description=f"torchvision {arch} (Kinetics-400 weights from a local file)")
    def build(num_classes: int, dropout: float = 0.0) -> StagedBackbone:
        return torchvision_backbone(arch, num_classes, dropout)

    build.__name__ = build.__qualname__ = f"build_{arch}"
    build.__doc__ = _TV_DOC.format(arch=arch, design=_TV_DESIGN[arch], file=_TV_FILES[arch])


for _arch in TV_ARCHS:
    _register(_arch)
