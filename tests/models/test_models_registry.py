"""Registry, VideoClassifier, stage view, post_stage and videoabnn checkpoints."""

import subprocess
import sys

import pytest
import torch
from torch import nn

from videoabnn.models import (
    VideoClassifier,
    create_model,
    list_models,
    load_checkpoint,
    load_model,
    model_defaults,
    register_model,
    save_model,
)

EXPECTED = {"tiny_r3d", "resnet3d_10", "resnet3d_18", "resnet3d_34", "resnet3d_50", "resnet3d_101", "resnext3d_101",
            "wide_resnet3d_50", "r3d_18", "mc3_18", "r2plus1d_18", "x3d_xs", "x3d_s", "x3d_m", "slow_r50", "abnn"}


def test_list_models_and_defaults():
    assert EXPECTED <= set(list_models())
    d = model_defaults("tiny_r3d")
    assert (d["frames"], d["crop"]) == (8, 32) and len(d["mean"]) == 3 and len(d["std"]) == 3
    assert model_defaults("r3d_18")["weights"] == ["kinetics400"]
    assert model_defaults("x3d_xs")["frames"] == 4


def test_unknown_model_lists_known_names():
    with pytest.raises(KeyError, match="tiny_r3d"):
        create_model("no_such_model", num_classes=3)


def test_bad_builder_argument_is_named():
    with pytest.raises(TypeError, match="tiny_r3d"):
        create_model("tiny_r3d", num_classes=3, no_such_arg=1)


def test_abnn_available_without_importing_abnn_package():
    code = ("import sys\nfrom videoabnn.models import create_model\nassert 'videoabnn.abnn' not in sys.modules\n"
            "m = create_model('abnn', num_classes=3, substitute_kwargs={'width': 4}, target_kwargs={'width': 4})\n"
            "print(type(m).__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ABNN"


def test_classifier_normalizes_inside_and_exposes_stages():
    model = create_model("tiny_r3d", num_classes=4, width=8, mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3)).eval()
    assert isinstance(model, VideoClassifier)
    x = torch.rand(2, 3, 8, 32, 32)
    manual = model.backbone((x - torch.tensor([0.5, 0.4, 0.3]).view(1, 3, 1, 1, 1))
                            / torch.tensor([0.2, 0.25, 0.3]).view(1, 3, 1, 1, 1))
    assert torch.allclose(model(x), manual, atol=1e-6)
    stages = model.forward_stages(x)
    assert [s.shape[1] for s in stages] == model.stage_channels == [8, 8, 16, 32, 64]
    assert len(model.backbone.stages) == 4 and isinstance(model.backbone.stages, nn.ModuleList)
    assert model.num_classes == 4
    with pytest.raises(ValueError, match="NCTHW"):
        model(torch.rand(2, 8, 32, 32))


def test_post_stage_inserted_after_every_stage():
    calls = []

    class Scale(nn.Module):
        def __init__(self, index):
            super().__init__()
            self.index, self.seen = index, 0

        def forward(self, x):
            self.seen += 1
            return x * 0.0 if self.index == 4 else x

    def post(index, channels):
        calls.append((index, channels))
        return Scale(index) if index in (2, 4) else None

    model = create_model("tiny_r3d", num_classes=3, width=8, post_stage=post).eval()
    assert calls == [(0, 8), (1, 8), (2, 16), (3, 32), (4, 64)]
    out = model(torch.rand(2, 3, 8, 32, 32))
    assert model.backbone.post[2].seen == 1 and isinstance(model.backbone.post[1], nn.Identity)
    # the last stage output is zeroed, so the logits equal the classifier bias
    assert torch.allclose(out, model.backbone.head.fc.bias.expand(2, 3))


def test_save_load_roundtrip(tmp_path):
    model = create_model("tiny_r3d", num_classes=5, width=8, depth=2).eval()
    path = save_model(model, tmp_path / "m.pt", epoch=3, config={"a": 1})
    ckpt = load_checkpoint(path)
    assert ckpt["arch"] == "tiny_r3d" and ckpt["kwargs"] == {"width": 8, "depth": 2} and ckpt["epoch"] == 3
    assert ckpt["format"] == "videoabnn" and ckpt["normalization"][""]["mean"] == pytest.approx([0.45] * 3)
    loaded = load_model(path)
    x = torch.rand(2, 3, 8, 32, 32)
    assert torch.equal(loaded(x), model(x))
    assert not loaded.training


def test_save_rejects_unregistered_and_callables(tmp_path):
    with pytest.raises(ValueError, match="create_model"):
        save_model(nn.Linear(2, 2), tmp_path / "x.pt")
    model = create_model("tiny_r3d", num_classes=2, width=4, post_stage=lambda i, c: None)
    with pytest.raises(TypeError, match="post_stage"):
        save_model(model, tmp_path / "y.pt")


def test_load_model_rejects_foreign_file(tmp_path):
    torch.save({"weight": torch.zeros(2)}, tmp_path / "foreign.pt")
    with pytest.raises(ValueError, match="not a videoabnn checkpoint"):
        load_model(tmp_path / "foreign.pt")


def test_register_model_decorator_builds_through_registry(tmp_path):
    @register_model("test_tiny_wrapped", frames=8, crop=32, family="test")
    def build(num_classes, width=4):
        """A registered wrapper around tiny_r3d, as defenses do."""
        return create_model("tiny_r3d", num_classes, width=width)

    model = create_model("test_tiny_wrapped", num_classes=3, width=4)
    assert model.videoabnn_spec["arch"] == "test_tiny_wrapped"
    loaded = load_model(save_model(model, tmp_path / "w.pt"))
    x = torch.rand(1, 3, 8, 32, 32)
    assert torch.equal(loaded(x), model.eval()(x))
