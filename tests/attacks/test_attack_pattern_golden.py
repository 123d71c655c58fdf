"""Golden: what every pattern attack computes (ROA with each position mode, framing, universal patch and
framing; the digital attack, ``fit``, ``physical_views`` with the default distribution and with several
draws, jitter, the printability penalty, NCHW images, ``settings()`` and the saved settings) stays what the
code computed before the pattern-attack family (issue 26).

Each output is pinned by its sum, sum of squares, changed-pixel count, a few sampled values (rtol 1e-6) and
the tiny model's predictions on it. Regenerate only on purpose with
``VIDEOABNN_WRITE_GOLDEN=1 pytest tests/attacks/test_attack_pattern_golden.py``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

from videoabnn.attacks import UniversalFraming, UniversalPatch, build_attack

from .conftest import TinyConv3d, moving_squares

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "attack_pattern.json"
WRITE = os.environ.get("VIDEOABNN_WRITE_GOLDEN") == "1"
RTOL = 1e-6
NEUTRAL = {"brightness": [0, 0], "contrast": [1, 1], "gamma": [1, 1], "color": [1, 1], "rotation": [0, 0],
           "shear": [0, 0], "scale": [1, 1], "perspective": [0, 0], "defocus": [0, 0], "motion": [0, 0],
           "noise": [0, 0], "compression": "none", "draws": 2}


def _video_model() -> nn.Module:
    torch.manual_seed(0)
    return TinyConv3d().eval()


def _image_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, 4)).eval()


def _summary(model: nn.Module, x: Tensor, out: Tensor) -> dict:
    """What pins one output clip batch: sums, changed pixels, sampled values, the model's predictions."""
    flat = out.detach().double().flatten()
    picks = torch.linspace(0, flat.numel() - 1, 7).round().long()
    with torch.no_grad():
        pred = model(out).argmax(1).tolist()
    return {"sum": float(flat.sum()), "sq": float((flat ** 2).sum()), "changed": int((out != x).sum()),
            "samples": flat[picks].tolist(), "pred": pred}


def _param(attack) -> dict:
    flat = attack.param.detach().double().flatten()
    picks = torch.linspace(0, flat.numel() - 1, 7).round().long()
    return {"shape": list(attack.param.shape), "sum": float(flat.sum()), "sq": float((flat ** 2).sum()),
            "samples": flat[picks].tolist()}


def _views(model: nn.Module, x: Tensor, views: dict[str, Tensor]) -> dict:
    return {k: _summary(model, x, v) for k, v in views.items()}


def _sticker(name: str, clips: int, data_seed: int, views: bool = False, **params) -> Callable[[], dict]:
    def run() -> dict:
        model = _video_model()
        x, y = moving_squares(clips, data_seed)
        attack = build_attack(name, model, seed=3, **params)
        out = {"attack": _summary(model, x, attack(x, y)), "settings": attack.settings()}
        if views:
            out["views"] = _views(model, x, attack.physical_views(x, y))
            out["views_neutral"] = _views(model, x, attack.physical_views(x, y, dist=NEUTRAL))
        return out
    return run


def _universal(cls: type, views: bool = True, frames_probe: bool = False, **params) -> Callable[[], dict]:
    def run() -> dict:
        model = _video_model()
        x, y = moving_squares(8, 4)
        xt, yt = moving_squares(3, 11)
        attack = cls(model, **params).fit([(x[:4], y[:4]), (x[4:], y[4:])], show_progress=False)
        out = {"param": _param(attack), "attack": _summary(model, xt, attack(xt, yt)),
               "apply": _summary(model, xt, attack.apply(xt)), "settings": attack.settings(),
               "saved_settings": attack._settings()}
        if views:
            out["views"] = _views(model, xt, attack.physical_views(xt, yt))
            out["views_strong"] = _views(model, xt, attack.physical_views(xt, yt, dist={"noise": [0.0, 0.05]}))
        if cls is UniversalPatch:
            fixed = {"cy": 7.0, "cx": 9.5, "scale": 1.1, "angle": 12.0}
            out["placed"] = _summary(model, xt, attack.apply(xt, placement=fixed))
        return out
    return run


