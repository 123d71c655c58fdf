"""The trainer: every method learns on toy clips, files and logs are written, resume is exact."""

import json

import pytest
import torch

from videoabnn.engine import TrainingError, train
from videoabnn.engine import trainer as trainer_mod
from videoabnn.engine.checkpoint import read_run_checkpoint as read_checkpoint
from videoabnn.models import load_model


def _losses(run_dir):
    return [json.loads(line)["loss"] for line in (run_dir / "log.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("method", ["standard", "abnn", "at", "pgd_at", "alp", "trades", "feature_denoise"])
def test_each_method_trains_and_loss_falls(method, tiny_cfg, toy_sets):
    over = {"train.method_args": {"eps_warmup_epochs": 1}} if method in ("pgd_at", "feature_denoise") else {}
    if method == "abnn":
        over["train.lr"] = 0.01  # the adaptive layers' linear maps of raw statistics diverge at 0.05
    cfg = tiny_cfg(method, **over)
    run_dir = train(cfg, train_set=toy_sets[0], val_set=toy_sets[1])
    losses = _losses(run_dir)
    assert len(losses) == 3 and losses[-1] < losses[0], losses
    for name in ("config.yaml", "last.pt", "best.pt", "metrics.csv", "train_summary.json"):
        assert (run_dir / name).is_file(), name
    assert any((run_dir / "tensorboard").iterdir())
    ckpt = read_checkpoint(run_dir / "last.pt")
    assert ckpt["method"] == method and ckpt["epochs"] == 3 and ckpt["train_seconds"] > 0
    model = load_model(run_dir / "best.pt")  # a trainer checkpoint is also a model file
    assert model(toy_sets[1].clips[:2]).shape == (2, 3)


def test_abnn_substitute_stays_frozen(tiny_cfg, toy_sets):
    cfg = tiny_cfg("abnn", **{"train.epochs": 1, "train.lr": 0.01})
    torch.manual_seed(cfg.seed)
    run_dir = train(cfg, train_set=toy_sets[0], val_set=toy_sets[1])
    before = read_checkpoint(run_dir / "last.pt")["state_dict"]
    # the substitute is rebuilt from the seed: the trained checkpoint must hold exactly its initial weights
    from videoabnn.engine.build import build_model
    from videoabnn.utils import seed_everything

    seed_everything(cfg.seed)
    fresh = build_model(cfg, 3).state_dict()
    sub = [k for k in before if k.startswith("substitute.") and "running" not in k and "num_batches" not in k]
    assert sub and all(torch.equal(before[k], fresh[k]) for k in sub)
    tgt = [k for k in before if k.startswith("target.") and k.endswith("weight")]
    assert any(not torch.equal(before[k], fresh[k]) for k in tgt)


def test_summary_records_training_cost(tiny_cfg, toy_sets):
    run_dir = train(tiny_cfg("standard", **{"train.epochs": 2, "train.eval_every": 0}), train_set=toy_sets[0])
    summary = json.loads((run_dir / "train_summary.json").read_text())
    assert summary["epochs"] == 2 and len(summary["epoch_seconds"]) == 2
    assert summary["train_seconds"] == pytest.approx(sum(summary["epoch_seconds"]))
    csv = (run_dir / "metrics.csv").read_text().splitlines()
    assert csv[0].startswith("epoch,lr,loss,acc,seconds") and len(csv) == 3


@pytest.mark.parametrize("method", ["standard", "pgd_at", "trades"])
def test_time_shares_count_attack_crafting(tiny_cfg, toy_sets, method):
    """Every adversarial method's crafting lands in attack_seconds (TRADES crafts with its own KL-PGD)."""
    run_dir = train(tiny_cfg(method, **{"train.epochs": 1, "train.eval_every": 0}), train_set=toy_sets[0])
    record = json.loads((run_dir / "log.jsonl").read_text().splitlines()[-1])
    assert (record["attack_seconds"] > 0) == (method != "standard")
    assert record["attack_seconds"] + record["data_seconds"] <= record["seconds"]


def test_resume_reproduces_uninterrupted_run(tiny_cfg, toy_sets, tmp_path, monkeypatch):
    """With train.deterministic on (what a bit-exact resume on a GPU needs), a resumed run equals an
    uninterrupted one bit for bit."""
    over = {"train.scheduler": "cosine", "train.deterministic": True}
    full = tiny_cfg("at", work_dir=str(tmp_path / "full"), **over)
    ref = train(full, train_set=toy_sets[0], val_set=toy_sets[1])
    assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark

    cut = tiny_cfg("at", work_dir=str(tmp_path / "cut"), **over)
    original = trainer_mod._train_epoch

    def crash_in_second_epoch(*args, **kwargs):
        if args[9] == 1:  # epoch index
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(trainer_mod, "_train_epoch", crash_in_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        train(cut, train_set=toy_sets[0], val_set=toy_sets[1])
    monkeypatch.setattr(trainer_mod, "_train_epoch", original)
    assert read_checkpoint(tmp_path / "cut" / "last.pt")["training"]["epoch"] == 0
    with pytest.raises(TrainingError, match="--resume"):
        train(cut, train_set=toy_sets[0], val_set=toy_sets[1])
    torch.manual_seed(1234)  # a different global RNG state must not matter
    resumed = train(cut, resume=True, train_set=toy_sets[0], val_set=toy_sets[1])

    a, b = read_checkpoint(ref / "last.pt"), read_checkpoint(resumed / "last.pt")
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for key in a["state_dict"]:
        assert torch.equal(a["state_dict"][key], b["state_dict"][key]), key
    keys = ("epoch", "lr", "loss", "acc", "val_clip_acc", "train_loss_adv")
    log_a = [{k: r.get(k) for k in keys} for r in map(json.loads, (ref / "log.jsonl").read_text().splitlines())]
    log_b = [{k: r.get(k) for k in keys} for r in map(json.loads, (resumed / "log.jsonl").read_text().splitlines())]
    assert log_a == log_b and len(log_b) == 3


def test_determinism_switch_defaults_to_fast_kernels(tiny_cfg, toy_sets):
    before = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    try:
        train(tiny_cfg("standard", **{"train.epochs": 1}), train_set=toy_sets[0], val_set=toy_sets[1])
        assert not torch.backends.cudnn.deterministic and torch.backends.cudnn.benchmark
    finally:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = before


def test_resume_without_checkpoint_and_existing_run_errors(tiny_cfg, toy_sets):
    cfg = tiny_cfg("standard", **{"train.epochs": 1})
    with pytest.raises(TrainingError, match="no checkpoint to resume from"):
        train(cfg, resume=True, train_set=toy_sets[0])
    with pytest.raises(ValueError, match="train.amp=true needs a CUDA device"):
        train(tiny_cfg("standard", **{"train.amp": True}), train_set=toy_sets[0], val_set=toy_sets[1])


def test_training_cost_counts_passes_and_flops(tiny_cfg, toy_sets):
    """Cost in work: PGD-AT with k steps makes k attack steps per clip besides the training pass."""
    import json

    costs = {}
    for method in ("standard", "pgd_at", "at"):
        cfg = tiny_cfg(method, **{"train.epochs": 1})
        run = train(cfg, train_set=toy_sets[0], val_set=toy_sets[1])
        costs[method] = json.loads((run / "train_summary.json").read_text())["train_cost"]
    n = len(toy_sets[0])
    assert costs["standard"]["passes"] == {"forward": n, "train_backward": n, "attack_step": 0.0}
    assert costs["pgd_at"]["passes"]["attack_step"] == 2 * n  # train.attack has steps=2
    assert costs["at"]["passes"]["forward"] == 2 * n and costs["at"]["passes"]["attack_step"] == 2 * n
    flops = costs["standard"]["flops_per_pass"]
    assert flops["forward"] > 0 and flops["train_backward"] > flops["forward"] and flops["attack_step"] > flops["forward"]
    assert costs["pgd_at"]["flops"] > 2 * costs["standard"]["flops"]
    assert read_checkpoint(run / "last.pt")["train_cost"]["flops"] == pytest.approx(costs["at"]["flops"])


def test_train_log_names_each_networks_normalization_and_every_epoch(tiny_cfg, toy_sets):
    cfg = tiny_cfg("abnn", **{"train.epochs": 2})
    run = train(cfg, train_set=toy_sets[0], val_set=toy_sets[1])
    text = (run / "train.log").read_text()
    assert "substitute: input normalization mean" in text and "target: input normalization mean" in text
    assert "epoch 1/2: loss" in text and "epoch 2/2: loss" in text and "val acc" in text
