"""Physical EOT: seeded draws, zero-variance transforms change nothing, and a pattern fitted through the
expectation survives fresh draws of it better than one fitted without."""

from __future__ import annotations

import pytest
import torch

from videoabnn.attacks import UniversalPatch, build_attack
from videoabnn.attacks.pattern import identity
from videoabnn.attacks.physical_eot import CONDITIONS, PhysicalDistribution, parse_physical, render_pattern

from .conftest import moving_squares

NEUTRAL = {"brightness": [0, 0], "contrast": [1, 1], "gamma": [1, 1], "color": [1, 1], "rotation": [0, 0],
           "shear": [0, 0], "scale": [1, 1], "perspective": [0, 0], "defocus": [0, 0], "motion": [0, 0],
           "noise": [0, 0], "compression": "none", "draws": 3}
# stronger than the default preset, so that the gap between EOT and no EOT is wide on a tiny model
STRONG = {"brightness": [-0.2, 0.2], "contrast": [0.7, 1.3], "noise": [0.0, 0.06], "defocus": [0.0, 0.04],
          "compression_prob": 1.0, "quality": [20, 60]}


def test_parse_physical_presets_fields_and_errors():
    dist, draws = parse_physical({"preset": "default", "draws": 2, "noise": [0, 0.05]})
    assert draws == 2 and dist.noise == (0.0, 0.05) and dist.brightness == PhysicalDistribution().brightness
    assert parse_physical(None) == (None, 1) and parse_physical("none") == (None, 1)
    assert parse_physical(True)[0] == PhysicalDistribution()
    for bad, match in [({"nois": [0, 1]}, "unknown field"), ({"noise": [0.1, 0.0]}, "low <= high"),
                       ({"draws": 0}, "draws"), ("sunny", "preset"), ({"compression": "mp3"}, "compression")]:
        with pytest.raises(ValueError, match=match):
            parse_physical(bad)


def test_draws_are_seeded_per_clip_and_fresh_streams_differ():
    x = torch.rand(3, 3, 4, 16, 16)
    tex, mask = torch.rand(3, 3, 4, 5, 5), torch.ones(3, 1, 4, 5, 5)
    fwd = identity(3, 4, x)
    fwd[..., 0, 2] = fwd[..., 1, 2] = 4.0
    centre, half = torch.full((3, 4, 2), 2.0), torch.full((3, 4), 2.5)
    dist = PhysicalDistribution()

    def run(seed):
        g = [torch.Generator().manual_seed(seed + i) for i in range(3)]
        return render_pattern(x, tex, mask, fwd, centre, half, dist, g)

    assert torch.equal(run(0), run(0)) and not torch.equal(run(0), run(10))
    a = build_attack("roa", torch.nn.Identity(), seed=0, size=4, position="random", pattern="shared")
    jit, phys = a.streams(x, 0, "fit")
    jit2, phys2 = a.streams(x, 0, "eval")
    assert torch.rand(1, generator=phys[0]) != torch.rand(1, generator=phys2[0])


@pytest.mark.parametrize("name, params", [("roa", {"size": 5, "position": "gradient", "candidates": 3}),
                                          ("roa", {"size": 4, "position": "random"}),
                                          ("framing", {"width": 2})])
@pytest.mark.parametrize("pattern", ["shared", "per_frame"])
def test_zero_variance_eot_equals_the_plain_attack(tiny, name, params, pattern):
    x, y = moving_squares(3, 4)
    plain = build_attack(name, tiny, seed=2, pattern=pattern, steps=3, tv_weight=1e-6, **params)(x, y)
    eot = build_attack(name, tiny, seed=2, pattern=pattern, steps=3, tv_weight=1e-6, physical=NEUTRAL, **params)(x, y)
    assert not torch.equal(plain, x) and torch.equal(plain, eot)


