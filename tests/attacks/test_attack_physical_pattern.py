"""One pattern over time: shared patterns are identical across frames (and clips for universal attacks),
per-frame ones are not; jitter moves a shared pattern without changing it."""

from __future__ import annotations

import pytest
import torch

from videoabnn.attacks import UniversalFraming, UniversalPatch, build_attack

from .conftest import moving_squares


@pytest.mark.parametrize("name, params", [("roa", {"size": 5, "position": "gradient", "candidates": 3}),
                                          ("roa", {"size": 4, "position": "random", "per_frame": True}),
                                          ("framing", {"width": 2})])
def test_shared_pattern_is_one_pattern_over_time(tiny, name, params):
    x, y = moving_squares(3, 5)
    shared = build_attack(name, tiny, seed=1, pattern="shared", **params).fit_sticker(x, y, 1)
    assert shared.param.dim() == 4  # (N, C, h, w): one pattern per clip, no time axis
    x_adv = build_attack(name, tiny, seed=1, pattern="shared", **params)(x, y)
    for i in range(len(x)):  # the region's pixels in raster order: the same values on every frame
        crops = [x_adv[i, :, t][:, shared.sel[i, t]] for t in range(x.shape[2])]
        assert crops[0].numel() and all(torch.equal(crops[0], c) for c in crops[1:])
    per_frame = build_attack(name, tiny, seed=1, **params)(x, y)
    sel = shared.sel if not params.get("per_frame") else (per_frame != x).any(1)
    first = per_frame[0, :, 0][:, sel[0, 0]]
    assert any(not torch.equal(first, per_frame[0, :, t][:, sel[0, t]]) for t in range(1, x.shape[2]))


def test_jitter_moves_a_shared_sticker_per_frame(tiny):
    x, y = moving_squares(2, 6)
    fixed = build_attack("roa", tiny, seed=0, size=5, position="random", pattern="shared")(x, y)
    jittered = build_attack("roa", tiny, seed=0, size=5, position="random", pattern="shared", placement="jitter",
                            jitter={"shift": 0.15, "scale": 0.0, "rotation": 0.0})(x, y)
    moved = [(jittered[:, :, t] != x[:, :, t]).any(1) for t in range(x.shape[2])]
    assert any(not torch.equal(moved[0], m) for m in moved[1:])  # the place changes over the frames
    assert not torch.equal(fixed, jittered)
    with pytest.raises(ValueError, match="placement"):
        build_attack("roa", tiny, placement="moving")
    with pytest.raises(ValueError, match="pattern"):
        build_attack("framing", tiny, pattern="per_clip")


@pytest.mark.parametrize("cls, params", [(UniversalPatch, {"size": 6}), (UniversalFraming, {"width": 2})])
def test_universal_shared_pattern_is_one_for_all_clips_and_frames(tiny, cls, params):
    x, y = moving_squares(8, 7)
    shared = cls(tiny, seed=0, epochs=1, **params).fit([(x, y)], show_progress=False)
    per_frame = cls(tiny, seed=0, epochs=1, pattern="per_frame", **params).fit([(x, y)], show_progress=False)
    assert shared.param.dim() == 3 and per_frame.param.shape[1] == x.shape[2]
    assert any(not torch.equal(per_frame.param[:, 0], per_frame.param[:, t]) for t in range(1, x.shape[2]))
    fixed = {"cy": 8.0, "cx": 8.0, "scale": 1.0, "angle": 0.0}
    probe = torch.rand(1, 3, 1, 16, 16).expand(5, 3, 4, 16, 16).contiguous()  # one frame everywhere

    def show(attack):
        return attack.apply(probe, placement=fixed) if cls is UniversalPatch else attack.apply(probe)

    out = show(shared)
    assert not torch.equal(out, probe) and torch.equal(out, out[:1, :, :1].expand_as(out))
    out = show(per_frame)
    assert any(not torch.equal(out[:, :, 0], out[:, :, t]) for t in range(1, x.shape[2]))
