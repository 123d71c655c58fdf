"""clip_statistics, AdaptiveBatchNorm3d modes, and the test-time BN baseline."""

import pytest
import torch
from torch import nn

from videoabnn.abnn import AdaptiveBatchNorm3d, TestTimeBN, clip_statistics
from videoabnn.models import create_model


def test_clip_statistics_per_clip_and_channel():
    f = torch.randn(3, 4, 2, 5, 5) * 2 + 1
    mu, sigma = clip_statistics(f, eps=1e-3)
    assert mu.shape == sigma.shape == (3, 4)
    flat = f[1, 2].flatten()
    assert torch.allclose(mu[1, 2], flat.mean(), atol=1e-6)
    assert torch.allclose(sigma[1, 2], torch.sqrt(flat.var(unbiased=False) + 1e-3), atol=1e-5)
    mu0, _ = clip_statistics(f[:1])
    assert torch.allclose(mu0, mu[:1])  # one clip's statistics do not depend on the others
    with pytest.raises(ValueError, match="B, C, T, H, W"):
        clip_statistics(torch.randn(2, 3, 4, 4))


@pytest.mark.parametrize("train", [True, False])
def test_modulate_is_batchnorm_at_init(train):
    layer = AdaptiveBatchNorm3d(8, 5, mode="modulate")
    reference = nn.BatchNorm3d(8, affine=False)
    with torch.no_grad():
        reference.running_mean.uniform_(-1, 1)
        reference.running_var.uniform_(0.5, 2)
        layer.bn.load_state_dict(reference.state_dict())
    layer.train(train)
    reference.train(train)
    z = torch.randn(4, 8, 2, 3, 3)
    mu, sigma = torch.randn(4, 5), torch.rand(4, 5) + 0.5
    assert torch.equal(layer(z, mu, sigma), reference(z))


def test_replace_identity_init_normalizes_with_given_statistics():
    layer = AdaptiveBatchNorm3d(6, 6, mode="replace", min_sigma=0.0)
    z = torch.randn(3, 6, 2, 4, 4) * 3 + 2
    mu, sigma = clip_statistics(z)
    out = layer(z, mu, sigma)
    assert torch.allclose(out, (z - mu[..., None, None, None]) / sigma[..., None, None, None], atol=1e-5)
    wider = AdaptiveBatchNorm3d(8, 4, mode="replace")  # C_t != C_s: channel assignment
    assert torch.equal(wider.mean_map.weight.sum(dim=1), torch.ones(8))
    assert wider(torch.randn(2, 8, 1, 2, 2), torch.randn(2, 4), torch.rand(2, 4) + 0.1).shape == (2, 8, 1, 2, 2)
    floored = AdaptiveBatchNorm3d(2, 2, mode="replace", min_sigma=0.1)  # a dead channel (sigma ~ 0)
    out = floored(torch.ones(1, 2, 1, 1, 1), torch.zeros(1, 2), torch.full((1, 2), 1e-6))
    assert out.abs().max() <= 10.0 + 1e-4


def test_prototype_is_size_independent_and_needs_features():
    layer = AdaptiveBatchNorm3d(6, 4, mode="prototype").eval()
    n_params = sum(p.numel() for p in layer.parameters())
    for size in (4, 9):
        feats = torch.randn(2, 4, 2, size, size)
        mu, sigma = clip_statistics(feats)
        assert layer(torch.randn(2, 6, 2, size, size), mu, sigma, feats).shape == (2, 6, 2, size, size)
    assert n_params == 4 * 4 * 12 + 12
    with pytest.raises(ValueError, match="substitute features"):
        layer(torch.randn(2, 6, 2, 4, 4), mu, sigma)


def test_bad_mode_and_shapes_are_errors():
    with pytest.raises(ValueError, match="mode"):
        AdaptiveBatchNorm3d(4, 4, mode="bogus")
    with pytest.raises(ValueError, match="statistics of shape"):
        AdaptiveBatchNorm3d(4, 3)(torch.randn(2, 4, 1, 2, 2), torch.randn(2, 4), torch.rand(2, 4))


def test_test_time_bn_couples_clips_and_keeps_running_stats():
    model = create_model("tiny_r3d", num_classes=3, width=8).eval()
    wrapped = TestTimeBN(model).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.rand(4, 3, 8, 32, 32)
    together = wrapped(x)[:2]
    alone = wrapped(x[:2])
    assert not torch.allclose(together, alone, atol=1e-4)  # batch coupling, unlike ABNN
    assert not torch.allclose(alone, model(x[:2]), atol=1e-4)  # differs from running-statistics BN
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not any(m.training for m in model.modules())
    with pytest.raises(ValueError, match="no BatchNorm"):
        TestTimeBN(nn.Linear(2, 2))


def test_modulate_is_invariant_to_the_scale_of_the_statistics():
    """The statistics are standardized before the linear map, so raw feature scales cannot blow up training."""
    torch.manual_seed(0)
    z = torch.randn(8, 4, 2, 3, 3)
    mu, sigma = torch.randn(8, 3), torch.rand(8, 3) + 0.5
    grads = []
    for scale in (1.0, 1000.0):
        layer = AdaptiveBatchNorm3d(4, 3, "modulate")
        with torch.no_grad():
            layer.affine.weight.copy_(torch.linspace(-1, 1, layer.affine.weight.numel()).view_as(layer.affine.weight))
        layer(z, mu * scale, sigma).square().mean().backward()
        grads.append(layer.affine.weight.grad[:, :3].clone())
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-3, atol=1e-5)
