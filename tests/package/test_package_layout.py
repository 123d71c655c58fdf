"""The package layout tells the truth: no import cycles, dependencies in setup.cfg match the imports."""

from __future__ import annotations

import ast
import configparser
import random
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "videoabnn"
# import name -> distribution name where they differ
DISTRIBUTIONS = {"PIL": "Pillow", "yaml": "PyYAML"}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(test)


def targets(node: ast.AST, package: str) -> list[str]:
    """Module names an import statement may load (``from a import b``: ``a`` and ``a.b``)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    base = node.module or ""
    if node.level:
        parts = package.split(".")
        base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
    return [base, *(f"{base}.{a.name}" for a in node.names)]


def top_level_imports(path: Path, name: str) -> list[str]:
    """Modules imported when ``path`` is imported (module level only; TYPE_CHECKING blocks skipped)."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out: list[str] = []

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if _type_checking(node):
                continue
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                out.extend(targets(node, package))
            elif isinstance(node, (ast.If, ast.Try)):
                visit(node.body)
                visit(getattr(node, "orelse", []))
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)

    visit(tree.body)
    return out


def import_graph() -> dict[str, set[str]]:
    mods = modules()
    graph = {}
    for name, path in mods.items():
        targets = set()
        for imported in top_level_imports(path, name):
            if imported in mods and imported != name:
                targets.add(imported)
        graph[name] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            strong(v)
    return out


def _without_packages(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Edges between modules, ignoring a package __init__ that only re-exports its own submodules."""
    packages = {m for m, p in modules().items() if p.name == "__init__.py"}
    return {m: {t for t in ts if t not in packages or not m.startswith(t + ".")} for m, ts in graph.items()}


def test_no_import_cycles_between_modules():
    found = cycles(_without_packages(import_graph()))
    assert not found, f"import cycles: {found}"


def test_every_module_imports_alone_in_random_order():
    names = list(modules())
    random.Random(0).shuffle(names)
    code = "import importlib, sys\nfor n in sys.argv[1:]:\n    importlib.import_module(n)\n"
    done = subprocess.run([sys.executable, "-c", code, *names], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    for first in names[:3]:  # a fresh interpreter importing one module first
        single = subprocess.run([sys.executable, "-c", f"import {first}"], capture_output=True, text=True, cwd=ROOT)
        assert single.returncode == 0, (first, single.stderr[-1500:])


def third_party_imports() -> set[str]:
    """Top-level names of every non-stdlib import anywhere in the package (function-level included)."""
    names = set()
    for path in modules().values():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n not in ("videoabnn", "__future__")}


def test_setup_cfg_lists_exactly_the_imported_distributions():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    listed = {re.split(r"[<>=;\s\[]", line.strip())[0].lower()
              for line in cfg["options"]["install_requires"].splitlines() if line.strip()}
    imported = {DISTRIBUTIONS.get(n, n).lower() for n in third_party_imports()}
    # tensorboard is reached through torch.utils.tensorboard
    assert imported - listed == set(), f"imported but not in setup.cfg: {sorted(imported - listed)}"
    assert listed - imported - {"tensorboard"} == set(), f"listed but never imported: {sorted(listed - imported)}"


def all_imports(path: Path, name: str) -> list[str]:
    """Modules ``path`` imports anywhere (module level or inside functions), TYPE_CHECKING blocks skipped."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    skipped = {id(n) for node in ast.walk(tree) if _type_checking(node) for n in ast.walk(node)}
    return [t for node in ast.walk(tree) if id(node) not in skipped and isinstance(node, (ast.Import, ast.ImportFrom))
            for t in targets(node, package)]


def test_no_cycles_even_through_deferred_imports():
    """A function-level import that closes a loop is still a cycle (it only hides the ordering problem)."""
    mods = modules()
    graph = {n: {t for t in all_imports(p, n) if t in mods and t != n} for n, p in mods.items()}
    found = cycles(_without_packages(graph))
    assert not found, f"import cycles: {found}"


def test_models_layer_names_no_plugin_package():
    """The models layer never imports abnn/defenses (they register themselves from the package init)."""
    for path in (PACKAGE / "models").rglob("*.py"):
        text = path.read_text()
        assert "videoabnn.abnn" not in text and "videoabnn.defenses" not in text, path
