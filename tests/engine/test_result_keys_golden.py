"""Golden: the result keys, rows, summaries, audits, cache keys and report tables of two small evaluations
covering every threat model (white, gray, transfer, naive, physical) stay exactly what they were.

Written from the code before the threat-model registry (issue 26), less one entry: that code recomputed the
settings digest of the transformed model's evaluation after adding ``naive`` to the caller's list (so its
results file named other settings than its folder); regenerate only on purpose with
``VIDEOABNN_WRITE_GOLDEN=1 pytest tests/engine/test_result_keys_golden.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from videoabnn.engine import eval_store, evaluate, train
from videoabnn.engine import evaluator as ev
from videoabnn.report import tables
from videoabnn.threats import ResultKey
from videoabnn.utils.provenance import digest_of, file_digest

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "result_keys.json"
WRITE = os.environ.get("VIDEOABNN_WRITE_GOLDEN") == "1"
# fields that depend on the machine's speed or the run's location
SKIP = {"seconds", "artifact", "environment", "config", "results_dir", "checkpoint", "checkpoint_digest",
        "surrogate_digest", "train_seconds", "settings_digest"}
ATTACKS = [
    {"id": "fgsm_4", "name": "fgsm", "eps": 4 / 255},
    {"id": "pgd_8", "name": "pgd", "eps": 8 / 255, "alpha": 2 / 255, "steps": 2, "after": "fgsm_4"},
    {"id": "roa_6", "name": "roa", "size": 6, "position": "random", "steps": 2},
    {"id": "patch", "name": "universal_patch", "size": 0.4, "epochs": 1, "physical": {"draws": 1}},
]
AUDIT = {"eval.audit": True, "eval.audit_budget": {"clips": 6, "steps": 2, "more_steps": 2, "restarts": 1,
                                                   "square_queries": 10, "eps_list": [4 / 255],
                                                   "gradcheck_clips": 1, "gradcheck_directions": 2}}


def _strip(value: Any, masks: dict[str, str]) -> Any:
    """``value`` without timing/location fields, checkpoint digests replaced by labels."""
    if isinstance(value, dict):
        return {k: _strip(v, masks) for k, v in value.items() if k not in SKIP}
    if isinstance(value, (list, tuple)):
        return [_strip(v, masks) for v in value]
    if isinstance(value, str):
        for digest, label in masks.items():
            value = value.replace(digest, label)
        return value
    if isinstance(value, float):
        return float(f"{value:.12g}")
    return value


def _recorder(monkeypatch, masks: dict[str, str]) -> list:
    """Every cache item written (name, digest of its key with checkpoints masked) and every settings key."""
    seen: list = []
    put, remember, digest = eval_store.ItemStore.put, eval_store.ItemStore.remember, ev.digest_of

    def spy_put(self, name, key, record):
        seen.append(["item", name, digest_of(_strip(json.loads(json.dumps(key, default=str)), masks), 16)])
        return put(self, name, key, record)

    def spy_remember(self, name, key):
        if not seen or seen[-1][1] != name:  # a universal patch (put records its own)
            seen.append(["fitted", name, digest_of(_strip(json.loads(json.dumps(key, default=str)), masks), 16)])
        return remember(self, name, key)

    def spy_digest(value, length=64):
        if isinstance(value, dict) and "threats" in value:  # the settings key naming the results folder
            entry = ["settings", digest_of(_strip(json.loads(json.dumps(value, default=str)), masks), 16)]
            if entry not in seen:
                seen.append(entry)
        return digest(value, length)

    monkeypatch.setattr(eval_store.ItemStore, "put", spy_put)
    monkeypatch.setattr(eval_store.ItemStore, "remember", spy_remember)
    monkeypatch.setattr(ev, "digest_of", spy_digest)
    return seen


def _tables(res: dict) -> dict[str, Any]:
    """The report's tables of one result (timings fixed, so only what the code computes shows)."""
    fixed = json.loads(json.dumps(res))
    for row in fixed["attacks"].values():
        row["seconds"] = 1.0
    fixed["run"]["train_seconds"] = 10.0
    fixed["run"]["checkpoint"], fixed["run"]["checkpoint_digest"] = "model.pt", "0" * 64
    one = [fixed]
    return {"threat_models": tables.threat_models(one), "results_table": tables.results_table(one),
            "extra": {th: tables.extra_threat_table(one, th) for th in tables.threat_models(one)[1:]},
            "physical_table": tables.physical_table(one), "physical_ids": tables.physical_attack_ids(one),
            "settings": tables.attack_settings_table(one), "markdown": tables.results_markdown(fixed),
            "labels": {k: tables.attack_label(k, e) for k, e in fixed["attacks"].items()},
            "base_ids": {k: ResultKey.parse(k).attack for k in fixed["attacks"]}}


