"""Input-transformation defenses: shape/range, seeded and batch-independent randomness, and the
gradients an attacker gets (naive, BPDA, EOT)."""

import pytest
import torch
from torch import nn

from videoabnn.attacks import build_attack
from videoabnn.defenses import TransformedModel, build_transform, list_transforms, wrap_with_transform
from videoabnn.models import create_model, load_model, save_model

SPECS = {"jpeg": {"quality": 50}, "codec": {"crf": 30}, "resize_pad": {"min_scale": 0.7},
         "temporal_shuffle": {"window": None}, "bit_depth": {"bits": 3}, "median": {"size": 3}}


def clips(n=3, seed=0):
    return torch.rand(n, 3, 4, 16, 16, generator=torch.Generator().manual_seed(seed))


def test_every_transform_is_covered():
    assert set(list_transforms()) == set(SPECS)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_shape_range_seeded_and_batch_independent(name):
    t = build_transform({"name": name, **SPECS[name]})
    x = clips()
    out = t(x)
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    assert not torch.equal(out, x)  # it does something
    assert torch.equal(t(x), out)  # deterministic under the seed
    alone = torch.cat([t(x[i:i + 1]) for i in range(len(x))])
    assert torch.allclose(alone, out, atol=1e-6)  # a clip's result does not depend on its batch
    if t.random:
        other = build_transform({"name": name, **SPECS[name], "seed": 7})
        assert not torch.equal(other(x), out) and not torch.equal(t(x, draw=1), out)


class Linear(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3 * 4 * 16 * 16, 3)
        torch.nn.init.normal_(self.fc.weight, std=0.05, generator=torch.Generator().manual_seed(1))

    def forward(self, x):
        return self.fc(x.flatten(1))


def input_grad(model, x, y):
    x = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(nn.functional.cross_entropy(model(x), y), x)
    return g


@pytest.mark.parametrize("name", ["median", "temporal_shuffle", "resize_pad"])
def test_differentiable_transform_gradient_is_autograds(name):
    net, t = Linear(), build_transform({"name": name, **SPECS[name]})
    x, y = clips(), torch.tensor([0, 1, 2])
    wrapped = TransformedModel(net, t)
    expected = input_grad(lambda v: net(t(v)), x, y)
    assert torch.allclose(input_grad(wrapped, x, y), expected)
    view = wrapped.attack_view(bpda="none", eot=1)
    if not t.random:
        assert torch.allclose(input_grad(view, x, y), expected)


@pytest.mark.parametrize("name", ["jpeg", "codec", "bit_depth"])
def test_bpda_gives_the_gradient_naive_autograd_cannot(name):
    wrapped = TransformedModel(Linear(), build_transform({"name": name, **SPECS[name]}))
    x, y = clips(), torch.tensor([0, 1, 2])
    assert input_grad(wrapped, x, y).abs().sum() == 0  # naive: a constant to autograd
    bpda = wrapped.attack_view()  # auto: identity backward for a non-differentiable transform
    assert bpda.bpda == "identity" and input_grad(bpda, x, y).abs().sum() > 0
    with torch.no_grad():  # the forward value is the transform's
        assert torch.allclose(bpda(x), wrapped(x))


def test_eot_averages_k_draws():
    net, t = Linear(), build_transform({"name": "resize_pad", "min_scale": 0.5})
    view = TransformedModel(net, t).attack_view(eot=5, seed=2)
    x = clips()
    with torch.no_grad():
        draws = [torch.log_softmax(net(t(x, 1 + 2 * 1000 + j)), dim=1) for j in range(5)]
        assert torch.allclose(view(x), torch.stack(draws).mean(0))
        assert not torch.allclose(draws[0], draws[1])  # the draws differ
    assert TransformedModel(net, t).attack_view().eot == 8  # random transforms default to 8 draws


def test_every_attack_accepts_bpda_and_eot():
    wrapped = TransformedModel(Linear(), build_transform("jpeg"))
    x, y = clips(), torch.tensor([0, 1, 2])
    naive = build_attack("pgd", wrapped, eps=8 / 255, steps=3, seed=0)(x, y)
    adaptive = build_attack("pgd", wrapped, eps=8 / 255, steps=3, seed=0, bpda="identity", eot=1)(x, y)
    assert (naive - x).abs().max() <= 8 / 255 + 1e-6 and (adaptive - x).abs().max() <= 8 / 255 + 1e-6
    assert not torch.equal(naive, adaptive)
    plain = Linear()  # a model without a transform ignores both
    assert torch.equal(build_attack("fgsm", plain, eps=4 / 255, bpda="identity", eot=3)(x, y),
                       build_attack("fgsm", plain, eps=4 / 255)(x, y))


def test_model_behind_a_transform_saves_and_loads(tmp_path):
    model = wrap_with_transform(create_model("tiny_r3d", 3, width=4), {"name": "jpeg", "quality": 40})
    save_model(model, tmp_path / "m.pt")
    back = load_model(tmp_path / "m.pt")
    assert isinstance(back, TransformedModel) and back.transform.quality == 40
    x = clips(2)
    with torch.no_grad():
        assert torch.allclose(back(x), model.eval()(x))
