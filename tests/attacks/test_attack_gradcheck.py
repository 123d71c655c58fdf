"""The finite-difference gradient check passes intact models and fails cut or straight-through gradients."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from videoabnn.attacks import audit_gradient_masking, check_gradient
from videoabnn.defenses import wrap_with_transform
from videoabnn.models import create_model
from videoabnn.models.shortcut_gradient import cut_shortcut_gradient

X = (2, 3, 4, 16, 16)


class StraightThroughRounding(nn.Module):
    """Rounds the input to 8 levels with a straight-through (identity) backward: a wrong gradient."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x + (torch.round(x * 7) / 7 - x).detach())


def _abnn(mode: str, **kw) -> nn.Module:
    model = create_model("abnn", num_classes=4, mode=mode, substitute_kwargs={"width": 4},
                         target_kwargs={"width": 4}, **kw)
    with torch.no_grad():  # move W off 0 so the statistics pathway carries gradient
        for p in model.adaptive.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return model.eval()


def _tiny() -> nn.Module:
    return create_model("tiny_r3d", num_classes=4, width=4).eval()


def _tiny_cut() -> nn.Module:
    model = _tiny()
    cut_shortcut_gradient(model)
    return model


@pytest.fixture
def x() -> Tensor:
    return torch.rand(*X)


@pytest.mark.parametrize("build", [
    _tiny,
    lambda: _abnn("modulate"),
    lambda: _abnn("prototype"),
    lambda: wrap_with_transform(_tiny(), {"name": "median"}).eval(),
    lambda: wrap_with_transform(_tiny(), {"name": "median"}).eval().attack_view(),
], ids=["tiny_r3d", "abnn_modulate", "abnn_prototype", "median", "median_attack_view"])
def test_intact_models_pass(build, x):
    result = check_gradient(build(), x)
    assert result.passed and result.max_rel_error < 1e-5, result.reason()
    assert result.surrogate is None and result.checked == "the model as attacked"
    assert len(result.rel_errors) == 3 and all(abs(d) > 0 for d in result.directional_derivatives)


@pytest.mark.parametrize("build", [
    _tiny_cut,
    lambda: _abnn("modulate", shortcut_gradient="cut"),
    lambda: StraightThroughRounding(_tiny()),
], ids=["detached_shortcut", "abnn_substitute_cut", "straight_through_rounding"])
def test_cut_and_straight_through_gradients_fail(build, x):
    result = check_gradient(build(), x)
    assert not result.passed and result.max_rel_error > 1e-2, result.reason()
    for errors in result.rel_errors_per_step.values():  # wrong at both step sizes, not a kink
        assert max(errors) > 1e-2
    assert "not the model's gradient" in result.reason()


def test_detached_shortcut_keeps_outputs(x):
    intact = _tiny()
    cut = create_model("tiny_r3d", num_classes=4, width=4).eval()
    cut.load_state_dict(intact.state_dict())
    assert cut_shortcut_gradient(cut) == 3  # the first block of stages 2-4
    assert torch.equal(cut(x), intact(x))
    with pytest.raises(ValueError, match="downsample"):
        cut_shortcut_gradient(nn.Sequential(nn.Conv3d(3, 3, 1)))


def test_bpda_view_is_flagged_as_surrogate_and_checks_the_classifier(x):
    view = wrap_with_transform(_tiny(), {"name": "jpeg", "quality": 75}).eval().attack_view()
    result = check_gradient(view, x)
    assert result.passed, result.reason()
    assert result.checked == "the classifier behind the input transform"
    assert "BPDA 'identity'" in result.surrogate and "surrogate" in result.reason()
    inner_cut = wrap_with_transform(StraightThroughRounding(_tiny()), {"name": "jpeg", "quality": 75}).eval()
    assert not check_gradient(inner_cut.attack_view(), x).passed  # a broken classifier behind BPDA still fails


def test_audit_reports_the_check(x):
    y = torch.randint(0, 4, (X[0],))
    settings = dict(eps_list=(), eps=8 / 255, large_eps=64 / 255, steps=2, more_steps=2, restarts=1,
                    square_queries=2, show_progress=False)
    good = audit_gradient_masking(_tiny(), [(x, y)], **settings)
    bad = audit_gradient_masking(StraightThroughRounding(_tiny()), [(x, y)], **settings)
    entry = {c.name: c for c in good.checks}["gradient_matches_finite_differences"]
    assert entry.passed and entry.value < 1e-5 and entry.threshold == 1e-3
    assert good.metrics["gradient_check"]["clips"] == 2
    failed = {c.name: c for c in bad.failed()}
    assert "gradient_matches_finite_differences" in failed
    assert failed["gradient_matches_finite_differences"].value > 1e-2
    assert f"{failed['gradient_matches_finite_differences'].value:.2e}" in failed[
        "gradient_matches_finite_differences"].reason
