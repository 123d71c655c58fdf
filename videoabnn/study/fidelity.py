"""The ABNN fidelity stage (``study.fidelity``): our ABNN and the authors' prototype under their pipeline
and ours.

Models: the study model ``base`` (its trained checkpoint is reused) and models derived from it
(``models``: dotted overrides, e.g. ``abnn.mode: prototype_exact``), each trained from the same
pretrained start, seed and schedule as its own ``train_<name>`` stage. Each pipeline evaluates
every model (or the listed ones) with one gradient, threat model, attack list and test batch:

- ``gradient: cut`` evaluates a copy of the checkpoint whose substitute detaches its downsampling
  shortcuts (``abnn.substitute.shortcut_gradient: cut``, same weights, same predictions), as the
  authors' substitute does;
- ``batch: video`` makes each test batch the clips of one video (``clips_per_video``, as the authors
  tested); ``study`` is the study's test batch; a number is that batch size. Every pipeline takes
  ``eval.max_batches`` x the study's test batch clips (whole videos): the study's own clips unless
  ``clips_per_video`` differs from ``data.clips_per_video``.

Every white-box row also records the finite-difference gradient check
(:func:`videoabnn.attacks.gradcheck.check_gradient`, settings ``study.audit.gradcheck_*``) of the
gradient its attacks follow. Output: ``results/fidelity.json`` (first seed only, like the sweeps).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from videoabnn.config import Config, ConfigError
from videoabnn.study import steps
from videoabnn.study.derived import check_names, derived_overrides, pick_attacks, train_derived
from videoabnn.study.settings import derived_config
from videoabnn.study.stages import StageRunner
from videoabnn.threats import WHITE, ResultKey
from videoabnn.utils.io import atomic_write_json
from videoabnn.utils.provenance import file_digest

# Bump when run_fidelity writes new fields, so a rerun rewrites results/fidelity.json.
FIDELITY_LAYOUT = 1
WHERE = "study.fidelity"


def fidelity_spec(cfg: Mapping) -> dict | None:
    """``study.fidelity`` with its defaults filled in, or None when the study has no fidelity stage."""
    spec = steps.section(cfg, "fidelity")
    if not spec:
        return None
    spec = {"base": "abnn", "models": {}, "clips_per_video": None, **dict(spec)}
    check_names(cfg, list(spec["models"] or {}), f"{WHERE}.models")
    derived_overrides(cfg, spec["base"], {}, WHERE)  # the base must be a study model
    names = [spec["base"], *(spec["models"] or {})]
    for pname, pipe in (spec.get("pipelines") or {}).items():
        pick_attacks(cfg, pipe["attacks"], f"{WHERE}.pipelines.{pname}.attacks")  # fail before any work
        unknown = sorted(set(pipe.get("models") or []) - set(names))
        if unknown:
            raise ConfigError(f"{WHERE}.pipelines.{pname}.models: {', '.join(unknown)} not among the fidelity "
                              f"models ({', '.join(names)})")
    return spec


def stage_names(cfg: Mapping) -> list[str]:
    """The stages of the fidelity study: one training per derived model, then the evaluations."""
    spec = fidelity_spec(cfg)
    if spec is None:
        return []
    return [f"train_{name}" for name in spec["models"] or {}] + ["fidelity"]


def run_stages(cfg: Mapping, runner: StageRunner, trained: Mapping[str, dict], run_cfgs: Mapping[str, Config],
               substitute: str | None) -> None:
    """Train the derived models (resumable stages), then run the ``fidelity`` stage on all of them."""
    spec = fidelity_spec(cfg)
    if spec is None:
        return
    base = spec["base"]
    work = steps.work_dir(cfg)
    overrides = {base: {}}
    models = {base: (run_cfgs[base], work / trained[base]["checkpoint"])}
    for name, extra in (spec["models"] or {}).items():
        run_cfg, out = train_derived(cfg, runner, name, derived_overrides(cfg, base, extra, WHERE), substitute)
        models[name] = (run_cfg, work / out["checkpoint"])
        overrides[name] = dict(extra or {})
    key = {"checkpoints": {n: file_digest(c) for n, (_, c) in models.items()}, "spec": spec,
           "attacks": {p: pick_attacks(cfg, pipe["attacks"], f"{WHERE}.pipelines.{p}.attacks")
                       for p, pipe in spec["pipelines"].items()},
           "max_batches": cfg["eval"].get("max_batches"), "audit": steps.section(cfg, "audit", {}),
           "layout": FIDELITY_LAYOUT}
    runner.run("fidelity", lambda: run_fidelity(cfg, spec, models, overrides), files=lambda o: [o["fidelity"]], key=key)


def test_batch(cfg: Mapping, batch: str | int, clips_per_video: int) -> int:
    """A pipeline's test batch size: one video's clips, the study's test batch, or a number."""
    if batch == "video":
        return clips_per_video
    if batch == "study":
        return int(cfg["data"].get("test_batch_size") or cfg["data"]["batch_size"])
    return int(batch)


