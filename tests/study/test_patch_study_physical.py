"""The patch study's physical threat model: physical rows and curves beside the digital ones."""

from __future__ import annotations

import json

from PIL import Image

from videoabnn.config import config_from_dict
from videoabnn.models import create_model, save_model
from videoabnn.study.patch import run_patch_study


def test_patch_study_physical_curves_and_condition_examples(tmp_path):
    model = create_model("tiny_r3d", 4, width=4)
    ckpt = str(save_model(model, tmp_path / "m.pt", method="standard", epochs=1))
    cfg = config_from_dict({
        "name": "ps", "work_dir": str(tmp_path / "ps"), "device": "cpu",
        "data": {"name": "synthetic", "root": str(tmp_path / "data"), "frames": 4, "short_side": 20, "crop": 16,
                 "batch_size": 8, "max_videos": 16, "synthetic": {"preset": "quick"}},
        "model": {"name": "tiny_r3d", "kwargs": {"width": 4}},
        "study": {"patch_study": {"checkpoints": {"m": ckpt}, "sizes": [0.5], "fit": {"alpha": 0.1, "epochs": 1},
                                  "physical": {"preset": "default", "draws": 1}, "fit_batches": 1,
                                  "test_batches": 1, "examples": 1, "mp4": False}},
    })
    paths = run_patch_study(cfg, log=lambda s: None)
    work = tmp_path / "ps"
    res = json.loads((work / "results" / "m.json").read_text())
    for size in ("0.5",):
        row = res["attacks"][f"universal_patch_{size}@physical"]
        assert row["threat"] == "physical" and row["params"]["physical"]["draws"] == 1
        assert res["attacks"][f"universal_patch_{size}@physical:worst"]["clip_acc"] <= min(
            res["attacks"][f"universal_patch_{size}@physical:{c}"]["clip_acc"]
            for c in ("dark", "bright", "blurred", "compressed"))
        assert res["attacks"][f"universal_patch_{size}@physical:no_pattern"]["threat"] == "physical:no_pattern"
    assert {"white", "physical", "physical:worst"} <= set(res["summary"]["worst_case"])
    size = json.loads((work / "results" / "sweeps" / "size.json").read_text())
    assert [p["x"] for p in size["models"]["m (physical)"]] == [0.0, 0.5]
    with Image.open(work / "frames" / "universal_patch_m_physical.png") as img:
        assert img.format == "PNG"
    assert "frames/universal_patch_m_physical.png" in paths["markdown"].read_text()
