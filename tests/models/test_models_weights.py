"""Pretrained loading from each checkpoint format, head re-init on a class change, clear errors."""

import pytest
import torch
from pytorchvideo.models.x3d import create_x3d
from torchvision.models.video import r3d_18

from videoabnn.models import create_model, load_pretrained, save_model


def _hara_native(model):
    """The model's weights renamed to 3D-ResNets-PyTorch keys, as a DataParallel checkpoint."""
    inverse = [(ours, native) for native, ours in model.backbone.native_prefixes]
    state = {}
    for key, value in model.backbone.state_dict().items():
        for ours, native in inverse:
            if key.startswith(ours):
                state["module." + native + key[len(ours):]] = value
                break
    return {"epoch": 200, "arch": "resnet-10", "state_dict": state, "optimizer": {}}


def test_hara_checkpoint_roundtrip(tmp_path):
    src = create_model("resnet3d_10", num_classes=7, width=8, shortcut="B").eval()
    ckpt = _hara_native(src)
    keys = set(ckpt["state_dict"])
    assert {"module.conv1.weight", "module.bn1.running_mean", "module.layer1.0.conv1.weight",
            "module.layer2.0.downsample.0.weight", "module.layer2.0.downsample.1.weight", "module.fc.weight"} <= keys
    torch.save(ckpt, tmp_path / "hara.pth")
    dst = create_model("resnet3d_10", num_classes=7, width=8, shortcut="B").eval()
    report = load_pretrained(dst, tmp_path / "hara.pth")
    assert report.format == "3d-resnets-pytorch" and not report.head_reinitialised
    x = torch.rand(2, 3, 4, 32, 32)
    assert torch.equal(dst(x), src(x))


def test_torchvision_checkpoint_matches_torchvision_model(tmp_path):
    native = r3d_18(weights=None, num_classes=6).eval()
    with torch.no_grad():  # non-trivial BN statistics so a mis-mapped buffer would show
        for m in native.modules():
            if isinstance(m, torch.nn.BatchNorm3d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    torch.save(native.state_dict(), tmp_path / "r3d.pth")
    model = create_model("r3d_18", num_classes=6, pretrained=str(tmp_path / "r3d.pth")).eval()
    x = torch.rand(1, 3, 2, 32, 32)
    assert torch.allclose(model(x), native(model.normalize(x)), atol=1e-5)


def test_pytorchvideo_checkpoint_matches_pytorchvideo_model(tmp_path):
    native = create_x3d(input_clip_length=4, input_crop_size=160, model_num_class=5, head_activation=None).eval()
    torch.save({"model_state": native.state_dict(), "cfg": "x3d"}, tmp_path / "X3D_XS.pyth")
    model = create_model("x3d_xs", num_classes=5, pretrained=str(tmp_path / "X3D_XS.pyth")).eval()
    x = torch.rand(1, 3, 2, 32, 32)
    h = model.normalize(x)
    for block, ours in zip(native.blocks[:5], model.forward_stages(x)):
        h = block(h)
        assert torch.allclose(h, ours, atol=1e-5)


def test_videoabnn_checkpoint_as_pretrained(tmp_path):
    src = create_model("tiny_r3d", num_classes=3, width=8).eval()
    save_model(src, tmp_path / "v.pt")
    dst = create_model("tiny_r3d", num_classes=3, width=8, pretrained=str(tmp_path / "v.pt")).eval()
    x = torch.rand(2, 3, 8, 32, 32)
    assert torch.equal(dst(x), src(x))


def test_class_count_change_reinitialises_head_and_says_so(tmp_path):
    src = create_model("tiny_r3d", num_classes=400, width=8).eval()
    save_model(src, tmp_path / "k400.pt")
    dst = create_model("tiny_r3d", num_classes=5, width=8).eval()
    with pytest.warns(UserWarning, match="re-initialised"):
        report = load_pretrained(dst, tmp_path / "k400.pt")
    assert report.head_reinitialised
    x = torch.rand(2, 3, 8, 32, 32)
    for a, b in zip(dst.forward_stages(x), src.forward_stages(x)):
        assert torch.equal(a, b)
    assert dst(x).shape == (2, 5)


def test_wrong_architecture_lists_missing_and_unexpected(tmp_path):
    torch.save(r3d_18(weights=None).state_dict(), tmp_path / "r3d.pth")
    model = create_model("tiny_r3d", num_classes=400, width=8)
    with pytest.raises(ValueError, match="missing keys") as info:
        load_pretrained(model, tmp_path / "r3d.pth")
    text = str(info.value)
    assert "unexpected keys" in text and "backbone.stem.conv1.weight" in text and "r3d.pth" in text
    deeper = create_model("resnet3d_18", num_classes=3, width=8)
    torch.save(_hara_native(create_model("resnet3d_10", num_classes=3, width=8)), tmp_path / "r10.pth")
    with pytest.raises(ValueError, match=r"missing keys \([1-9]"):
        load_pretrained(deeper, tmp_path / "r10.pth")


def test_missing_weights_name_the_expected_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="r3d_18-b3b3357e.pth") as info:
        create_model("r3d_18", num_classes=400, pretrained="kinetics400")
    assert str(tmp_path / "hub" / "checkpoints") in str(info.value)
    with pytest.raises(FileNotFoundError, match="nowhere.pth"):
        create_model("tiny_r3d", num_classes=3, pretrained=str(tmp_path / "nowhere.pth"))
    target = tmp_path / "hub" / "checkpoints" / "r3d_18-b3b3357e.pth"
    target.parent.mkdir(parents=True)
    native = r3d_18(weights=None).eval()
    torch.save(native.state_dict(), target)
    # the file name states the release's sha256 prefix: a file that is not the released one is refused
    with pytest.raises(ValueError, match="sha256 starts with .* says b3b3357e"):
        create_model("r3d_18", num_classes=400, pretrained="kinetics400")
    renamed = tmp_path / "my_r3d.pth"
    target.rename(renamed)  # a renamed file is not checked; naming its release keeps the normalization
    model = create_model("r3d_18", num_classes=400, pretrained=f"kinetics400:{renamed}").eval()
    assert torch.equal(model.backbone.head.fc.weight, native.fc.weight)


def test_unrecognised_file_is_a_clear_error(tmp_path):
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(ValueError, match="unrecognised checkpoint format"):
        load_pretrained(create_model("tiny_r3d", num_classes=2, width=4), tmp_path / "list.pt")


def test_shortcut_mismatch_gets_a_hint(tmp_path):
    torch.save(_hara_native(create_model("resnet3d_10", num_classes=3, width=8, shortcut="B")), tmp_path / "b.pth")
    with pytest.raises(ValueError, match="shortcut='B'"):
        load_pretrained(create_model("resnet3d_10", num_classes=3, width=8, shortcut="A"), tmp_path / "b.pth")
