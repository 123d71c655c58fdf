"""Every registered attack documents itself on its own class, in one Google-style template: the
``Paper:`` and ``Threat model:`` lines, ``Args:`` naming every constructor argument (``accepted_params``,
walking ``**kwargs`` up the MRO, plus ``model``), ``Shape:`` and ``Examples:``; stated defaults match the code."""

from __future__ import annotations

import importlib.util
import inspect
import re
from pathlib import Path

import pytest
from torch import nn

from videoabnn.attacks import Attack, attack_class, list_attacks
from videoabnn.attacks.registry import accepted_params

LINES = ("Paper", "Threat model")  # one-line fields: "Paper: ..." at the start of a line
SECTIONS = ("Args", "Shape", "Examples")  # Google sections: "Args:" alone on a line, then an indented block
_spec = importlib.util.spec_from_file_location("docstring_template", Path(__file__).parents[1] / "docstring_template.py")
template = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(template)
UNSTATED, args_entries, same, section = template.UNSTATED, template.args_entries, template.same, template.section
own_doc = template.own_doc


def stated_default(text: str):
    """The value after the last ``Default:`` when it is a plain literal (``4/255``, ``"ce"``, None...)."""
    found = re.findall(r"Default: (.+)$", text)
    return template.literal(re.split(r" \(|;", found[-1])[0]) if found else UNSTATED


def code_defaults(cls: type, instance: object, name: str) -> list:
    """What the code says: the signature default of the most derived ``__init__`` taking ``name`` and/or the
    value the constructor stored. Where both are plain values of one type and differ, a subclass set the
    default through ``kwargs.setdefault`` and only the stored value counts; otherwise (a None resolved later,
    a parsed spec) either does."""
    signature = UNSTATED
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        params = inspect.signature(init).parameters if init is not None else {}
        if name in params:
            if params[name].default is not inspect.Parameter.empty:
                signature = params[name].default
            break
    stored = getattr(instance, name, UNSTATED)
    values = [v for v in (signature, stored) if v is not UNSTATED]
    if len(values) == 2 and signature is not None and type(signature) is type(stored) and not same(*values):
        return [stored]
    return values


@pytest.mark.parametrize("name", list_attacks())
def test_attack_class_has_the_docstring_template(name: str) -> None:
    cls = attack_class(name)
    doc = own_doc(cls)
    where = f"attack {name!r} ({cls.__name__})"
    for title in LINES:
        assert template.has_line(doc, title), f"{where}: no '{title}: ...' line"
    for title in SECTIONS:
        assert section(doc, title), f"{where}: no '{title}:' section"
    assert any(line.strip().startswith(">>> ") for line in section(doc, "Examples")), f"{where}: no example"


@pytest.mark.parametrize("name", list_attacks())
def test_attack_docstring_names_every_argument(name: str) -> None:
    cls = attack_class(name)
    documented = set(args_entries(own_doc(cls)))
    missing = sorted(({"model"} | accepted_params(cls)) - documented)
    assert not missing, f"attack {name!r} ({cls.__name__}): Args does not document {missing}"


@pytest.mark.parametrize("name", list_attacks())
def test_attack_docstring_defaults_match_the_code(name: str) -> None:
    cls = attack_class(name)
    instance = cls(nn.Identity(), **({"surrogate": nn.Identity()} if name == "transfer" else {}))
    entries = args_entries(own_doc(cls))
    for param in sorted(accepted_params(cls)):
        stated = stated_default(entries.get(param, ""))
        actual = code_defaults(cls, instance, param)
        if stated is UNSTATED or not actual:
            continue
        assert any(same(stated, value) for value in actual), (
            f"attack {name!r} ({cls.__name__}): {param} documented with Default: {stated!r}, code has {actual}")


def test_base_class_documents_the_shared_arguments() -> None:
    documented = set(args_entries(own_doc(Attack)))
    assert {"model", "loss", "targeted", "frames", "seed"} <= documented
