"""Pretrained weights from local files: reading, format detection, key mapping, head re-initialisation,
and the normalization the weights were trained with.

Formats: torchvision video state dicts, pytorchvideo (``model_state``), 3D-ResNets-PyTorch
(``state_dict``/``arch``, ``module.`` prefixes), videoabnn checkpoints and flax variables in a plain
pickle of numpy arrays (DeepMind's I3D release), read by an unpickler that admits numpy arrays and
nothing else. Nothing is downloaded. ``read_checkpoint`` is the one reader of checkpoint files in the
project (errors: ``CheckpointError``).
"""

from __future__ import annotations

import logging
import os
import pickle
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from videoabnn.errors import UserError
from videoabnn.models import pretrained as registry_of_weights
from videoabnn.models.pretrained import Weights

log = logging.getLogger(__name__)
MAX_LISTED = 20
PICKLE_OR_ZIP = (b"PK\x03\x04", b"\x80")  # torch.save's zip container, or a legacy pickle
TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # the first pickle of a legacy (non-zip) torch.save file


class CheckpointError(UserError, ValueError):
    """A checkpoint or weights file is missing, unreadable or does not fit; the message names the file."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """The checkpoint or weights file does not exist."""


@dataclass
class LoadReport:
    """What ``load_pretrained`` did: detected format, keys loaded, and whether the head was reset."""

    path: str
    format: str
    loaded: int
    head_reinitialised: bool = False
    kept_at_init: list[str] = field(default_factory=list)
    source_classes: int | None = None  # classes of the checkpoint's own head


def _numpy_globals() -> dict[tuple[str, str], Any]:
    """The only callables a plain weights pickle may name: numpy's array reconstruction."""
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct
    return {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
            ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
            ("numpy._core.multiarray", "_reconstruct"): _reconstruct}


class NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles containers of numpy arrays; any other global (a function, a class) is refused unexecuted."""

    allowed = _numpy_globals()

    def find_class(self, module: str, name: str) -> Any:
        found = self.allowed.get((module, name))
        if found is None:
            raise pickle.UnpicklingError(f"refused global {module}.{name}")
        return found

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError(f"refused persistent id {str(pid)[:60]!r}")


def _numeric_arrays(obj: Any) -> bool:
    """True when every leaf of nested dicts is a non-object numpy array."""
    if isinstance(obj, dict):
        return all(isinstance(k, str) and _numeric_arrays(v) for k, v in obj.items())
    return isinstance(obj, np.ndarray) and obj.dtype != object


def read_numpy_pickle(path: str | os.PathLike) -> Any:
    """The first pickle in ``path`` through :class:`NumpyOnlyUnpickler`; a refused global is a CheckpointError."""
    try:
        with open(path, "rb") as f:
            return NumpyOnlyUnpickler(f).load()
    except pickle.UnpicklingError as err:
        raise CheckpointError(f"{path}: refused: this plain pickle would call something other than numpy array "
                              f"reconstruction ({err}); only numpy arrays are admitted from weights pickles, and "
                              "nothing in the file was run") from err
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as err:
        raise CheckpointError(f"{path}: unreadable pickle (truncated or corrupt: {err})") from err


def read_checkpoint(path: str | os.PathLike, trusted: bool = False) -> Any:
    """A torch file (``torch.load`` on CPU, tensors-only unless ``trusted``) or a plain pickle of numpy arrays
    (:class:`NumpyOnlyUnpickler`); every failure is a CheckpointError naming the file."""
    path = Path(path)
    if not path.exists():
        raise CheckpointNotFoundError(f"checkpoint not found: {path}")
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} is not a file")
    with open(path, "rb") as f:
        head = f.read(4)
    if not head:
        raise CheckpointError(f"checkpoint {path} is empty (0 bytes)")
    if not head.startswith(PICKLE_OR_ZIP):
        raise CheckpointError(f"{path} is not a PyTorch checkpoint (unreadable as one: it starts with bytes {head!r}, "
                              "not a torch.save file)")
    if head.startswith(b"\x80"):  # a plain pickle (numpy arrays only), or the magic number of a legacy torch file
        plain = read_numpy_pickle(path)
        if not (isinstance(plain, int) and plain == TORCH_LEGACY_MAGIC):
            if not _numeric_arrays(plain):
                raise CheckpointError(f"{path}: a plain pickle holding {type(plain).__name__}, not (nested dicts of) "
                                      "numeric numpy arrays; not a weights file")
            return plain
    try:
        return torch.load(path, map_location="cpu", weights_only=not trusted)
    except pickle.UnpicklingError as err:
        raise CheckpointError(f"{path}: holds objects other than tensors and plain containers; if you trust the "
                              f"file, load it with trusted=True ({err})") from err
    except (RuntimeError, EOFError, OSError) as err:
        raise CheckpointError(f"checkpoint {path} is unreadable (truncated or corrupt torch file: {err})") from err


def _is_state_dict(obj: Any) -> bool:
    return isinstance(obj, dict) and len(obj) > 0 and all(isinstance(v, torch.Tensor) for v in obj.values())


def _flatten_arrays(obj: dict, prefix: str = "") -> dict[str, torch.Tensor]:
    """Nested dicts of numpy arrays -> ``{"a/b/c": tensor}`` (flax variable paths)."""
    out: dict[str, torch.Tensor] = {}
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten_arrays(value, name + "/"))
        else:
            out[name] = torch.from_numpy(np.array(value, dtype=np.float32 if value.dtype.kind == "f" else None))
    return out


def unwrap_checkpoint(obj: Any, path: str = "<checkpoint>") -> tuple[str, dict[str, torch.Tensor], dict]:
    """Detect the format of a loaded checkpoint; return ``(format, state_dict, info)``."""
    if isinstance(obj, dict) and isinstance(obj.get("params"), dict) and _numeric_arrays(obj):
        return "flax", _flatten_arrays(obj), {}
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
    raise CheckpointError(f"{path}: unrecognised checkpoint format (top-level: {keys}); expected a state dict, "
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
    if hasattr(backbone, "convert_native_state"):  # families whose releases need more than renaming (I3D)
        state = backbone.convert_native_state(state)
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
    source_classes = int(state[f"{head}.weight"].shape[0]) if head and f"{head}.weight" in state else None
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
    return LoadReport(source, fmt, len(state), reinit, kept, source_classes)


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


def resolve_weights(model: str, pretrained: str | os.PathLike) -> tuple[Path, Weights | None]:
    """A weights tag, ``tag:path`` or a path -> (existing local file, its registry entry if known).

    A tag is looked up in the torch hub cache (``<hub>/checkpoints/<file>``); a missing file says where
    to put it and where it comes from. Nothing is downloaded.
    """
    value = str(pretrained)
    tag, _, path_part = value.partition(":") if ":" in value and not Path(value).exists() else ("", "", value)
    if tag:
        entry = registry_of_weights.get_weights(model, tag)
        path = Path(path_part).expanduser()
        if not path.is_file():
            raise CheckpointNotFoundError(_missing(entry, path))
        return path, entry
    if value in registry_of_weights.list_weights(model):
        entry = registry_of_weights.get_weights(model, value)
        path = hub_checkpoint_dir() / entry.file
        if not path.is_file():
            raise CheckpointNotFoundError(_missing(entry, path))
        return path, entry
    path = Path(value).expanduser()
    entry = registry_of_weights.weights_for_file(model, path)
    if not path.is_file():
        if entry is not None:
            raise CheckpointNotFoundError(_missing(entry, path))
        tags = registry_of_weights.list_weights(model)
        known = f"; known weight tags for {model}: {tags}" if tags else ""
        looks_like_tag = not path.suffix and "/" not in value
        what = f"no weights tagged {value!r} and no file" if looks_like_tag else "pretrained weights file not found:"
        raise CheckpointNotFoundError(f"{model}: {what} {path}{known}")
    return path, entry


def _missing(entry: Weights, path: Path) -> str:
    if entry.obtain:
        return (f"{entry.model} weights {entry.tag!r} ({entry.release}): file missing at {path}; get it with "
                f"`{entry.obtain}`, or pass pretrained=<path to {entry.file}>.")
    return (f"{entry.model} weights {entry.tag!r} ({entry.release}): file missing. Put {entry.file} at {path} "
            f"(download it from {entry.url} on a machine with internet), or pass pretrained=<path to the file>.")


def verify_checksum(entry: Weights | None, path: Path) -> None:
    """A release file whose name states a hash prefix (torchvision) must have that sha256 prefix."""
    prefix = registry_of_weights.expected_hash_prefix(entry, path) if entry is not None else None
    if prefix is None:
        return
    from videoabnn.utils.provenance import file_digest

    found = file_digest(path)[: len(prefix)]
    if found != prefix and len(prefix) == 64:
        raise CheckpointError(f"{path}: sha256 is {found}, not the {entry.release} release's {prefix}; this file is "
                              f"named like the release but is another file (corrupt, or not the released one)"
                              + (f"; fetch the release with `{entry.obtain}`" if entry.obtain else ""))
    if found != prefix:
        raise CheckpointError(f"{path}: sha256 starts with {found}, but the file name of the {entry.release} release "
                              f"says {prefix}; the file is corrupt or not the released one")


def weights_normalization(model_name: str, path: Path, entry: Weights | None, report: LoadReport,
                          model: nn.Module) -> tuple[tuple[float, ...], tuple[float, ...], str] | None:
    """(mean, std, where from) the loaded weights were trained with; None keeps the model's (with a warning)."""
    if entry is None and report.format == "videoabnn":
        norm = getattr(model, "normalize", None)
        if norm is None:
            return None
        return tuple(norm.mean.flatten().tolist()), tuple(norm.std.flatten().tolist()), "the checkpoint's own"
    if entry is None:
        entry = registry_of_weights.entry_for_release(model_name, report.format, report.source_classes)
        if entry is not None:
            return entry.mean, entry.std, f"detected as {entry.tag} ({entry.release}: {report.format} layout, " \
                                          f"{report.source_classes} classes)"
        norm = getattr(model, "normalize", None)
        assumed = "" if norm is None else f" mean {norm.mean.flatten().tolist()}, std {norm.std.flatten().tolist()}"
        message = (f"{path}: cannot tell which release these {model_name} weights are ({report.format} layout, "
                   f"{report.source_classes} classes); assuming the model's default normalization{assumed}. If that "
                   f"is wrong, name the weights (tag:path, tags: {registry_of_weights.list_weights(model_name)}) "
                   "or pass mean=/std=")
        warnings.warn(message, stacklevel=4)
        log.warning(message)
        return None
    return entry.mean, entry.std, f"{entry.tag} ({entry.release}, {entry.normalization_text()})"


