"""The gradient-masking audit passes a normal model and flags masked ones."""

from __future__ import annotations

import json

import pytest
import torch
from torch import Tensor, nn

from videoabnn.attacks import PGD, Transfer, audit_gradient_masking, worst_case_correct
from videoabnn.attacks.audit import NEEDS_CORRECT, EvaluationReuse
from videoabnn.attacks.universal import _batch_xy
from videoabnn.report.tables import audit_markdown
from videoabnn.results import AuditResult, ResultsError

from .conftest import Quantised, Scaled, TinyConv3d
from .test_attack_gradcheck import StraightThroughRounding

SETTINGS = dict(eps_list=(16 / 255,), eps=8 / 255, steps=4, more_steps=8, restarts=2, square_queries=10)


@pytest.fixture(scope="module")
def batches(data):
    x, y = data["test"]
    return [(x[:10], y[:10]), {"clip": x[10:20], "label": y[10:20]}]


def test_audit_passes_normal_model(trained, batches):
    report = audit_gradient_masking(trained, batches, surrogate=trained, **SETTINGS)
    assert report.passed, audit_markdown(report.to_dict())
    assert report.robust_accuracy <= report.metrics["worst_acc"]["8/255"] + 1e-9
    assert report.metrics["worst_acc"]["64/255"] <= 0.05
    json.dumps(report.to_dict())
    assert "| no_zero_gradients | pass" in audit_markdown(report.to_dict())


def test_audit_flags_input_quantisation(trained, batches):
    report = audit_gradient_masking(Quantised(trained), batches, **SETTINGS)
    failed = {c.name for c in report.failed()}
    assert not report.passed
    assert {"no_zero_gradients", "large_eps_breaks_model"} <= failed, audit_markdown(report.to_dict())
    assert {c.name: c.passed for c in report.checks}["whitebox_beats_transfer"] is None


def test_audit_flags_saturated_cross_entropy(trained, batches):
    report = audit_gradient_masking(Scaled(trained, 1e4), batches, **SETTINGS)
    failed = {c.name for c in report.failed()}
    assert "margin_not_far_stronger_than_ce" in failed, audit_markdown(report.to_dict())
    assert report.metrics["pgd_ce_acc"]["16/255"] - report.metrics["pgd_margin_acc"]["16/255"] > 0.1


