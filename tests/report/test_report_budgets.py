"""Robust accuracy per norm-ball budget: which attacks count at which eps, and the claims compare on it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

from videoabnn.attacks import attack_budget, budget_label
from videoabnn.engine.evaluator import budget_worst_cases
from videoabnn.report import claims
from videoabnn.report.tables import headline_budget, results_table, robust_accuracy

_spec = importlib.util.spec_from_file_location("report_fixtures", Path(__file__).with_name("report_fixtures.py"))
_fx = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fx)
make_result = _fx.make_result
E4, E8 = 4 / 255, 8 / 255


def test_attack_budget_reads_the_norm_ball_of_each_attack():
    assert attack_budget("pgd", {"eps": E4, "steps": 5}) == ("linf", E4)
    assert attack_budget("fgsm", {"eps": E8}) == ("linf", E8)
    assert attack_budget("autoattack", {"eps": E4, "version": "fast"}) == ("linf", E4)
    assert attack_budget("pgd_l2", {"eps": 1.0}) == ("l2", 1.0)
    assert attack_budget("roa", {"size": 0.25}) is None
    assert budget_label("linf", E4) == "linf 4/255" and budget_label("l2", 1.0) == "l2 1"


def test_a_smaller_ball_counts_inside_a_larger_one_and_patches_in_none():
    specs = [{"id": "fgsm_4", "name": "fgsm", "eps": E4}, {"id": "pgd_8", "name": "pgd", "eps": E8},
             {"id": "roa", "name": "roa", "size": 0.25}]
    correct = {"fgsm_4": torch.tensor([1, 1, 0, 1]), "pgd_8": torch.tensor([1, 0, 1, 1]),
               "roa": torch.tensor([0, 0, 0, 0])}
    out = budget_worst_cases(specs, correct, torch.tensor([1, 1, 1, 0]))
    assert set(out) == {"linf 4/255", "linf 8/255"}
    assert out["linf 4/255"] == {"clip_acc": 0.5, "attacks": ["fgsm_4"]}          # clips 0, 1
    assert out["linf 8/255"] == {"clip_acc": 0.25, "attacks": ["fgsm_4", "pgd_8"]}  # clip 0 only


def _with_budgets(method: str, clean: float, accs: dict, b4: float, b8: float) -> dict:
    res = make_result(method, clean, accs, 10.0)
    res["summary"]["worst_case_budget"] = {"white": {
        "linf 4/255": {"clip_acc": b4, "attacks": ["fgsm", "pgd_linf_4", "pgd_linf_4_20"]},
        "linf 8/255": {"clip_acc": b8, "attacks": ["fgsm", "pgd_linf_4", "pgd_linf_4_20", "pgd_linf_8"]}}}
    return res


def test_claims_compare_robustness_within_the_protocol_budget_not_over_stickers():
    """A sticker attack that breaks every model makes the all-attack worst case 0 for all; the claims then
    compare the Linf ball with the most attacks, where adversarial training is clearly more robust."""
    kill = {"fgsm": 0.3, "pgd_linf_4": 0.2, "roa": 0.0}
    std = _with_budgets("standard", 0.9, kill, 0.02, 0.0)
    abnn = _with_budgets("abnn", 0.9, kill, 0.05, 0.01)
    pgd = _with_budgets("pgd_at", 0.85, {**kill, "fgsm": 0.7, "pgd_linf_4": 0.65}, 0.6, 0.4)
    results = [std, abnn, pgd]
    assert headline_budget(results) == "linf 4/255"
    assert robust_accuracy(pgd, "white", "linf 4/255") == (0.6, "summary.worst_case_budget.white.linf 4/255.clip_acc")
    assert robust_accuracy(pgd, "white", None)[0] == 0.0
    verdicts = {c["claim"]: c["holds"] for c in claims(results)}
    assert verdicts["white-box robustness comparable to pgd_at (worst case within linf 4/255, both models)"] is False
    assert verdicts["more robust than the undefended model (white-box, worst case within linf 4/255, both models)"] is True
    header = results_table(results).splitlines()[0]
    assert "worst linf 4/255" in header and "worst linf 8/255" in header and "worst case" in header


def test_claims_fall_back_to_every_attack_for_files_without_budgets():
    std = make_result("standard", 0.9, {"fgsm": 0.3, "pgd_linf_4": 0.2}, 10.0)
    abnn = make_result("abnn", 0.9, {"fgsm": 0.5, "pgd_linf_4": 0.4}, 10.0)
    assert headline_budget([std, abnn]) is None
    verdicts = {c["claim"]: c["holds"] for c in claims([std, abnn])}
    assert verdicts["more robust than the undefended model (white-box, worst case over every attack, both models)"]