def set_normalization(model: nn.Module, mean, std) -> None:
    """Set the mean/std buffers of a registry classifier's Normalize (in place)."""
    norm = model.normalize
    norm.mean.copy_(torch.as_tensor(list(mean), dtype=norm.mean.dtype).view_as(norm.mean))
    norm.std.copy_(torch.as_tensor(list(std), dtype=norm.std.dtype).view_as(norm.std))


def load_weights(model: nn.Module, model_name: str, pretrained: str | os.PathLike, mean=None, std=None) -> dict:
    """Load ``pretrained`` (tag, tag:path or path) into ``model`` and give it the weights' normalization
    (an explicit ``mean``/``std`` wins); returns ``{"mean", "std", "source"}`` to record in the model spec."""
    path, entry = resolve_weights(model_name, pretrained)
    verify_checksum(entry, path)
    report = load_pretrained(model, path)
    chosen = weights_normalization(model_name, path, entry, report, model)
    if mean is not None or std is not None:
        norm = model.normalize
        mean = tuple(mean) if mean is not None else tuple(norm.mean.flatten().tolist())
        std = tuple(std) if std is not None else tuple(norm.std.flatten().tolist())
        chosen = (mean, std, "given explicitly (mean=/std=)")
    if chosen is None or not hasattr(model, "normalize"):
        return {}
    set_normalization(model, chosen[0], chosen[1])
    log.info("%s: weights %s, normalization %s", model_name, path, chosen[2])
    return {"mean": [float(v) for v in chosen[0]], "std": [float(v) for v in chosen[1]], "source": chosen[2]}


def describe_normalization(model: nn.Module) -> list[str]:
    """One line per Normalize inside ``model`` naming its place and values (``substitute``, ``target``, ...)."""
    lines = []
    for name, module in model.named_modules():
        if type(module).__name__ == "Normalize":
            where = name.rsplit(".normalize", 1)[0] if name.endswith(".normalize") else "model"
            where = where if name != "normalize" else "model"
            mean = [round(v, 5) for v in module.mean.flatten().tolist()]
            std = [round(v, 5) for v in module.std.flatten().tolist()]
            lines.append(f"{where}: input normalization mean {mean}, std {std} (on [0, 1] pixels)")
    return lines
