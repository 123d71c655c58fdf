"""Normalization follows the weights (issue 11): reference networks whose BatchNorm statistics were
calibrated on each release's own input normalization, saved in each release's layout, reproduce their
logits through ``create_model(..., pretrained=file)`` on [0, 1] clips with no mean/std given."""

from __future__ import annotations

import pytest
import torch
from pytorchvideo.models.x3d import create_x3d
from torchvision.models.video import r3d_18

from videoabnn.abnn import clip_statistics
from videoabnn.models import create_model, describe_normalization, list_weights, model_defaults, save_model
from videoabnn.models.pretrained import ACTIVITYNET_MEAN_255, HARA_2020_MEAN, HARA_2020_STD

CLIP = (2, 3, 4, 32, 32)


def old_hara_input(x):
    return x * 255 - torch.tensor(ACTIVITYNET_MEAN_255).view(1, 3, 1, 1, 1)


def new_hara_input(x):
    return (x - torch.tensor(HARA_2020_MEAN).view(1, 3, 1, 1, 1)) / torch.tensor(HARA_2020_STD).view(1, 3, 1, 1, 1)


def tv_input(x):
    return (x - torch.tensor([0.43216, 0.394666, 0.37645]).view(1, 3, 1, 1, 1)) / torch.tensor(
        [0.22803, 0.22145, 0.216989]).view(1, 3, 1, 1, 1)


@torch.no_grad()
def calibrate(net, preprocess, steps: int = 4):
    """BatchNorm running statistics of ``net`` measured on inputs in the release's own normalization."""
    g = torch.Generator().manual_seed(0)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm3d):
            m.reset_running_stats()
            m.momentum = None
    net.train()
    for _ in range(steps):
        net(preprocess(torch.rand(*CLIP, generator=g)))
    return net.eval()


def hara_reference(depth: int, classes: int, shortcut: str, preprocess):
    """A 3D-ResNets-PyTorch style network (our backbone without Normalize), calibrated on its input."""
    backbone = create_model(f"resnet3d_{depth}", classes, width=8, shortcut=shortcut).backbone
    return calibrate(backbone, preprocess)


def hara_file(backbone, path, arch: str):
    inverse = [(ours, native) for native, ours in backbone.native_prefixes]
    state = {}
    for key, value in backbone.state_dict().items():
        native = next(n + key[len(o):] for o, n in inverse if key.startswith(o))
        state["module." + native] = value
    torch.save({"epoch": 200, "arch": arch, "state_dict": state}, path)
    return path


