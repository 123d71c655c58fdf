"""Pretrained weights from local files: format detection, key mapping, head re-initialisation.

Formats: torchvision video state dicts, pytorchvideo (``model_state``), 3D-ResNets-PyTorch
(``state_dict``/``arch``, ``module.`` prefixes) and videoabnn checkpoints. Nothing is downloaded.
"""

from __future__ import annotations

import logging
import os
import pickle
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from videoabnn.models.registry import ModelEntry

log = logging.getLogger(__name__)
MAX_LISTED = 20


@dataclass
class LoadReport:
    """What ``load_pretrained`` did: detected format, keys loaded, and whether the head was reset."""

    path: str
    format: str
    loaded: int
    head_reinitialised: bool = False
    kept_at_init: list[str] = field(default_factory=list)


def read_checkpoint(path: str | os.PathLike, trusted: bool = False) -> Any:
    """``torch.load`` on CPU, tensors-only unless ``trusted``; errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=not trusted)
    except pickle.UnpicklingError as err:
        raise ValueError(f"{path}: holds objects other than tensors and plain containers; if you trust the "
                         f"file, load it with trusted=True ({err})") from err
    except (RuntimeError, EOFError) as err:
        raise ValueError(f"{path}: not a readable torch checkpoint: {err}") from err


def _is_state_dict(obj: Any) -> bool:
    return isinstance(obj, dict) and len(obj) > 0 and all(isinstance(v, torch.Tensor) for v in obj.values())


def unwrap_checkpoint(obj: Any, path: str = "<checkpoint>") -> tuple[str, dict[str, torch.Tensor], dict]:
    """Detect the format of a loaded checkpoint; return ``(format, state_dict, info)``."""
    if isinstance(obj, dict) and obj.get("format") == "videoabnn":
        return "videoabnn", obj["state_dict"], {"arch": obj.get("arch")}
    if isinstance(obj, dict) and _is_state_dict(obj.get("model_state")):
        return "pytorchvideo", obj["model_state"], {}
    if isinstance(obj, dict) and _is_state_dict(obj.get("state_dict")):
        return "3d-resnets-pytorch", obj["state_dict"], {"arch": obj.get("arch")}
    if isinstance(obj, dict) and _is_state_dict(obj.get("model")):
        return "state_dict", obj["model"], {}
    if _is_state_dict(obj):
        return "state_dict", obj, {}
    keys = sorted(obj)[:10] if isinstance(obj, dict) else type(obj).__name__
    raise ValueError(f"{path}: unrecognised checkpoint format (top-level: {keys}); expected a state dict, "
                     "'model_state' (pytorchvideo), 'state_dict' (3D-ResNets-PyTorch) or a videoabnn checkpoint")


def _strip_module(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Remove DataParallel/DDP ``module.`` prefixes."""
    if state and all(k.startswith("module.") for k in state):
        return {k[len("module."):]: v for k, v in state.items()}
    return state