def pipeline_config(cfg: Mapping, run_cfg: Config, pipe: Mapping, clips_per_video: int, where: str) -> Config:
    """The evaluation config of one model under one pipeline (same clips as the study's evaluation)."""
    study_batch = test_batch(cfg, "study", clips_per_video)
    batch = test_batch(cfg, pipe.get("batch", "video"), clips_per_video)
    total = cfg["eval"].get("max_batches")
    max_batches = None if total is None else math.ceil(int(total) * study_batch / batch)
    return derived_config(run_cfg, {"eval.audit": False, "data.clips_per_video": clips_per_video,
                                    "data.test_batch_size": batch, "eval.max_batches": max_batches,
                                    "abnn.substitute.shortcut_gradient": pipe.get("gradient", "full"),
                                    "eval.threat_models": [pipe.get("threat", WHITE)]}, where)


def cut_checkpoint(checkpoint: Path, out_dir: Path) -> Path:
    """A copy of an ABNN ``checkpoint`` whose substitute detaches its downsampling shortcuts: the same
    weights and predictions, the authors' truncated input gradient (``shortcut_gradient: cut``)."""
    from videoabnn.models.checkpoint import load_checkpoint
    from videoabnn.utils import atomic_torch_save

    digest = file_digest(checkpoint)
    path = Path(out_dir) / f"{checkpoint.parent.name}-{digest[:12]}-cut.pt"
    if path.is_file():
        return path
    data = load_checkpoint(checkpoint)
    if data["arch"] != "abnn":
        raise ConfigError(f"{WHERE}: gradient: cut applies to ABNN models; {checkpoint} holds a {data['arch']!r} model")
    data["kwargs"] = {**dict(data["kwargs"]), "shortcut_gradient": "cut"}
    data["derived_from"] = {"checkpoint": str(checkpoint), "digest": digest,
                            "change": "abnn.substitute.shortcut_gradient: cut"}
    atomic_torch_save(data, path)
    return path


def gradient_check(cfg: Mapping, eval_cfg: Mapping, checkpoint: Path) -> dict:
    """The audit's finite-difference check of ``checkpoint`` (as loaded: cut or not) on the first clips of
    the evaluated subset; returns its verdict, largest relative error and reason."""
    import torch

    from videoabnn.attacks.gradcheck import check_gradient
    from videoabnn.engine.build import split_dataset
    from videoabnn.engine.subsets import evaluation_subset
    from videoabnn.models import load_model

    args = dict(steps.section(cfg, "audit", {}) or {})
    options = {k: args[f"gradcheck_{k}"] for k in ("directions", "steps", "tol") if args.get(f"gradcheck_{k}")}
    test_set = split_dataset(eval_cfg, "test")
    ids = evaluation_subset(test_set, eval_cfg["eval"].get("max_batches"),
                            int(eval_cfg["data"]["test_batch_size"]), int(cfg["seed"]))
    x = torch.stack([test_set[i]["clip"] for i in ids[: int(args.get("gradcheck_clips") or 2)]])
    result = check_gradient(load_model(checkpoint).eval(), x, seed=int(cfg["seed"]), **options)
    return {"passed": result.passed, "max_rel_error": result.max_rel_error, "tol": result.tol,
            "reason": result.reason()}


