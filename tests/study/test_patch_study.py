"""The patch study on a tiny run: untrained tiny checkpoints, a few generated videos."""

from __future__ import annotations

import json

from PIL import Image

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
