"""The physical threat model: rows for the printable attacks only, fresh draws, fixed conditions and
their per-clip worst case; other threat models' rows unchanged."""

import json

import pytest

from videoabnn.engine import evaluate, train
from videoabnn.results import Results


@pytest.fixture
def trained(tiny_cfg, toy_sets):
    cfg = tiny_cfg("standard", **{"train.epochs": 2})
    return cfg, train(cfg, train_set=toy_sets[0], val_set=toy_sets[1]) / "last.pt"


def test_physical_rows_beside_the_digital_ones(trained, toy_sets, tmp_path):
    cfg, ckpt = trained
    attacks = ["fgsm", {"id": "roa_6", "name": "roa", "size": 6, "position": "random", "steps": 2},
               {"id": "patch", "name": "universal_patch", "size": 0.4, "epochs": 1, "physical": {"draws": 1}}]
    white = evaluate(cfg, ckpt, attacks=attacks, threat_models=["white"], out_dir=tmp_path / "w",
                     test_set=toy_sets[1], train_set=toy_sets[0])
    res = evaluate(cfg, ckpt, attacks=attacks, threat_models=["white", "physical"], out_dir=tmp_path / "p",
                   test_set=toy_sets[1], train_set=toy_sets[0])
    Results.from_dict(json.loads((tmp_path / "p" / "results.json").read_text()), "results.json")
    for key in white["attacks"]:  # the digital rows do not change
        assert res["attacks"][key]["clip_acc"] == white["attacks"][key]["clip_acc"]
    assert "fgsm@physical" not in res["attacks"]
    views = ("digital", "dark", "bright", "blurred", "compressed", "worst")
    for attack in ("roa_6", "patch"):
        row = res["attacks"][f"{attack}@physical"]
        assert row["threat"] == "physical" and row["params"]["pattern"] == "shared"
        assert row["details"]["physical"]["draws"] >= 1
        for view in views:
            assert res["attacks"][f"{attack}@physical:{view}"]["threat"] == f"physical:{view}"
        worst = res["attacks"][f"{attack}@physical:worst"]["clip_acc"]
        assert worst <= min(res["attacks"][f"{attack}@physical:{v}"]["clip_acc"] for v in views[1:5])
        control = res["attacks"][f"{attack}@physical:no_pattern"]  # the camera alone, on the clean clips
        assert control["threat"] == "physical:no_pattern" and 0.0 <= control["clip_acc"] <= 1.0
    assert res["summary"]["worst_case"]["physical"] <= min(res["attacks"][f"{a}@physical"]["clip_acc"]
                                                           for a in ("roa_6", "patch"))
    assert res["summary"]["threat"] == "white"