def _images(name: str, **params) -> Callable[[], dict]:
    """The digital attacks on NCHW images (the plain path keeps them)."""
    def run() -> dict:
        model = _image_model()
        x = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(5))
        y = torch.tensor([0, 1, 2])
        if name == "universal_patch":
            attack = UniversalPatch(model, size=5, epochs=2, **params).fit([(x, y)], show_progress=False)
            return {"param": _param(attack), "attack": _summary(model, x, attack(x, y)),
                    "apply": _summary(model, x, attack.apply(x))}
        if name == "universal_framing":
            attack = UniversalFraming(model, width=2, epochs=2, **params).fit([(x, y)], show_progress=False)
            return {"param": _param(attack), "attack": _summary(model, x, attack(x, y))}
        return {"attack": _summary(model, x, build_attack(name, model, seed=1, **params)(x, y))}
    return run


STRONG = {"brightness": [-0.2, 0.2], "noise": [0.0, 0.05], "rotation": [-10, 10], "perspective": [-0.1, 0.1],
          "draws": 2}
SCENARIOS: dict[str, Callable[[], dict]] = {
    # ROA: each position mode, the digital protocol (content per frame) and one shared sticker
    "roa_random": _sticker("roa", 3, 4, views=True, size=5, position="random", steps=3),
    "roa_exhaustive": _sticker("roa", 3, 4, size=6, position="exhaustive", stride=5, steps=2),
    "roa_gradient": _sticker("roa", 3, 4, size=5, position="gradient", candidates=3, steps=3),
    "roa_random_per_frame_place": _sticker("roa", 3, 4, size=4, position="random", per_frame=True, steps=2),
    "roa_gradient_per_frame_place": _sticker("roa", 3, 4, size=4, position="gradient", per_frame=True,
                                             candidates=3, steps=2),
    "roa_frames_first2": _sticker("roa", 3, 4, size=5, position="random", frames="first:2", steps=2),
    "roa_shared_gradient": _sticker("roa", 3, 4, views=True, size=5, position="gradient", candidates=3,
                                    pattern="shared", steps=3),
    "roa_shared_exhaustive_keep": _sticker("roa", 2, 6, size=6, position="exhaustive", stride=5, init="keep",
                                           pattern="shared", steps=2),
    "roa_shared_random_init": _sticker("roa", 2, 6, size=5, position="random", init="random", pattern="shared",
                                       steps=2),
    "roa_jitter": _sticker("roa", 2, 6, size=5, position="random", pattern="shared", placement="jitter",
                           jitter={"shift": 0.1, "scale": 0.1, "rotation": 10.0}, steps=2),
    "roa_physical_draws2": _sticker("roa", 2, 8, views=True, size=5, position="random", pattern="shared",
                                    physical={"draws": 2}, steps=2),
    "roa_physical_strong_per_frame": _sticker("roa", 2, 8, size=5, position="random", physical=STRONG, steps=2),
    "roa_physical_neutral": _sticker("roa", 2, 8, size=5, position="random", physical=NEUTRAL, steps=2),
    "roa_penalty_shared": _sticker("roa", 3, 9, size=6, position="random", pattern="shared", init="random",
                                   nps_weight=2.0, tv_weight=3.0, steps=3, alpha=0.05),
    "roa_penalty_per_frame": _sticker("roa", 3, 9, size=6, position="random", tv_weight=3.0, steps=3, alpha=0.05),
    # framing: digital, shared, physical, penalty
    "framing": _sticker("framing", 3, 4, width=2, steps=3),
    "framing_shared": _sticker("framing", 3, 4, views=True, width=2, pattern="shared", steps=3),
    "framing_physical_jitter": _sticker("framing", 2, 8, width=3, pattern="shared", placement="jitter",
                                        physical={"draws": 2}, steps=2),
    "framing_penalty": _sticker("framing", 2, 8, width=3, pattern="shared", nps_weight=1.0, tv_weight=1.0,
                                steps=2),
    # universal patch and framing: fit, the digital attack, apply, views; per-frame, jitter, physical, penalty
    "universal_patch": _universal(UniversalPatch, size=5, epochs=2, seed=1, alpha=0.05),
    "universal_patch_unseeded": _universal(UniversalPatch, views=False, size=4, epochs=1, alpha=0.05),
    "universal_patch_per_frame": _universal(UniversalPatch, size=5, epochs=2, seed=1, alpha=0.05,
                                            pattern="per_frame"),
    "universal_patch_jitter": _universal(UniversalPatch, views=False, size=5, epochs=2, seed=1, alpha=0.05,
                                         placement="jitter"),
    "universal_patch_physical_draws2": _universal(UniversalPatch, size=5, epochs=2, seed=2, alpha=0.05,
                                                  physical={"draws": 2}),
    "universal_patch_physical_neutral": _universal(UniversalPatch, views=False, size=5, epochs=1, seed=2,
                                                   alpha=0.05, physical=NEUTRAL),
    "universal_patch_penalty": _universal(UniversalPatch, views=False, size=6, epochs=2, seed=0, alpha=0.05,
                                          nps_weight=2.0, tv_weight=3.0),
    "universal_patch_frames_every2": _universal(UniversalPatch, views=False, size=5, epochs=1, seed=1,
                                                alpha=0.05, frames="every:2"),
    "universal_framing": _universal(UniversalFraming, width=2, epochs=2, seed=1, alpha=0.05),
    "universal_framing_per_frame": _universal(UniversalFraming, views=False, width=2, epochs=2, seed=1,
                                              alpha=0.05, pattern="per_frame"),
    "universal_framing_physical_draws2": _universal(UniversalFraming, width=3, epochs=1, seed=2, alpha=0.05,
                                                    physical={"draws": 2}, placement="jitter"),
    "universal_framing_penalty": _universal(UniversalFraming, views=False, width=3, epochs=2, seed=0, alpha=0.05,
                                            nps_weight=1.0, tv_weight=2.0, frames="first:2"),
    # NCHW images: the digital attacks
    "images_roa": _images("roa", size=5, position="gradient", candidates=3, steps=3),
    "images_framing": _images("framing", width=2, steps=3),
    "images_universal_patch": _images("universal_patch", seed=1, alpha=0.05),
    "images_universal_framing": _images("universal_framing", seed=1, alpha=0.05),
}


