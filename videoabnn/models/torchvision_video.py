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


def _register(arch: str) -> None:
    @register_model(arch, frames=16, crop=112, mean=KINETICS_MEAN, std=KINETICS_STD, family="torchvision",
                    description=f"torchvision {arch} (Kinetics-400 weights from a local file)")
    def build(num_classes: int, dropout: float = 0.0) -> StagedBackbone:
        return torchvision_backbone(arch, num_classes, dropout)

    build.__name__ = build.__qualname__ = f"build_{arch}"


for _arch in TV_ARCHS:
    _register(_arch)
