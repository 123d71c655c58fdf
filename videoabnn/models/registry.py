"""One registry for every model name: backbones, the ABNN composite and defended variants.

A builder returns either a :class:`StagedBackbone` (wrapped here in a :class:`VideoClassifier`
with the variant's normalization) or a finished ``nn.Module`` (composites). ``create_model``
records the arguments on the model so a checkpoint can rebuild it by name.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

log = logging.getLogger(__name__)

# Packages that register extra names (imported lazily on first lookup of an unknown name).
PLUGIN_MODULES = ("videoabnn.abnn", "videoabnn.defenses")
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
    weights: dict[str, tuple[str, str]] = field(default_factory=dict)  # tag -> (file name, url)

    def defaults(self) -> dict[str, Any]:
        """Input defaults of this variant (frames, crop size, mean, std)."""
        return {"frames": self.frames, "crop": self.crop, "mean": list(self.mean), "std": list(self.std),
                "family": self.family, "weights": sorted(self.weights)}


_REGISTRY: dict[str, ModelEntry] = {}
_plugins_loaded = False


def register_model(name: str, *, frames: int = 16, crop: int = 112,
                   mean: tuple[float, float, float] = KINETICS_MEAN,
                   std: tuple[float, float, float] = KINETICS_STD, family: str = "", description: str = "",
                   weights: dict[str, tuple[str, str]] | None = None) -> Callable:
    """Decorator registering ``builder(num_classes, **kwargs)`` under ``name``."""

    def decorate(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY and _REGISTRY[name].builder is not builder:
            old = _REGISTRY[name].builder
            if (old.__module__, old.__qualname__) != (builder.__module__, builder.__qualname__):
                raise ValueError(f"model name {name!r} is already registered by {old.__module__}")
        _REGISTRY[name] = ModelEntry(name, builder, frames, crop, tuple(mean), tuple(std), family,
                                     description or (builder.__doc__ or "").strip().split("\n")[0],
                                     dict(weights or {}))
        return builder

    return decorate


def _load_plugins() -> None:
    """Import the packages that register extra names (ABNN, defenses), once."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for module in PLUGIN_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as err:
            if err.name != module:
                raise
            log.debug("optional model plugin %s not present", module)


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


def model_defaults(name: str) -> dict[str, Any]:
    """Frames, crop size, normalization mean/std (and weight tags) of a registered model."""
    return get_entry(name).defaults()


def create_model(name: str, num_classes: int, pretrained: str | None = None, **kwargs: Any) -> nn.Module:
    """Build model ``name`` for ``num_classes`` classes; optionally load local weights.

    ``pretrained`` is a weights file (any supported format) or a tag such as ``"kinetics400"``
    resolved in the torch hub cache. ``mean``/``std`` override the normalization and
    ``post_stage(stage_index, channels) -> nn.Module | None`` inserts a module after the stem
    (index 0) and after each residual stage (1..4) of a backbone.
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
        from videoabnn.models.weights import load_pretrained, resolve_weights

        load_pretrained(model, resolve_weights(entry, pretrained))
    return model
