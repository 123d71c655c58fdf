"""Every attack hurts a small trained model more than random noise of the same budget; universal
attacks transfer to held-out clips better than an untrained (random) tensor."""

from __future__ import annotations

import copy

import pytest
import torch

from videoabnn.attacks import UniversalFraming, UniversalPatch, build_attack, worst_case_correct

from .conftest import accuracy

EPS = 16 / 255
N = 16


def linf_noise(x, gen, eps=EPS):
    return (x + eps * torch.where(torch.rand(x.shape, generator=gen) < 0.5, -1.0, 1.0)).clamp(0, 1)


def l2_noise(x, gen, eps=2.0):
    d = torch.randn(x.shape, generator=gen)
    return (x + eps * d / d.flatten(1).norm(dim=1).reshape(-1, 1, 1, 1, 1)).clamp(0, 1)


def multav_noise(x, gen):
    return (x * torch.where(torch.rand(x.shape, generator=gen) < 0.5, 1 / 1.1, 1.1)).clamp(0, 1)


def region_noise(attack):
    """Same region choice, random content instead of optimised content."""
    def noise(x, gen):
        random_region = copy.copy(attack)
        random_region.steps, random_region.init = 0, "random"
        if hasattr(random_region, "position"):
            random_region.position = "random"
        if hasattr(random_region, "select"):
            random_region.select = "random"
        return random_region(x, torch.zeros(x.shape[0], dtype=torch.long))
    return noise


CASES = [
    ("fgsm", {"eps": EPS}, linf_noise),
    ("pgd", {"eps": EPS, "steps": 5}, linf_noise),
    ("pgd", {"eps": EPS, "steps": 5, "loss": "margin", "shared_over_time": True}, linf_noise),
    ("pgd_l2", {"eps": 2.0, "steps": 5}, l2_noise),
    ("mifgsm", {"eps": EPS, "steps": 5}, linf_noise),
    ("apgd_ce", {"eps": EPS, "steps": 8}, linf_noise),
    ("apgd_dlr", {"eps": EPS, "steps": 8}, linf_noise),
    ("multav", {"eps": 1.1, "alpha": 1.03, "steps": 5}, multav_noise),
    ("square", {"eps": 32 / 255, "queries": 60}, lambda x, g: linf_noise(x, g, 32 / 255)),
    ("roa", {"size": 0.3, "candidates": 5}, "region"),
    ("roa", {"size": 0.3, "position": "random", "per_frame": True}, "region"),
    ("framing", {"width": 2}, "region"),
    ("spa", {"pixels": 8}, "region"),
]


@pytest.mark.parametrize("name,params,noise", CASES, ids=[f"{c[0]}{i}" for i, c in enumerate(CASES)])
def test_attack_beats_clean_and_noise(trained, data, name, params, noise):
    x, y = data["test"][0][:N], data["test"][1][:N]
    clean = accuracy(trained, x, y)
    assert clean >= 0.9
    attack = build_attack(name, trained, seed=0, **params)
    adv = accuracy(trained, attack(x, y), y)
    gen = torch.Generator().manual_seed(0)
    if noise == "region":
        noise = region_noise(attack)
    noise_acc = accuracy(trained, noise(x, gen), y)
    assert adv < clean and adv < noise_acc, f"{name}: attack {adv:.3f}, noise {noise_acc:.3f}, clean {clean:.3f}"


def test_transfer_from_surrogate(trained, data):
    x, y = data["test"][0][:N], data["test"][1][:N]
    surrogate = copy.deepcopy(trained)
    with torch.no_grad():
        for p in surrogate.parameters():
            p.add_(0.05 * p.abs().mean() * torch.randn_like(p))
    attack = build_attack("transfer", trained, surrogate=surrogate, attack="pgd", eps=EPS, steps=5, seed=0)
    assert accuracy(trained, attack(x, y), y) < accuracy(trained, linf_noise(x, torch.Generator().manual_seed(0)), y)


@pytest.mark.parametrize("cls,params", [(UniversalPatch, {"size": 0.35, "alpha": 8 / 255}), (UniversalFraming, {"width": 2, "alpha": 8 / 255})])
def test_universal_transfers_to_heldout(trained, data, tmp_path, cls, params):
    xt, yt = data["train"][0][:128], data["train"][1][:128]
    loader = [(xt[i:i + 32], yt[i:i + 32]) for i in range(0, 128, 32)]
    xh, yh = data["holdout"]
    random_tensor = cls(trained, seed=1, **params)
    random_tensor.param = random_tensor._new_param(xh)
    attack = cls(trained, seed=1, epochs=3, **params).fit(loader)
    fitted, rand = accuracy(trained, attack(xh, yh), yh), accuracy(trained, random_tensor(xh, yh), yh)
    assert fitted < rand, f"trained {fitted:.3f} vs random {rand:.3f}"
    path = attack.save(tmp_path / "u.pt")
    assert path.exists() and path.with_suffix(".png").exists()
    again = cls(trained, seed=1, **params).load(path)
    assert torch.equal(again.param, attack.param)
    assert torch.equal(again(xh, yh), attack(xh, yh))


def test_universal_patch_placement_and_errors(trained, data, tmp_path):
    x, y = data["holdout"][0][:4], data["holdout"][1][:4]
    patch = UniversalPatch(trained, size=4)
    with pytest.raises(RuntimeError, match="fit"):
        patch(x, y)
    patch.param = torch.ones(3, 4, 4)
    out = patch.apply(x, placement={"cy": 4.0, "cx": 6.0, "scale": 1.0, "angle": 0.0})
    changed = (out != x).any(dim=1).any(dim=1)  # (N, H, W)
    assert changed[:, 2:6, 4:8].all() and not changed[:, 7:, :].any() and not changed[:, :, 9:].any()
    with pytest.raises(ValueError, match="universal_framing"):
        UniversalPatch(trained).load(UniversalFraming(trained, width=2).fit([(x, y)], epochs=1).save(tmp_path / "f.pt"))


def test_worst_case_correct_is_minimum(trained, data):
    x, y = data["test"][0][:N], data["test"][1][:N]
    attacks = [build_attack("fgsm", trained, eps=4 / 255), build_attack("roa", trained, size=0.3, position="random", seed=0)]
    worst = worst_case_correct(trained, x, y, attacks)
    for a in attacks:
        with torch.no_grad():
            single = trained(a(x, y)).argmax(1) == y
        assert not (worst & ~single).any()
    assert worst.dtype == torch.bool and worst.shape == y.shape
