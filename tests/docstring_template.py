"""Reading the project's one docstring template (Google style): sections, ``Args:`` entries, stated defaults.
Shared by the docstring tests of the attacks (tests/attacks) and of the models, defenses and datasets
(tests/package); loaded by path, like the report fixtures."""

from __future__ import annotations

import ast
import inspect
import math
import re

ENTRY = re.compile(r"^(\*{0,2}\w+)(?: \([^)]*\))?:(?:\s|$)")  # "name:" or "name (type):"
LITERAL_NODES = (ast.Expression, ast.Constant, ast.Tuple, ast.List, ast.Load, ast.BinOp, ast.UnaryOp,
                 ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.USub)
UNSTATED = object()


def own_doc(obj: object) -> str:
    """The object's own docstring (a class's, not an inherited one), dedented."""
    doc = obj.__dict__.get("__doc__") if isinstance(obj, type) else obj.__doc__
    assert doc and doc.strip(), f"{obj!r} has no docstring of its own"
    return inspect.cleandoc(doc)


def section(doc: str, title: str) -> list[str]:
    """The non-blank indented lines under ``title:`` alone on a line (empty when the section is absent)."""
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
    """``{name: description}`` of the ``Args:`` section (continuation lines joined, ``**`` stripped)."""
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


def literal(value: str):
    """``value`` as a Python literal (``4/255``, ``"ce"``, ``(1, 2, 2)``, None...), else :data:`UNSTATED`."""
    try:
        tree = ast.parse(value.strip().rstrip(".").replace("``", ""), mode="eval")
    except SyntaxError:
        return UNSTATED
    if not all(isinstance(node, LITERAL_NODES) for node in ast.walk(tree)):
        return UNSTATED
    return eval(compile(tree, "<default>", "eval"))


def same(a, b) -> bool:
    """Equal as documented values: floats within rounding, bools and None by identity, sequences item by item."""
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(same(u, v) for u, v in zip(a, b))
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return type(a) is type(b) and a == b


def has_line(doc: str, title: str) -> bool:
    """Whether ``doc`` has a ``title: ...`` line (``Paper:``, ``Threat model:``)."""
    return re.search(rf"^{title}: \S", doc, re.MULTILINE) is not None