def test_zero_variance_eot_equals_the_plain_universal_patch(tiny):
    x, y = moving_squares(8, 4)
    plain = UniversalPatch(tiny, size=5, seed=0, epochs=2).fit([(x, y)], show_progress=False)
    eot = UniversalPatch(tiny, size=5, seed=0, epochs=2, physical=NEUTRAL).fit([(x, y)], show_progress=False)
    assert eot.draws == 3 and torch.equal(plain.param, eot.param)


def test_conditions_change_the_view_and_fresh_draws_differ_from_the_fit(tiny):
    x, y = moving_squares(2, 8)
    views = build_attack("roa", tiny, seed=0, size=5, position="random", pattern="shared", steps=1,
                         physical={"draws": 1}).physical_views(x, y)
    assert set(views) == {"digital", "fresh", "no_pattern", *CONDITIONS}
    assert all(v.shape == x.shape and 0 <= float(v.min()) and float(v.max()) <= 1 for v in views.values())
    assert all(not torch.equal(views["digital"], views[k]) for k in ("fresh", *CONDITIONS))


# only the camera part (blur, noise), so pixels away from the pattern are the same in both views
CAMERA_ONLY = {**NEUTRAL, "defocus": [0.0, 0.03], "noise": [0.0, 0.05], "draws": 1}


@pytest.mark.parametrize("make", [
    lambda m: build_attack("roa", m, seed=3, size=5, position="random", pattern="shared", steps=1, physical=CAMERA_ONLY),
    lambda m: UniversalPatch(m, size=5, seed=3, epochs=1, physical=CAMERA_ONLY)])
def test_no_pattern_control_sees_the_same_camera_draws_as_the_fresh_view(tiny, make):
    """The control row's clips: no pattern, the same per-clip blur and noise as the fresh view (so their
    pixels agree away from the pattern), not the clean clips themselves."""
    x, y = moving_squares(3, 5)
    attack = make(tiny)
    if hasattr(attack, "fit"):
        attack.fit([(x, y)], show_progress=False)
    views = attack.physical_views(x, y)
    near = (views["digital"] != x).any(1, keepdim=True).float()  # the pattern's pixels, then 4 px around them
    near = torch.nn.functional.max_pool3d(near, (1, 9, 9), stride=1, padding=(0, 4, 4)).bool().expand_as(x)
    assert bool(near.any()) and not bool(near.all())
    assert torch.allclose(views["no_pattern"][~near], views["fresh"][~near], atol=1e-6)
    assert not torch.allclose(views["no_pattern"], x, atol=1e-3)  # the camera changed the clips
    assert torch.equal(attack.physical_views(x, y, dist=NEUTRAL)["no_pattern"], x)
    assert float(views["dark"].mean()) < float(views["digital"].mean()) < float(views["bright"].mean())


def _success(model, x, y, clean, views):
    with torch.no_grad():
        return [float(((model(v).argmax(1) != y) & clean).sum() / clean.sum()) for v in views]


def test_eot_fitted_sticker_survives_fresh_draws_better(trained, data):
    """Property: under fresh draws of the distribution, a sticker fitted through it fools more clips than
    one fitted on the exact pixels (mean over four independent evaluation streams)."""
    x, y = data["test"]
    with torch.no_grad():
        clean = trained(x).argmax(1) == y
    assert clean.float().mean() > 0.8
    dist = parse_physical(STRONG)[0]
    rates = {}
    for eot in (False, True):
        attack = build_attack("roa", trained, seed=0, size=4, position="gradient", candidates=4, pattern="shared",
                              steps=6, alpha=0.12, physical={**STRONG, "draws": 3} if eot else None)
        sticker = attack.fit_sticker(x, y, 0)
        with torch.no_grad():
            views = [attack.render(x, sticker, 0, f"eval{i}", dist) for i in range(4)]
        rates[eot] = sum(_success(trained, x, y, clean, views)) / 4
    assert rates[True] > rates[False] + 0.03, rates
