"""Study config: a normal run config plus a free-form ``study:`` section, with named profiles
(``--quick``, ``--large``) that are sets of dotted-key overrides stored in the YAML itself."""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from videoabnn.config import Config, ConfigError, config_from_dict, load_config

PROFILES = ("default", "quick", "large", "full")


def set_dotted(data: dict, dotted: str, value: Any) -> None:
    """Set ``data["a"]["b"]["c"] = value`` for ``dotted == "a.b.c"`` (creating mappings on the way)."""
    keys = dotted.split(".")
    node = data
    for key in keys[:-1]:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    node[keys[-1]] = copy.deepcopy(value)


def flatten_overrides(overrides: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted keys replace their value whole; a plain key holding a mapping is merged key by key
    (so ``{"data": {"root": x}}`` sets only ``data.root``, while ``{"train.attack": {...}}`` replaces it)."""
    out: dict[str, Any] = {}
    for key, value in overrides.items():
        if "." not in str(key) and isinstance(value, Mapping) and value:
            out.update(flatten_overrides(value, prefix=f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def apply_dotted(data: Mapping, overrides: Mapping[str, Any] | None, source: str) -> dict:
    """A copy of ``data`` with each ``dotted.key: value`` of ``overrides`` set (see :func:`flatten_overrides`)."""
    out = copy.deepcopy(dict(data))
    if overrides is None:
        return out
    if not isinstance(overrides, Mapping):
        raise ConfigError(f"{source}: expected a mapping of dotted keys to values, got {overrides!r}")
    for key, value in flatten_overrides(overrides).items():
        set_dotted(out, str(key), value)
    return out


def load_study_config(path: str | os.PathLike, profile: str = "default", overrides: Iterable[str] = ()) -> Config:
    """Load a study config, apply ``study.profiles[profile]`` then the command-line overrides."""
    if profile not in PROFILES:
        raise ConfigError(f"unknown study profile {profile!r}; expected one of {', '.join(PROFILES)}")
    cfg = load_config(path).to_dict()
    if not isinstance(cfg.get("study"), Mapping):
        raise ConfigError(f"{path}: a study config needs a 'study:' section (see configs/synthetic/study.yaml)")
    profiles = cfg["study"].get("profiles") or {}
    if profile != "default":
        if profile not in profiles:
            raise ConfigError(f"{path}: no study.profiles.{profile} section (profiles here: {', '.join(profiles) or 'none'})")
        cfg = apply_dotted(cfg, profiles[profile], f"{path}: study.profiles.{profile}")
    cfg = config_from_dict(cfg, overrides)
    cfg["study"]["profile"] = profile
    if not cfg.get("work_dir"):
        cfg["work_dir"] = str(Path("work_dirs") / cfg["name"])
    return cfg


def derived_config(cfg: Mapping, overrides: Mapping[str, Any] | None, source: str, **fixed: Any) -> Config:
    """A run config derived from the study config: dotted ``overrides`` then ``fixed`` keys
    (``fixed`` uses ``__`` for dots, e.g. ``train__method="abnn"``), validated."""
    data = {k: v for k, v in copy.deepcopy(dict(cfg)).items() if k != "study"}
    data = apply_dotted(data, overrides, source)
    for key, value in fixed.items():
        set_dotted(data, key.replace("__", "."), value)
    return config_from_dict(data)
