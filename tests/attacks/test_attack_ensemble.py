"""The AutoAttack-style ensemble on 5-D clips and the adaptive attack aimed at ABNN (issue 9)."""

from __future__ import annotations

import pytest
import torch

from videoabnn.attacks import APGD, ABNNAdaptive, AutoAttack, Square, build_attack
from videoabnn.attacks.ensemble import VERSIONS

from .conftest import accuracy

EPS = 8 / 255


def correct(model, x, y):
    with torch.no_grad():
        return model.eval()(x).argmax(1) == y


def test_ensemble_is_at_least_as_strong_as_each_part(trained, data):
    x, y = data["test"][0][:12], data["test"][1][:12]
    aa = AutoAttack(trained, eps=EPS, version="fast", seed=1)
    robust = correct(trained, aa(x, y), y)
    v = VERSIONS["fast"]
    parts = [APGD(trained, eps=EPS, loss="ce", seed=1, **v["apgd_ce"]),
             Square(trained, eps=EPS, seed=1, **v["square"])]
    for part in parts:
        alone = correct(trained, part(x, y), y)
        assert not (robust & ~alone).any(), type(part).__name__  # robust to the ensemble => robust to the part
    assert set(aa.last_report) >= {"clean", "apgd_ce", "apgd_t_1", "square"}
    values = list(aa.last_report.values())
    assert all(b <= a for a, b in zip(values, values[1:]))  # robust accuracy only falls along the parts
    assert aa.settings()["parts"]["square"]["p_init"] == 0.8 and aa.settings()["version"] == "fast"


def test_ensemble_result_does_not_depend_on_the_batch(trained, data):
    x, y = data["test"][0][:6], data["test"][1][:6]
    aa = AutoAttack(trained, eps=EPS, version="fast", seed=3)
    batch = aa(x, y)
    alone = torch.cat([aa(x[i:i + 1], y[i:i + 1]) for i in range(len(x))])
    assert torch.equal(batch, alone)


def test_ensemble_stays_in_the_ball_and_range_and_eps_zero_is_identity(trained, data):
    x, y = data["test"][0][:4], data["test"][1][:4]
    adv = build_attack("autoattack", trained, eps=EPS, version="fast", seed=0)(x, y)
    assert (adv - x).abs().max() <= EPS + 1e-6 and adv.min() >= 0 and adv.max() <= 1
    assert torch.equal(AutoAttack(trained, eps=0.0, version="fast")(x, y), x)
    with pytest.raises(ValueError, match="version must be one of"):
        AutoAttack(trained, version="medium")


@pytest.fixture(scope="module")
def tiny_abnn(data):
    from videoabnn.models import create_model

    torch.manual_seed(0)
    model = create_model("abnn", 4, target="tiny_r3d", substitute="tiny_r3d", target_kwargs={"width": 4},
                         substitute_kwargs={"width": 4})
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    x, y = data["train"]
    model.train()
    for _ in range(30):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def test_adaptive_attack_on_abnn_is_at_least_as_strong_as_pgd(tiny_abnn, data):
    x, y = data["test"][0][:16], data["test"][1][:16]
    eps = 2 / 255
    pgd = build_attack("pgd", tiny_abnn, eps=eps, steps=10, loss="margin", seed=0)
    adaptive = ABNNAdaptive(tiny_abnn, eps=eps, steps=10, restarts=2, seed=0)
    acc_pgd, acc_adaptive = accuracy(tiny_abnn, pgd(x, y), y), accuracy(tiny_abnn, adaptive(x, y), y)
    assert acc_adaptive <= acc_pgd
    adv = adaptive(x, y)
    assert (adv - x).abs().max() <= eps + 1e-6


def test_adaptive_attack_falls_back_to_margin_pgd_on_other_models(trained, data):
    x, y = data["test"][0][:8], data["test"][1][:8]
    adv = ABNNAdaptive(trained, eps=EPS, steps=5, restarts=1, seed=0)(x, y)
    assert accuracy(trained, adv, y) <= accuracy(trained, x, y)
