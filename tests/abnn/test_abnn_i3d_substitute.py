"""ABNN with a real substitute (issue 19): the released I3D (Kinetics-400, frozen) feeding a 3D ResNet-18
target, built from configs/ucf101/abnn_r3d18_i3d.yaml and run on real clips at the config's 16x112."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

from videoabnn.config import load_config
from videoabnn.data.clip import load_clip
from videoabnn.engine.build import build_model
from videoabnn.models import create_model, hub_checkpoint_dir

ROOT = Path(__file__).resolve().parents[2]
REAL = ROOT.parent / "shared" / "data" / "real-videos"
CLIPS = [REAL / "mmaction2-demo.mp4", REAL / "mmaction2-test.mp4"]
RELEASE = hub_checkpoint_dir() / "i3d-kinetics-400.ckpt"
pytestmark = pytest.mark.skipif(not RELEASE.is_file() or not all(c.is_file() for c in CLIPS),
                                reason=f"needs the released I3D weights ({RELEASE}: run `make weights`) and the "
                                       f"shared real clips in {REAL}")


@pytest.fixture(scope="module")
def composite():
    cfg = load_config(ROOT / "configs" / "ucf101" / "abnn_r3d18_i3d.yaml", ["model.pretrained=null"])
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = build_model(cfg, 101)
    with torch.no_grad():  # away from the identity init, so the statistics change the output
        for p in model.adaptive.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model.eval(), cfg


@pytest.fixture(scope="module")
def clips(composite):
    d = composite[1]["data"]
    return torch.stack([load_clip(c, d["frames"], d["crop"]).clip for c in CLIPS])


def test_composite_builds_with_the_released_substitute(composite):
    model, _ = composite
    release = create_model("i3d", 400, pretrained="kinetics400")
    assert model.substitute.stage_channels == [64, 192, 480, 832, 1024]
    assert type(model.substitute.backbone).__name__ == "I3DBackbone"
    for key in ("backbone.stem.Conv3d_1a_7x7.conv3d.weight", "backbone.stages.3.Mixed_5c.b3b.bn.running_var"):
        assert torch.equal(model.substitute.state_dict()[key], release.state_dict()[key])
    assert model.substitute.normalize.mean.flatten().tolist() == [0.5, 0.5, 0.5]


def test_statistics_are_per_clip(composite, clips):
    model, _ = composite
    with torch.no_grad():
        both = model(clips)
        alone = torch.cat([model(clips[i:i + 1]) for i in range(len(clips))])
        stats = model.substitute_statistics(clips)
    assert not torch.allclose(stats[2][0][0], stats[2][0][1])  # the two clips' statistics differ
    torch.testing.assert_close(both, alone, rtol=1e-4, atol=1e-4)


def test_gradients_reach_the_input_through_both_networks(composite, clips):
    model, _ = composite
    x, y = clips[:1], torch.tensor([3])
    grads = {}
    for name, view in (("white", model), ("gray", model.gray_box())):
        xa = x.clone().requires_grad_(True)
        grads[name] = torch.autograd.grad(torch.nn.functional.cross_entropy(view(xa), y), xa)[0]
        assert torch.isfinite(grads[name]).all() and grads[name].abs().sum() > 0
    through_substitute = grads["white"] - grads["gray"]  # the part that flows through the I3D statistics
    assert through_substitute.abs().sum() > 1e-3 * grads["white"].abs().sum()


def test_the_substitute_stays_frozen_in_training(composite, clips):
    model, _ = composite
    before = {k: v.clone() for k, v in model.substitute.state_dict().items()}
    target_before = model.target.backbone.stem.conv1.weight.clone()
    assert not any(p.requires_grad for p in model.substitute.parameters())
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    model.train()
    try:
        torch.nn.functional.cross_entropy(model(clips), torch.tensor([1, 2])).backward()
        opt.step()
        assert not model.substitute.training
    finally:
        model.eval()
    after = model.substitute.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # weights and BatchNorm statistics
    assert not torch.equal(target_before, model.target.backbone.stem.conv1.weight)
