"""The audit's parameters live once, in ``AuditSettings``: the config schema's sections read them, the old keyword
arguments map onto them, and the checklist is one named function per check."""

from __future__ import annotations

import ast
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from videoabnn.attacks import audit_checks as checks
from videoabnn.attacks import audit_gradient_masking
from videoabnn.attacks.gradcheck import STEPS, TOLERANCE
from videoabnn.audit_settings import BUDGET, AuditSettings
from videoabnn.config import load_defaults
from videoabnn.config_schema import AuditBudget, StudyAudit

from .test_attack_audit_golden import BOUNDED, CUSTOM, GOLDEN, _surrogate, close, plain

ROOT = Path(__file__).resolve().parents[2]
FIELDS = [f.name for f in dataclasses.fields(AuditSettings)]


@pytest.fixture(scope="module")
def batches(data) -> list:
    x, y = data["test"]
    return [(x[:10], y[:10]), {"clip": x[10:20], "label": y[10:20]}]


def test_the_schema_reads_its_audit_sections_from_the_settings():
    assert list(StudyAudit.model_fields) == FIELDS
    assert all(f.default is None for f in StudyAudit.model_fields.values())  # null: the setting's default
    assert set(AuditBudget.model_fields) == {"clips", *BUDGET} == set(load_defaults()["eval"]["audit_budget"])
    assert set(BUDGET) <= set(FIELDS)


def test_the_schema_module_stays_torch_free():
    code = "import sys, videoabnn.config_schema, videoabnn.audit_settings; assert 'torch' not in sys.modules"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-1500:]


def test_defaults_agree_with_the_gradient_check():
    s = AuditSettings()
    assert s.gradcheck_steps == STEPS and s.gradcheck_tol == TOLERANCE


def test_settings_from_a_config_section():
    s = AuditSettings.from_mapping({"steps": 3, "eps_list": [0.1, 0.2], "tol": None, "gradcheck_steps": [1e-5]})
    assert s.steps == 3 and s.eps_list == (0.1, 0.2) and s.tol is None and s.gradcheck_steps == (1e-5,)
    assert AuditSettings.from_mapping(None) == AuditSettings() and hash(s)
    assert s.replace(steps=4).steps == 4 and s.steps == 3
    with pytest.raises(TypeError, match="stepz"):
        AuditSettings.from_mapping({"stepz": 1})


def test_every_check_is_one_named_function_in_report_order():
    names = [c.name for c in checks.CHECKS]
    assert names == ["accuracy_falls_with_eps", "large_eps_breaks_model", "more_iterations_do_not_help",
                     "margin_not_far_stronger_than_ce", "whitebox_beats_blackbox", "whitebox_beats_transfer",
                     "no_zero_gradients", "finite_gradients", "deterministic_outputs",
                     "gradient_matches_finite_differences"]
    assert all(c.judge.__name__ == c.name for c in checks.CHECKS)
    assert checks.NEEDS_CORRECT == tuple(names[:6])


@pytest.mark.parametrize("path", ["videoabnn/attacks/audit.py", "videoabnn/attacks/audit_checks.py",
                                  "videoabnn/engine/audit_run.py", "videoabnn/audit_settings.py"])
def test_no_audit_function_is_over_80_lines(path):
    tree = ast.parse((ROOT / path).read_text())
    long = [(n.name, n.end_lineno - n.lineno + 1) for n in ast.walk(tree)
            if isinstance(n, ast.FunctionDef) and n.end_lineno - n.lineno + 1 > 80]
    assert not long, long


@pytest.mark.parametrize("case, args, seed, with_surrogate", [("custom_settings", CUSTOM, 7, True),
                                                               ("bounded_normal", BOUNDED, 3, False)])
def test_a_settings_object_gives_the_golden_report(trained, batches, case, args, seed, with_surrogate):
    """``settings=AuditSettings(...)`` is what the old keyword arguments now map onto: the same report."""
    other = _surrogate() if with_surrogate else None
    got = audit_gradient_masking(trained, batches, other, settings=AuditSettings(**args), seed=seed,
                                 show_progress=False)
    diffs = close(plain(got.to_dict()), json.loads(GOLDEN.read_text())[case])
    assert not diffs, diffs[:10]


def test_keyword_arguments_replace_fields_of_the_settings(trained, batches):
    base = AuditSettings(eps_list=(), steps=1, more_steps=1, restarts=1, square_queries=1, gradcheck_clips=1,
                         gradcheck_directions=1)
    report = audit_gradient_masking(trained, batches[:1], settings=base, steps=2, show_progress=False)
    assert report.settings["steps"] == 2 and report.settings["more_steps"] == 1
    with pytest.raises(TypeError):
        audit_gradient_masking(trained, batches[:1], settings=base, not_a_setting=1, show_progress=False)
