"""The evaluation's gradient-masking audit: bounded by eval.audit_budget, reading the evaluation's own Linf rows
instead of re-attacking (with the same verdicts), and "not applicable" for a model it cannot judge."""

import json

import pytest
import torch

from videoabnn.attacks import audit_gradient_masking
from videoabnn.engine import evaluate, train
from videoabnn.engine.audit_run import evaluation_budget
from videoabnn.models import load_model
from videoabnn.results import Results

from .conftest import ToyClips

PGD4 = {"id": "pgd_4", "name": "pgd", "eps": 4 / 255, "alpha": 2 / 255, "steps": 3}


@pytest.fixture
def trained(tiny_cfg, toy_sets):
    cfg = tiny_cfg("standard", **{"train.epochs": 15})  # enough steps for BatchNorm's running statistics
    return train(cfg, train_set=toy_sets[0], val_set=toy_sets[1]) / "last.pt"


def test_the_audit_reads_the_evaluations_rows_and_agrees_with_re_attacking(trained, tiny_cfg, toy_sets, tmp_path):
    cfg = tiny_cfg("standard", **{"eval.audit": True})
    res = evaluate(cfg, trained, attacks=["fgsm", PGD4], out_dir=tmp_path / "eval", test_set=toy_sets[1])
    audit = res["audit"]
    assert audit["not_applicable"] is None and audit["passed"] is not None
    settings = audit["settings"]
    assert settings["steps"] == 5 and settings["square_queries"] == 50 and settings["correct_only"]
    assert settings["reused"] == {"white 4/255": ["fgsm", "pgd_4"]}
    assert all(abs(e - 4 / 255) > 1e-9 for e in settings["attacked_eps"])  # read, not attacked again
    checks = {c["name"]: c for c in audit["checks"]}
    assert "read from the evaluation's attacks (fgsm, pgd_4)" in checks["accuracy_falls_with_eps"]["reason"]
    # the same audit re-attacking 4/255 itself reaches the same verdicts
    test_set = toy_sets[1]
    ids = settings["clip_ids"]
    x = torch.stack([test_set[i]["clip"] for i in ids])
    y = torch.tensor([test_set[i]["label"] for i in ids])
    again = audit_gradient_masking(load_model(trained).eval(), [(x, y)], seed=3, correct_only=True, show_progress=False,
                                   **evaluation_budget(cfg))
    assert {c.name: c.passed for c in again.checks} == {n: c["passed"] for n, c in checks.items()}
    log = next((tmp_path / "eval").glob("eval.log")).read_text()
    assert "audit: gradient-masking audit passed" in log or "audit: gradient-masking audit FAILED" in log


def test_an_unjudgeable_model_gets_not_applicable_everywhere(trained, tiny_cfg, tmp_path):
    cfg = tiny_cfg("standard", **{"eval.audit": True})
    wrong = ToyClips(12, seed=2, train=False, clips_per_video=2)
    wrong.labels = (wrong.labels + 1) % 3  # every clip's label is another class: clean accuracy about 0
    out = tmp_path / "eval"
    res = evaluate(cfg, trained, attacks=["fgsm"], out_dir=out, test_set=wrong)
    audit = res["audit"]
    assert res["clean"]["clip_acc"] < 0.34 and audit["passed"] is None
    assert "audited clips classified correctly" in audit["not_applicable"]
    attack_checks = [c for c in audit["checks"] if c["reason"].startswith("not applicable")]
    assert len(attack_checks) == 6 and all(c["passed"] is None for c in attack_checks)
    Results.from_dict(json.loads((out / "results.json").read_text()), "results.json")
    assert "Gradient-masking audit: not applicable: " in (out / "results.md").read_text()
    assert "gradient-masking audit not applicable: " in (out / "eval.log").read_text()
    assert "FAILED" not in (out / "results.md").read_text()


def test_the_audit_budget_is_in_the_config_and_the_results_folder(trained, tiny_cfg, toy_sets, tmp_path):
    small = tiny_cfg("standard", **{"eval.audit": True, "eval.audit_budget.clips": 4, "eval.audit_budget.steps": 2})
    res = evaluate(small, trained, attacks=["fgsm"], eval_root=tmp_path / "evals", test_set=toy_sets[1])
    assert len(res["audit"]["settings"]["clip_ids"]) == 4 and res["audit"]["settings"]["steps"] == 2
    other = tiny_cfg("standard", **{"eval.audit": True, "eval.audit_budget.clips": 4, "eval.audit_budget.steps": 2,
                                    "eval.audit_min_correct": 5})
    res2 = evaluate(other, trained, attacks=["fgsm"], eval_root=tmp_path / "evals", test_set=toy_sets[1])
    assert res2["provenance"]["results_dir"] != res["provenance"]["results_dir"]  # other audit settings: beside
    assert "the attack checks need at least 5" in res2["audit"]["not_applicable"]  # 4 clips cannot hold 5 correct
    assert res2["audit"]["settings"]["min_correct"] == 5
