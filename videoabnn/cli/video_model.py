"""The model a command runs on a user's video: a registry model with released weights, or a videoabnn
checkpoint (any architecture, ABNN included), with its class names and input size."""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from videoabnn.threats import threat_model


@dataclass
class VideoModel:
    """A model in eval mode and what the tool needs to know about it."""

    model: nn.Module
    name: str
    classes: list[str]
    frames: int
    size: int
    description: str
    checkpoint: str | None = None
    digest: str | None = None

    def label_index(self, label: str | None, clean_probs: torch.Tensor) -> int:
        """``label`` (a class name or index) as an index; None: the clean top-1."""
        from videoabnn.engine.attack_specs import EvaluationError

        if label is None:
            return int(clean_probs.argmax())
        if label in self.classes:
            return self.classes.index(label)
        if label.isdigit() and int(label) < len(self.classes):
            return int(label)
        import difflib

        close = difflib.get_close_matches(label, self.classes, n=3)
        hint = f"; closest: {', '.join(close)}" if close else ""
        raise EvaluationError(f"--label: {label!r} is not a class of {self.name} (expected one of its "
                              f"{len(self.classes)} class names or an index below {len(self.classes)}){hint}")


def _class_names(path: str | None, num_classes: int, release: Sequence[str] = ()) -> list[str]:
    from videoabnn.engine.attack_specs import EvaluationError

    if path is None:
        return list(release) if len(release) == num_classes else [f"class {i}" for i in range(num_classes)]
    names = [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]
    if len(names) != num_classes:
        raise EvaluationError(f"--classes {path}: {len(names)} names, but the model has {num_classes} classes")
    return names


def _is_videoabnn_checkpoint(value: str | None) -> bool:
    from videoabnn.models.checkpoint import FORMAT
    from videoabnn.models.weights import read_checkpoint

    if value is None or not Path(value).is_file():
        return False
    obj = read_checkpoint(value)
    return isinstance(obj, dict) and obj.get("format") == FORMAT


def _from_checkpoint(args: argparse.Namespace) -> VideoModel:
    from videoabnn.models import load_model, model_defaults
    from videoabnn.utils.provenance import file_digest

    model = load_model(args.pretrained)
    name = model.videoabnn_spec["arch"]
    kwargs = model.videoabnn_spec["kwargs"]
    base = kwargs.get("target", name) if name == "abnn" else name
    defaults = model_defaults(base)
    num_classes = int(model.videoabnn_spec["num_classes"])
    return VideoModel(model, name, _class_names(args.classes, num_classes), defaults["frames"], defaults["crop"],
                      f"{name} from checkpoint {args.pretrained}", str(args.pretrained), file_digest(args.pretrained))


def _from_registry(args: argparse.Namespace) -> VideoModel:
    from videoabnn.engine.attack_specs import EvaluationError
    from videoabnn.models import create_model, get_entry
    from videoabnn.models.weights import resolve_weights
    from videoabnn.utils.provenance import file_digest

    if args.model is None:
        raise EvaluationError("--model: needed unless --pretrained is a videoabnn checkpoint; names: "
                              "videoabnn.models.list_models()")
    try:
        entry = get_entry(args.model)
    except KeyError as err:
        raise EvaluationError(f"--model: {err.args[0]}") from err
    release, path = None, None
    if args.pretrained is not None:
        path, release = resolve_weights(args.model, args.pretrained)
    num_classes = args.num_classes or (release.num_classes if release else 400)
    kwargs = dict(release.builder_kwargs) if release else {}
    if args.pretrained is None:
        warnings.warn(f"{args.model}: no --pretrained, so the weights are random", stacklevel=2)
    try:
        model = create_model(args.model, num_classes, pretrained=args.pretrained, **kwargs)
    except ValueError as err:  # weights that do not fit the architecture
        raise EvaluationError(f"--pretrained {args.pretrained}: {err}") from err
    what = release.describe() if release else (f"weights {path}" if path else "random weights")
    return VideoModel(model, args.model, _class_names(args.classes, num_classes, release.classes if release else ()),
                      entry.frames, entry.crop, f"{args.model}, {what}", str(path) if path else None,
                      file_digest(path) if path else None)


def load_video_model(args: argparse.Namespace) -> VideoModel:
    """The model named by ``--model``/``--pretrained`` (or the checkpoint), in eval mode, threat view applied."""
    from videoabnn.engine.attack_specs import EvaluationError

    loaded = _from_checkpoint(args) if _is_videoabnn_checkpoint(args.pretrained) else _from_registry(args)
    loaded.model.eval()
    threat = threat_model(args.threat)
    if not threat.accepts(loaded.model):
        raise EvaluationError(f"--threat {args.threat}: {loaded.name} has no {threat.title} view; it needs {threat.needs}")
    view = threat.view(loaded.model, _no_surrogate)
    if view is not loaded.model:
        loaded.model = view
        loaded.description += f" ({threat.title} view: {threat.about})"
    return loaded


def _no_surrogate() -> nn.Module:
    """A one-model tool has no surrogate (``--threat`` offers only the threat models that need none)."""
    from videoabnn.engine.attack_specs import EvaluationError

    raise EvaluationError("--threat: this tool attacks one model; no threat model needing a surrogate is offered")
