"""A batch-coupled model (ABNN prototype_exact with the authors' batch statistics) is flagged in its results."""

import pytest

from videoabnn.abnn import ClipSizeError
from videoabnn.engine import evaluate, train


@pytest.mark.parametrize("stats", ["batch", "clip"])
def test_results_flag_batch_coupling(stats, tiny_cfg, toy_sets, tmp_path):
    cfg = tiny_cfg("abnn", **{"train.epochs": 1, "abnn.mode": "prototype_exact", "abnn.input_size": [4, 16, 16],
                              "abnn.prototype_statistics": stats})
    ckpt = train(cfg, train_set=toy_sets[0], val_set=toy_sets[1]) / "last.pt"
    res = evaluate(cfg, ckpt, attacks=["fgsm"], out_dir=tmp_path / "eval", test_set=toy_sets[1])
    assert res["run"]["batch_coupled"] is (stats == "batch")
    text = (tmp_path / "eval" / "results.md").read_text()
    assert ("depends on the other clips of its batch" in text) is (stats == "batch")


def test_prototype_exact_rejects_another_clip_size(tiny_cfg, toy_sets):
    cfg = tiny_cfg("abnn", **{"train.epochs": 1, "abnn.mode": "prototype_exact", "abnn.input_size": [8, 16, 16]})
    with pytest.raises(ClipSizeError, match="built for clips of 8x16x16.*got 4x16x16"):
        train(cfg, train_set=toy_sets[0], val_set=toy_sets[1])
