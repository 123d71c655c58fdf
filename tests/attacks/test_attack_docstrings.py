"""Every registered attack documents itself on its own class, in one Google-style template: the
``Paper:`` and ``Threat model:`` lines, ``Args:`` naming every constructor argument (``accepted_params``,
walking ``**kwargs`` up the MRO, plus ``model``), ``Shape:`` and ``Examples:``; stated defaults match the code."""

from __future__ import annotations

import ast
import inspect
import math
import re

import pytest
from torch import nn

from videoabnn.attacks import Attack, attack_class, list_attacks
from videoabnn.attacks.registry import accepted_params

LINES = ("Paper", "Threat model")  # one-line fields: "Paper: ..." at the start of a line
SECTIONS = ("Args", "Shape", "Examples")  # Google sections: "Args:" alone on a line, then an indented block
ENTRY = re.compile(r"^(\*{0,2}\w+)(?: \([^)]*\))?:(?:\s|$)")  # "name:" or "name (type):"
LITERAL_NODES = (ast.Expression, ast.Constant, ast.Tuple, ast.Load, ast.BinOp, ast.UnaryOp,
                 ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.USub)
UNSTATED = object()


def own_doc(cls: type) -> str:
    """The class's own docstring (not an inherited one), dedented."""
    doc = cls.__dict__.get("__doc__")
    assert doc and doc.strip(), f"{cls.__name__} has no docstring of its own"
    return inspect.cleandoc(doc)


def section(doc: str, title: str) -> list[str]:
    """The indented lines under ``title:`` (empty when the section is absent)."""
    lines = doc.splitlines()
    if f"{title}:" not in lines:
        return []
    body = []
    for line in lines[lines.index(f"{title}:") + 1:]:
        if line.strip() and not line[0].isspace():
            break
        body.append(line)
    return [line for line in body if line.strip()]


def args_entries(doc: str) -> dict[str, str]:
    """``{name: description}`` of the ``Args:`` section (continuation lines joined)."""
    body = section(doc, "Args")
    if not body:
        return {}
    indent = min(len(line) - len(line.lstrip()) for line in body)
    entries: dict[str, str] = {}
    name = None
    for line in body:
        text = line.strip()
        if len(line) - len(line.lstrip()) == indent:
            match = ENTRY.match(text)
            assert match, f"not an Args entry ('name: meaning. Default: value.'): {text!r}"
            name = match.group(1).lstrip("*")
            entries[name] = text[match.end():].strip()
        else:
            entries[name] += " " + text
    return entries


def stated_default(text: str):
    """The value after the last ``Default:`` when it is a plain literal (``4/255``, ``"ce"``, None...)."""
    found = re.findall(r"Default: (.+)$", text)
    if not found:
        return UNSTATED
    value = re.split(r" \(|;", found[-1])[0].strip().rstrip(".").replace("``", "")
    try:
        tree = ast.parse(value, mode="eval")
    except SyntaxError:
        return UNSTATED
    if not all(isinstance(node, LITERAL_NODES) for node in ast.walk(tree)):
        return UNSTATED
    return eval(compile(tree, "<default>", "eval"))


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


def same(a, b) -> bool:
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(same(u, v) for u, v in zip(a, b))
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("name", list_attacks())
def test_attack_class_has_the_docstring_template(name: str) -> None:
    cls = attack_class(name)
    doc = own_doc(cls)
    where = f"attack {name!r} ({cls.__name__})"
    for title in LINES:
        assert re.search(rf"^{title}: \S", doc, re.MULTILINE), f"{where}: no '{title}: ...' line"
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
