"""Hand-made results files that follow the results schema (videoabnn.results); make_result validates them."""

from __future__ import annotations

import json
from pathlib import Path

from videoabnn.results import SCHEMA_VERSION, Results

ATTACKS = ("fgsm", "pgd_linf_4", "roa")


def make_result(method: str, clean: float, accs: dict, train_seconds: float, extra: dict | None = None,
                audit_passed: bool = True) -> dict:
    attacks = {k: {"name": k.split("_")[0], "threat": "white", "params": {"eps": 4 / 255}, "clip_acc": v,
                   "video_acc": v, "success_rate": 1 - v, "mean_linf": 4 / 255, "mean_l2": 0.5, "seconds": 1.0}
               for k, v in accs.items()}
    for k, (threat, v) in (extra or {}).items():
        attacks[k] = {"name": k.split("@")[0].split("_")[0], "threat": threat, "params": {"eps": 4 / 255},
                      "clip_acc": v, "video_acc": v}
    white = list(accs.values())
    return Results.from_dict({
        "run": {"name": method, "method": method, "checkpoint": f"{method}/best.pt",
                "train_seconds": train_seconds, "epochs": 3},
        "clean": {"clip_acc": clean, "video_acc": clean, "per_class": {"a": clean, "b": clean}},
        "attacks": attacks,
        "summary": {"threat": "white", "acc_adv": sum(white) / len(white),
                    "acc_all": (clean + sum(white)) / (len(white) + 1), "worst_case": {"white": min(white)}},
        "audit": {"passed": audit_passed, "checks": [
            {"name": "finite_gradients", "passed": True, "reason": "logits and input gradients finite"},
            {"name": "large_eps_breaks_model", "passed": audit_passed, "reason": "acc 0.00 at eps 1.0",
             "value": 0.0 if audit_passed else 0.4, "threshold": 0.05}]},
        "config": {"train": {"method": method, "lr": 0.05}, "model": {"name": "tiny_r3d"}, "data": {"batch_size": 8}},
        "environment": {"python": "3.11", "cpu_count": 2, "torch_threads": 2, "packages": {"torch": "2.x"}},
        "seed": 0, "num_clips": 100, "schema_version": SCHEMA_VERSION,
    }, f"fixture {method}").to_dict()


def make_study_dir(root: Path) -> Path:
    """A study directory with four models, sweeps and no study.json."""
    results = {
        "standard": make_result("standard", 0.93, {"fgsm": 0.20, "pgd_linf_4": 0.05, "roa": 0.11}, 10.0),
        "abnn": make_result("abnn", 0.95, {"fgsm": 0.22, "pgd_linf_4": 0.04, "roa": 0.12}, 12.5,
                            {"pgd_linf_4@gray": ("gray", 0.61), "pgd_linf_4@transfer": ("transfer", 0.77)}),
        "pgd_at": make_result("pgd_at", 0.81, {"fgsm": 0.55, "pgd_linf_4": 0.47, "roa": 0.30}, 75.0,
                              audit_passed=False),
        "at": make_result("at", 0.85, {"fgsm": 0.60, "pgd_linf_4": 0.33, "roa": 0.25}, 25.0),
    }
    (root / "results" / "sweeps").mkdir(parents=True)
    for name, data in results.items():
        (root / "results" / f"{name}.json").write_text(json.dumps(data))
    eps = {"x_label": "eps (/255)", "models": {n: [{"x": x, "clip_acc": max(0.0, 0.9 - 0.2 * x)} for x in (0, 1, 2, 4)]
                                             for n in results}}
    size = {"x_label": "sticker side (px)", "models": {n: [{"x": s, "clip_acc": 1 - s / 32} for s in (4, 8, 16)]
                                                       for n in results}}
    pos = {"models": {n: {"rows": [0, 8, 16], "cols": [0, 8, 16], "acc": [[0.1, 0.2, 0.3]] * 3} for n in ("standard", "abnn")}}
    for kind, sweep in {"eps": eps, "size": size, "position": pos}.items():
        (root / "results" / "sweeps" / f"{kind}.json").write_text(json.dumps(sweep))
    return root
