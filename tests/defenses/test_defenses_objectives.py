"""Training objectives on a plain module with a callable attack: the formulas and their wiring."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from videoabnn.defenses import METHODS, build_objective


class Linear(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3 * 2 * 4 * 4, 3)

    def forward(self, x):
        return self.fc(x.flatten(1))


def shift_attack(delta):
    """A deterministic stand-in attack: adds ``delta * scale`` (records the scale it was built with)."""
    built = []

    def factory(model, scale, seed):
        built.append((scale, seed))
        return lambda x, y: (x + delta * scale).clamp(0, 1)

    return factory, built


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(0)
    return torch.rand(4, 3, 2, 4, 4, generator=g) * 0.5, torch.tensor([0, 1, 2, 0])


def test_at_and_alp_formulas(batch):
    x, y = batch
    model = Linear()
    factory, _ = shift_attack(0.1)
    at = build_objective("at", attack=factory, mix=0.3)
    at.start_epoch(model, 0, seed=1)
    out = at(model, x, y)
    x_adv = x + 0.1
    expected = 0.3 * F.cross_entropy(model(x), y) + 0.7 * F.cross_entropy(model(x_adv), y)
    assert out.loss.item() == pytest.approx(expected.item(), rel=1e-6)
    alp = build_objective("alp", attack=factory, mix=0.5, alp_weight=2.0)
    alp.start_epoch(model, 0, seed=1)
    pair = (model(x) - model(x_adv)).pow(2).sum(1).mean()
    expected = 0.5 * F.cross_entropy(model(x), y) + 0.5 * F.cross_entropy(model(x_adv), y) + 2.0 * pair
    assert alp(model, x, y).loss.item() == pytest.approx(expected.item(), rel=1e-6)


def test_pgd_at_eps_warmup_and_adversarial_loss(batch):
    x, y = batch
    model = Linear()
    factory, built = shift_attack(0.2)
    obj = build_objective("pgd_at", attack=factory, eps_warmup_epochs=4)
    scales = []
    for epoch in range(6):
        obj.start_epoch(model, epoch, seed=epoch)
        scales.append(obj.eps_scale)
    assert scales == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert [s for s, _ in built] == scales
    out = obj(model, x, y)
    assert out.loss.item() == pytest.approx(F.cross_entropy(model((x + 0.2).clamp(0, 1)), y).item(), rel=1e-6)


def test_trades_kl_term_and_eps_ball(batch):
    x, y = batch
    model = Linear()
    obj = build_objective("trades", attack_cfg={"eps": 8 / 255, "alpha": 2 / 255, "steps": 3}, trades_beta=3.0)
    obj.start_epoch(model, 0, seed=0)
    out = obj(model, x, y)
    assert out.stats["kl"] > 0
    assert out.loss.item() == pytest.approx(out.stats["loss_clean"] + 3.0 * out.stats["kl"], rel=1e-5)
    assert model.training and all(p.requires_grad for p in model.parameters())
    x_adv = obj._kl_pgd(model, x, torch.softmax(model(x), 1).detach())
    assert (x_adv - x).abs().max() <= 8 / 255 + 1e-6


def test_objective_errors_name_the_problem():
    with pytest.raises(ValueError, match="unknown train.method 'madry'"):
        build_objective("madry")
    with pytest.raises(ValueError, match="unknown train.method_args"):
        build_objective("standard", alp_weight=1.0)
    with pytest.raises(ValueError, match="mix must be in"):
        build_objective("at", attack=shift_attack(0.1)[0], mix=1.5)
    with pytest.raises(ValueError, match="ABNN model"):
        build_objective("abnn").start_epoch(Linear(), 0, 0)
    assert set(METHODS) == {"standard", "abnn", "at", "pgd_at", "alp", "trades", "feature_denoise", "abnn_pgd_at"}


def test_default_training_attack_is_real_pgd(batch):
    x, y = batch
    model = Linear()
    obj = build_objective("pgd_at", eps_warmup_epochs=0)
    obj.start_epoch(model, 0, seed=0)
    x_adv = obj.craft(x, y)
    delta = (x_adv - x).abs().max().item()
    assert 0 < delta <= 4 / 255 + 1e-6
    assert F.cross_entropy(model(x_adv), y) > F.cross_entropy(model(x), y)