def _collect(tiny_cfg, toy_sets, tmp_path, monkeypatch) -> dict[str, Any]:
    std_cfg = tiny_cfg("standard", work_dir=str(tmp_path / "std"), **{"train.epochs": 15})
    standard = train(std_cfg, train_set=toy_sets[0], val_set=toy_sets[1]) / "last.pt"
    abnn_cfg = tiny_cfg("abnn", work_dir=str(tmp_path / "abnn"), **{"train.epochs": 2, "train.lr": 0.01})
    abnn = train(abnn_cfg, train_set=toy_sets[0], val_set=toy_sets[1]) / "last.pt"
    masks = {file_digest(standard): "<standard>", file_digest(abnn): "<abnn>"}
    masks.update({d[:8]: f"{label[:-1]}8>" for d, label in list(masks.items())})
    seen = _recorder(monkeypatch, masks)
    a_cfg = tiny_cfg("abnn", work_dir=str(tmp_path / "abnn"), **{"eval.transfer_from": str(standard)})
    a = evaluate(a_cfg, abnn, attacks=ATTACKS, threat_models=["white", "gray", "transfer", "physical"],
                 out_dir=tmp_path / "a", test_set=toy_sets[1], train_set=toy_sets[0])
    b_cfg = tiny_cfg("standard", work_dir=str(tmp_path / "std"), **{"eval.transfer_from": str(abnn),
                                                                     "eval.input_transform": {"name": "bit_depth",
                                                                                              "bits": 4}, **AUDIT})
    b = evaluate(b_cfg, standard, attacks=ATTACKS[:3], threat_models=["white", "transfer", "physical"],
                 out_dir=tmp_path / "b", test_set=toy_sets[1], train_set=toy_sets[0])
    out = {}
    for name, res in (("abnn_white_gray_transfer_physical", a), ("standard_bitdepth_white_naive_transfer_physical", b)):
        out[name] = {"keys": list(res["attacks"]), "results": _strip(res, masks), "tables": _tables(res)}
    out["cache"] = seen
    return out


def test_result_keys_rows_and_tables_are_unchanged(tiny_cfg, toy_sets, tmp_path, monkeypatch):
    got = json.loads(json.dumps(_collect(tiny_cfg, toy_sets, tmp_path, monkeypatch)))
    if WRITE:
        GOLDEN.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
        pytest.skip(f"wrote {GOLDEN}")
    want = json.loads(GOLDEN.read_text())
    for name in ("abnn_white_gray_transfer_physical", "standard_bitdepth_white_naive_transfer_physical"):
        assert got[name]["keys"] == want[name]["keys"], name
        for key in want[name]["results"]["attacks"]:
            assert got[name]["results"]["attacks"][key] == want[name]["results"]["attacks"][key], (name, key)
        for part in want[name]["results"]:
            assert got[name]["results"][part] == want[name]["results"][part], (name, part)
        for table, text in want[name]["tables"].items():
            assert got[name]["tables"][table] == text, (name, table)
    assert got["cache"] == want["cache"]
