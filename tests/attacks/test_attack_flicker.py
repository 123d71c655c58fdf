"""The flickering attack: a per-frame, per-channel offset uniform over the frame, inside the eps box and [0, 1],
smoothed in time by its regulariser, stronger than a random flicker of the same size, scored under the
physical threat model with the pattern attacks' views."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from videoabnn.attacks import FlickerAttack, build_attack
from videoabnn.attacks.flicker import roughness
from videoabnn.attacks.physical_eot import CONDITIONS
from videoabnn.threats import PHYSICAL, threat_model

from .conftest import moving_squares

EPS = 8 / 255


def test_offset_is_uniform_per_frame_and_channel_within_eps_and_range(tiny):
    x, y = moving_squares(3, 1)
    x[0, :, :, :4] = 1.0  # saturated pixels: clipped there, uniform elsewhere
    adv = build_attack("flicker", tiny, eps=EPS, steps=3, seed=0)(x, y)
    assert adv.shape == x.shape and adv.dtype == x.dtype and float(adv.min()) >= 0 and float(adv.max()) <= 1
    diff = adv - x
    assert float(diff.abs().max()) <= EPS + 1e-6 and float(diff.abs().max()) > EPS / 2
    unclipped = (adv > 0) & (adv < 1)
    for i in range(x.shape[0]):
        for c in range(x.shape[1]):
            for t in range(x.shape[2]):
                d = diff[i, c, t][unclipped[i, c, t]]
                assert d.numel() and torch.allclose(d, d[0].expand_as(d), atol=1e-6)


def test_eps_zero_returns_the_clip(tiny):
    x, y = moving_squares(2, 2)
    assert torch.equal(build_attack("flicker", tiny, eps=0.0, steps=2, seed=0)(x, y), x)


@pytest.mark.parametrize("params", [{}, {"pattern": "shared", "physical": {"draws": 1}}, {"frames": "random:2"}])
def test_batch_equals_each_clip_alone(tiny, params):
    x, y = moving_squares(3, 3)
    attack = build_attack("flicker", tiny, eps=EPS, steps=2, seed=4, **params)
    batch = attack(x, y)
    for i in range(x.shape[0]):
        assert torch.allclose(batch[i:i + 1], attack(x[i:i + 1], y[i:i + 1]), atol=1e-6)


def test_unattacked_frames_get_no_offset(tiny):
    x, y = moving_squares(2, 4)
    adv = build_attack("flicker", tiny, eps=EPS, steps=2, seed=0, frames="first:1")(x, y)
    assert torch.equal(adv[:, :, 1:], x[:, :, 1:]) and not torch.equal(adv[:, :, :1], x[:, :, :1])


def test_smoothness_regulariser_lowers_temporal_roughness(trained, data):
    x, y = data["test"]
    rough = {}
    for beta in (0.0, 100.0):
        attack = build_attack("flicker", trained, eps=EPS, steps=10, beta_1=beta, beta_2=beta, thickness=0.0, seed=0)
        delta = attack.fit_offset(x, y, 0)
        rough[beta] = float(roughness(delta, 1).mean() + roughness(delta, 2).mean())
    assert rough[100.0] < 0.5 * rough[0.0], rough


def test_fitted_flicker_beats_a_random_flicker_of_the_same_size(trained, data):
    x, y = data["test"]
    eps = 16 / 255
    gen = torch.Generator().manual_seed(0)
    signs = torch.randint(0, 2, (x.shape[0], x.shape[1], x.shape[2]), generator=gen).to(x) * 2 - 1
    rand = (x + eps * signs[..., None, None]).clamp(0, 1)
    adv = build_attack("flicker", trained, eps=eps, steps=10, seed=0)(x, y)
    ce = nn.functional.cross_entropy
    with torch.no_grad():
        clean_loss, rand_loss, adv_loss = (float(ce(trained(v), y)) for v in (x, rand, adv))
        acc_rand, acc_adv = (float((trained(v).argmax(1) == y).float().mean()) for v in (rand, adv))
    assert adv_loss > rand_loss + 0.1 and adv_loss > clean_loss + 0.1, (clean_loss, rand_loss, adv_loss)
    assert acc_adv < acc_rand, (acc_adv, acc_rand)


def test_physical_views_are_the_pattern_attacks_views(tiny):
    x, y = moving_squares(2, 5)
    params = threat_model(PHYSICAL).params({"eps": EPS, "steps": 1, "seed": 0})
    flicker = build_attack("flicker", tiny, **params)
    roa = build_attack("roa", tiny, **threat_model(PHYSICAL).params({"size": 5, "position": "random", "steps": 1,
                                                                      "seed": 0}))
    assert flicker.pattern == "shared" and flicker.draws == 4
    views, expected = flicker.physical_views(x, y), roa.physical_views(x, y)
    assert list(views) == list(expected) == ["digital", "fresh", "no_pattern", *CONDITIONS]
    assert all(v.shape == x.shape and 0 <= float(v.min()) and float(v.max()) <= 1 for v in views.values())
    assert torch.equal(views["no_pattern"], expected["no_pattern"])  # the same camera draws of the eval stream
    assert not torch.equal(views["digital"], views["fresh"]) and not torch.equal(views["digital"], x)
    assert float(views["dark"].mean()) < float(views["digital"].mean()) < float(views["bright"].mean())


def test_shared_loop_is_one_flicker_at_a_drawn_phase(tiny):
    x, y = moving_squares(2, 6)
    attack = build_attack("flicker", tiny, eps=EPS, steps=2, seed=0, pattern="shared")
    delta = attack.fit_offset(x, y, 0)
    shown = (attack(x, y) - x)[..., 8, 8]  # (N, C, T) at a pixel not clipped
    assert any(torch.allclose(shown[i], delta[i].roll(k, -1), atol=1e-6) for i in range(2) for k in range(4))


@pytest.mark.parametrize("params, match", [({"placement": "jitter"}, "placement"), ({"tv_weight": 1.0}, "print"),
                                           ({"eps": -1.0}, "must be >= 0"), ({"pattern": "per_clip"}, "pattern")])
def test_bad_options_name_the_attack(params, match):
    with pytest.raises(ValueError, match=match):
        build_attack("flicker", nn.Identity(), **params)


def test_registered_with_its_budget():
    from videoabnn.attacks import attack_budget

    assert isinstance(build_attack("flicker", nn.Identity()), FlickerAttack)
    assert attack_budget("flicker", {"eps": EPS}) == ("linf", EPS)
    with pytest.raises(ValueError, match="NCTHW"):
        build_attack("flicker", nn.Identity())(torch.rand(1, 3, 8, 8), torch.zeros(1, dtype=torch.long))
