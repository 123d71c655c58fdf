"""Golden numbers of every training method, pinned before the method registry existed.

For each method: the model spec the engine builds, one objective step's loss / logits sum / passes on a
tiny model with fixed seeds, the weights after one optimizer step, a one-epoch ``train()`` run's logged
loss, and what the study and the report decide from the method name. The values in
``tests/golden/training_methods.json`` were computed by the code before the registry (``write()``
regenerates them; only do that for a change that is meant to alter a number).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from torch.utils.data import Dataset

from videoabnn.config import config_from_dict

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "training_methods.json"
PINNED = ("standard", "abnn", "at", "pgd_at", "alp", "trades", "feature_denoise")
METHOD_ARGS = {"pgd_at": {"eps_warmup_epochs": 2}, "feature_denoise": {"eps_warmup_epochs": 2, "denoise_affinity": "gaussian"},
               "at": {"mix": 0.3}, "alp": {"mix": 0.5, "alp_weight": 0.25}, "trades": {"trades_beta": 3.0},
               "abnn": {"align_weight": 0.1, "stats_lr_scale": 0.5, "stats_weight_decay": 0.01}}


class Clips(Dataset):
    """Separable toy clips (class k brightens channel k), no augmentation."""

    num_classes = 3

    def __init__(self, n: int, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        self.labels = torch.arange(n) % 3
        self.clips = torch.rand(n, 3, 4, 16, 16, generator=g) * 0.5
        for i, k in enumerate(self.labels.tolist()):
            self.clips[i, k] += 0.4

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict:
        return {"clip": self.clips[i], "label": int(self.labels[i]), "video": i}


def tiny(method: str, work_dir: str = "unused", **over) -> dict:
    """A tiny CPU run config of ``method`` (width-4 tiny_r3d target and substitute)."""
    data = {
        "name": "golden", "work_dir": work_dir, "device": "cpu", "seed": 3,
        "data": {"batch_size": 4, "num_classes": 3},
        "model": {"name": "tiny_r3d", "kwargs": {"width": 4}},
        "abnn": {"substitute": {"name": "tiny_r3d", "kwargs": {"width": 4}}},
        "train": {"method": method, "epochs": 1, "lr": 0.01, "scheduler": "constant", "weight_decay": 0.0,
                  "attack": {"name": "pgd", "eps": 4 / 255, "alpha": 2 / 255, "steps": 2},
                  "method_args": dict(METHOD_ARGS.get(method, {})), "eval_every": 0},
        "eval": {"attacks": ["fgsm"], "audit": False},
    }
    for key, value in over.items():
        node = data
        *parents, last = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    return config_from_dict(data)


def _float(value: float) -> float:
    return float(f"{float(value):.9g}")


def step_numbers(method: str) -> dict:
    """One objective call and one optimizer step on a fresh seeded model."""
    from videoabnn.engine.build import build_model, model_spec, uses_abnn
    from videoabnn.engine.trainer import build_optimizer, build_training_objective
    from videoabnn.utils import seed_everything

    cfg = tiny(method)
    arch, kwargs = model_spec(cfg, 3)
    seed_everything(0)
    model = build_model(cfg, 3)
    objective = build_training_objective(cfg)
    optimizer = build_optimizer(model, cfg["train"])
    data = Clips(4, seed=1)
    x, y = data.clips, data.labels
    model.train()
    objective.start_epoch(model, 1, 7)
    torch.manual_seed(11)
    out = objective(model, x, y)
    optimizer.zero_grad(set_to_none=True)
    out.loss.backward()
    optimizer.step()
    trained = sum(p.detach().double().sum().item() for p in model.parameters() if p.requires_grad)
    return {"uses_abnn": uses_abnn(cfg), "arch": arch, "kwargs": json.loads(json.dumps(kwargs)),
            "objective": type(objective).__name__, "eps_scale": objective.eps_scale,
            "param_groups": [[len(g["params"]), g["lr"], g["weight_decay"]] for g in optimizer.param_groups],
            "loss": _float(out.loss.item()), "logits_sum": _float(out.logits.double().sum().item()),
            "passes": dict(out.passes), "stats": sorted(out.stats), "trained_sum": _float(trained)}


def train_numbers(method: str, tmp: Path) -> dict:
    """A one-epoch ``train()`` run: its logged loss and accuracy, and the checkpoint's method and arch."""
    from videoabnn.engine import train
    from videoabnn.engine.checkpoint import read_run_checkpoint

    run_dir = train(tiny(method, str(tmp / method)), train_set=Clips(8, seed=2))
    record = json.loads((run_dir / "log.jsonl").read_text().splitlines()[-1])
    ckpt = read_run_checkpoint(run_dir / "last.pt")
    return {"loss": _float(record["loss"]), "acc": _float(record["acc"]), "method": ckpt["method"],
            "arch": ckpt["arch"]}


