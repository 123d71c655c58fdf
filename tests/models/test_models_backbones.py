"""Every registry backbone builds and runs forward/backward on a tiny clip through the stage view."""

import pytest
import torch

from videoabnn.models import create_model, list_models

BACKBONES = [n for f in ("tiny", "resnet3d", "torchvision", "pytorchvideo") for n in list_models(family=f)]


def test_all_families_present():
    assert len(BACKBONES) == 15


@pytest.mark.parametrize("name", BACKBONES)
def test_backbone_forward_backward(name):
    model = create_model(name, num_classes=3).train()
    shape = (2, 3, 2, 32, 32)
    if sum(p.numel() for p in model.parameters()) > 20_000_000:
        # keep the suite cheap on CPU: the 30-160M-parameter models run one 1x16x16 clip in eval mode
        # (train-mode BN needs > 1 value per channel) with weight gradients only for the classifier
        model.eval().requires_grad_(False)
        model.backbone.get_submodule(model.backbone.classifier).requires_grad_(True)
        shape = (1, 3, 1, 16, 16)
    x = torch.rand(*shape, requires_grad=True)
    stages = model.forward_stages(x)
    assert len(stages) == 5 and [s.shape[1] for s in stages] == model.stage_channels
    logits = model(x)
    assert logits.shape == (shape[0], 3)
    logits.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    fc = model.backbone.get_submodule(model.backbone.classifier)
    assert fc.weight.grad is not None and fc.out_features == 3


def test_hara_shortcut_types_differ():
    a = create_model("resnet3d_10", num_classes=2, shortcut="A", width=8)
    b = create_model("resnet3d_10", num_classes=2, shortcut="B", width=8)
    assert not any("downsample" in k for k in a.state_dict())
    assert "backbone.stages.1.0.downsample.0.weight" in b.state_dict()
    with pytest.raises(ValueError, match="shortcut"):
        create_model("resnet3d_10", num_classes=2, shortcut="C")


def test_head_is_input_size_agnostic():
    model = create_model("x3d_xs", num_classes=2).eval()
    for size in (32, 48):
        assert model(torch.rand(1, 3, 3, size, size)).shape == (1, 2)
