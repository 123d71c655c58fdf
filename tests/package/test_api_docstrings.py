"""Every registered model builder, input transform, training objective and dataset class documents its arguments
in one Google-style template: ``Args:`` naming every parameter of its signature (``*args``/``**kwargs`` aside),
``Shape:`` (models, transforms, datasets), ``Threat model:`` (transforms) and ``Paper:`` lines; a stated
``Default:`` matches the signature. No model is built: only signatures and docstrings are read."""

from __future__ import annotations

import importlib.util
import inspect
import re
from collections.abc import Callable
from pathlib import Path

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
from videoabnn.defenses.registry import OBJECTIVES
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

_spec = importlib.util.spec_from_file_location("docstring_template", Path(__file__).parents[1] / "docstring_template.py")
template = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(template)
UNSTATED, args_entries, same, has_line = template.UNSTATED, template.args_entries, template.same, template.has_line
doc_of, section = template.own_doc, template.section
VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
MAX_LINE = 120


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
    return template.literal(re.split(r" \(|;| for | else ", found[-1])[0]) if found else UNSTATED


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
