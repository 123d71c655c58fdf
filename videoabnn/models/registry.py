"""One registry for every model name: backbones, the ABNN composite and defended variants.

A builder returns either a :class:`StagedBackbone` (wrapped here in a :class:`VideoClassifier`
with the variant's normalization) or a finished ``nn.Module`` (composites). ``create_model``
records the arguments on the model so a checkpoint can rebuild it by name.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from torch import nn

from videoabnn.models.weights import load_weights

log = logging.getLogger(__name__)

# Packages that register extra model names declare an entry point in this group (setup.cfg); they are
# imported on the first lookup of an unknown name, so this layer never names them.
PLUGIN_GROUP = "videoabnn.models"
# Builder arguments that name weight files: never stored in a checkpoint's kwargs.
PATH_KWARGS = frozenset({"pretrained", "substitute_checkpoint", "target_pretrained", "checkpoint"})
SPEC_ATTR = "videoabnn_spec"

KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)


@dataclass(frozen=True)
class ModelEntry:
    """A registered model: its builder and the input it expects."""

    name: str
    builder: Callable[..., nn.Module]
    frames: int
    crop: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    family: str = ""
    description: str = ""

    def defaults(self, weights: str | None = None) -> dict[str, Any]:
        """Input defaults of this variant (frames, crop size, mean, std; those of ``weights`` when given)."""
        from videoabnn.models.pretrained import get_weights, list_weights

        out = {"frames": self.frames, "crop": self.crop, "mean": list(self.mean), "std": list(self.std),
               "family": self.family, "weights": list_weights(self.name)}
        if weights is not None:
            entry = get_weights(self.name, weights)
            out.update({"mean": list(entry.mean), "std": list(entry.std), "input_scale": entry.input_scale,
                        "num_classes": entry.num_classes, "file": entry.file, "url": entry.url,
                        "release": entry.release, "builder_kwargs": dict(entry.builder_kwargs)})
        return out


_REGISTRY: dict[str, ModelEntry] = {}
_WEIGHTS_FOLLOW = contextvars.ContextVar("videoabnn_weights_follow", default=False)


@contextlib.contextmanager
def weights_follow() -> Iterator[None]:
    """Builds inside this block get their weights next (from a checkpoint), so builders skip their
    'randomly initialised' notes, which would be false."""
    token = _WEIGHTS_FOLLOW.set(True)
    try:
        yield
    finally:
        _WEIGHTS_FOLLOW.reset(token)


def weights_follow_active() -> bool:
    """True inside :func:`weights_follow`."""
    return _WEIGHTS_FOLLOW.get()


_plugins_loaded = False


def register_model(name: str, *, frames: int = 16, crop: int = 112,
                   mean: tuple[float, float, float] = KINETICS_MEAN,
                   std: tuple[float, float, float] = KINETICS_STD, family: str = "", description: str = "") -> Callable:
    """Decorator registering ``builder(num_classes, **kwargs)`` under ``name``."""

    def decorate(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY and _REGISTRY[name].builder is not builder:
            old = _REGISTRY[name].builder
            if (old.__module__, old.__qualname__) != (builder.__module__, builder.__qualname__):
                raise ValueError(f"model name {name!r} is already registered by {old.__module__}")
        _REGISTRY[name] = ModelEntry(name, builder, frames, crop, tuple(mean), tuple(std), family,
                                     description or (builder.__doc__ or "").strip().split("\n")[0])
        return builder

    return decorate


def _load_plugins() -> None:
    """Import the packages that register extra names (declared as ``videoabnn.models`` entry points), once."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for point in metadata.entry_points(group=PLUGIN_GROUP):
        point.load()


def get_entry(name: str) -> ModelEntry:
    """The registry entry for ``name``; unknown names list the known ones."""
    if name not in _REGISTRY:
        _load_plugins()
    if name not in _REGISTRY:
        raise KeyError(f"unknown model {name!r}; known models: {', '.join(list_models())}")
    return _REGISTRY[name]


