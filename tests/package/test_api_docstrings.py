"""Every registered model builder, input transform, training objective and dataset class documents its arguments
in one Google-style template: ``Args:`` naming every parameter of its signature (``*args``/``**kwargs`` aside),
``Shape:`` (models, transforms, datasets), ``Threat model:`` (transforms) and ``Paper:`` lines; a stated
``Default:`` matches the signature. No model is built: only signatures and docstrings are read."""

from __future__ import annotations

import ast
import inspect
import math
import re
from collections.abc import Callable

import pytest

from videoabnn.abnn import ABNN, AdaptiveBatchNorm3d, TestTimeBN, clip_statistics
from videoabnn.data import (
    HMDB51,
    UCF101,
    ListFileDataset,
    VideoDataset,
    build_dataset,
    generate_synthetic,
    open_video,
)
from videoabnn.defenses.objectives import OBJECTIVES
from videoabnn.defenses.transforms import _TRANSFORMS
from videoabnn.methods import METHODS
from videoabnn.models import (
    VideoClassifier,
    create_model,
    load_model,
    pytorchvideo_models,
    resnet3d,
    save_model,
    torchvision_video,
)
from videoabnn.models.registry import _REGISTRY, list_models

ENTRY = re.compile(r"^(\*{0,2}\w+)(?: \([^)]*\))?:(?:\s|$)")  # "name:" or "name (type):"
VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
LITERAL_NODES = (ast.Expression, ast.Constant, ast.Tuple, ast.List, ast.Load, ast.BinOp, ast.UnaryOp,
                 ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.USub)
UNSTATED = object()
MAX_LINE = 120


def doc_of(obj: object) -> str:
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


def parameters(func: Callable, skip_self: bool = False) -> list[inspect.Parameter]:
    """The parameters a docstring must name: all but ``*args``/``**kwargs``, ``self`` and private ``_x`` ones."""
    params = list(inspect.signature(func).parameters.values())
    if skip_self:
        params = params[1:]
    return [p for p in params if p.kind not in VARIADIC and not p.name.startswith("_")]


def undocumented(doc: str, func: Callable, skip_self: bool = False) -> list[str]:
    documented = set(args_entries(doc))
    return [p.name for p in parameters(func, skip_self) if p.name not in documented]


def stated_default(text: str):
    """The value after the last ``Default:`` when it is a plain literal (``0.1``, ``"B"``, ``(1, 2, 2)``...)."""
    found = re.findall(r"Default: (.+?)(?:\.\s|\.$|$)", text)
    if not found:
        return UNSTATED
    value = re.split(r" \(|;| for | else ", found[-1])[0].strip().rstrip(".").replace("``", "")
    try:
        tree = ast.parse(value, mode="eval")
    except SyntaxError:
        return UNSTATED
    if not all(isinstance(node, LITERAL_NODES) for node in ast.walk(tree)):
        return UNSTATED
    return eval(compile(tree, "<default>", "eval"))


def same(a, b) -> bool:
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(same(u, v) for u, v in zip(a, b))
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return type(a) is type(b) and a == b


def wrong_defaults(doc: str, func: Callable, skip_self: bool = False) -> list[str]:
    """``name: documented vs code`` for each stated default that differs from the signature's."""
    entries = args_entries(doc)
    out = []
    for p in parameters(func, skip_self):
        stated = stated_default(entries.get(p.name, ""))
        if stated is UNSTATED:
            continue
        if p.default is inspect.Parameter.empty:
            out.append(f"{p.name}: documented Default {stated!r}, but the argument is required")
        elif not same(stated, p.default):
            out.append(f"{p.name}: documented Default {stated!r}, code {p.default!r}")
    return out


def has_line(doc: str, title: str) -> bool:
    return re.search(rf"^{title}: \S", doc, re.MULTILINE) is not None


def long_lines(doc: str) -> list[str]:
    return [line for line in doc.splitlines() if len(line) > MAX_LINE]


# ---- model builders (the registry; loop-generated builders carry their docstring at run time)


@pytest.mark.parametrize("name", list_models())
def test_model_builder_documents_every_argument(name: str) -> None:
    builder = _REGISTRY[name].builder
    doc = doc_of(builder)
    where = f"model {name!r} ({builder.__module__}.{builder.__qualname__})"
    assert not undocumented(doc, builder), f"{where}: Args does not document {undocumented(doc, builder)}"
    assert section(doc, "Shape"), f"{where}: no 'Shape:' section"
    assert has_line(doc, "Paper"), f"{where}: no 'Paper: ...' line"
    assert any(line.strip().startswith(">>> ") for line in section(doc, "Examples")), f"{where}: no example"
    assert not wrong_defaults(doc, builder), f"{where}: {wrong_defaults(doc, builder)}"
    assert not long_lines(doc), f"{where}: lines over {MAX_LINE} characters: {long_lines(doc)}"


