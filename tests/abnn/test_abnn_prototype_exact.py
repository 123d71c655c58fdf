"""The authors' prototype as built (prototype_exact) and their substitute's gradient cut."""

import math

import pytest
import torch
from torch import nn

from videoabnn.abnn import AdaptiveBatchNorm3d, ClipSizeError, EqualLinear
from videoabnn.abnn.adaptive_bn import prototype_exact_parameter_count
from videoabnn.attacks import check_gradient
from videoabnn.models import create_model, load_model, save_model

X = (3, 3, 4, 16, 16)


def _exact(**kw):
    return create_model("abnn", num_classes=4, mode="prototype_exact", input_size=X[2:],
                        substitute_kwargs={"width": 4}, target_kwargs={"width": 4}, **kw)


def test_equal_linear_scales_weights_at_run_time():
    layer = EqualLinear(50, 6)
    x = torch.randn(2, 50)
    assert torch.allclose(layer(x), x @ (layer.weight * math.sqrt(2 / 50)).T)
    assert torch.equal(layer.bias, torch.zeros(6))
    big = EqualLinear(4000, 64)
    assert abs(float(big.weight.detach().std()) - 1.0) < 0.02  # stored weights are N(0, 1)


def test_layer_at_init_is_std_bn_plus_mean_and_tied_to_its_feature_size():
    layer = AdaptiveBatchNorm3d(6, 4, mode="prototype_exact", feature_shape=(4, 2, 3, 3)).eval()
    assert layer.bn.affine and layer.style.in_features == 4 * 2 * 3 * 3
    with torch.no_grad():
        layer.style.weight.zero_()  # only the bias (gamma = 1, beta = 0) remains
    z, feats = torch.randn(2, 6, 2, 5, 5), torch.randn(2, 4, 2, 3, 3) * 3 + 1
    mu, sigma = feats.mean(dim=(2, 3, 4)), feats.std(dim=(2, 3, 4))
    flat = feats.flatten(1)
    expected = flat.std(dim=1)[:, None, None, None, None] * layer.bn(z) + flat.mean(dim=1)[:, None, None, None, None]
    assert torch.allclose(layer(z, mu, sigma, feats), expected, atol=1e-5)
    assert sum(p.numel() for p in layer.parameters()) == prototype_exact_parameter_count((4, 2, 3, 3), 6)
    with pytest.raises(ClipSizeError, match=r"\(4, 2, 3, 3\)"):
        layer(z, mu, sigma, torch.randn(2, 4, 2, 4, 4))
    with pytest.raises(ValueError, match="feature_shape"):
        AdaptiveBatchNorm3d(6, 4, mode="prototype_exact")


def test_composite_names_the_clip_size_it_was_built_for():
    model = _exact().eval()
    assert [layer.feature_shape for layer in model.adaptive] == [
        (4, 4, 8, 8), (4, 4, 8, 8), (8, 2, 4, 4), (16, 1, 2, 2), (32, 1, 1, 1)]
    expected = sum(prototype_exact_parameter_count(layer.feature_shape, c)
                   for layer, c in zip(model.adaptive, model.target.stage_channels))
    assert model.adaptive_parameter_count() == expected
    assert model(torch.rand(*X)).shape == (3, 4)
    with pytest.raises(ClipSizeError, match="built for clips of 4x16x16.*got 8x16x16"):
        model(torch.rand(1, 3, 8, 16, 16))
    with pytest.raises(ValueError, match="input_size"):
        create_model("abnn", num_classes=4, mode="prototype_exact", substitute_kwargs={"width": 4})


def test_batch_statistics_couple_clips_and_clip_statistics_do_not():
    x = torch.rand(*X)
    for stats, coupled in (("clip", False), ("batch", True)):
        model = _exact(prototype_statistics=stats).eval()
        assert model.batch_coupled is coupled
        gap = (model(x)[:1] - model(x[:1])).abs().max()
        assert (gap > 1e-4) if coupled else (gap < 1e-5), (stats, float(gap))


def test_checkpoint_rebuilds_prototype_exact_and_the_cut(tmp_path):
    model = _exact(prototype_statistics="batch", shortcut_gradient="cut").eval()
    loaded = load_model(save_model(model, tmp_path / "m.pt"))
    x = torch.rand(*X)
    assert torch.equal(loaded.eval()(x), model(x)) and loaded.batch_coupled
    kwargs = torch.load(tmp_path / "m.pt", weights_only=True)["kwargs"]
    assert kwargs["input_size"] == [4, 16, 16] and kwargs["shortcut_gradient"] == "cut"
    assert not check_gradient(loaded, x[:2]).passed  # the reloaded model keeps the truncated gradient
    default = create_model("abnn", num_classes=4, substitute_kwargs={"width": 4}, target_kwargs={"width": 4})
    plain = torch.load(save_model(default, tmp_path / "d.pt"), weights_only=True)["kwargs"]
    assert not {"input_size", "prototype_statistics", "shortcut_gradient"} & set(plain)  # default specs unchanged


def test_shortcut_cut_keeps_predictions_and_truncates_the_gradient():
    torch.manual_seed(1)
    full = create_model("abnn", num_classes=4, substitute_kwargs={"width": 4}, target_kwargs={"width": 4})
    cut = create_model("abnn", num_classes=4, substitute_kwargs={"width": 4}, target_kwargs={"width": 4},
                       shortcut_gradient="cut")
    with torch.no_grad():
        for p in full.adaptive.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    cut.load_state_dict(full.state_dict())
    full.eval(), cut.eval()
    x = torch.rand(*X)
    assert torch.equal(full(x), cut(x))
    grads = []
    for model in (full, cut):
        xg = x.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(nn.functional.cross_entropy(model(xg), torch.tensor([0, 1, 2])), xg)
        grads.append(g)
    assert not torch.allclose(grads[0], grads[1], atol=1e-7)
    assert check_gradient(full, x[:2]).passed and not check_gradient(cut, x[:2]).passed


def test_config_selects_prototype_exact_and_the_cut():
    from videoabnn.config import config_from_dict
    from videoabnn.engine.build import model_spec

    cfg = config_from_dict({"train": {"method": "abnn"}, "data": {"frames": 4, "crop": 16},
                            "abnn": {"mode": "prototype_exact", "prototype_statistics": "batch",
                                     "substitute": {"shortcut_gradient": "cut"}}})
    arch, kwargs = model_spec(cfg, 4)
    assert arch == "abnn" and kwargs["input_size"] == [4, 16, 16]
    assert kwargs["prototype_statistics"] == "batch" and kwargs["shortcut_gradient"] == "cut"
    default = model_spec(config_from_dict({"train": {"method": "abnn"}}), 4)[1]
    assert not {"input_size", "prototype_statistics", "shortcut_gradient"} & set(default)