# --------------------------------------------------------------------------- the bounded audit of tools/test.py
class Constant(nn.Module):
    """Ignores the clip: the same logits (class 0) for every input, so its input gradient is exactly zero."""

    def __init__(self, num_classes: int = 4) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.linspace(1.0, 0.0, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.bias.expand(x.shape[0], -1) + 0 * x.flatten(1)[:, :1]


class Detached(nn.Module):
    """A shortcut whose gradient is detached: attacks see only part of the model's gradient."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x) + self.model(x).detach()  # twice the logits, the gradient of one


FAST = dict(eps_list=(16 / 255,), eps=8 / 255, steps=2, more_steps=3, restarts=1, square_queries=5, gradcheck_clips=1,
            gradcheck_directions=1)


def bounded() -> dict:
    """The audit_gradient_masking arguments tools/test.py uses by default (eval.audit_budget, eval.audit_min_*)."""
    from videoabnn.config import config_from_dict
    from videoabnn.engine.audit_run import evaluation_budget

    return {**evaluation_budget(config_from_dict({})), "correct_only": True, "show_progress": False}


def test_bounded_defaults_come_from_the_config_once():
    args = bounded()
    assert args["steps"] == 5 and args["more_steps"] == 10 and args["restarts"] == 1 and args["square_queries"] == 50
    assert args["min_correct"] == 4 and args["min_clean_over_chance"] == 2.0 and len(args["eps_list"]) == 1


def test_a_model_that_cannot_be_judged_is_not_applicable_not_failed(batches):
    report = audit_gradient_masking(Constant(), batches, **bounded())
    data = report.to_dict()
    checks = {c.name: c for c in report.checks}
    assert report.passed is None and data["passed"] is None and report.robust_accuracy is None
    assert "below 2x chance" in report.not_applicable and "of 20 audited clips classified correctly" in report.not_applicable
    for name in NEEDS_CORRECT:
        assert checks[name].passed is None and checks[name].reason.startswith("not applicable: ")
    # the checks that need no correct clip still run: a constant model has no input gradient
    assert checks["no_zero_gradients"].passed is False and "no_zero_gradients" in report.not_applicable
    assert "pgd_ce_acc" not in report.metrics and report.metrics["correct_clips"] == 4  # 4 of 20 < 2x chance
    md = audit_markdown(data)
    assert "### Gradient-masking audit: not applicable: " in md and "| accuracy_falls_with_eps | not applicable |" in md
    assert "FAILED" not in md.splitlines()[0]
    parsed = AuditResult.from_dict(json.loads(json.dumps(data)), "audit")  # the schema reads it
    assert parsed.passed is None and parsed.not_applicable == report.not_applicable


def test_not_applicable_is_off_unless_asked(batches):
    """The function's own defaults (the study's path) judge every model, as before."""
    report = audit_gradient_masking(Constant(), batches, eps_list=(), steps=1, more_steps=1, restarts=1,
                                    square_queries=1, show_progress=False)
    assert report.not_applicable is None and report.passed is False


def test_results_schema_reads_old_and_new_audits():
    old = {"passed": True, "checks": [{"name": "no_zero_gradients", "passed": True, "reason": "ok"}]}
    assert AuditResult.from_dict(old, "old").not_applicable is None
    with pytest.raises(ResultsError, match="not_applicable"):
        AuditResult.from_dict({**old, "passed": None}, "bad")


def test_rendering_says_not_applicable():
    from videoabnn.report.tables import audit_table, results_markdown

    audit = {"passed": None, "not_applicable": "2 of 6 audited clips classified correctly", "checks": []}
    assert "not applicable: 2 of 6 audited clips" in audit_table([{"run": {"name": "m"}, "audit": audit}])
    res = {"run": {"name": "m", "method": "standard", "checkpoint": "c"}, "clean": {"clip_acc": 0.3},
           "summary": {"threat": "white", "worst_case": {}}, "attacks": {}, "num_clips": 6, "seed": 0, "audit": audit}
    assert "Gradient-masking audit: not applicable: 2 of 6 audited clips" in results_markdown(res)


@pytest.mark.parametrize("wrap", [Quantised, StraightThroughRounding, Detached], ids=["zero", "straight", "detached"])
def test_bounded_defaults_still_fail_masked_models(trained, batches, wrap):
    report = audit_gradient_masking(wrap(trained), batches, **bounded())
    expected = {Quantised: "no_zero_gradients", StraightThroughRounding: "gradient_matches_finite_differences",
                Detached: "gradient_matches_finite_differences"}[wrap]
    assert report.passed is False and expected in {c.name for c in report.failed()}, audit_markdown(report.to_dict())
    assert report.not_applicable is None


def test_bounded_defaults_pass_a_normal_model(trained, batches):
    report = audit_gradient_masking(trained, batches, **bounded())
    assert report.passed, audit_markdown(report.to_dict())


def _like_the_audit(model, batches, e, steps, seed=0, surrogate=None):
    """Per-clip correctness an evaluation would hold for CE and margin PGD at ``e`` (the audit's own settings)
    or, with ``surrogate``, for a transfer PGD: what EvaluationReuse carries."""
    out = []
    for batch in batches:
        x, y = _batch_xy(batch)
        if surrogate is None:
            attacks = [PGD(model, eps=e, alpha=2.5 * e / steps, steps=steps, loss=loss, seed=seed) for loss in ("ce", "margin")]
        else:
            attacks = [Transfer(model, surrogate=surrogate, attack="pgd", eps=e, alpha=2.5 * e / steps, steps=steps, seed=seed)]
        out.append(worst_case_correct(model, x, y.long(), attacks))
    return torch.cat(out)


@pytest.mark.parametrize("masked", [False, True], ids=["normal", "quantised"])
def test_reused_evaluation_results_give_the_same_verdicts_as_re_attacking(trained, batches, masked):
    model = Quantised(trained) if masked else trained
    other = TinyConv3d().eval()
    args = dict(FAST, eps_list=(4 / 255,), show_progress=False)
    attacked = audit_gradient_masking(model, batches, surrogate=other, **args)
    reuse = EvaluationReuse(white={4 / 255: _like_the_audit(model, batches, 4 / 255, args["steps"]),
                                   8 / 255: _like_the_audit(model, batches, 8 / 255, args["steps"])},
                            transfer={8 / 255: _like_the_audit(model, batches, 8 / 255, args["steps"], surrogate=other)},
                            attacks={"white 4/255": ["pgd_4"], "white 8/255": ["pgd_8"], "transfer 8/255": ["pgd_8"]})
    read = audit_gradient_masking(model, batches, surrogate=other, reuse=reuse, **args)
    assert {c.name: c.passed for c in read.checks} == {c.name: c.passed for c in attacked.checks}
    assert read.passed == attacked.passed and read.robust_accuracy == attacked.robust_accuracy
    before, after = ({c.name: c.value for c in r.checks} for r in (attacked, read))
    assert after["accuracy_falls_with_eps"] == pytest.approx(before["accuracy_falls_with_eps"])
    assert after["whitebox_beats_transfer"] == pytest.approx(before["whitebox_beats_transfer"])
    assert 4 / 255 not in read.settings["attacked_eps"] and "read from the evaluation" in {
        c.name: c for c in read.checks}["accuracy_falls_with_eps"].reason
    assert read.metrics["transfer_acc"] is None  # the surrogate was not attacked again


def test_correct_only_attacks_give_the_same_report(trained, batches):
    """Attacking only the clean-correct clips changes no check: they count only those clips."""
    args = dict(FAST, show_progress=False)
    full = audit_gradient_masking(trained, batches, **args)
    some = audit_gradient_masking(trained, batches, correct_only=True, **args)
    assert {c.name: (c.passed, c.value) for c in full.checks if c.name != "margin_not_far_stronger_than_ce"} == {
        c.name: (c.passed, c.value) for c in some.checks if c.name != "margin_not_far_stronger_than_ce"}
    assert full.robust_accuracy == some.robust_accuracy