def list_models(family: str | None = None) -> list[str]:
    """Sorted names of all registered models (optionally of one family)."""
    _load_plugins()
    return sorted(n for n, e in _REGISTRY.items() if family is None or e.family == family)


def model_defaults(name: str, weights: str | None = None) -> dict[str, Any]:
    """Frames, crop size, normalization mean/std and weight tags of a registered model; with ``weights``
    (a tag of :func:`videoabnn.models.list_weights`) the normalization and metadata of those weights."""
    return get_entry(name).defaults(weights)


def create_model(name: str, num_classes: int, pretrained: str | None = None, **kwargs: Any) -> nn.Module:
    """Build model ``name`` for ``num_classes`` classes; optionally load local weights.

    ``pretrained`` is a weights file (any supported format), a tag such as ``"kinetics400_2018"``
    resolved in the torch hub cache, or ``"tag:path"``; the model then normalizes its input as those
    weights were trained (an explicit ``mean``/``std`` wins, and either is recorded in the model's
    spec, so a saved checkpoint restores it). ``mean``/``std`` override the normalization and
    ``post_stage(stage_index, channels) -> nn.Module | None`` inserts a module after the stem
    (index 0) and after each residual stage (1..4) of a backbone. The arguments are recorded on the
    model (weight paths excepted), so `save_model` writes a checkpoint `load_model` rebuilds by name.

    Args:
        name: a registered model name (`list_models`); an unknown name lists the known ones.
        num_classes: number of output classes, a positive int; no default.
        pretrained: weights to load: a file path, a tag of `list_weights` (looked up in the torch hub cache's
            ``checkpoints`` folder) or ``"tag:path"``; never downloaded. Default: None (random init).
        **kwargs: the builder's own arguments (see each builder's docstring, e.g. ``shortcut``, ``dropout``),
            plus, for backbones only: ``mean`` and ``std`` (3 floats each, on [0, 1] input; default: the
            registered variant's or the weights'), and ``post_stage`` (a callable, see above; not saved by
            `save_model`).

    Shape:
        - input: (N, 3, T, H, W) float in [0, 1]; frames and crop the variant expects: `model_defaults`.
        - output: (N, num_classes) logits.

    Examples:
        >>> model = create_model("resnext3d_101", num_classes=101)
        >>> logits = model(torch.rand(2, 3, 16, 112, 112))
        >>> model = create_model("resnet3d_18", 400, pretrained="kinetics400_2018", shortcut="A")
    """
    from videoabnn.models.classifier import VideoClassifier
    from videoabnn.models.stages import StagedBackbone

    entry = get_entry(name)
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"create_model({name!r}): num_classes must be a positive int, got {num_classes!r}")
    build_kwargs = dict(kwargs)
    mean = build_kwargs.pop("mean", entry.mean)
    std = build_kwargs.pop("std", entry.std)
    post_stage = build_kwargs.pop("post_stage", None)
    try:
        model = entry.builder(num_classes=num_classes, **build_kwargs)
    except TypeError as err:
        raise TypeError(f"create_model({name!r}): bad builder arguments {sorted(build_kwargs)}: {err}") from err
    if isinstance(model, StagedBackbone):
        if post_stage is not None:
            model.set_post_stage(post_stage)
        model = VideoClassifier(model, mean=mean, std=std)
    elif post_stage is not None or "mean" in kwargs or "std" in kwargs:
        raise TypeError(f"create_model({name!r}): mean/std/post_stage apply to backbones only")
    spec = {"arch": name, "num_classes": num_classes,
            "kwargs": {k: v for k, v in kwargs.items() if k not in PATH_KWARGS}}
    refined = getattr(model, SPEC_ATTR, None) or {}
    if "arch" not in refined:  # a composite builder's own resolved kwargs (not an inner create_model's spec)
        spec.update(refined)
    setattr(model, SPEC_ATTR, spec)
    if pretrained is not None:
        norm = load_weights(model, name, pretrained, kwargs.get("mean"), kwargs.get("std"))
        if norm:  # recorded so that a saved checkpoint rebuilds the same normalization
            spec["kwargs"].update(mean=norm["mean"], std=norm["std"])
    return model
