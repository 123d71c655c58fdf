"""The ABNN clean-accuracy trade-off stage (``study.clean_gap``): the study model ``base`` retrained
with one option at a time, side by side.

Each variant is ``study.methods.<base>``'s config plus its dotted overrides (e.g.
``abnn.stats_dropout: 0.5``), trained as its own ``train_<variant>`` stage from the same pretrained
start, seed and schedule; its checkpoint is the study's (``study.checkpoint``: the best epoch on the
validation split). Each model (``base`` included, its checkpoint reused) is evaluated white-box under
``attacks`` and gray-box under ``gray_attacks`` on the study's clips; a row holds its validation
accuracy, clean accuracy, the ``headline`` attack and the per-clip worst case within ``budget``, under
both threat models. Runs on every seed; ``aggregate_clean_gap`` gives mean and spread over seeds.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from videoabnn.config import Config, ConfigError
from videoabnn.study import steps
from videoabnn.study.derived import check_names, derived_overrides, pick_attacks, train_derived
from videoabnn.study.settings import derived_config
from videoabnn.study.stages import StageRunner
from videoabnn.threats import GRAY, WHITE, ResultKey
from videoabnn.utils.io import atomic_write_json
from videoabnn.utils.provenance import file_digest

# Bump when run_clean_gap writes new fields, so a rerun rewrites results/clean_gap.json.
CLEAN_GAP_LAYOUT = 1
WHERE = "study.clean_gap"
VALUES = ("val", "clean", "white_headline", "white_budget", "gray_headline", "gray_budget")


def clean_gap_spec(cfg: Mapping) -> dict | None:
    """``study.clean_gap`` with its defaults filled in, or None when the study has no such stage."""
    spec = steps.section(cfg, "clean_gap")
    if not spec:
        return None
    spec = {"base": "abnn", "reference": "standard", "gray_attacks": [], "headline": "pgd_linf_4_20",
            "budget": "linf 4/255", **dict(spec)}
    check_names(cfg, list(spec["variants"]), f"{WHERE}.variants")
    derived_overrides(cfg, spec["base"], {}, WHERE)  # the base must be a study model
    pick_attacks(cfg, spec["gray_attacks"], f"{WHERE}.gray_attacks")
    ids = [s["id"] for s in pick_attacks(cfg, spec["attacks"], f"{WHERE}.attacks")]
    if spec["headline"] not in ids:
        raise ConfigError(f"{WHERE}.headline: {spec['headline']!r} is not one of {WHERE}.attacks ({', '.join(ids)})")
    return spec


def stage_names(cfg: Mapping) -> list[str]:
    """One training per variant, then the evaluations (``clean_gap``)."""
    spec = clean_gap_spec(cfg)
    return [] if spec is None else [f"train_{name}" for name in spec["variants"]] + ["clean_gap"]


def run_stages(cfg: Mapping, runner: StageRunner, trained: Mapping[str, dict], run_cfgs: Mapping[str, Config],
               substitute: str | None) -> None:
    """Train the variants (resumable stages), then evaluate them beside ``base`` (the ``clean_gap`` stage)."""
    spec = clean_gap_spec(cfg)
    if spec is None:
        return
    base = spec["base"]
    models = {base: (run_cfgs[base], trained[base], {})}
    for name, extra in spec["variants"].items():
        run_cfg, out = train_derived(cfg, runner, name, derived_overrides(cfg, base, extra, WHERE), substitute)
        models[name] = (run_cfg, out, dict(extra or {}))
    work = steps.work_dir(cfg)
    key = {"checkpoints": {n: file_digest(work / out["checkpoint"]) for n, (_, out, _) in models.items()},
           "spec": spec, "attacks": pick_attacks(cfg, spec["attacks"], WHERE),
           "gray_attacks": pick_attacks(cfg, spec["gray_attacks"], WHERE),
           "max_batches": cfg["eval"].get("max_batches"), "layout": CLEAN_GAP_LAYOUT}
    reference = trained.get(spec["reference"]) if spec.get("reference") else None
    runner.run("clean_gap", lambda: run_clean_gap(cfg, spec, models, reference), files=lambda o: [o["clean_gap"]],
               key=key)


def _validation(work: Path, out: Mapping) -> tuple[float | None, int | None]:
    """(best validation accuracy, its epoch) of a training run, from its summary."""
    path = work / out["run_dir"] / "train_summary.json"
    if not path.is_file():
        return None, None
    summary = json.loads(path.read_text())
    best = summary.get("best_metric")
    return (None if best is None else float(best)), summary.get("best_epoch")


def _evaluate(cfg: Mapping, run_cfg: Config, checkpoint: Path, specs: list[dict], threat: str, name: str) -> dict:
    from videoabnn.engine import evaluate

    eval_cfg = derived_config(run_cfg, {"eval.audit": False}, WHERE)
    return evaluate(eval_cfg, checkpoint, attacks=specs, threat_models=[threat],
                    eval_root=steps.work_dir(cfg) / "evals" / "clean_gap" / name)


def _threat_values(res: Mapping, threat: str, headline: str, budget: str) -> tuple[float | None, float | None]:
    """(headline attack's accuracy, per-clip worst case within ``budget``) under ``threat``."""
    key = ResultKey(headline, threat).format()
    head = (res["attacks"].get(key) or {}).get("clip_acc")
    worst = (((res["summary"].get("worst_case_budget") or {}).get(threat) or {}).get(budget) or {}).get("clip_acc")
    return head, worst


def run_clean_gap(cfg: Mapping, spec: Mapping, models: Mapping[str, tuple[Config, dict, dict]],
                  reference: Mapping | None) -> dict:
    """Evaluate every model; writes ``results/clean_gap.json`` (rows: base first, then the variants)."""
    work = steps.work_dir(cfg)
    white = pick_attacks(cfg, spec["attacks"], f"{WHERE}.attacks")
    gray = pick_attacks(cfg, spec["gray_attacks"], f"{WHERE}.gray_attacks")
    rows = []
    for name, (run_cfg, out, overrides) in models.items():
        checkpoint = work / out["checkpoint"]
        val, epoch = _validation(work, out)
        res = _evaluate(cfg, run_cfg, checkpoint, white, WHITE, name)
        values = {"val": val, "clean": res["clean"]["clip_acc"]}
        values["white_headline"], values["white_budget"] = _threat_values(res, WHITE, spec["headline"], spec["budget"])
        values["gray_headline"] = values["gray_budget"] = None
        if gray:
            g = _evaluate(cfg, run_cfg, checkpoint, gray, GRAY, name)
            values["gray_headline"], values["gray_budget"] = _threat_values(g, GRAY, spec["headline"], spec["budget"])
        rows.append({"model": name, "role": "base" if name == spec["base"] else "variant", "overrides": overrides,
                     "values": values, "best_epoch": epoch, "checkpoint": out["checkpoint"]})
    if reference is not None:
        rows.append(_reference_row(cfg, spec["reference"], reference))
    data = {"seed": int(cfg["seed"]), "base": spec["base"], "headline": spec["headline"], "budget": spec["budget"],
            "attacks": [s["id"] for s in white], "gray_attacks": [s["id"] for s in gray], "rows": rows}
    path = atomic_write_json(work / "results" / "clean_gap.json", data)
    return {"clean_gap": steps.rel(cfg, path)}


def _reference_row(cfg: Mapping, name: str, out: Mapping) -> dict:
    """The undefended model's validation and clean accuracy (from its study evaluation), for the gap."""
    work = steps.work_dir(cfg)
    val, epoch = _validation(work, out)
    results = work / "results" / f"{name}.json"
    clean = json.loads(results.read_text())["clean"]["clip_acc"] if results.is_file() else None
    values = dict.fromkeys(VALUES)
    values.update(val=val, clean=clean)
    return {"model": name, "role": "reference", "overrides": {}, "values": values, "best_epoch": epoch,
            "checkpoint": out["checkpoint"]}


def aggregate_clean_gap(per_seed: Sequence[Mapping], seeds: Sequence[int]) -> dict[str, Any]:
    """One file from each seed's: per row, the mean of every value, its standard deviation and the seeds' values."""
    first = dict(per_seed[0])
    rows = []
    for row in first["rows"]:
        found = [next((r for r in data["rows"] if r["model"] == row["model"]), None) for data in per_seed]
        values, spread, each = {}, {}, {}
        for key in VALUES:
            got = [r["values"].get(key) for r in found if r is not None]
            got = [float(v) for v in got if v is not None]
            values[key] = statistics.mean(got) if got else None
            spread[key] = statistics.stdev(got) if len(got) > 1 else None
            each[key] = got
        rows.append({**row, "values": values, "std": spread, "per_seed": each})
    return {**first, "seeds": list(seeds), "rows": rows}
