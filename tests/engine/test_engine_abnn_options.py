"""The clean-accuracy study's ABNN options train from a config, are saved with the checkpoint, and the
experiment script builds one valid config per variant."""

import importlib.util
import json
from pathlib import Path

import torch

from videoabnn.engine import train
from videoabnn.models import load_model

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_abnn_clean_gap.py"


def test_every_option_trains_and_is_saved(tiny_cfg, toy_sets):
    cfg = tiny_cfg("abnn", **{"train.epochs": 1, "abnn.stats_dropout": 0.2, "abnn.modulation": "gamma",
                              "abnn.stats_stages": [0, 1, 2, 3],
                              "train.method_args": {"stats_lr_scale": 0.1, "stats_weight_decay": 0.01,
                                                    "align_weight": 0.1}})
    run = train(cfg, train_set=toy_sets[0], val_set=toy_sets[1])
    model = load_model(run / "last.pt")
    assert [layer.use_stats for layer in model.adaptive] == [True] * 4 + [False]
    assert {layer.modulation for layer in model.adaptive} == {"gamma"}
    assert {layer.stats_dropout for layer in model.adaptive} == {0.2}
    kwargs = torch.load(run / "last.pt", weights_only=False)["kwargs"]
    assert kwargs["stats_stages"] == [0, 1, 2, 3] and kwargs["modulation"] == "gamma"
    lines = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if line.strip()]
    assert any("align" in json.dumps(rec) for rec in lines)  # the alignment loss is logged


def test_experiment_script_builds_each_variant(tmp_path):
    spec = importlib.util.spec_from_file_location("bench_abnn_clean_gap", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    config = tmp_path / "abnn.yaml"
    config.write_text(f"train: {{method: abnn, method_args: {{}}}}\nwork_dir: {tmp_path / 'w'}\n")
    dirs = set()
    for name, change in script.VARIANTS.items():
        cfg = script.variant_config(str(config), name, 1, [])
        dirs.add(cfg["work_dir"])
        assert cfg["seed"] == 1 and cfg["work_dir"].endswith(f"{name}-s1")
        for key, value in change.items():
            section, _, leaf = key.partition(".")
            assert cfg[section][leaf] == value
    assert len(dirs) == len(script.VARIANTS)
    table = script.table({"baseline": [{"val": 0.9, "clean": 0.8, "white": 0.1, "gray": 0.6},
                                       {"val": 0.8, "clean": 0.9, "white": 0.2, "gray": None}]})
    assert "| baseline | 2 | 85.0 +- 7.1 | 85.0 +- 7.1 | 15.0 +- 7.1 | 60.0 |" in table
