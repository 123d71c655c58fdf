"""YAML configs: base inheritance, overrides, and checks of every key and value at load time.

Every valid key appears in ``videoabnn/defaults.yaml`` (with a comment saying what it does), and
``videoabnn/config_schema.py`` gives each its type and range. A user config names only what it
changes; ``_base_`` (a path or a list of paths, relative to the file) pulls in other configs first,
and a mapping holding ``_delete_: true`` replaces the inherited mapping instead of merging into it.
Overrides are one mechanism everywhere: ``a.b=value`` strings on a command line, or a mapping of
dotted keys (the study's method and profile sections). An unknown key or a bad value is a
:class:`ConfigError` naming the file or the command line, the key, what was expected and what was given.
"""

from __future__ import annotations

import copy
import difflib
import io
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from videoabnn.errors import UserError

DEFAULTS_PATH = Path(__file__).with_name("defaults.yaml")
BASE_KEY = "_base_"
DELETE_KEY = "_delete_"
# Sections whose keys are free-form (passed on as keyword arguments): not validated here,
# the component that receives them validates its own arguments.
OPEN_SECTIONS = {
    "model.kwargs",
    "abnn.substitute.kwargs",
    "train.attack",
    "train.method_args",
    "eval.attack_args",
    "study",  # checked by videoabnn.config_schema.Study
}


class ConfigError(UserError, ValueError):
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
    """Recursively merge ``update`` into a copy of ``base`` (mappings merge, everything else replaces;
    a mapping with ``_delete_: true`` replaces the base's mapping whole)."""
    out = copy.deepcopy(dict(base))
    for key, value in update.items():
        if isinstance(value, Mapping) and value.get(DELETE_KEY):
            out[key] = strip_delete(value)
        elif isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = strip_delete(value)
    return out


def strip_delete(value: Any) -> Any:
    """A deep copy without ``_delete_`` markers."""
    if isinstance(value, Mapping):
        return {k: strip_delete(v) for k, v in value.items() if k != DELETE_KEY}
    if isinstance(value, list):
        return [strip_delete(v) for v in value]
    return copy.deepcopy(value)


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
    if not bases:
        return merge(merged, data)
    from videoabnn.model_args import drop_stale_model_args

    return drop_stale_model_args(merged, merge(merged, data), data, str(path), load_defaults())


def is_override(item: str) -> bool:
    """Whether a command-line word is a ``dotted.key=value`` override (not a path or an option)."""
    return _OVERRIDE.match(item) is not None


_OVERRIDE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*=")


def parse_override(item: str) -> tuple[str, Any]:
    """Parse ``a.b.c=value`` into ``("a.b.c", value)``; the value is read as YAML (``lr=0.1``, ``attacks=[fgsm,pgd]``)."""
    if "=" not in item:
        raise ConfigError(f"command line: override {item!r} is not of the form key=value")
    key, raw = item.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"command line: override {item!r} has an empty key")
    try:
        value = yaml.safe_load(io.StringIO(raw)) if raw.strip() else None
    except yaml.YAMLError as err:
        raise ConfigError(f"command line: override {item!r}: value is not valid YAML: {err}") from err
    return key, value


