"""The patch study on a tiny run: untrained tiny checkpoints, a few generated videos."""

from __future__ import annotations

import json

import torch
from PIL import Image

from videoabnn.attacks import UniversalPatch
from videoabnn.config import config_from_dict
from videoabnn.models import create_model, save_model
from videoabnn.study.patch import position_grid, run_patch_study


def test_position_grid_stays_inside():
    rows, cols = position_grid(16, 20, 6, 3)
    assert rows == [0, 5, 10] and cols == [0, 7, 14]


def test_patch_study_tiny(tmp_path):
    ckpts = {}
    for name in ("a", "b"):
        model = create_model("tiny_r3d", 4, width=4)
        ckpts[name] = str(save_model(model, tmp_path / f"{name}.pt", method="standard", epochs=1))
    cfg = config_from_dict({
        "name": "ps", "work_dir": str(tmp_path / "ps"), "device": "cpu",
        "data": {"name": "synthetic", "root": str(tmp_path / "data"), "frames": 4, "short_side": 20, "crop": 16,
                 "batch_size": 8, "max_videos": 16, "synthetic": {"preset": "quick"}},
        "model": {"name": "tiny_r3d", "kwargs": {"width": 4}},
        "study": {"patch_study": {"checkpoints": ckpts, "sizes": [0.25, 0.5], "fit": {"alpha": 0.1, "epochs": 1},
                                  "fit_batches": 1, "test_batches": 1, "position_size": 0.5, "position_steps": 2,
                                  "frame_counts": [1, 4], "examples": 1, "mp4": False}},
    })
    paths = run_patch_study(cfg, log=lambda s: None)
    work = tmp_path / "ps"
    res = json.loads((work / "results" / "a.json").read_text())
    assert set(res["attacks"]) == {"universal_patch_0.25", "universal_patch_0.5"}
    assert 0.0 <= res["summary"]["worst_case"]["white"] <= min(a["clip_acc"] for a in res["attacks"].values())
    size = json.loads((work / "results" / "sweeps" / "size.json").read_text())
    assert [p["x"] for p in size["models"]["b"]] == [0.0, 0.25, 0.5]
    pos = json.loads((work / "results" / "sweeps" / "position.json").read_text())
    assert len(pos["models"]["a"]["acc"]) == 2 and len(pos["models"]["a"]["acc"][0]) == 2
    frames = json.loads((work / "results" / "sweeps" / "frames.json").read_text())
    assert [p["x"] for p in frames["models"]["a"]] == [1, 4]
    with Image.open(next((work / "patches").glob("a-*")) / "universal_patch_0.5.png") as img:
        assert img.size == (8, 8)  # half of the 16-px frame
    with Image.open(work / "plots" / "acc_by_position.png") as img:
        assert img.format == "PNG"
    md = paths["markdown"].read_text()
    assert "universal_patch_0.25" in md and "frames/universal_patch_a_0.gif" in md


def test_patch_study_behind_an_input_transform_fits_through_bpda(tmp_path):
    """With eval.input_transform set, the patch is fitted through the BPDA view of a non-differentiable
    transform (a naive fit would get no gradient and leave the patch at its start) and kept apart from
    patches fitted on the bare model."""
    model = create_model("tiny_r3d", 4, width=4)
    ckpt = str(save_model(model, tmp_path / "m.pt", method="standard", epochs=1))
    base = {
        "name": "ps", "work_dir": str(tmp_path / "ps"), "device": "cpu",
        "data": {"name": "synthetic", "root": str(tmp_path / "data"), "frames": 4, "short_side": 20, "crop": 16,
                 "batch_size": 8, "max_videos": 16, "synthetic": {"preset": "quick"}},
        "model": {"name": "tiny_r3d", "kwargs": {"width": 4}},
        "study": {"patch_study": {"checkpoints": {"m": ckpt}, "sizes": [0.5], "fit": {"alpha": 0.1, "epochs": 1},
                                  "fit_batches": 1, "test_batches": 1, "examples": 0, "mp4": False}},
    }
    run_patch_study(config_from_dict(base), log=lambda s: None)
    behind = {**base, "eval": {"input_transform": {"name": "jpeg", "quality": 50}, "eot": 1}}
    run_patch_study(config_from_dict(behind), log=lambda s: None)
    folders = sorted(p.name for p in (tmp_path / "ps" / "patches").iterdir())
    assert len(folders) == 2 and any("-jpeg-" in f for f in folders)
    res = json.loads((tmp_path / "ps" / "results" / "m.json").read_text())
    assert res["config"]["eval"]["input_transform"]["name"] == "jpeg"
    jpeg_dir = next(p for p in (tmp_path / "ps" / "patches").iterdir() if "-jpeg-" in p.name)
    fitted = UniversalPatch(model, size=0.5).load(jpeg_dir / "universal_patch_0.5.pt").param
    start = UniversalPatch(model, size=0.5, seed=res["seed"])._new_param(torch.zeros(1, 3, 4, 16, 16))
    assert fitted.shape == start.shape and not torch.equal(fitted, start)  # gradient steps reached the patch


def test_shipped_patch_configs_take_the_checkpoints_the_study_selected(tmp_path):
    from pathlib import Path

    import pytest

    from videoabnn.config import ConfigError, load_config
    from videoabnn.study.patch import _settings, study_checkpoints

    configs = sorted((Path(__file__).resolve().parents[2] / "configs" / "patch_study").glob("*.yaml"))
    assert len(configs) >= 2
    for path in configs:
        spec = load_config(path)["study"]["patch_study"]
        if path.name.startswith("synthetic"):  # the synthetic study's models; ucf101.yaml takes --checkpoints
            assert spec["from_study"] == "work_dirs/study" and spec["models"] == ["standard", "abnn", "pgd_at"]
        else:
            assert spec.get("from_study") is None and not spec.get("checkpoints")
    stages = tmp_path / "study" / "seeds" / "0" / "stages"
    stages.mkdir(parents=True)
    for name in ("standard", "abnn", "pgd_at", "at"):
        (stages / f"train_{name}.json").write_text(json.dumps({"outputs": {"checkpoint": f"runs/{name}-1a2b/best.pt"}}))
    found = study_checkpoints(tmp_path / "study", ["abnn", "standard"], 0)
    assert found == {"abnn": str(tmp_path / "study/seeds/0/runs/abnn-1a2b/best.pt"),
                     "standard": str(tmp_path / "study/seeds/0/runs/standard-1a2b/best.pt")}
    assert list(study_checkpoints(tmp_path / "study", None, 0)) == ["abnn", "at", "pgd_at", "standard"]
    with pytest.raises(ConfigError, match=r"\['trades'\] not trained by the study"):
        study_checkpoints(tmp_path / "study", ["trades"], 0)
    with pytest.raises(ConfigError, match="no study run with seed 3 there.*run the study first"):
        _settings({"study": {"patch_study": {"from_study": str(tmp_path / "study"), "study_seed": 3}}})
