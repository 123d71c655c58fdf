"""YAML configs: base inheritance, ``key=value`` overrides and validation against the defaults.

Every valid key appears in ``videoabnn/defaults.yaml`` (with a comment saying what it does).
A user config names only what it changes; ``_base_`` (a path or a list of paths, relative to
the file) pulls in other configs first. An unknown key is an error naming the key and the
closest valid one, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import copy
import difflib
import io
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

DEFAULTS_PATH = Path(__file__).with_name("defaults.yaml")
BASE_KEY = "_base_"
# Sections whose keys are free-form (passed on as keyword arguments): not validated here,
# the component that receives them validates its own arguments.
OPEN_SECTIONS = {
    "model.kwargs",
    "abnn.substitute.kwargs",
    "train.attack",
    "train.method_args",
    "eval.attack_args",
    "study",
}


class ConfigError(ValueError):
    """A config file or override is malformed or names a key that does not exist."""


class Config(dict):
    """A nested dict with attribute access (``cfg.train.lr``), as loaded from YAML."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError as err:
            raise AttributeError(f"config has no key {name!r}") from err

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __deepcopy__(self, memo: dict) -> Config:
        return Config({k: copy.deepcopy(v, memo) for k, v in self.items()})

    def to_dict(self) -> dict:
        """A plain-dict deep copy (for YAML/JSON dumps)."""
        return _to_plain(self)


def _to_plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_plain(v) for v in value]
    return value


def _to_config(value: Any) -> Any:
    if isinstance(value, Mapping):
        return Config({k: _to_config(v) for k, v in value.items()})
    if isinstance(value, list):
        return [_to_config(v) for v in value]
    return value


def read_yaml(path: str | os.PathLike) -> dict:
    """Read one YAML mapping, with errors that name the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def merge(base: Mapping, update: Mapping) -> dict:
    """Recursively merge ``update`` into a copy of ``base`` (mappings merge, everything else replaces)."""
    out = copy.deepcopy(dict(base))
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _read_with_bases(path: Path, seen: tuple[Path, ...] = ()) -> dict:
    path = path.resolve()
    if path in seen:
        chain = " -> ".join(str(p) for p in (*seen, path))
        raise ConfigError(f"circular {BASE_KEY} chain: {chain}")
    data = read_yaml(path)
    bases = data.pop(BASE_KEY, [])
    if isinstance(bases, str):
        bases = [bases]
    merged: dict = {}
    for base in bases:
        merged = merge(merged, _read_with_bases(path.parent / base, (*seen, path)))
    return merge(merged, data)


def parse_override(item: str) -> tuple[list[str], Any]:
    """Parse ``a.b.c=value``; the value is read as YAML (``lr=0.1``, ``attacks=[fgsm,pgd]``)."""
    if "=" not in item:
        raise ConfigError(f"override {item!r} is not of the form key=value")
    key, raw = item.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override {item!r} has an empty key")
    try:
        value = yaml.safe_load(io.StringIO(raw)) if raw.strip() else None
    except yaml.YAMLError as err:
        raise ConfigError(f"override {item!r}: value is not valid YAML: {err}") from err
    return key.split("."), value


def apply_overrides(cfg: dict, overrides: Iterable[str]) -> dict:
    """Apply ``key=value`` overrides to a copy of ``cfg``."""
    out = copy.deepcopy(cfg)
    for item in overrides:
        keys, value = parse_override(item)
        node = out
        for key in keys[:-1]:
            if not isinstance(node.get(key), dict):
                node[key] = {}
            node = node[key]
        node[keys[-1]] = value
    return out


def _is_open(dotted: str) -> bool:
    return any(dotted == s or dotted.startswith(s + ".") for s in OPEN_SECTIONS)


def validate(cfg: Mapping, schema: Mapping, prefix: str = "", source: str = "config") -> None:
    """Raise ConfigError for any key of ``cfg`` that the schema (the defaults) does not have."""
    for key, value in cfg.items():
        dotted = f"{prefix}{key}"
        if _is_open(dotted):
            continue
        if key not in schema:
            close = difflib.get_close_matches(str(key), [str(k) for k in schema], n=1, cutoff=0.5)
            hint = f"; did you mean '{prefix}{close[0]}'?" if close else ""
            valid = ", ".join(sorted(str(k) for k in schema))
            raise ConfigError(f"{source}: unknown key {dotted!r}{hint} (valid keys here: {valid})")
        expected = schema[key]
        if isinstance(expected, Mapping) and not _is_open(dotted):
            if value is None:
                continue
            if not isinstance(value, Mapping):
                raise ConfigError(f"{source}: key {dotted!r} must be a mapping, got {value!r}")
            validate(value, expected, prefix=f"{dotted}.", source=source)


def load_defaults() -> dict:
    """The packaged defaults: every valid key and its default value."""
    return read_yaml(DEFAULTS_PATH)


def load_config(path: str | os.PathLike | None = None, overrides: Iterable[str] = ()) -> Config:
    """Load a config: defaults <- bases <- file <- overrides, validated against the defaults."""
    defaults = load_defaults()
    user: dict = _read_with_bases(Path(path)) if path is not None else {}
    source = str(path) if path is not None else "config"
    validate(user, defaults, source=source)
    overrides = list(overrides)
    with_overrides = apply_overrides(user, overrides)
    validate(with_overrides, defaults, source="command-line override")
    return _to_config(merge(defaults, with_overrides))


def config_from_dict(data: Mapping, overrides: Iterable[str] = ()) -> Config:
    """Like :func:`load_config` for an in-memory mapping (tests, programmatic use)."""
    defaults = load_defaults()
    validate(data, defaults, source="config")
    data = apply_overrides(dict(data), overrides)
    validate(data, defaults, source="command-line override")
    return _to_config(merge(defaults, data))


def dump_config(cfg: Mapping) -> str:
    """The config as YAML text (keys in their defined order)."""
    return yaml.safe_dump(_to_plain(cfg), sort_keys=False)


def save_config(cfg: Mapping, path: str | os.PathLike) -> Path:
    """Write the resolved config as YAML, atomically (write a temp file, then rename)."""
    from videoabnn.utils.io import atomic_write_text

    return atomic_write_text(path, dump_config(cfg))
