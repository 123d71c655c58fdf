"""Which builder arguments and weights a model name takes: the config checks of ``model.kwargs`` /
``model.pretrained`` (and the substitute's), and what changing a model name on top of a config drops.

A config layer (a file over its ``_base_``, or command-line overrides over the file) that changes
``model.name`` (or ``abnn.substitute.name``) starts that model from its own defaults: the inherited
builder arguments and weights were chosen for the old architecture (a ResNeXt's ``cardinality``
does not exist elsewhere, and even a shared name such as ``shortcut`` means another network), so
they are dropped, with a warning naming each. What the same layer sets itself is kept, and then
checked: an argument the builder does not take, or weights of another model (a registry tag,
``tag:path`` or release file it has no entry for), is an error naming the key, the value and what
the model takes.
"""

from __future__ import annotations

import copy
import inspect
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# (section, its weights key): the classifier and the ABNN substitute
MODEL_SECTIONS = (("model", "pretrained"), ("abnn.substitute", "checkpoint"))
# create_model's own keyword arguments for backbones (popped before the builder is called)
CREATE_KWARGS = frozenset({"mean", "std", "post_stage"})


def _section(cfg: Mapping, dotted: str) -> Mapping:
    node: Any = cfg
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, Mapping) else None
    return node if isinstance(node, Mapping) else {}


def accepted_kwargs(name: str) -> set[str] | None:
    """Builder arguments model ``name`` takes (None: any, or the name is not registered)."""
    from videoabnn.models.registry import get_entry

    try:
        builder = get_entry(name).builder
    except KeyError:
        return None
    params = list(inspect.signature(builder).parameters.values())
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params if p.name != "num_classes"} | CREATE_KWARGS


def weights_fit(name: str, value: Any) -> bool:
    """Whether weights ``value`` may be meant for model ``name``: False for a registry tag, ``tag:path``
    or release file of other models that ``name`` has no entry for; True for any other file."""
    from videoabnn.models import pretrained as registry

    text = str(value)
    tags = {w.tag for w in registry.all_weights()}
    tag, sep, path = text.partition(":")
    if sep and tag in tags and not Path(text).exists():
        if tag not in registry.list_weights(name):
            return False
        text = path  # tag:path: the file must fit too
    elif text in tags:
        return text in registry.list_weights(name)
    release_files = {f for w in registry.all_weights() for f in w.files}
    if Path(text).name in release_files:
        return registry.weights_for_file(name, text) is not None
    return True


def _set_explicitly(layer: Mapping, dotted: str) -> bool:
    """Whether the layer itself sets ``dotted`` (or a key below it)."""
    node: Any = layer
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


def drop_stale_model_args(before: Mapping, after: dict, layer: Mapping, source: str,
                          defaults: Mapping | None = None) -> dict:
    """``after`` (= ``before`` with ``layer`` applied) without the inherited builder arguments and weights
    of a model whose name ``layer`` changed; each drop is logged as a warning."""
    out = copy.deepcopy(after)
    for section, weights_key in MODEL_SECTIONS:
        old_name = _section(before, section).get("name", _section(defaults or {}, section).get("name"))
        node = _section(out, section)
        new_name = node.get("name")
        if not node or new_name is None or new_name == old_name or not _set_explicitly(layer, f"{section}.name"):
            continue
        dropped = _drop_kwargs(node, layer, section)
        value = node.get(weights_key)
        if value and not _set_explicitly(layer, f"{section}.{weights_key}"):
            node[weights_key] = None
            dropped.append(f"{section}.{weights_key}={value}")
        if dropped:
            log.warning("%s: %s.name changed from %s to %s: dropped the inherited %s (chosen for %s; give a "
                        "setting again beside the new name to keep it)", source, section, old_name, new_name,
                        ", ".join(dropped), old_name)
    return out


def _drop_kwargs(node: dict, layer: Mapping, section: str) -> list[str]:
    kwargs = node.get("kwargs")
    if not isinstance(kwargs, Mapping):
        return []
    stale = [k for k in kwargs if not _set_explicitly(layer, f"{section}.kwargs.{k}")]
    node["kwargs"] = {k: v for k, v in kwargs.items() if k not in stale}
    return [f"{section}.kwargs.{k}={kwargs[k]!r}" for k in stale]


def check_model_args(cfg: Mapping, source: str) -> list[str]:
    """Builder arguments a model does not take and weight tags it has none of, one line each."""
    from videoabnn.models import pretrained as registry

    problems = []
    for section, weights_key in MODEL_SECTIONS:
        node = _section(cfg, section)
        name = node.get("name")
        accepted = accepted_kwargs(str(name)) if name else None
        for key in (node.get("kwargs") or {}):
            if accepted is not None and key not in accepted:
                problems.append(f"{source}: {section}.kwargs.{key}: {name} takes no argument {key!r} (it takes: "
                                f"{', '.join(sorted(accepted))}); remove it, e.g. {section}.kwargs={{}}")
        value = node.get(weights_key)
        if name and value and not weights_fit(str(name), value):
            known = registry.list_weights(str(name))
            has = f"its tags: {', '.join(known)}" if known else "it has no registered weights"
            problems.append(f"{source}: {section}.{weights_key}: expected weights for {name} ({has}), got "
                            f"{value!r} (weights of another model); set {section}.{weights_key}=null or a file "
                            f"for {name}")
    return problems
