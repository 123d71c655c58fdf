"""The training-method registry (``videoabnn.methods``) agrees with the objective classes and drives the engine."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from videoabnn.config import ConfigError, config_from_dict
from videoabnn.defenses import OBJECTIVES, Objective
from videoabnn.defenses.registry import PACKAGE, objective_class
from videoabnn.methods import (
    ADVERSARIAL_METHODS,
    COMPOSITE_METHODS,
    METHODS,
    TRAINING_METHODS,
    TrainingMethod,
    training_method,
)

ROOT = Path(__file__).resolve().parents[2]
NOT_METHOD_ARGS = ("attack_factory", "attack_params", "label_smoothing")


def signature_defaults(cls: type) -> dict:
    """Keyword defaults of ``cls`` and the ``__init__`` of every base it passes ``**kwargs`` on to."""
    out: dict = {}
    for klass in cls.__mro__:
        if "__init__" in vars(klass) and issubclass(klass, Objective):
            for p in inspect.signature(klass.__init__).parameters.values():
                if p.default is not p.empty and p.name not in NOT_METHOD_ARGS:
                    out.setdefault(p.name, p.default)
    return out


@pytest.mark.parametrize("method", TRAINING_METHODS, ids=lambda m: m.name)
def test_declared_defaults_are_the_objective_s(method: TrainingMethod):
    cls = OBJECTIVES[method.name]
    assert cls.name == method.name
    assert dict(method.method_args) == signature_defaults(cls)
    assert method.adversarial == (cls.needs_attack or cls.reads_attack_params)


def test_names_and_orders():
    assert METHODS[:7] == ("standard", "abnn", "at", "pgd_at", "alp", "trades", "feature_denoise")
    assert METHODS[-1] == "abnn_pgd_at" and list(OBJECTIVES) == list(METHODS)
    assert ADVERSARIAL_METHODS == ("pgd_at", "at", "alp", "trades", "feature_denoise", "abnn_pgd_at")
    assert COMPOSITE_METHODS == ("abnn", "abnn_pgd_at")
    with pytest.raises(ValueError, match="unknown train.method 'madry'; expected one of standard, abnn"):
        training_method("madry")


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return found


def test_objective_modules_never_reach_the_registry():
    """The registry imports objective modules by name: none of them may import it back (a hidden cycle)."""
    todo = {f"{PACKAGE}.{m.objective.partition(':')[0]}" for m in TRAINING_METHODS}
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        seen.add(name)
        path = ROOT / (name.replace(".", "/") + ".py")
        if not path.is_file():
            continue
        for imported in _imports(path):
            assert imported not in (f"{PACKAGE}.registry", PACKAGE), f"{name} imports {imported}"
            if imported.startswith("videoabnn.") and imported not in seen:
                todo.add(imported)


def test_a_bad_declaration_is_refused():
    with pytest.raises(TypeError, match="whose name is 'pgd'"):
        objective_class(TrainingMethod("pgd", "objectives:PgdAtObjective", "x", 9))
    with pytest.raises(ValueError, match="network must be one of"):
        TrainingMethod("x", "objectives:Objective", "x", 9, network="denoise")


def test_config_schema_reads_the_registry():
    assert config_from_dict({"train": {"method": "abnn_pgd_at"}})["train"]["method"] == "abnn_pgd_at"
    with pytest.raises(ConfigError, match="train.method"):
        config_from_dict({"train": {"method": "madry"}})


def _cfg(method: str, **train) -> dict:
    return config_from_dict({"device": "cpu", "data": {"num_classes": 3, "frames": 4, "crop": 16},
                             "model": {"name": "tiny_r3d", "kwargs": {"width": 4}},
                             "abnn": {"substitute": {"name": "tiny_r3d", "kwargs": {"width": 4}}},
                             "train": {"method": method, **train}})


def test_engine_builds_the_declared_network_and_optimizer():
    from videoabnn.engine.build import build_model, model_spec, uses_abnn
    from videoabnn.engine.trainer import build_optimizer

    assert [m for m in METHODS if uses_abnn(_cfg(m))] == list(COMPOSITE_METHODS)
    assert model_spec(_cfg("abnn_pgd_at"), 3) == model_spec(_cfg("abnn"), 3)
    assert model_spec(_cfg("feature_denoise"), 3)[1]["affinity"] == "embedded_gaussian"
    cfg = _cfg("abnn_pgd_at", method_args={"stats_lr_scale": 0.5}, lr=0.01)
    groups = build_optimizer(build_model(cfg, 3, load_weights=False), cfg["train"]).param_groups
    assert [g["lr"] for g in groups] == [0.01, 0.005]
    with pytest.raises(ValueError, match="'pgd_at': unknown train.method_args \\['denoise_affinity'\\]"):
        from videoabnn.engine.trainer import build_training_objective

        build_training_objective(_cfg("pgd_at", method_args={"denoise_affinity": "gaussian"}))


def test_the_study_gives_every_composite_a_substitute_and_the_gray_box_threat():
    from videoabnn.study import steps

    study = config_from_dict({"name": "s", "work_dir": "w", "abnn": {"substitute": {"name": "tiny_r3d"}},
                              "study": {"init": "scratch", "methods": {"ours": {"train.method": "abnn_pgd_at"}}}})
    assert steps.needs_substitute(study)
    run_cfg = steps.model_config(study, "ours", "sub.pt")
    assert steps._extra_threats(study, run_cfg, "ours", None) == ["gray"]