def _map_native(state: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """Rename a backbone family's native keys (e.g. ``layer1.``) to the model's (``backbone.stages.0.``)."""
    own = model.state_dict()
    if any(k in own for k in state):
        return state
    backbone = getattr(model, "backbone", None)
    prefixes = sorted(getattr(backbone, "native_prefixes", []), key=lambda p: -len(p[0]))
    if backbone is None:
        return state
    mapped = {}
    for key, value in state.items():
        new = key
        for native, ours in prefixes:
            if key.startswith(native):
                new = ours + key[len(native):]
                break
        mapped["backbone." + new] = value
    return mapped


def classifier_path(model: nn.Module) -> str | None:
    """Dotted path of the final linear layer of a registry model (None if it has none)."""
    if hasattr(model, "classifier_path"):
        return model.classifier_path()
    backbone = getattr(model, "backbone", None)
    return f"backbone.{backbone.classifier}" if hasattr(backbone, "classifier") else None


def _optional_missing(key: str) -> bool:
    """Keys a native checkpoint may lack: normalization buffers, post-stage modules, BN counters."""
    return (key.endswith("num_batches_tracked") or ".normalize." in f".{key}" or ".post." in f".{key}")


def _format_keys(keys: list[str]) -> str:
    shown = ", ".join(keys[:MAX_LISTED])
    return shown + (f", ... ({len(keys) - MAX_LISTED} more)" if len(keys) > MAX_LISTED else "")


def _shortcut_hint(missing: list[str], unexpected: list[str]) -> str:
    """Point at the Hara shortcut type when only downsample layers disagree."""
    if unexpected and all(".downsample." in k for k in unexpected) and not missing:
        return "\n  hint: the checkpoint has shortcut-B (conv) downsample layers: build the model with shortcut='B'"
    if missing and all(".downsample." in k for k in missing) and not unexpected:
        return "\n  hint: the checkpoint has no downsample layers (shortcut A): build the model with shortcut='A'"
    return ""


def load_state(model: nn.Module, state: dict[str, torch.Tensor], source: str, fmt: str = "state_dict",
               arch: str | None = None) -> LoadReport:
    """Load a (native or videoabnn) state dict into ``model``; reset the head on a class-count change."""
    state = _map_native(_strip_module(dict(state)), model)
    own = model.state_dict()
    head = classifier_path(model)
    head_keys = {f"{head}.weight", f"{head}.bias"} if head else set()
    reinit = False
    mismatched = []
    for key in list(state):
        if key in own and state[key].shape != own[key].shape:
            if key in head_keys:
                reinit = True
                del state[key]
            else:
                mismatched.append(f"{key}: checkpoint {tuple(state[key].shape)} vs model {tuple(own[key].shape)}")
    missing = [k for k in own if k not in state and k not in head_keys and not _optional_missing(k)]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected or mismatched:
        arch_note = f" (checkpoint arch: {arch})" if arch else ""
        raise ValueError(
            f"{source}: {fmt} checkpoint{arch_note} does not fit this model architecture.\n"
            f"  missing keys ({len(missing)}): {_format_keys(missing)}\n"
            f"  unexpected keys ({len(unexpected)}): {_format_keys(unexpected)}\n"
            f"  shape mismatches ({len(mismatched)}): {_format_keys(mismatched)}{_shortcut_hint(missing, unexpected)}")
    if head_keys and not head_keys <= set(state):
        reinit = True
    result = model.load_state_dict(state, strict=False)
    if reinit and head:
        model.get_submodule(head).reset_parameters()
        out = model.get_submodule(head).out_features
        message = (f"{source}: classifier head '{head}' re-initialised (checkpoint has a different number of "
                   f"classes than the model's {out}); fine-tune before use")
        warnings.warn(message, stacklevel=3)
        log.warning(message)
    kept = [k for k in result.missing_keys if not k.endswith("num_batches_tracked")]
    return LoadReport(source, fmt, len(state), reinit, kept)


def load_pretrained(model: nn.Module, path: str | os.PathLike, trusted: bool = False) -> LoadReport:
    """Load weights from a local file of any supported format into ``model`` (format auto-detected)."""
    obj = read_checkpoint(path, trusted=trusted)
    fmt, state, info = unwrap_checkpoint(obj, str(path))
    report = load_state(model, state, str(path), fmt, info.get("arch"))
    log.info("loaded %s weights from %s (%d tensors)", fmt, path, report.loaded)
    return report


def hub_checkpoint_dir() -> Path:
    """The torch hub cache folder where downloaded weight files live (``<hub>/checkpoints``)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def resolve_weights(entry: ModelEntry, pretrained: str | os.PathLike) -> Path:
    """Turn a weights tag (``"kinetics400"``) or a path into an existing local file, or explain what to do."""
    tag = str(pretrained)
    if tag in entry.weights:
        filename, url = entry.weights[tag]
        path = hub_checkpoint_dir() / filename
        if not path.is_file():
            raise FileNotFoundError(
                f"{entry.name} pretrained={tag!r}: weight file missing. Put {filename} at {path} "
                f"(download {url} on a machine with internet), or pass pretrained=<path to the file>.")
        return path
    path = Path(pretrained).expanduser()
    if not path.is_file():
        tags = f"; known weight tags for {entry.name}: {sorted(entry.weights)}" if entry.weights else ""
        raise FileNotFoundError(f"{entry.name}: pretrained weights file not found: {path}{tags}")
    return path
