"""The clean-accuracy study's ABNN options train from a config and are saved with the checkpoint (the
comparison itself is the study's clean-gap stage, tested in tests/abnn/test_abnn_clean_gap_options.py)."""

import json

import torch

from videoabnn.engine import train
from videoabnn.models import load_model


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
