"""Every shipped config parses, validates, builds its model and trains one batch; a run without data or
weights says what is missing."""

import json
from pathlib import Path
from unittest import mock

import pytest
import torch
import torch.nn.init as init

from videoabnn.config import load_config
from videoabnn.engine.build import build_model, model_spec

REPO = Path(__file__).resolve().parents[2]
OWN = sorted(p for p in (REPO / "configs").rglob("*.yaml")
             if "_base_" not in p.parts and "patch_study" not in p.parts and not p.name.startswith("study"))


def test_there_is_a_config_per_method_and_dataset():
    names = {str(p.relative_to(REPO / "configs")) for p in OWN}
    for ds in ("ucf101", "hmdb51"):
        for method in ("standard", "abnn", "at", "pgd_at", "alp", "trades", "feature_denoise"):
            assert any(n.startswith(f"{ds}/{method}_") for n in names), (ds, method)
        assert f"{ds}/tta_resnext101.yaml" in names and f"{ds}/abnn_resnext101_r18_40f.yaml" in names
    for method in ("standard", "abnn", "at", "pgd_at", "alp", "trades", "feature_denoise", "tta"):
        assert f"synthetic/{method}.yaml" in names


@pytest.mark.parametrize("path", OWN, ids=[str(p.relative_to(REPO / "configs")) for p in OWN])
def test_config_parses_and_builds_model(path):
    cfg = load_config(path)
    num_classes = cfg.data.num_classes or 4
    skip = {f: (lambda t, *a, **k: t) for f in ("kaiming_normal_", "kaiming_uniform_", "normal_", "uniform_",
                                                  "zeros_", "ones_", "constant_", "xavier_uniform_", "trunc_normal_")}
    with mock.patch.multiple(init, **skip):  # full-size models: real modules, weight init skipped (speed)
        model = build_model(cfg, num_classes, load_weights=False)
    arch, _ = model_spec(cfg, num_classes)
    assert model.videoabnn_spec["arch"] == arch and model.videoabnn_spec["num_classes"] == num_classes
    if path.name == "abnn_r3d18_i3d.yaml":  # ABNN with the real Kinetics-400 I3D as substitute
        assert cfg.abnn.substitute.name == "i3d" and cfg.model.name == "resnet3d_18" and cfg.data.frames == 16
    elif path.parent.name in ("ucf101", "hmdb51"):  # the authors' protocol
        assert cfg.data.crop == 112 and cfg.data.split == 1 and cfg.data.frames in (16, 40)
        assert cfg.model.name == "resnext3d_101"
        if cfg.train.method == "abnn":
            assert cfg.abnn.substitute.name == "resnet3d_18" and cfg.abnn.substitute.kwargs.shortcut == "A"
            assert "gray" in cfg.eval.threat_models
        if cfg.train.method in ("at", "pgd_at", "alp", "trades", "feature_denoise"):
            assert cfg.train.attack.name in ("fgsm", "pgd")


def test_protocol_run_without_weights_or_data_names_what_is_missing(tool, tmp_path, capsys):
    train = tool("train")
    cfg = str(REPO / "configs" / "ucf101" / "abnn_resnext101_r18.yaml")
    rc = train.main([cfg, f"work_dir={tmp_path / 'w'}", f"model.pretrained={tmp_path / 'resnext.pth'}"])
    err = capsys.readouterr().err
    assert rc == 2 and "model.pretrained" in err and "resnext.pth" in err
    rc = train.main([cfg, f"work_dir={tmp_path / 'w'}", "model.pretrained=null",
                     f"abnn.substitute.checkpoint={tmp_path / 'r18.pth'}"])
    err = capsys.readouterr().err
    assert rc == 2 and "abnn.substitute.checkpoint" in err and "r18.pth" in err
    rc = train.main([cfg, f"work_dir={tmp_path / 'w'}", "model.pretrained=null", "abnn.substitute.checkpoint=null",
                     f"data.root={tmp_path / 'ucf'}"])
    err = capsys.readouterr().err
    assert rc == 2 and str(tmp_path / "ucf") in err, err


class _TinyClips(torch.utils.data.Dataset):
    """Four random 4x32x32 clips of classes 0-3: enough for one training batch of any shipped config."""

    def __init__(self, num_classes: int) -> None:
        self.clips = torch.rand(4, 3, 4, 32, 32, generator=torch.Generator().manual_seed(0))
        self.num_classes = num_classes

    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int) -> dict:
        return {"clip": self.clips[i], "label": i % self.num_classes, "video": i}


@pytest.mark.parametrize("path", OWN, ids=[str(p.relative_to(REPO / "configs")) for p in OWN])
def test_config_runs_one_training_batch(path, tmp_path):
    """Every shipped config trains one batch with its method, attack, optimizer and ABNN/denoising settings,
    on tiny clips and with its pretrained files unset, so a config that cannot run fails here, not for a
    user. Full-size backbones (built above) are swapped for tiny_r3d to keep this fast."""
    from videoabnn.engine import train

    over = [f"work_dir={tmp_path}", "train.epochs=1", "train.max_batches=1", "train.eval_every=0",
            "train.warmup_epochs=0", "data.batch_size=2", "model.pretrained=null", "abnn.substitute.checkpoint=null",
            "data.num_workers=0", "device=cpu", "threads=1"]
    if path.parent.name in ("ucf101", "hmdb51"):
        over += ["model.name=tiny_r3d", "model.kwargs={width: 4}", "abnn.substitute.name=tiny_r3d",
                 "abnn.substitute.kwargs={width: 4}"]
    cfg = load_config(path, over)
    run = train(cfg, train_set=_TinyClips(cfg.data.num_classes or 4), val_set=None)
    summary = json.loads((run / "train_summary.json").read_text())
    assert summary["epochs"] == 1 and (run / "last.pt").is_file() and "epoch 1/1" in (run / "train.log").read_text()
