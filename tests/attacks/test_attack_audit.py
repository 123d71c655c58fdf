"""The gradient-masking audit passes a normal model and flags masked ones."""

from __future__ import annotations

import json

import pytest

from videoabnn.attacks import audit_gradient_masking
from videoabnn.report.tables import audit_markdown

from .conftest import Quantised, Scaled

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
