"""Contract properties of every attack: ranges, budgets, regions, frame masks, batch independence,
closed-form optima on a linear model, model state and inputs left untouched."""

from __future__ import annotations

import pytest
import torch

from videoabnn.attacks import ATTACK_PRESETS, PGD, build_attack, list_attacks

from .conftest import CLIP, LinearModel, TinyConv3d

LINF = [
    ("fgsm", {}),
    ("pgd", {"steps": 3}),
    ("pgd", {"steps": 3, "shared_over_time": True}),
    ("pgd", {"steps": 3, "restarts": 2, "loss": "margin"}),
    ("mifgsm", {"steps": 3}),
    ("apgd_ce", {"steps": 4}),
    ("apgd_dlr", {"steps": 4}),
    ("square", {"queries": 6}),
]
L2 = [
    ("pgd_l2", {"steps": 3}),
    ("pgd_l2", {"steps": 3, "shared_over_time": True}),
    ("apgd", {"steps": 4, "norm": "l2"}),
]
PHYSICAL = [
    ("roa", {"size": 5, "position": "random"}),
    ("roa", {"size": 0.3, "position": "gradient", "candidates": 4}),
    ("roa", {"size": 6, "position": "exhaustive", "stride": 5}),
    ("roa", {"size": 4, "position": "random", "per_frame": True}),
    ("roa", {"size": 4, "position": "gradient", "per_frame": True, "candidates": 3}),
    ("framing", {"width": 2}),
    ("spa", {"pixels": 5}),
    ("spa", {"pixels": 5, "select": "random"}),
]
ALL = LINF + L2 + PHYSICAL + [("multav", {"eps": 1.2, "alpha": 1.05, "steps": 3, "random_start": True})]


def clips(n: int = 3, seed: int = 0) -> torch.Tensor:
    x = torch.rand((n, *CLIP), generator=torch.Generator().manual_seed(seed))
    x[:, :, :, 0, 0] = 0.0  # pixels at the box edges
    x[:, :, :, 0, 1] = 1.0
    return x


def ids(cases):
    return [f"{n}-{'-'.join(f'{k}={v}' for k, v in p.items())}" for n, p in cases]


@pytest.mark.parametrize("name,params", LINF + L2, ids=ids(LINF + L2))
def test_eps_zero_returns_input(tiny, name, params):
    x, y = clips(), torch.tensor([0, 1, 2])
    assert torch.equal(build_attack(name, tiny, eps=0.0, seed=0, **params)(x, y), x)


def test_multav_unit_ratio_returns_input(tiny):
    x, y = clips(), torch.tensor([0, 1, 2])
    assert torch.equal(build_attack("multav", tiny, eps=1.0, seed=0)(x, y), x)


@pytest.mark.parametrize("name,params", LINF, ids=ids(LINF))
def test_linf_ball_and_range(tiny, name, params):
    x, y = clips(), torch.tensor([0, 1, 2])
    eps = 8 / 255
    adv = build_attack(name, tiny, eps=eps, seed=0, **params)(x, y)
    assert adv.shape == x.shape and adv.dtype == x.dtype
    assert (adv - x).abs().max() <= eps + 1e-6
    assert adv.min() >= 0 and adv.max() <= 1
    assert not torch.equal(adv, x)


@pytest.mark.parametrize("name,params", L2, ids=ids(L2))
def test_l2_ball_and_range(tiny, name, params):
    x, y = clips(), torch.tensor([0, 1, 2])
    eps = 0.5
    adv = build_attack(name, tiny, eps=eps, seed=0, **params)(x, y)
    norms = (adv - x).flatten(1).norm(dim=1)
    assert (norms <= eps * (1 + 1e-5)).all() and (norms > 0.05).all()
    assert adv.min() >= 0 and adv.max() <= 1


def test_multav_ratio_bounds(tiny):
    x, y = clips().clamp(0.05, 0.9), torch.tensor([0, 1, 2])
    adv = build_attack("multav", tiny, eps=1.1, alpha=1.05, steps=3, seed=0)(x, y)
    ratio = adv / x
    assert ratio.min() >= 1 / 1.1 - 1e-5 and ratio.max() <= 1.1 + 1e-5
    assert not torch.equal(adv, x)


@pytest.mark.parametrize("name,params", PHYSICAL, ids=ids(PHYSICAL))
def test_physical_change_only_their_region(tiny, name, params):
    x, y = clips(), torch.tensor([0, 1, 2])
    adv = build_attack(name, tiny, seed=0, **params)(x, y)
    assert adv.min() >= 0 and adv.max() <= 1
    changed = (adv != x).any(dim=1)  # (N, T, H, W)
    assert changed.any()
    h, w = CLIP[-2:]
    if name == "framing":
        inner = changed[:, :, 2:h - 2, 2:w - 2]
        assert not inner.any()
    elif name == "spa":
        assert changed.flatten(2).sum(dim=2).max() <= params["pixels"]
    else:
        size = params["size"] if isinstance(params["size"], int) else round(params["size"] * h)
        for i in range(x.shape[0]):
            per_frame = [changed[i, t].nonzero() for t in range(CLIP[1])]
            for pts in per_frame:
                if len(pts):
                    span = pts.max(0).values - pts.min(0).values + 1
                    assert (span <= size).all()
            if not params.get("per_frame"):
                boxes = {(int(p.min(0).values[0]), int(p.min(0).values[1])) for p in per_frame if len(p) >= size * size - 2}
                assert len(boxes) <= 1, "a fixed sticker must stay at one place across frames"