@pytest.mark.parametrize("name, preprocess, classes", [
    ("resnet-18-kinetics.pth", old_hara_input, 400),  # 2018 release file name
    ("my_old_r18.pth", old_hara_input, 400),  # renamed: told apart by layout and class count
    ("r3d18_K_200ep.pth", new_hara_input, 700),  # 2020 release
])
def test_hara_releases_reproduce_the_reference_logits(tmp_path, name, preprocess, classes):
    shortcut = "A" if classes == 400 else "B"
    ref = hara_reference(18, classes, shortcut, preprocess)
    path = hara_file(ref, tmp_path / name, "resnet-18")
    model = create_model("resnet3d_18", classes, width=8, shortcut=shortcut, pretrained=str(path)).eval()
    x = torch.rand(*CLIP, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        expected, got = ref(preprocess(x)), model(x)
        wrong = ref(new_hara_input(x) if preprocess is old_hara_input else old_hara_input(x))
    assert torch.allclose(got, expected, atol=1e-4, rtol=1e-4)
    assert not torch.allclose(wrong, expected, atol=1e-2)  # the other release's input gives other logits
    # the normalization is recorded, so a saved checkpoint restores it
    save_model(model, tmp_path / "mine.pt")
    from videoabnn.models import load_model

    with torch.no_grad():
        assert torch.allclose(load_model(tmp_path / "mine.pt")(x), expected, atol=1e-4, rtol=1e-4)


def test_torchvision_and_pytorchvideo_releases(tmp_path):
    native = calibrate(r3d_18(weights=None, num_classes=400), tv_input)
    torch.save(native.state_dict(), tmp_path / "r3d18_k400.pth")
    model = create_model("r3d_18", 400, pretrained=str(tmp_path / "r3d18_k400.pth")).eval()
    x = torch.rand(*CLIP, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.allclose(model(x), native(tv_input(x)), atol=1e-4, rtol=1e-4)
    pv = create_x3d(input_clip_length=4, input_crop_size=160, model_num_class=400, head_activation=None)
    calibrate(torch.nn.Sequential(*pv.blocks[:5]), lambda v: (v - 0.45) / 0.225)  # the stages (the head needs 160 px)
    torch.save({"model_state": pv.state_dict()}, tmp_path / "X3D_XS.pyth")
    ours = create_model("x3d_xs", 400, pretrained=str(tmp_path / "X3D_XS.pyth")).eval()
    h = (x - 0.45) / 0.225
    with torch.no_grad():
        for block, stage in zip(pv.blocks[:5], ours.forward_stages(x)):
            h = block(h)
            assert torch.allclose(h, stage, atol=1e-4, rtol=1e-4)


def test_abnn_substitute_sees_its_release_input(tmp_path):
    ref = hara_reference(18, 400, "A", old_hara_input)
    path = hara_file(ref, tmp_path / "resnet-18-kinetics.pth", "resnet-18")
    abnn = create_model("abnn", 5, target="tiny_r3d", target_kwargs={"width": 4}, substitute="resnet3d_18",
                        substitute_kwargs={"width": 8, "shortcut": "A"}, substitute_checkpoint=str(path)).eval()
    x = torch.rand(*CLIP, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        stats = abnn.substitute_statistics(x)
        features = ref.forward_stages(old_hara_input(x))
    for (mu, sigma, _), feat in zip(stats, features):
        mu_ref, sigma_ref = clip_statistics(feat)
        assert torch.allclose(mu, mu_ref, atol=1e-4, rtol=1e-4) and torch.allclose(sigma, sigma_ref, atol=1e-4, rtol=1e-4)
    assert any("substitute" in line for line in describe_normalization(abnn))


def test_registry_lists_weights_and_messages(tmp_path, monkeypatch):
    assert {"kinetics400_2018", "kinetics700_2020", "kinetics700_moments_2020"} <= set(list_weights("resnet3d_18"))
    old = model_defaults("resnext3d_101", weights="kinetics400_2018")
    assert old["input_scale"] == 255 and old["file"] == "resnext-101-kinetics.pth" and old["num_classes"] == 400
    assert old["mean"][0] == pytest.approx(114.7748 / 255) and old["std"][0] == pytest.approx(1 / 255)
    with pytest.raises(ValueError, match="no weights tagged 'kinetics400'; its tags: kinetics400_2018"):
        create_model("resnext3d_101", 400, pretrained="kinetics400:x.pth")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="Put resnet-18-kinetics.pth at .*3D-ResNets-PyTorch"):
        create_model("resnet3d_18", 400, pretrained="kinetics400_2018")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ValueError, match="not a PyTorch checkpoint"):
        create_model("resnet3d_18", 400, pretrained=str(junk))
    ref = hara_reference(18, 7, "A", old_hara_input)  # 7 classes: no release has that
    with pytest.warns(UserWarning, match="cannot tell which release .* assuming the model's default normalization"):
        create_model("resnet3d_18", 7, width=8, shortcut="A", pretrained=str(hara_file(ref, tmp_path / "r.pth", "r")))
    explicit = create_model("resnet3d_18", 400, width=8, shortcut="A", mean=[0.5] * 3, std=[0.25] * 3,
                            pretrained=str(hara_file(hara_reference(18, 400, "A", old_hara_input),
                                                     tmp_path / "resnet-18-kinetics.pth", "resnet-18")))
    assert explicit.normalize.mean.flatten().tolist() == [0.5] * 3  # an explicit mean/std wins and is recorded
    assert explicit.videoabnn_spec["kwargs"]["mean"] == [0.5] * 3
