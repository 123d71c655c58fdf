"""I3D (issue 19): the stage view, TF "SAME" padding, both release layouts (DeepMind's flax pickle, the
PyTorch port's state dict) give the reference's logits, the restricted unpickler, the release checksum,
and the released weights on a real Kinetics clip."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from videoabnn.models import CheckpointError, create_model, get_weights, hub_checkpoint_dir
from videoabnn.models.i3d import MIXED, same_padding

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT.parent / "shared" / "data" / "real-videos" / "mmaction2-demo.mp4"
RELEASE = hub_checkpoint_dir() / "i3d-kinetics-400.ckpt"
needs_release = pytest.mark.skipif(not RELEASE.is_file() or not DEMO.is_file(),
                                   reason=f"needs the released I3D weights ({RELEASE}: run `make weights`) and the "
                                          f"shared real clip {DEMO}")


def test_stage_view_shapes_and_clip_length():
    model = create_model("i3d", 7).eval()
    assert model.stage_channels == [64, 192, 480, 832, 1024]
    with torch.no_grad():
        stages = model.forward_stages(torch.rand(2, 3, 9, 64, 64))
        logits = model(torch.rand(2, 3, 9, 64, 64))
    assert [tuple(s.shape[1:]) for s in stages] == [(64, 5, 16, 16), (192, 5, 16, 16), (480, 5, 8, 8),
                                                    (832, 3, 4, 4), (1024, 2, 2, 2)]
    assert logits.shape == (2, 7)
    with pytest.raises(ValueError, match="at least 9 frames"):
        model(torch.rand(1, 3, 8, 64, 64))


@pytest.mark.parametrize("size, kernel, stride, expected", [
    (224, 7, 2, (2, 3)),  # the odd pixel goes after, as TensorFlow pads
    (112, 3, 2, (0, 1)), (7, 3, 1, (1, 1)), (8, 2, 2, (0, 0)), (7, 2, 2, (0, 1)), (5, 7, 2, (3, 3))])
def test_same_padding_is_tensorflows(size, kernel, stride, expected):
    before, after = same_padding(size, kernel, stride)
    assert (before, after) == expected
    assert (size + before + after - kernel) // stride + 1 == -(-size // stride)  # output = ceil(size / stride)


# ---- a reference I3D in the PyTorch port's layout, written here from the paper's description ----

class RefUnit(nn.Module):
    def __init__(self, cin, cout, k=1, s=1, bn=True, bias=False):
        super().__init__()
        self.k, self.s = k, s
        self.conv3d = nn.Conv3d(cin, cout, k, s, bias=bias)
        self.bn = nn.BatchNorm3d(cout, eps=1e-3) if bn else None

    def forward(self, x):
        x = F.pad(x, [p for n in reversed(x.shape[2:]) for p in ref_pad(n, self.k, self.s)])
        x = self.conv3d(x)
        return x if self.bn is None else F.relu(self.bn(x))


def ref_pad(n, k, s):
    total = max(k - (n % s if n % s else s), 0)
    return total // 2, total - total // 2


def ref_pool(x, k, s):
    k, s = (k, k, k) if isinstance(k, int) else k, (s, s, s) if isinstance(s, int) else s
    pads = [p for n, kk, ss in reversed(list(zip(x.shape[2:], k, s))) for p in ref_pad(n, kk, ss)]
    return F.max_pool3d(F.pad(x, pads), k, s)  # zero padding: inputs are ReLU outputs


class RefMixed(nn.Module):
    def __init__(self, cin, w):
        super().__init__()
        self.b0, self.b1a, self.b1b = RefUnit(cin, w[0]), RefUnit(cin, w[1]), RefUnit(w[1], w[2], 3)
        self.b2a, self.b2b, self.b3b = RefUnit(cin, w[3]), RefUnit(w[3], w[4], 3), RefUnit(cin, w[5])

    def forward(self, x):
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(ref_pool(x, 3, 1))], 1)


class RefI3D(nn.Module):
    """Endpoints as attributes, like the port: Conv3d_1a_7x7 ... Mixed_5c, logits."""

    def __init__(self, classes):
        super().__init__()
        self.Conv3d_1a_7x7 = RefUnit(3, 64, 7, 2)
        self.Conv3d_2b_1x1 = RefUnit(64, 64)
        self.Conv3d_2c_3x3 = RefUnit(64, 192, 3)
        cin = 192
        for name, widths in MIXED.items():
            setattr(self, name, RefMixed(cin, widths))
            cin = widths[0] + widths[2] + widths[4] + widths[5]
        self.logits = RefUnit(cin, classes, bn=False, bias=True)

    def forward(self, x):
        x = ref_pool(self.Conv3d_1a_7x7(x * 2 - 1), (1, 3, 3), (1, 2, 2))
        x = ref_pool(self.Conv3d_2c_3x3(self.Conv3d_2b_1x1(x)), (1, 3, 3), (1, 2, 2))
        x = ref_pool(self.Mixed_3c(self.Mixed_3b(x)), 3, 2)
        for name in ("Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_4f"):
            x = getattr(self, name)(x)
        x = self.Mixed_5c(self.Mixed_5b(ref_pool(x, 2, 2)))
        x = self.logits(F.avg_pool3d(x, (2, min(7, x.shape[3]), min(7, x.shape[4])), 1))  # 7x7 at 224 px
        return x.mean((2, 3, 4))


def reference(classes: int, scale: bool) -> RefI3D:
    torch.manual_seed(1)
    ref = RefI3D(classes)
    for m in ref.modules():
        if isinstance(m, nn.Conv3d):
            nn.init.normal_(m.weight, std=(2 / m.weight[0].numel()) ** 0.5)
        if isinstance(m, nn.BatchNorm3d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.1, 0.1)
            m.weight.data.copy_(torch.rand_like(m.weight) + 0.5 if scale else torch.ones_like(m.weight))
    return ref.eval()


CLIP = torch.rand(1, 3, 9, 64, 64, generator=torch.Generator().manual_seed(0))


def test_pytorch_port_layout_gives_the_references_logits(tmp_path):
    ref = reference(10, scale=False)
    path = tmp_path / "rgb_imagenet.pt"  # the port's file name: its registry entry gives the normalization
    torch.save(ref.state_dict(), path)
    model = create_model("i3d", 10, pretrained=str(path)).eval()
    with torch.no_grad():
        expected, got = ref(CLIP), model(CLIP)
    assert expected.std() > 0.1  # a clip that tells wrong weights apart
    torch.testing.assert_close(got, expected, atol=2e-5, rtol=1e-4)


def test_port_with_a_trained_bn_scale_needs_bn_scale(tmp_path):
    ref = reference(10, scale=True)
    path = tmp_path / "rgb_imagenet.pt"
    torch.save(ref.state_dict(), path)
    with pytest.raises(ValueError, match="bn_scale=True"):
        create_model("i3d", 10, pretrained=str(path))
    model = create_model("i3d", 10, pretrained=str(path), bn_scale=True).eval()
    with torch.no_grad():
        torch.testing.assert_close(model(CLIP), ref(CLIP), atol=2e-5, rtol=1e-4)


def flax_variables(ref: RefI3D) -> dict:
    """The reference's weights as DeepMind's release stores them (flax scopes, channels-last kernels)."""
    branches = {"b0": "Branch_0/Conv3d_0a_1x1", "b1a": "Branch_1/Conv3d_0a_1x1", "b1b": "Branch_1/Conv3d_0b_3x3",
                "b2a": "Branch_2/Conv3d_0a_1x1", "b2b": "Branch_2/Conv3d_0b_3x3", "b3b": "Branch_3/Conv3d_0b_1x1"}
    params: dict = {}
    stats: dict = {}
    for name, unit in ref.named_modules():
        if not isinstance(unit, RefUnit):
            continue
        block, _, branch = name.partition(".")
        scope = "Logits/Conv3d_0c_1x1" if name == "logits" else (f"{block}/{branches[branch]}" if branch else block)
        p = params
        for part in scope.split("/"):
            p = p.setdefault(part, {})
        p["Conv_0"] = {"kernel": unit.conv3d.weight.detach().permute(2, 3, 4, 1, 0).numpy().copy()}
        if unit.conv3d.bias is not None:
            p["Conv_0"]["bias"] = unit.conv3d.bias.detach().numpy().copy()
        if unit.bn is not None:
            p["BatchNorm_0"] = {"bias": unit.bn.bias.detach().numpy().copy()}
            s = stats
            for part in scope.split("/"):
                s = s.setdefault(part, {})
            s["BatchNorm_0"] = {"mean": unit.bn.running_mean.numpy().reshape(1, 1, 1, 1, -1).copy(),
                                "var": unit.bn.running_var.numpy().reshape(1, 1, 1, 1, -1).copy()}
    return {"params": params, "batch_stats": stats}


def test_flax_release_layout_gives_the_references_logits(tmp_path):
    ref = reference(10, scale=False)
    variables = flax_variables(ref)
    mixed_5b = variables["params"]["Mixed_5b"]["Branch_2"]  # TF's own name for this one scope
    mixed_5b["Conv3d_0a_3x3"] = mixed_5b.pop("Conv3d_0b_3x3")
    path = tmp_path / "release.ckpt"
    path.write_bytes(pickle.dumps(variables, protocol=4))
    model = create_model("i3d", 10, pretrained=f"kinetics400:{path}").eval()
    with torch.no_grad():
        torch.testing.assert_close(model(CLIP), ref(CLIP), atol=2e-5, rtol=1e-4)


class Payload:
    def __init__(self, target: Path):
        self.target = target

    def __reduce__(self):
        return os.mkdir, (str(self.target),)


def test_a_pickle_that_calls_anything_else_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.ckpt"
    path.write_bytes(pickle.dumps({"params": {"w": np.zeros(3, np.float32)}, "x": Payload(marker)}))
    with pytest.raises(CheckpointError, match=r"refused.*(posix|os)\.mkdir.*only numpy arrays"):
        create_model("i3d", 10, pretrained=str(path))
    assert not marker.exists()


def test_a_file_under_the_release_name_with_another_sha256_is_refused(tmp_path):
    path = tmp_path / "i3d-kinetics-400.ckpt"
    path.write_bytes(pickle.dumps({"params": {"w": np.zeros(3, np.float32)}}))
    expected = get_weights("i3d", "kinetics400").sha256
    for pretrained in (str(path), f"kinetics400:{path}"):
        with pytest.raises(CheckpointError, match=f"sha256 is [0-9a-f]{{64}}, not .*release's {expected}"):
            create_model("i3d", 400, pretrained=pretrained)


@needs_release
def test_released_weights_predict_arm_wrestling_on_the_kinetics_clip():
    from videoabnn.data.clip import load_clip

    model = create_model("i3d", 400, pretrained="kinetics400").eval()
    classes = get_weights("i3d", "kinetics400").classes
    clip = load_clip(DEMO, frames=16, size=224).clip  # short side 256, 224 centre crop, [0, 1]
    with torch.no_grad():
        probs = model(clip[None]).softmax(1)[0]
    top = int(probs.argmax())
    assert classes[top] == "arm wrestling", f"top-1 {classes[top]} ({float(probs[top]):.3f})"
    assert float(probs[top]) > 0.9
