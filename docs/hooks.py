"""MkDocs hook: the API reference's registry pages are generated from the registries themselves.

A page line ``<!-- registry: attacks -->`` (or ``models``, ``transforms``, ``methods``) becomes one
section per registered entry: a mkdocstrings ``:::`` directive where the entry is a module-level object
(griffe renders its signature and docstring), else the signature and docstring read at run time (builders
made in a loop). So every registered attack, model, input transform and training method is listed with
its arguments, and a new registration appears without editing the docs.
"""

from __future__ import annotations

import functools
import inspect
import re
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the clone's package, installed or not

MARKER = re.compile(r"^<!-- registry: (\w+)(?: level=(\d))? -->$", re.M)


@functools.cache
def _static_package():
    """The package as griffe reads it from source (what mkdocstrings can document)."""
    import griffe

    return griffe.load("videoabnn", search_paths=["."])


def _path(obj: object) -> str | None:
    """``module.qualname`` when griffe finds ``obj`` statically in the source, else None (made at run time)."""
    path = f"{obj.__module__}.{getattr(obj, '__qualname__', '')}"
    try:
        _static_package()[path.split(".", 1)[1]]
    except (KeyError, IndexError):
        return None
    return path


Entry = tuple[str, Callable, str]  # (heading, documented object, note under the heading)


def _section(title: str, obj: Callable, note: str, level: int) -> str:
    """A heading of ``level`` for one registered object, then its documentation."""
    hashes = "#" * level
    head = f"{hashes} {title}\n\n{note}\n\n" if note else f"{hashes} {title}\n\n"
    path = _path(obj)
    if path is not None:
        return (head + f"::: {path}\n    options:\n      show_root_heading: false\n"
                f"      heading_level: {level + 1}\n")
    doc = inspect.cleandoc(obj.__doc__ or "(no docstring)")
    return head + f"```python\n{title}{inspect.signature(obj)}\n```\n\n```text\n{doc}\n```\n"


def _attacks() -> list[Entry]:
    from videoabnn.attacks.registry import _REGISTRY

    by_class: dict[type, list[str]] = {}
    for name, (cls, _fixed) in sorted(_REGISTRY.items()):
        by_class.setdefault(cls, []).append(name)
    return [(cls.__name__, cls, "Registered as " + ", ".join(f"`{n}`" for n in names) + ".")
            for cls, names in by_class.items()]


def _models() -> list[Entry]:
    from videoabnn.models.registry import _REGISTRY, list_models

    out = []
    for name in list_models():
        entry = _REGISTRY[name]
        note = (f"`create_model(\"{name}\", num_classes, ...)`; family `{entry.family or '-'}`, default input "
                f"{entry.frames} frames at {entry.crop}x{entry.crop}.")
        out.append((f"`{name}`", entry.builder, note))
    return out


def _transforms() -> list[Entry]:
    from videoabnn.defenses.transforms import _TRANSFORMS

    return [(f"`{name}`: {cls.__name__}", cls, f"`model.input_transform: {name}`")
            for name, cls in sorted(_TRANSFORMS.items())]


def _methods() -> list[Entry]:
    from videoabnn.defenses.registry import OBJECTIVES

    return [(f"`{name}`: {cls.__name__}", cls, f"`train.method: {name}`") for name, cls in OBJECTIVES.items()]


GENERATORS = {"attacks": _attacks, "models": _models, "transforms": _transforms, "methods": _methods}


def registry_markdown(kind: str, level: int = 2) -> str:
    """The generated sections for registry ``kind``, headed at ``level``."""
    if kind not in GENERATORS:
        raise ValueError(f"docs: unknown registry {kind!r} in a '<!-- registry: ... -->' line; "
                         f"expected one of {', '.join(GENERATORS)}")
    return "\n".join(_section(title, obj, note, level) for title, obj, note in GENERATORS[kind]())


def on_page_markdown(markdown: str, **_kwargs) -> str:
    """Expand every registry marker of the page."""
    return MARKER.sub(lambda m: registry_markdown(m.group(1), int(m.group(2) or 2)), markdown)
