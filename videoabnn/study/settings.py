"""Study config: a normal run config plus a ``study:`` section (checked by ``config_schema.Study``),
with named profiles (``--quick``, ``--large``, ``--full``) that are sets of dotted-key overrides
stored in the YAML itself. Overrides use the one mechanism of :mod:`videoabnn.config`."""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from videoabnn.config import Config, ConfigError, apply_overrides, config_from_dict, load_config

PROFILES = ("default", "quick", "large", "full")


def load_study_config(path: str | os.PathLike, profile: str = "default", overrides: Iterable[str] = ()) -> Config:
    """Load a study config, apply ``study.profiles[profile]`` then the command-line overrides.

    Every method's and the pretraining run's overrides are applied once here, so a bad key or value in
    them is reported at load time (naming ``study.methods.<name>``), not after an hour of training.
    """
    if profile not in PROFILES:
        raise ConfigError(f"command line: unknown study profile {profile!r}; expected one of {', '.join(PROFILES)}")
    cfg = load_config(path).to_dict()
    if not isinstance(cfg.get("study"), Mapping):
        raise ConfigError(f"{path}: a study config needs a 'study:' section (see configs/synthetic/study.yaml)")
    profiles = cfg["study"].get("profiles") or {}
    if profile != "default":
        if profile not in profiles:
            raise ConfigError(f"{path}: study.profiles.{profile}: no such profile (profiles here: "
                              f"{', '.join(profiles) or 'none'})")
        source = f"{path}: study.profiles.{profile}"
        cfg = config_from_dict(apply_overrides(cfg, profiles[profile], source), source=source)
    cfg = config_from_dict(cfg, list(overrides))
    cfg["study"]["profile"] = profile
    if not cfg.get("work_dir"):
        cfg["work_dir"] = str(Path("work_dirs") / cfg["name"])
    check_derived(cfg, str(path))
    return cfg


def check_derived(cfg: Mapping, source: str) -> None:
    """Apply each ``study.methods.<name>`` and ``study.pretrain`` override set to check its keys and values."""
    study = cfg.get("study") or {}
    sets = {f"study.methods.{name}": over for name, over in (study.get("methods") or {}).items()}
    sets["study.pretrain"] = study.get("pretrain")
    for where, over in sets.items():
        derived_config(cfg, over, f"{source}: {where}")


def derived_config(cfg: Mapping, overrides: Mapping[str, Any] | None, source: str,
                   fixed: Mapping[str, Any] | None = None) -> Config:
    """A run config derived from the study config: dotted ``overrides`` (reported as ``source``) then the
    study's own ``fixed`` dotted keys, checked."""
    data = {k: v for k, v in copy.deepcopy(dict(cfg)).items() if k != "study"}
    data = config_from_dict(apply_overrides(data, overrides, source), source=source).to_dict()
    return config_from_dict(apply_overrides(data, fixed or {}), source=source)
