"""ABNN + PGD-AT (``train.method: abnn_pgd_at``): frozen substitute, white-box crafting through both networks,
the eps ball, a trained checkpoint that reloads as the composite, and its optional study stage's config."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from videoabnn.abnn import ABNN
from videoabnn.config import config_from_dict
from videoabnn.defenses import attack_factory, build_objective
from videoabnn.models import create_model, load_model

_spec = importlib.util.spec_from_file_location("golden", Path(__file__).with_name("test_training_methods_golden.py"))
golden = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(golden)
Clips = golden.Clips  # separable toy clips (class k brightens channel k)

EPS = 4 / 255
ATTACK = {"name": "pgd", "eps": EPS, "alpha": 2 / 255, "steps": 3}


def composite(seed: int = 0) -> ABNN:
    torch.manual_seed(seed)
    return create_model("abnn", num_classes=3, substitute="tiny_r3d", substitute_kwargs={"width": 4},
                        target="tiny_r3d", target_kwargs={"width": 4})


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(0)
    return torch.rand(4, 3, 4, 16, 16, generator=g), torch.tensor([0, 1, 2, 0])


def _objective(**args):
    return build_objective("abnn_pgd_at", attack_cfg=ATTACK, **args)


def test_substitute_stays_frozen_and_unchanged_while_the_target_learns(batch):
    x, y = batch
    model = composite()
    before = {k: v.clone() for k, v in model.substitute.state_dict().items()}
    target_before = {k: v.clone() for k, v in model.target.state_dict().items()}
    objective = _objective(eps_warmup_epochs=0)
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    for epoch in range(2):
        model.train()
        objective.start_epoch(model, epoch, seed=epoch)
        out = objective(model, x, y)
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
    assert all(torch.equal(before[k], v) for k, v in model.substitute.state_dict().items())  # buffers too
    assert all(p.grad is None for p in model.substitute.parameters())
    assert any(not torch.equal(target_before[k], v) for k, v in model.target.state_dict().items())


def test_the_substitute_check_is_abnn_s(batch):
    model = composite()
    next(model.substitute.parameters()).requires_grad = True  # bypasses ABNN's freezing
    with pytest.raises(ValueError, match="'abnn_pgd_at': substitute parameters must be frozen"):
        _objective().start_epoch(model, 0, 0)
    with pytest.raises(ValueError, match="'abnn_pgd_at' needs an ABNN model"):
        _objective().start_epoch(create_model("tiny_r3d", num_classes=3, width=4), 0, 0)


def test_crafted_clip_differs_and_stays_in_the_eps_ball_and_in_range(batch):
    x, y = batch
    model = composite()
    objective = _objective(eps_warmup_epochs=2)
    objective.start_epoch(model, 0, seed=1)  # warm-up: half the eps
    assert objective.eps_scale == 0.5
    x_adv = objective.craft(x, y)
    delta = (x_adv - x).abs()
    assert delta.max() > 0 and delta.max() <= 0.5 * EPS + 1e-6
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    out = objective(model, x, y)  # the loss is on the adversarial clips (PGD-AT's)
    model.train()
    assert out.passes["attack_step"] == 3.0 and out.logits.shape == (4, 3)


def test_the_crafting_attack_sees_the_composite_not_the_target_alone(batch):
    x, y = batch
    model = composite()
    seen = []

    def factory(plain, scale, seed):
        seen.append(plain)
        return lambda xs, ys: xs

    objective = build_objective("abnn_pgd_at", attack=factory, eps_warmup_epochs=0)
    objective.start_epoch(model, 0, 0)
    assert seen == [model]
    # the real attack's gradient runs through the substitute: its stage outputs receive gradients while crafting
    # (once the statistics pathway reads them: it starts at zero, the composite then equals the plain target)
    with torch.no_grad():
        for p in model.statistics_parameters():
            p.normal_(0, 0.1)
    grads = []

    def record(module, inputs, output):
        if output.requires_grad:
            output.register_hook(lambda g: grads.append(g.abs().sum().item()))

    hook = model.substitute.backbone.stem.register_forward_hook(record)
    try:
        objective = _objective(eps_warmup_epochs=0)
        objective.start_epoch(model, 0, seed=3)
        x_adv = objective.craft(x, y)
    finally:
        hook.remove()
    assert len(grads) == ATTACK["steps"] and all(g > 0 for g in grads)
    # ... and it is not the gray-box attack (the substitute's statistics as constants) with the same seed
    make = attack_factory(ATTACK)
    assert torch.equal(make(model, 1.0, 3)(x, y), x_adv)
    assert not torch.equal(make(model.gray_box(), 1.0, 3)(x, y), x_adv)


def test_method_args_are_the_declared_ones():
    assert _objective().eps_warmup_epochs == 5  # pgd_at's default
    with pytest.raises(ValueError, match="unknown train.method_args \\['align_weight'\\]"):
        _objective(align_weight=0.1)
    assert _objective(stats_lr_scale=0.1).eps_warmup_epochs == 5  # an optimizer option, not the objective's


def test_training_run_writes_a_checkpoint_that_reloads_as_the_composite(tmp_path):
    from videoabnn.engine import train
    from videoabnn.engine.checkpoint import read_run_checkpoint

    cfg = config_from_dict({
        "name": "abnn_pgd_at", "work_dir": str(tmp_path / "run"), "device": "cpu", "seed": 0,
        "data": {"batch_size": 4, "num_classes": 3},
        "model": {"name": "tiny_r3d", "kwargs": {"width": 4}},
        "abnn": {"substitute": {"name": "tiny_r3d", "kwargs": {"width": 4}}},
        "train": {"method": "abnn_pgd_at", "epochs": 2, "lr": 0.01, "scheduler": "constant", "eval_every": 0,
                  "attack": ATTACK, "method_args": {"eps_warmup_epochs": 1, "stats_lr_scale": 0.5}},
        "eval": {"attacks": ["fgsm"], "audit": False}})
    run_dir = train(cfg, train_set=Clips(8, seed=1))
    ckpt = read_run_checkpoint(run_dir / "last.pt")
    assert ckpt["method"] == "abnn_pgd_at" and ckpt["arch"] == "abnn" and ckpt["epochs"] == 2
    log = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    assert [r["eps_scale"] for r in log] == [1.0, 1.0] and all(r["attack_seconds"] > 0 for r in log)
    model = load_model(run_dir / "best.pt")
    assert isinstance(model, ABNN)
    x = Clips(2, seed=2).clips
    assert model.eval()(x).shape == (2, 3)
    fresh = composite(0)
    sub = {k: v for k, v in model.substitute.state_dict().items()}
    assert sub.keys() == fresh.substitute.state_dict().keys()
    assert F.cross_entropy(model(x), torch.tensor([0, 1])).isfinite()


def _settings(path: str, profile: str) -> dict:
    """Per model, its run config with the work-dir paths (cache, substitute checkpoint) taken out."""
    from videoabnn.study import steps
    from videoabnn.study.settings import load_study_config

    cfg = steps.seed_config(load_study_config(path, profile), 0)
    out = {}
    for name in steps.methods(cfg):
        run = steps.training_settings(steps.model_config(cfg, name, "substitute.pt"))
        run["data"].pop("cache_dir")
        out[name] = run
    sub = steps.training_settings(steps.substitute_config(cfg))
    sub["data"].pop("cache_dir")
    return {"models": out, "substitute": sub, "eval": cfg["eval"], "threats": cfg["study"]["threats"]}


@pytest.mark.parametrize("profile", ["default", "quick"])
def test_the_optional_stage_trains_like_the_study(profile):
    """pgd_at and abnn as in the study (demo-full / demo-quick), abnn_pgd_at with pgd_at's settings."""
    stage = _settings("configs/synthetic/abnn_pgd_at.yaml", profile)
    study = _settings("configs/synthetic/study.yaml", "full" if profile == "default" else "quick")
    assert list(stage["models"]) == ["pgd_at", "abnn", "abnn_pgd_at"]
    assert stage["substitute"] == study["substitute"] and stage["eval"] == study["eval"]
    for name in ("pgd_at", "abnn"):
        assert stage["models"][name] == study["models"][name], name
    ours, pgd_at = dict(stage["models"]["abnn_pgd_at"]), dict(stage["models"]["pgd_at"])
    assert ours.pop("name") == "abnn_pgd_at" and ours["train"].pop("method") == "abnn_pgd_at"
    pgd_at.pop("name"), pgd_at["train"].pop("method")
    assert ours == pgd_at
    assert stage["threats"]["gray"] and not stage["threats"]["transfer"]
