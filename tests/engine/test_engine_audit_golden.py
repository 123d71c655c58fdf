"""Golden: the two callers of the gradient-masking audit, the evaluation's (``videoabnn-test``: bounded by
``eval.audit_budget``, reading the evaluation's rows, "not applicable" on a model it cannot judge) and the
study's (``study.audit`` settings on ``eval.audit_batches`` clips, cached by a digest), report what the code
computed before they became one implementation (issue 26): the same clips, reports and cache keys.

Regenerate only on purpose with ``VIDEOABNN_WRITE_GOLDEN=1 pytest tests/engine/test_engine_audit_golden.py``.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any

import pytest

from videoabnn.engine import eval_store, evaluate, evaluator, train
from videoabnn.study import steps
from videoabnn.utils.provenance import code_versions, digest_of, file_digest

from .conftest import ToyClips

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "audit_callers.json"
WRITE = os.environ.get("VIDEOABNN_WRITE_GOLDEN") == "1"
_spec = importlib.util.spec_from_file_location("tolerant", Path(__file__).parents[1] / "golden" / "tolerant.py")
tolerant = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tolerant)
close = tolerant.close
PGD4 = {"id": "pgd_4", "name": "pgd", "eps": 4 / 255, "alpha": 2 / 255, "steps": 3}
PGD8 = {"id": "pgd_8", "name": "pgd", "eps": 8 / 255, "alpha": 2 / 255, "steps": 3}
# the key components of the evaluation's audit item beside the evaluation's own (checkpoint, clips, data, versions)
AUDIT_KEY = ("audit_clips", "seed", "surrogate", "audit_version", "settings", "reuse", "correct_only", "view")
STUDY_AUDITS = {
    "study_quick_profile": ({"steps": 2, "more_steps": 4, "restarts": 1, "square_queries": 8,
                             "eps_list": [0.0156862745, 0.25]}, True),
    "study_defaults": ({}, False),
    "study_custom": ({"eps": 4 / 255, "eps_list": [2 / 255], "large_eps": 32 / 255, "steps": 3, "more_steps": 5,
                      "restarts": 2, "square_queries": 12, "square_p_init": 0.5, "tol": 0.1, "margin_gap": 0.3,
                      "large_eps_max_acc": 0.2, "zero_grad_tol": 0.5, "frames": "first:2", "max_batches": 1,
                      "gradcheck_clips": 1, "gradcheck_directions": 1, "gradcheck_steps": [1e-5],
                      "gradcheck_tol": 0.01}, True),
}


@pytest.fixture
def checkpoints(tiny_cfg, toy_sets, tmp_path) -> tuple[Path, Path]:
    """A trained model (judged) and a briefly trained surrogate."""
    model = train(tiny_cfg("standard", work_dir=str(tmp_path / "m"), **{"train.epochs": 15}),
                  train_set=toy_sets[0], val_set=toy_sets[1]) / "last.pt"
    other = train(tiny_cfg("standard", work_dir=str(tmp_path / "s"), **{"train.epochs": 2}),
                  train_set=toy_sets[0], val_set=toy_sets[1]) / "last.pt"
    return model, other


def _spy(monkeypatch) -> list:
    """The audit items the evaluation stores (name, the audit's own key components) and the audit part of the
    settings key that names the results folder."""
    seen: list = []
    put, settings_key = eval_store.ItemStore.put, evaluator._settings_key

    def spy_settings(*args, **kwargs):
        key = settings_key(*args, **kwargs)
        seen.append(["settings", json.loads(json.dumps({k: key.get(k) for k in ("audit", "audit_batches",
                                                                                "audit_settings")}))])
        return key

    def spy(self, name, key, record):
        if name.startswith("audit"):
            mine = {k: key[k] for k in AUDIT_KEY if k in key}
            if mine.get("surrogate") is not None:
                mine["surrogate"] = "<surrogate>"
            seen.append([name, json.loads(json.dumps(mine, default=str))])
        return put(self, name, key, record)

    monkeypatch.setattr(eval_store.ItemStore, "put", spy)
    monkeypatch.setattr(evaluator, "_settings_key", spy_settings)
    return seen


def _evaluations(tiny_cfg, toy_sets, checkpoints, tmp_path, monkeypatch) -> dict[str, Any]:
    model, other = checkpoints
    seen = _spy(monkeypatch)
    wrong = ToyClips(12, seed=2, train=False, clips_per_video=2)
    wrong.labels = (wrong.labels + 1) % 3  # clean accuracy about 0: not applicable
    runs = {
        "eval_white": ({}, ["fgsm", PGD4], None, toy_sets[1]),
        "eval_white_transfer": ({"eval.transfer_from": str(other)}, [PGD4, PGD8], ["white", "transfer"], toy_sets[1]),
        "eval_not_applicable": ({}, ["fgsm"], None, wrong),
        "eval_budget": ({"eval.audit_budget.clips": 4, "eval.audit_budget.steps": 2, "eval.audit_min_correct": 1,
                         "eval.audit_min_clean_over_chance": 0.5, "eval.audit_budget.eps_list": [2 / 255, 8 / 255]},
                        [PGD4], None, toy_sets[1]),
    }
    out = {}
    for name, (over, attacks, threats, test_set) in runs.items():
        cfg = tiny_cfg("standard", **{"eval.audit": True, **over})
        res = evaluate(cfg, model, attacks=attacks, threat_models=threats, out_dir=tmp_path / name, test_set=test_set)
        out[name] = {"audit": res["audit"], "audit_naive": res.get("audit_naive"), "keys": list(seen)}
        seen.clear()
    return out


def _studies(tiny_cfg, toy_sets, checkpoints, tmp_path, monkeypatch) -> dict[str, Any]:
    model, other = checkpoints
    monkeypatch.setattr("videoabnn.engine.build.split_dataset", lambda cfg, split: toy_sets[1])
    out = {}
    for name, (args, with_surrogate) in STUDY_AUDITS.items():
        cfg = tiny_cfg("standard", **{"eval.audit_batches": 1, "study.audit": args})
        surrogate = other if with_surrogate else None
        cache = tmp_path / "audits" / name
        report = steps.run_audit(cfg, cfg, model, surrogate, cache)
        # the cache file is named by the digest of exactly these components (cached reports stay valid)
        key = digest_of({"checkpoint": file_digest(model), "surrogate": file_digest(surrogate) if surrogate else None,
                         "ids": [int(i) for i in report["settings"]["clip_ids"]], "args": args, "seed": int(cfg["seed"]),
                         "versions": code_versions(), "audit_version": report["settings"]["audit_version"]}, 16)
        assert [p.name for p in cache.iterdir()] == [f"{key}.json"], name
        assert steps.run_audit(cfg, cfg, model, surrogate, cache) == report  # read back from the cache
        out[name] = {"audit": report}
    return out


def _check(part: str, got: dict) -> None:
    got = json.loads(json.dumps(got))
    if WRITE:
        stored = json.loads(GOLDEN.read_text()) if GOLDEN.is_file() else {}
        stored[part] = got
        GOLDEN.write_text(json.dumps(stored, indent=1, sort_keys=True) + "\n")
        return
    diffs = close(got, json.loads(GOLDEN.read_text())[part])
    assert not diffs, "\n".join(diffs[:20])


def test_the_evaluations_audits_are_unchanged(tiny_cfg, toy_sets, checkpoints, tmp_path, monkeypatch):
    _check("evaluator", _evaluations(tiny_cfg, toy_sets, checkpoints, tmp_path, monkeypatch))


def test_the_studys_audits_are_unchanged(tiny_cfg, toy_sets, checkpoints, tmp_path, monkeypatch):
    _check("study", _studies(tiny_cfg, toy_sets, checkpoints, tmp_path, monkeypatch))
