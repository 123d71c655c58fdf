"""Identical reruns: two evaluations with the same seed give the same numbers, bit for bit, for every
attack of the ``quick`` preset (perturbation sizes included), at one thread, whatever is reused or how
the clips are loaded; and ROA's sticker place does not depend on how ``topk`` orders ties."""

import json

import pytest
import torch
from torch import nn

from videoabnn.attacks import ATTACK_PRESETS, build_attack
from videoabnn.attacks.ranking import top_indices
from videoabnn.engine import evaluate, train

TIMING_KEYS = {"seconds"}


@pytest.fixture
def trained(tiny_cfg, toy_sets):
    cfg = tiny_cfg("standard", **{"train.epochs": 2, "eval.audit": False, "data.test_batch_size": 6})
    return cfg, train(cfg, train_set=toy_sets[0], val_set=toy_sets[1]) / "last.pt"


def _numbers(results: dict) -> dict:
    """Every number of the results file except timings: clean, each attack, the summary."""
    attacks = {k: {f: v for f, v in row.items() if f not in TIMING_KEYS} for k, row in results["attacks"].items()}
    return {"clean": results["clean"], "attacks": attacks, "summary": results["summary"]}


def test_two_evaluations_with_the_same_seed_give_identical_numbers(trained, toy_sets, tmp_path, tiny_cfg):
    cfg, ckpt = trained
    assert torch.get_num_threads() == 1
    first = evaluate(cfg, ckpt, attacks="quick", out_dir=tmp_path / "a", test_set=toy_sets[1])
    # a fresh cache, clips from a loader worker, and the global RNG somewhere else: the same numbers
    torch.manual_seed(12345)
    again = tiny_cfg("standard", **{"train.epochs": 2, "eval.audit": False, "data.test_batch_size": 6,
                                    "data.num_workers": 1})
    second = evaluate(again, ckpt, attacks="quick", out_dir=tmp_path / "b", test_set=toy_sets[1])
    on_disk = [json.loads((tmp_path / d / "results.json").read_text()) for d in ("a", "b")]
    assert set(first["attacks"]) == {spec["id"] for spec in ATTACK_PRESETS["quick"]}
    assert json.dumps(_numbers(on_disk[0]), sort_keys=True) == json.dumps(_numbers(on_disk[1]), sort_keys=True)
    assert _numbers(first) == _numbers(second)
    assert all(row["mean_l2"] > 0 and row["mean_linf"] > 0 for row in first["attacks"].values())


class _MeanModel(nn.Module):
    """Logits from the clip's mean only: the input gradient is the same at every pixel (all places tie)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = x.mean(dim=(1, 2, 3, 4))
        return torch.stack([m, -m], dim=1)


def test_top_indices_break_ties_by_position():
    scores = torch.tensor([[1.0, 3.0, 3.0, 0.0, 3.0, 2.0]])
    assert top_indices(scores, 4).tolist() == [[1, 2, 4, 5]]
    assert top_indices(torch.zeros(2, 1, 50), 3).tolist() == [[[0, 1, 2]], [[0, 1, 2]]]


def test_roa_gradient_search_takes_the_first_of_tied_places():
    x = torch.full((2, 3, 2, 16, 16), 0.25)  # a grey sticker anywhere gives exactly the same loss
    y = torch.zeros(2, dtype=torch.long)
    attack = build_attack("roa", _MeanModel(), size=4, position="gradient", candidates=5, steps=1, seed=0)
    changed = (attack(x, y) != x).any(dim=1).any(dim=1)  # (N, H, W): where the sticker went
    assert changed[:, :4, :4].all() and not changed[:, 4:, :].any() and not changed[:, :, 4:].any()