def _close(got, want, where: str) -> None:
    if isinstance(want, dict):
        assert isinstance(got, dict) and sorted(got) == sorted(want), f"{where}: keys {sorted(got)} != {sorted(want)}"
        for key in want:
            _close(got[key], want[key], f"{where}.{key}")
    elif isinstance(want, list):
        assert isinstance(got, (list, tuple)) and len(got) == len(want), f"{where}: {got} != {want}"
        for i, (g, w) in enumerate(zip(got, want)):
            _close(g, w, f"{where}[{i}]")
    elif isinstance(want, float):
        assert got == pytest.approx(want, rel=RTOL, abs=1e-9), f"{where}: {got} != {want}"
    else:
        assert got == want, f"{where}: {got!r} != {want!r}"


def _jsonable(value):
    return json.loads(json.dumps(value))


@pytest.fixture(scope="module")
def golden() -> dict:
    if WRITE:
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(json.dumps({k: _jsonable(run()) for k, run in SCENARIOS.items()}, indent=1) + "\n")
    return json.loads(GOLDEN.read_text())


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_pattern_attack_outputs_are_unchanged(golden, scenario):
    assert scenario in golden, f"{scenario}: not in {GOLDEN.name}; regenerate on purpose (see the module docstring)"
    _close(_jsonable(SCENARIOS[scenario]()), golden[scenario], scenario)


def test_every_scenario_is_pinned(golden):
    assert sorted(golden) == sorted(SCENARIOS)
