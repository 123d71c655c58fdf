"""videoabnn checkpoints: architecture name + builder arguments + weights, rebuilt via the registry."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from videoabnn.models.registry import SPEC_ATTR, create_model, weights_follow
from videoabnn.models.weights import CheckpointError, read_checkpoint
from videoabnn.utils import atomic_torch_save

FORMAT = "videoabnn"
RESERVED = frozenset({"format", "version", "arch", "kwargs", "num_classes", "state_dict", "normalization"})


def _normalization(model: nn.Module) -> dict[str, Any]:
    """Mean/std of every Normalize inside the model, keyed by module path ('' for the model itself)."""
    out = {}
    for name, module in model.named_modules():
        if type(module).__name__ == "Normalize":
            prefix = name.rsplit(".normalize", 1)[0] if name.endswith(".normalize") else ""
            out[prefix] = {"mean": module.mean.flatten().tolist(), "std": module.std.flatten().tolist()}
    return out


def _check_serializable(value: Any, where: str) -> None:
    if callable(value) and not isinstance(value, type):
        raise TypeError(f"save_model: builder argument {where} is a callable ({value!r}); register a named "
                        "builder with register_model so the checkpoint can rebuild it from plain arguments")
    if isinstance(value, dict):
        for k, v in value.items():
            _check_serializable(v, f"{where}.{k}")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_serializable(v, f"{where}[{i}]")


def save_model(model: nn.Module, path: str | os.PathLike, **extra: Any) -> Path:
    """Atomically save a registry model with its arch, kwargs, weights, normalization and ``extra`` keys.

    The checkpoint (``format: "videoabnn"``) holds what `create_model` recorded on the model, so
    `load_model` rebuilds it by name without the original weight files.

    Args:
        model: a model built by `create_model` (or `load_model`); any other module raises ValueError.
        path: file to write (written to a temporary file and renamed, so a crash leaves no partial file).
        **extra: further entries stored beside the model (e.g. ``epoch``, ``config``); the names ``format``,
            ``version``, ``arch``, ``kwargs``, ``num_classes``, ``state_dict`` and ``normalization`` are reserved.

    Returns:
        The path written.

    Examples:
        >>> model = create_model("tiny_r3d", num_classes=10)
        >>> save_model(model, "tiny.pt", epoch=3)
        >>> same = load_model("tiny.pt")
    """
    spec = getattr(model, SPEC_ATTR, None)
    if not spec:
        raise ValueError("save_model: the model was not built by videoabnn.models.create_model, so it cannot be "
                         "rebuilt by name; build it with create_model(...)")
    clash = RESERVED & set(extra)
    if clash:
        raise ValueError(f"save_model: extra keys {sorted(clash)} are reserved")
    _check_serializable(spec["kwargs"], "kwargs")
    payload = {"format": FORMAT, "version": 1, "arch": spec["arch"], "kwargs": spec["kwargs"],
               "num_classes": spec["num_classes"],
               "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
               "normalization": _normalization(model)}
    payload.update(extra)
    return atomic_torch_save(payload, path)


def load_checkpoint(path: str | os.PathLike, trusted: bool = False) -> dict[str, Any]:
    """Read a videoabnn checkpoint dict (raises if the file is another format)."""
    obj = read_checkpoint(path, trusted=trusted)
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a videoabnn checkpoint (no format='videoabnn'); for third-party weights "
                         "use create_model(name, num_classes, pretrained=path) or load_pretrained")
    for key in ("arch", "kwargs", "num_classes", "state_dict"):
        if key not in obj:
            raise CheckpointError(f"{path}: videoabnn checkpoint lacks the '{key}' entry")
    return obj


def load_model(path: str | os.PathLike, map_location: str | torch.device = "cpu", trusted: bool = False) -> nn.Module:
    """Rebuild a model saved by :func:`save_model` through the registry; returned in eval mode.

    The architecture is rebuilt from the recorded name and arguments (an ABNN's substitute too, without its
    original weight file), then every weight is loaded strictly from the checkpoint.

    Args:
        path: a videoabnn checkpoint written by `save_model`; third-party weight files raise `CheckpointError`
            (load those with ``create_model(name, num_classes, pretrained=path)``).
        map_location: device the returned model is moved to. Default: "cpu".
        trusted: allow full unpickling of the file (only for files you trust); otherwise it is read with
            ``torch.load(weights_only=True)``. Default: False.

    Returns:
        The model, in eval mode.

    Examples:
        >>> model = load_model("work_dirs/run/best.pt", map_location="cuda")
        >>> logits = model(clips)
    """
    ckpt = load_checkpoint(path, trusted=trusted)
    with weights_follow():  # the state dict below holds every weight (an ABNN's substitute too)
        model = create_model(ckpt["arch"], num_classes=int(ckpt["num_classes"]), **dict(ckpt["kwargs"]))
    try:
        model.load_state_dict(ckpt["state_dict"], strict=True)
    except RuntimeError as err:
        raise CheckpointError(f"{path}: weights do not fit the rebuilt '{ckpt['arch']}' model: {err}") from err
    return model.to(map_location).eval()
