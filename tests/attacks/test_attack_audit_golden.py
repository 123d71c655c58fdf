"""Golden: what ``audit_gradient_masking`` reports (every check's name, verdict, value, threshold and reason,
the metrics and the settings) on tiny models with fixed seeds stays what the code computed before the audit
was split into named checks and one settings object (issue 26).

Cases: the thorough defaults, non-default settings, the bounded audit of ``videoabnn-test`` on models it
cannot judge ("not applicable"), gradient-masked models (a check fails) and an audit reading an evaluation's
rows. Regenerate only on purpose with
``VIDEOABNN_WRITE_GOLDEN=1 pytest tests/attacks/test_attack_audit_golden.py``.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from videoabnn.attacks import audit_gradient_masking
from videoabnn.attacks.audit import EvaluationReuse

from .conftest import Quantised, Scaled, TinyConv3d
from .test_attack_audit import FAST, SETTINGS, Constant, Detached, _like_the_audit
from .test_attack_gradcheck import StraightThroughRounding

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "audit_reports.json"
WRITE = os.environ.get("VIDEOABNN_WRITE_GOLDEN") == "1"
_spec = importlib.util.spec_from_file_location("tolerant", Path(__file__).parents[1] / "golden" / "tolerant.py")
tolerant = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tolerant)
close = tolerant.close

# the bounded audit of videoabnn-test with defaults.yaml's eval.audit_budget / eval.audit_min_* (as literals)
BOUNDED = dict(steps=5, more_steps=10, restarts=1, square_queries=50, eps_list=(0.0156862745,), gradcheck_clips=1,
               gradcheck_directions=2, min_correct=4, min_clean_over_chance=2.0, correct_only=True)
# every other setting away from its default
CUSTOM = dict(eps=4 / 255, eps_list=(2 / 255, 16 / 255), large_eps=32 / 255, steps=3, more_steps=6, restarts=2,
              square_queries=20, square_p_init=0.5, tol=0.05, margin_gap=0.2, large_eps_max_acc=0.1, zero_grad_tol=0.1,
              frames="first:2", max_batches=1, gradcheck_clips=1, gradcheck_directions=2, gradcheck_steps=(1e-5,),
              gradcheck_tol=1e-2, min_correct=2, min_clean_over_chance=1.5, correct_only=True)


def _surrogate() -> nn.Module:
    torch.manual_seed(5)
    return TinyConv3d().eval()


def _untrained() -> nn.Module:
    torch.manual_seed(0)
    return TinyConv3d().eval()


def _reuse(model: nn.Module, batches: list, other: nn.Module) -> EvaluationReuse:
    steps = FAST["steps"]
    return EvaluationReuse(white={4 / 255: _like_the_audit(model, batches, 4 / 255, steps),
                                  16 / 255: _like_the_audit(model, batches, 16 / 255, steps)},
                           transfer={8 / 255: _like_the_audit(model, batches, 8 / 255, steps, surrogate=other)},
                           attacks={"white 4/255": ["pgd_4"], "white 16/255": ["pgd_16"], "transfer 8/255": ["tr_8"]})


# name -> (model, batches) -> the report's dict
CASES: dict[str, Callable[[nn.Module, list], dict]] = {
    "defaults_with_surrogate": lambda m, b: audit_gradient_masking(m, b, _surrogate(), show_progress=False).to_dict(),
    "custom_settings": lambda m, b: audit_gradient_masking(m, b, _surrogate(), seed=7, show_progress=False,
                                                           **CUSTOM).to_dict(),
    "bounded_normal": lambda m, b: audit_gradient_masking(m, b, seed=3, show_progress=False, **BOUNDED).to_dict(),
    "bounded_constant_not_applicable": lambda m, b: audit_gradient_masking(Constant(), b, show_progress=False,
                                                                           **BOUNDED).to_dict(),
    "bounded_untrained_not_applicable": lambda m, b: audit_gradient_masking(_untrained(), b, show_progress=False,
                                                                            **BOUNDED).to_dict(),
    "constant_judged": lambda m, b: audit_gradient_masking(Constant(), b, eps_list=(), steps=1, more_steps=1, restarts=1,
                                                           square_queries=1, show_progress=False).to_dict(),
    "quantised_fails": lambda m, b: audit_gradient_masking(Quantised(m), b, show_progress=False, **SETTINGS).to_dict(),
    "saturated_fails": lambda m, b: audit_gradient_masking(Scaled(m, 1e4), b, show_progress=False,
                                                           **SETTINGS).to_dict(),
    "detached_fails": lambda m, b: audit_gradient_masking(Detached(m), b, show_progress=False, **BOUNDED).to_dict(),
    "straight_through_fails": lambda m, b: audit_gradient_masking(StraightThroughRounding(m), b, show_progress=False,
                                                                  **BOUNDED).to_dict(),
    "reuse_with_surrogate": lambda m, b: audit_gradient_masking(
        m, b, _surrogate(), reuse=_reuse(m, b, _surrogate()), show_progress=False, **FAST).to_dict(),
    "reuse_quantised": lambda m, b: audit_gradient_masking(
        Quantised(m), b, _surrogate(), reuse=_reuse(Quantised(m), b, _surrogate()), correct_only=True,
        show_progress=False, **FAST).to_dict(),
}


@pytest.fixture(scope="module")
def batches(data) -> list:
    x, y = data["test"]
    return [(x[:10], y[:10]), {"clip": x[10:20], "label": y[10:20]}]


def plain(value: Any) -> Any:
    """``value`` as JSON reads it back (tuples as lists, keys as strings)."""
    return json.loads(json.dumps(value))


def test_golden_file_covers_every_case():
    if WRITE:
        pytest.skip("writing")
    assert set(json.loads(GOLDEN.read_text())) == set(CASES)


@pytest.mark.parametrize("case", list(CASES))
def test_audit_report_is_unchanged(trained, batches, case):
    got = plain(CASES[case](trained, batches))
    if WRITE:
        stored = json.loads(GOLDEN.read_text()) if GOLDEN.is_file() else {}
        stored[case] = got
        GOLDEN.write_text(json.dumps(stored, indent=1, sort_keys=True) + "\n")
        return
    want = json.loads(GOLDEN.read_text())[case]
    diffs = close(got, want)
    assert not diffs, "\n".join(diffs[:20])