def run_fidelity(cfg: Mapping, spec: Mapping, models: Mapping[str, tuple[Config, Path]],
                 overrides: Mapping[str, Mapping]) -> dict:
    """Every (model, pipeline) evaluation; writes ``results/fidelity.json`` (see :mod:`videoabnn.report.fidelity`)."""
    from videoabnn.engine import evaluate

    work = steps.work_dir(cfg)
    clips_per_video = int(spec.get("clips_per_video") or cfg["data"]["clips_per_video"])
    rows, checks, attacks, pipelines = [], {}, {}, {}
    for pname, pipe in spec["pipelines"].items():
        where = f"{WHERE}.pipelines.{pname}"
        specs = pick_attacks(cfg, pipe["attacks"], f"{where}.attacks")
        for s in specs:
            if attacks.setdefault(s["id"], s) != s:
                raise ConfigError(f"{where}.attacks: {s['id']!r} names another attack in an earlier pipeline; "
                                  "one id, one attack (the table has one column per id)")
        pipelines[pname] = {**{k: v for k, v in dict(pipe).items() if k != "attacks"}, "attacks": [s["id"] for s in specs]}
        gradient, threat = pipe.get("gradient", "full"), pipe.get("threat", WHITE)
        for name in pipe.get("models") or list(models):
            run_cfg, checkpoint = models[name]
            eval_cfg = pipeline_config(cfg, run_cfg, pipe, clips_per_video, where)
            used = cut_checkpoint(checkpoint, work / "fidelity") if gradient == "cut" else checkpoint
            res = evaluate(eval_cfg, used, attacks=specs, threat_models=[threat],
                           eval_root=work / "evals" / "fidelity" / name / pname)
            if threat == WHITE and (name, gradient) not in checks:
                checks[(name, gradient)] = gradient_check(cfg, eval_cfg, used)
            rows.append(_row(name, pname, pipe, eval_cfg, specs, res, checks.get((name, gradient)) if threat == WHITE
                             else None))
    data = {"seed": int(cfg["seed"]), "base": spec["base"], "clips_per_video": clips_per_video,
            "models": {n: _model_info(run_cfg, overrides.get(n) or {}, steps.rel(cfg, ckpt), n == spec["base"])
                       for n, (run_cfg, ckpt) in models.items()},
            "pipelines": pipelines, "attacks": attacks, "rows": rows}
    path = atomic_write_json(work / "results" / "fidelity.json", data)
    return {"fidelity": steps.rel(cfg, path)}


def _model_info(run_cfg: Mapping, overrides: Mapping, checkpoint: str, reused: bool) -> dict[str, Any]:
    """What a fidelity model is: its ABNN formulation, the overrides it was derived with, its checkpoint."""
    a = run_cfg["abnn"]
    exact = a["mode"] == "prototype_exact"
    return {"mode": a["mode"], "prototype_statistics": a.get("prototype_statistics") if exact else None,
            "batch_coupled": exact and a.get("prototype_statistics") == "batch", "overrides": dict(overrides),
            "checkpoint": checkpoint, "reused_from_study": reused}


def _row(name: str, pname: str, pipe: Mapping, eval_cfg: Mapping, specs: list[dict], res: Mapping,
         check: Mapping | None) -> dict[str, Any]:
    """One table row: a model under a pipeline, read from its results."""
    threat = pipe.get("threat", WHITE)
    return {"model": name, "pipeline": pname, "gradient": pipe.get("gradient", "full"), "threat": threat,
            "batch": int(eval_cfg["data"]["test_batch_size"]), "clean": res["clean"]["clip_acc"],
            "attacks": {s["id"]: res["attacks"][ResultKey(s["id"], threat).format()]["clip_acc"] for s in specs},
            "worst_case": (res["summary"].get("worst_case") or {}).get(threat), "gradcheck": check,
            "batch_coupled": bool(res["run"].get("batch_coupled")), "num_clips": res["num_clips"],
            "results": str(res.get("provenance", {}).get("results_dir", ""))}