@pytest.mark.parametrize("factory, builder_name", [
    (resnet3d._register_resnet, "resnet3d_18"),
    (torchvision_video._register, "r3d_18"),
    (pytorchvideo_models._register_x3d, "x3d_s"),
])
def test_loop_factory_static_docstring_carries_the_template(factory: Callable, builder_name: str) -> None:
    """What a documentation tool reads from the source: the factory's docstring names the builder's arguments."""
    doc = doc_of(factory)
    builder = _REGISTRY[builder_name].builder
    missing = undocumented(doc, builder) + undocumented(doc, factory)
    assert not missing, f"{factory.__qualname__}: Args does not document {missing}"
    assert section(doc, "Shape") and has_line(doc, "Paper"), f"{factory.__qualname__}: no Shape / Paper"


# ---- input transforms


@pytest.mark.parametrize("name", sorted(_TRANSFORMS))
def test_input_transform_documents_its_constructor(name: str) -> None:
    cls = _TRANSFORMS[name]
    doc = doc_of(cls)
    where = f"input transform {name!r} ({cls.__name__})"
    missing = undocumented(doc, cls.__init__, skip_self=True)
    assert not missing, f"{where}: Args does not document {missing}"
    assert has_line(doc, "Threat model"), f"{where}: no 'Threat model: ...' line"
    assert has_line(doc, "Paper"), f"{where}: no 'Paper: ...' line"
    assert section(doc, "Shape"), f"{where}: no 'Shape:' section"
    assert not wrong_defaults(doc, cls.__init__, skip_self=True), f"{where}: {wrong_defaults(doc, cls.__init__, True)}"
    assert not long_lines(doc), f"{where}: lines over {MAX_LINE} characters"


# ---- training objectives


@pytest.mark.parametrize("method", METHODS)
def test_training_objective_documents_its_arguments(method: str) -> None:
    cls = OBJECTIVES[method]
    doc = doc_of(cls)
    where = f"method {method!r} ({cls.__name__})"
    missing = undocumented(doc, cls.__init__, skip_self=True)
    assert not missing, f"{where}: Args does not document {missing}"
    assert has_line(doc, "Threat model"), f"{where}: no 'Threat model: ...' line"
    assert not wrong_defaults(doc, cls.__init__, skip_self=True), f"{where}: {wrong_defaults(doc, cls.__init__, True)}"


# ---- datasets and the other public API


@pytest.mark.parametrize("cls", [UCF101, HMDB51, ListFileDataset, VideoDataset], ids=lambda c: c.__name__)
def test_dataset_documents_every_init_argument(cls: type) -> None:
    doc = doc_of(cls)
    missing = undocumented(doc, cls.__init__, skip_self=True)
    assert not missing, f"{cls.__name__}: Args does not document {missing}"
    shape = " ".join(section(doc, "Shape"))
    assert '"clip"' in shape and '"label"' in shape and '"video"' in shape, f"{cls.__name__}: Shape lacks the item"
    assert not wrong_defaults(doc, cls.__init__, skip_self=True), f"{cls.__name__}: {wrong_defaults(doc, cls.__init__, True)}"
    assert not long_lines(doc), f"{cls.__name__}: lines over {MAX_LINE} characters"


@pytest.mark.parametrize("obj", [ABNN, AdaptiveBatchNorm3d, TestTimeBN, VideoClassifier],
                         ids=lambda c: c.__name__)
def test_class_documents_every_init_argument(obj: type) -> None:
    doc = doc_of(obj)
    missing = undocumented(doc, obj.__init__, skip_self=True)
    assert not missing, f"{obj.__name__}: Args does not document {missing}"
    assert section(doc, "Shape"), f"{obj.__name__}: no 'Shape:' section"
    assert not wrong_defaults(doc, obj.__init__, skip_self=True), f"{obj.__name__}: {wrong_defaults(doc, obj.__init__, True)}"


@pytest.mark.parametrize("func", [create_model, load_model, save_model, clip_statistics, build_dataset,
                                  generate_synthetic, open_video], ids=lambda f: f.__name__)
def test_function_documents_every_argument(func: Callable) -> None:
    doc = doc_of(func)
    assert not undocumented(doc, func), f"{func.__name__}: Args does not document {undocumented(doc, func)}"
    assert not wrong_defaults(doc, func), f"{func.__name__}: {wrong_defaults(doc, func)}"


def test_the_checks_catch_an_undocumented_argument() -> None:
    """The parser really fails a docstring whose Args misses a parameter or states a wrong default."""

    def builder(num_classes: int, shortcut: str = "B", **kwargs) -> None:
        """A builder.

        Args:
            num_classes: classes.
            **kwargs: more.
        """

    doc = doc_of(builder)
    assert undocumented(doc, builder) == ["shortcut"]
    wrong = doc.replace("**kwargs: more.", 'shortcut: type. Default: "A".')
    assert wrong_defaults(wrong, builder) == ["shortcut: documented Default 'A', code 'B'"]
