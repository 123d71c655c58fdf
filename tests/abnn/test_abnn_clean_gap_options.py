"""Options of the clean-accuracy study: statistics dropout, gamma-only modulation, fewer statistics stages,
the statistics pathway's own lr / weight decay, and the alignment loss."""

import pytest
import torch

from videoabnn.abnn import AdaptiveBatchNorm3d
from videoabnn.abnn.alignment import alignment_loss
from videoabnn.defenses import build_objective
from videoabnn.engine.trainer import build_optimizer
from videoabnn.models import create_model

X = (4, 3, 4, 16, 16)


def _abnn(**kw):
    model = create_model("abnn", num_classes=3, substitute_kwargs={"width": 4}, target_kwargs={"width": 4}, **kw)
    with torch.no_grad():
        for p in model.adaptive.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return model


def _stats(b=4, c=5):
    return torch.randn(b, c), torch.rand(b, c) + 0.5


def test_stats_dropout_acts_in_training_only():
    layer = AdaptiveBatchNorm3d(6, 5, stats_dropout=0.5)
    plain = AdaptiveBatchNorm3d(6, 5)
    with torch.no_grad():
        layer.affine.weight.normal_()
    (mu, sigma), z = _stats(), torch.randn(4, 6, 2, 3, 3)
    layer.train()
    assert not torch.allclose(layer(z, mu, sigma), layer(z, mu, sigma))  # fresh masks per forward
    plain.load_state_dict(layer.state_dict())  # the same weights and running statistics
    layer.eval(), plain.eval()
    assert torch.equal(layer(z, mu, sigma), plain(z, mu, sigma))
    with pytest.raises(ValueError, match="stats_dropout"):
        AdaptiveBatchNorm3d(6, 5, stats_dropout=1.0)


def test_gamma_only_keeps_beta_free_of_statistics():
    layer = AdaptiveBatchNorm3d(6, 5, modulation="gamma").eval()
    with torch.no_grad():
        layer.affine.weight.normal_()
        layer.affine.bias.normal_()
    gamma, beta = layer._modulation(*_stats())
    assert torch.equal(beta, layer.affine.bias[6:].expand(4, -1))
    assert gamma.std(dim=0).min() > 0  # gamma still reads each clip's statistics
    with pytest.raises(ValueError, match="modulate"):
        AdaptiveBatchNorm3d(6, 5, mode="replace", modulation="gamma")


def test_stats_stages_leave_the_other_layers_statistics_free():
    model = _abnn(stats_stages=[0, 1, 2, 3]).eval()
    assert [layer.use_stats for layer in model.adaptive] == [True, True, True, True, False]
    x = torch.rand(*X)
    stats = model.substitute_statistics(x)
    moved = stats[:4] + [(stats[4][0] + 5.0, stats[4][1] * 3.0, None)]
    assert torch.equal(model.forward_with_statistics(x, stats), model.forward_with_statistics(x, moved))
    moved_early = [(stats[0][0] + 5.0, stats[0][1], None)] + stats[1:]
    assert not torch.allclose(model.forward_with_statistics(x, stats), model.forward_with_statistics(x, moved_early))
    assert len(model.statistics_parameters()) == 4
    with pytest.raises(ValueError, match="stats_stages"):
        _abnn(stats_stages=[5])


def test_statistics_pathway_gets_its_own_lr_and_weight_decay():
    model = _abnn()
    t = {"optimizer": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4, "method": "abnn",
         "method_args": {"stats_lr_scale": 0.1, "stats_weight_decay": 0.01}}
    groups = build_optimizer(model, t).param_groups
    assert len(groups) == 2
    assert groups[1]["lr"] == pytest.approx(0.01) and groups[1]["weight_decay"] == 0.01
    assert groups[0]["lr"] == 0.1 and groups[0]["weight_decay"] == 1e-4
    assert {id(p) for p in groups[1]["params"]} == {id(p) for p in model.statistics_parameters()}
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert sum(p.numel() for g in groups for p in g["params"]) == trainable
    assert len(build_optimizer(model, {**t, "method_args": {}}).param_groups) == 1


def test_alignment_loss_is_zero_for_matching_statistics_and_trains_the_target():
    feats = [torch.randn(2, 4, 2, 3, 3) * 2 + 1 for _ in range(2)]
    from videoabnn.abnn import clip_statistics

    stats = [(*clip_statistics(f), None) for f in feats]
    assert float(alignment_loss(feats, stats)) == pytest.approx(0.0, abs=1e-10)
    assert float(alignment_loss([f * 3 for f in feats], stats)) > 0.1
    model = _abnn().train()
    objective = build_objective("abnn", align_weight=0.5)
    objective.start_epoch(model, 0, 0)
    x, y = torch.rand(*X), torch.tensor([0, 1, 2, 0])
    out = objective(model, x, y)
    assert out.stats["align"] > 0 and out.loss.item() == pytest.approx(out.stats["ce"] + 0.5 * out.stats["align"],
                                                                        rel=1e-5)
    out.loss.backward()
    assert model.target.backbone.stem.conv1.weight.grad.abs().sum() > 0
    assert model.alignment_loss is None  # the graph is not kept on the module
    model.eval()
    model(x)
    assert model.alignment_loss is None  # recorded while training only
    with pytest.raises(ValueError, match="align_weight"):
        build_objective("abnn", align_weight=-1.0)