def flatten_overrides(overrides: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted keys replace their value whole; a plain key holding a mapping is merged key by key
    (so ``{"data": {"root": x}}`` sets only ``data.root``, while ``{"train.attack": {...}}`` replaces it)."""
    out: dict[str, Any] = {}
    for key, value in overrides.items():
        if "." not in str(key) and isinstance(value, Mapping) and value and not value.get(DELETE_KEY):
            out.update(flatten_overrides(value, prefix=f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def set_dotted(data: dict, dotted: str, value: Any) -> None:
    """Set ``data["a"]["b"]["c"] = value`` for ``dotted == "a.b.c"`` (creating mappings on the way)."""
    keys = dotted.split(".")
    node = data
    for key in keys[:-1]:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    node[keys[-1]] = strip_delete(value)


def apply_overrides(cfg: Mapping, overrides: Iterable[str] | Mapping[str, Any] | None,
                    source: str = "command line") -> dict:
    """A copy of ``cfg`` with overrides set: ``a.b=value`` strings or a mapping of dotted keys (the one
    override mechanism of the tools and the study). A mapping value replaces the key's value whole."""
    out = copy.deepcopy(dict(cfg))
    if overrides is None:
        return out
    if isinstance(overrides, Mapping):
        pairs = list(flatten_overrides(overrides).items())
    elif isinstance(overrides, (str, bytes)) or not isinstance(overrides, Iterable):
        raise ConfigError(f"{source}: expected a mapping of dotted keys to values, got {overrides!r}")
    else:
        pairs = [parse_override(item) for item in overrides]
    for key, value in pairs:
        set_dotted(out, str(key), value)
    return out


def _is_open(dotted: str) -> bool:
    return any(dotted == s or dotted.startswith(s + ".") for s in OPEN_SECTIONS)


def validate(cfg: Mapping, schema: Mapping, prefix: str = "", source: str = "config") -> None:
    """Raise ConfigError for any key of ``cfg`` that the schema (the defaults) does not have."""
    for key, value in cfg.items():
        dotted = f"{prefix}{key}"
        if key == DELETE_KEY or _is_open(dotted):
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
                raise ConfigError(f"{source}: {dotted}: expected a mapping (a section), got {value!r}")
            validate(value, expected, prefix=f"{dotted}.", source=source)


def load_defaults() -> dict:
    """The packaged defaults: every valid key and its default value."""
    return read_yaml(DEFAULTS_PATH)


def checked(data: Mapping, source: str, defaults: Mapping | None = None) -> dict:
    """``defaults <- data``, with unknown keys and bad values reported as a ConfigError naming ``source``."""
    from videoabnn.config_schema import check_values

    defaults = load_defaults() if defaults is None else defaults
    validate(data, defaults, source=source)
    merged = merge(defaults, data)
    problems = check_values(merged, source)
    if problems:
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise ConfigError(problems[0] + more)
    return merged


def load_config(path: str | os.PathLike | None = None, overrides: Iterable[str] | Mapping = ()) -> Config:
    """Load a config: defaults <- bases <- file <- overrides, every key and value checked.

    The file is checked before the overrides are applied, so an error names the file or the command line.
    """
    defaults = load_defaults()
    user: dict = _read_with_bases(Path(path)) if path is not None else {}
    source = str(path) if path is not None else "config"
    checked(user, source, defaults)
    return _to_config(checked(_overridden(user, overrides, defaults), "command line", defaults))


def _overridden(cfg: Mapping, overrides: Iterable[str] | Mapping[str, Any] | None, defaults: Mapping) -> dict:
    """:func:`apply_overrides`, minus the inherited model arguments a changed ``model.name`` does not take."""
    from videoabnn.model_args import drop_stale_model_args

    after = apply_overrides(cfg, overrides)
    if not overrides:
        return after
    layer: dict = {}
    pairs = flatten_overrides(overrides).items() if isinstance(overrides, Mapping) else map(parse_override, overrides)
    for key, value in pairs:
        set_dotted(layer, str(key), value)
    return drop_stale_model_args(cfg, after, layer, "command line", defaults)


def config_from_dict(data: Mapping, overrides: Iterable[str] | Mapping = (), source: str = "config") -> Config:
    """Like :func:`load_config` for an in-memory mapping (tests, programmatic use, derived study configs)."""
    defaults = load_defaults()
    checked(data, source, defaults)
    return _to_config(checked(_overridden(data, overrides, defaults), "command line", defaults))


def dump_config(cfg: Mapping) -> str:
    """The config as YAML text (keys in their defined order)."""
    return yaml.safe_dump(_to_plain(cfg), sort_keys=False)


def save_config(cfg: Mapping, path: str | os.PathLike) -> Path:
    """Write the resolved config as YAML, atomically (write a temp file, then rename)."""
    from videoabnn.utils.io import atomic_write_text

    return atomic_write_text(path, dump_config(cfg))