def name_decisions() -> dict:
    """What the study and the report decide from a method name, and the name tables."""
    from videoabnn.defenses import OBJECTIVES
    from videoabnn.methods import ADVERSARIAL_METHODS, METHODS
    from videoabnn.report import study_report
    from videoabnn.study import steps

    study = config_from_dict({"name": "s", "work_dir": "w", "abnn": {"substitute": {"name": "tiny_r3d"}},
                              "study": {"methods": {"only": {"train.method": "pgd_at"}}, "init": "scratch"}})
    threats = {}
    for method in PINNED:
        run_cfg = tiny(method)
        threats[method] = steps._extra_threats(study, run_cfg, method, None)
    table = study_report._training_table([{"config": tiny(m).to_dict(), "run": {"method": m}} for m in PINNED])
    return {"methods": list(METHODS), "adversarial": list(ADVERSARIAL_METHODS),
            "objectives": {k: v.__name__ for k, v in OBJECTIVES.items()},
            "needs_substitute_scratch_pgd_at": steps.needs_substitute(study), "extra_threats": threats,
            "training_table": table}


def compute(tmp: Path) -> dict:
    return {"steps": {m: step_numbers(m) for m in PINNED}, "train": {m: train_numbers(m, tmp) for m in PINNED},
            "names": name_decisions()}


def write() -> None:
    """Regenerate the golden file (run with the code whose numbers are to be pinned)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        GOLDEN.write_text(json.dumps(compute(Path(tmp)), indent=1, sort_keys=True) + "\n")


def _same(found, wanted, where: str = "") -> None:
    if isinstance(wanted, float) and isinstance(found, (int, float)):
        assert math.isclose(found, wanted, rel_tol=1e-6, abs_tol=1e-9), f"{where}: {found} != {wanted}"
    elif isinstance(wanted, dict):
        assert isinstance(found, dict) and set(found) == set(wanted), f"{where}: keys {sorted(found)} != {sorted(wanted)}"
        for k in wanted:
            _same(found[k], wanted[k], f"{where}.{k}")
    elif isinstance(wanted, list):
        assert isinstance(found, list) and len(found) == len(wanted), f"{where}: {found} != {wanted}"
        for i, (a, b) in enumerate(zip(found, wanted)):
            _same(a, b, f"{where}[{i}]")
    else:
        assert found == wanted, f"{where}: {found!r} != {wanted!r}"


@pytest.fixture(scope="module")
def golden() -> dict:
    return json.loads(GOLDEN.read_text())


@pytest.mark.parametrize("method", PINNED)
def test_one_step_of_each_method_is_unchanged(method, golden):
    _same(json.loads(json.dumps(step_numbers(method))), golden["steps"][method], f"steps.{method}")


@pytest.mark.parametrize("method", PINNED)
def test_one_epoch_of_each_method_is_unchanged(method, golden, tmp_path):
    _same(train_numbers(method, tmp_path), golden["train"][method], f"train.{method}")


def test_name_decisions_are_unchanged(golden):
    found = json.loads(json.dumps(name_decisions()))
    found["methods"] = [m for m in found["methods"] if m in PINNED]  # methods added later are checked elsewhere
    found["adversarial"] = [m for m in found["adversarial"] if m in PINNED]
    found["objectives"] = {k: v for k, v in found["objectives"].items() if k in PINNED}
    _same(found, golden["names"], "names")