@pytest.mark.parametrize(
    "frames,expect", [("first:1", [0]), ("every:2", [0, 2]), ("random:2", None), ("salient:1", None)]
)
@pytest.mark.parametrize("name,params", [("pgd", {"steps": 2}), ("spa", {"pixels": 3}), ("roa", {"size": 4, "position": "random"})])
def test_frame_masks(tiny, frames, expect, name, params):
    x, y = clips(), torch.tensor([0, 1, 2])
    adv = build_attack(name, tiny, frames=frames, seed=0, **params)(x, y)
    touched = (adv != x).flatten(3).any(dim=3).any(dim=1)  # (N, T)
    k = int(frames.split(":")[1])
    for row in touched:
        got = row.nonzero().flatten().tolist()
        if expect is not None:
            assert got == expect
        else:
            assert len(got) == k


BATCH = [
    ("pgd", {"steps": 2, "restarts": 2}),
    ("pgd_l2", {"steps": 2, "eps": 0.5}),
    ("apgd_dlr", {"steps": 3}),
    ("mifgsm", {"steps": 2}),
    ("multav", {"eps": 1.1, "random_start": True, "steps": 2}),
    ("square", {"queries": 5}),
    ("roa", {"size": 4, "position": "gradient", "candidates": 3}),
    ("roa", {"size": 4, "position": "random", "per_frame": True}),
    ("framing", {"width": 2}),
    ("spa", {"pixels": 4, "select": "random", "frames": "random:2"}),
]


@pytest.mark.parametrize("name,params", BATCH, ids=ids(BATCH))
def test_batch_equals_per_clip(tiny, name, params):
    x, y = clips(4, seed=1), torch.tensor([0, 1, 2, 3])
    attack = build_attack(name, tiny, seed=5, **params)
    batch = attack(x, y)
    for i in range(x.shape[0]):
        single = attack(x[i:i + 1], y[i:i + 1])[0]
        assert torch.allclose(batch[i], single, atol=1e-5), f"clip {i} differs"
    assert torch.equal(attack(x, y), batch), "same seed must give the same result"


def test_linear_model_closed_form():
    model = LinearModel()
    x = 0.25 + 0.5 * torch.rand((2, *CLIP), generator=torch.Generator().manual_seed(3))
    y = torch.tensor([0, 1])
    w = model.fc.weight.detach()
    d = torch.stack([w[1 - c] - w[c] for c in y.tolist()]).reshape(x.shape)  # ascent direction of the loss
    eps = 0.1
    expect_linf = x + eps * d.sign()
    for loss in ("ce", "margin"):
        assert torch.allclose(build_attack("fgsm", model, eps=eps, loss=loss)(x, y), expect_linf, atol=1e-6)
        pgd = build_attack("pgd", model, eps=eps, alpha=eps / 2, steps=5, loss=loss, seed=0)
        assert torch.allclose(pgd(x, y), expect_linf, atol=1e-6)
    expect_l2 = x + eps * 10 * d / d.flatten(1).norm(dim=1).reshape(-1, 1, 1, 1, 1)
    l2 = build_attack("pgd_l2", model, eps=eps * 10, alpha=eps * 5, steps=40, seed=0)
    assert torch.allclose(l2(x, y), expect_l2, atol=1e-4)


def test_model_state_params_and_inputs_untouched():
    model = TinyConv3d().train()
    model.body[3].eval()  # a submodule in a different mode must be restored as it was
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = clips(2), torch.tensor([0, 1])
    x_copy = x.clone()
    for name, params in [("pgd", {"steps": 2}), ("roa", {"size": 4}), ("square", {"queries": 3}), ("apgd", {"steps": 2})]:
        build_attack(name, model, seed=0, **params)(x, y)
    assert model.training and not model.body[3].training and model.body[0].training
    assert all(p.grad is None and p.requires_grad for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert torch.equal(x, x_copy)


def test_images_and_float64(tiny):
    img_model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten(), torch.nn.LazyLinear(3))
    x = torch.rand(2, 3, 8, 8)
    img_model(x)
    adv = PGD(img_model, eps=0.1, steps=2, seed=0)(x, torch.tensor([0, 1]))
    assert adv.shape == x.shape and (adv - x).abs().max() <= 0.1 + 1e-6
    model64 = TinyConv3d().double().eval()
    x64 = clips(2).double()
    assert build_attack("pgd", model64, steps=1, seed=0)(x64, torch.tensor([0, 1])).dtype == torch.float64


def test_bad_inputs_give_clear_errors(tiny):
    x, y = clips(2), torch.tensor([0, 1])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        PGD(tiny)(x * 2, y)
    with pytest.raises(ValueError, match="frames"):
        PGD(tiny, frames="some:3")
    with pytest.raises(ValueError, match="did you mean 'pgd'"):
        build_attack("pdg", tiny)
    with pytest.raises(ValueError, match="unknown parameter"):
        build_attack("fgsm", tiny, steps=3)
    with pytest.raises(ValueError, match="loss"):
        PGD(tiny, loss="hinge")


def test_presets_build_and_run(tiny):
    x, y = clips(2), torch.tensor([0, 1])
    assert set(ATTACK_PRESETS) >= {"standard", "strong", "quick"}
    for preset, entries in ATTACK_PRESETS.items():
        assert len({e["id"] for e in entries}) == len(entries), preset
        for entry in entries:
            assert entry["name"] in list_attacks()
            attack = build_attack(entry["name"], tiny, seed=0, **{k: v for k, v in entry.items() if k not in ("id", "name")})
            if preset in ("standard", "quick"):
                adv = attack(x, y)
                assert adv.shape == x.shape and adv.min() >= 0 and adv.max() <= 1
    std = {e["id"]: e for e in ATTACK_PRESETS["standard"]}
    assert std["pgd_linf_4"]["eps"] == pytest.approx(4 / 255) and std["pgd_l2_160"]["eps"] == pytest.approx(160 / 255)
    assert round(std["roa_30"]["size"] * 112) == 30
