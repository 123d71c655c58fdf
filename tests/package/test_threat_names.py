"""Threat-model names and result keys have one home (videoabnn.threats): no other module spells a threat-model
name as a string or splits a result key itself."""

from __future__ import annotations

import ast
from pathlib import Path

from videoabnn.threats import THREAT_NAMES

PACKAGE = Path(__file__).resolve().parents[2] / "videoabnn"
# strings equal to a threat-model name that mean something else: the transfer attack's registered name, the
# pattern attacks' physical-distribution parameter/setting (any module of videoabnn.attacks), a capability's
# value, a plot colour; (path or folder prefix, string)
OTHER_MEANINGS = {("attacks/blackbox.py", "transfer"), ("attacks/", "physical"), ("capabilities.py", "physical"),
                  ("report/plots.py", "white")}


def _other_meaning(rel: str, value: str) -> bool:
    return any(rel.startswith(where) and value == what for where, what in OTHER_MEANINGS)


def _docstrings(tree: ast.AST) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            out.add(id(body[0].value))
    return out


def test_no_module_but_the_registry_spells_a_threat_model_name():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel == "threats.py":
            continue
        tree = ast.parse(path.read_text())
        skip = _docstrings(tree)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Constant) and node.value in THREAT_NAMES and id(node) not in skip
                    and not _other_meaning(rel, node.value)):
                found.append(f"{rel}:{node.lineno}: {node.value!r}")
    assert not found, "threat-model names outside videoabnn.threats (use its constants):\n" + "\n".join(found)


def test_no_module_but_the_registry_splits_a_result_key():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        for node in ast.walk(ast.parse(path.read_text())):
            if (rel != "threats.py" and isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("split", "partition", "rsplit", "rpartition") and node.args
                    and isinstance(node.args[0], ast.Constant) and node.args[0].value == "@"):
                found.append(f"{rel}:{node.lineno}")
    assert not found, "result keys split outside videoabnn.threats.ResultKey: " + ", ".join(found)
