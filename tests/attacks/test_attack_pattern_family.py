"""The pattern-attack family: every printable attack is a member with one row of defaults, its options are
checked once (errors name the attack) and the digital protocol's plain compositing is the general renderer's
result up to float rounding."""

from __future__ import annotations

from dataclasses import fields

import pytest
import torch
from torch import nn

from videoabnn.attacks import attack_class, build_attack, list_attacks
from videoabnn.attacks.pattern import placement_forward, placement_theta
from videoabnn.attacks.pattern_family import (
    PATTERN_DEFAULTS,
    PatternAttack,
    PatternOptions,
    frame_layout,
    placed_layout,
    render_layout,
    texture_centre,
)
from videoabnn.capabilities import Capability, supports


def test_every_printable_attack_is_a_member_with_a_defaults_row():
    printable = {attack_class(name) for name in list_attacks() if supports(attack_class(name), Capability.PHYSICAL)}
    assert printable and all(issubclass(cls, PatternAttack) for cls in printable)
    assert {cls.name for cls in printable} == set(PATTERN_DEFAULTS)
    known = {f.name for f in fields(PatternOptions) if f.init}
    assert all(set(row) <= known for row in PATTERN_DEFAULTS.values())


@pytest.mark.parametrize("name", sorted(PATTERN_DEFAULTS))
def test_defaults_come_from_the_table(name):
    attack = build_attack(name, nn.Identity())
    want = {**{f.name: f.default for f in fields(PatternOptions) if f.init}, **PATTERN_DEFAULTS[name]}
    assert attack.pattern == want["pattern"] and attack.options.unseeded == want["unseeded"]
    assert attack.settings() == PatternOptions(**want).settings()
    if want["unseeded"] is not None:
        assert attack.options.seed_for(None) == want["unseeded"]
    assert attack.options.seed_for(7) == 7


@pytest.mark.parametrize("name, params, match", [
    ("universal_patch", {"pattern": "per_clip"}, "universal_patch: pattern"),
    ("roa", {"placement": "moving"}, "roa: placement"),
    ("framing", {"physical": {"draws": 0}}, "framing: physical.draws"),
    ("universal_framing", {"tv_weight": -1.0}, "universal_framing: nps_weight and tv_weight"),
])
def test_option_errors_name_the_attack(name, params, match):
    with pytest.raises(ValueError, match=match):
        build_attack(name, nn.Identity(), **params)


def test_plain_compositing_is_the_general_renderer_up_to_rounding():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 4, 16, 16, generator=gen)
    sel = torch.zeros(2, 4, 16, 16, dtype=torch.bool)
    sel[:, :, 3:9, 5:12] = True
    layout = frame_layout(torch.rand(2, 3, 4, 16, 16, generator=gen), sel)
    plain, general = render_layout(x, layout, plain=True), render_layout(x, layout)
    assert torch.allclose(plain, general, atol=1e-6) and not torch.equal(plain, x)
    patch = torch.rand(1, 3, 1, 6, 6, generator=gen)
    places = [{"cx": 7.5, "cy": 8.0, "scale": 1.1, "angle": 10.0}, {"cx": 5.0, "cy": 9.5, "scale": 0.9, "angle": -4.0}]
    forward = placement_forward(places, texture_centre(patch, 2, 4))
    layout = placed_layout(patch, torch.ones(1, 1, 4, 1, 1), forward, placement_theta(places, 6, (16, 16), x))
    plain, general = render_layout(x, layout, plain=True), render_layout(x, layout)
    assert torch.allclose(plain, general, atol=1e-4) and not torch.equal(plain, x)
