"""The one-command robustness study as resumable stages, repeated over seeds.

Per seed (``study.seeds``), under ``<work_dir>/seeds/<seed>``: data -> pretrain substitute -> train
each model (all from the same pretrained initialisation) -> evaluate each model -> sweeps and
examples (first seed). Every stage records its outputs and the provenance key of its inputs; a rerun
skips finished stages whose key is unchanged (``force=True`` reruns them all). Then the seeds are
aggregated (mean and standard deviation of every number) into ``<work_dir>/results`` and the report
is rebuilt from those files.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from videoabnn.config_schema import study_default
from videoabnn.report.study_report import build_report
from videoabnn.study import clean_gap, fidelity, steps
from videoabnn.study.stages import StageRunner
from videoabnn.utils import atomic_write_json, environment_info
from videoabnn.utils.lock import RunLock
from videoabnn.utils.logs import log_to_file


def stage_names(cfg: Mapping, first_seed: bool = True) -> list[str]:
    """The stages one seed of a study runs, in order (sweeps and examples on the first seed only)."""
    names = list(steps.methods(cfg))
    sweeps = [k for k, v in (steps.section(cfg, "sweeps", {}) or {}).items() if v]
    out = ["data"]
    if steps.needs_substitute(cfg):
        out.append("pretrain_substitute")
    out += [f"train_{n}" for n in names] + [f"eval_{n}" for n in names]
    if first_seed:
        out += [f"sweep_{k}" for k in sweeps]
        if (steps.section(cfg, "input_transforms", {}) or {}).get("transforms"):
            out.append("input_transforms")
        if steps.section(cfg, "examples", {}).get("enabled", True):
            out.append("examples")
        out += fidelity.stage_names(cfg)
    return out + clean_gap.stage_names(cfg)


def run_study(cfg: Mapping, *, force: bool = False, log: Callable[[str], None] = print) -> dict[str, Path]:
    """Run (or resume) the whole study described by ``cfg``; returns the report's paths.

    ``threads`` sets torch's and the decoders' CPU threads for the run (see ``videoabnn.utils.threads``);
    the previous settings are restored afterwards.
    """
    from videoabnn.utils.threads import threads_scope

    with RunLock(steps.work_dir(cfg), "study work directory"), log_to_file(steps.work_dir(cfg) / "study.log"), \
            threads_scope(cfg.get("threads", "auto")):
        return _run_seeds(cfg, force=force, log=log)


def _run_seeds(cfg: Mapping, *, force: bool, log: Callable[[str], None]) -> dict[str, Path]:
    """Every seed's sub-study, then the aggregate results, report, results page and README headline."""
    start = time.perf_counter()
    work = steps.work_dir(cfg)
    seeds = steps.seeds(cfg)
    log(f"[study] profile {cfg['study'].get('profile', 'default')}, seeds {seeds}, work dir {work}")
    metas = {}
    for i, seed in enumerate(seeds):
        seed_cfg = steps.seed_config(cfg, seed)
        metas[seed] = _run_study(seed_cfg, force=force, log=log, first_seed=i == 0, label=f"seed {seed}")
    names = list(steps.methods(cfg))
    aggregate_seeds(work, seeds, names)
    first = metas[seeds[0]]
    examples = [{**e, **{k: f"seeds/{seeds[0]}/{e[k]}" for k in ("png", "gif", "mp4") if e.get(k)}}
                for e in first["examples"]]
    stages = {f"seed {s}: {k}": v for s, m in metas.items() for k, v in m["stages"].items()}
    write_meta(cfg, first["data"], names, stages, examples, time.perf_counter() - start, seeds, first["pretraining"])
    log("[study] report ...")
    paths = build_report(work)
    log(f"[study] report: {paths['markdown']} and {paths['html']}")
    readme = publish_to_readme(cfg)
    if readme is not None:
        log(f"[study] results table and plot written into {readme}")
    for page in publish_sections(cfg, paths):
        log(f"[study] section written into {page}")
    return paths


def aggregate_seeds(work: Path, seeds: list[int], names: list[str]) -> None:
    """``<work>/results/<model>.json`` and sweeps: each seed's files read as one (mean, std over seeds)."""
    from videoabnn.report.aggregate import aggregate_results, aggregate_sweep
    from videoabnn.utils.io import read_json

    for name in names:
        per_seed = [with_training_cost(read_json(work / "seeds" / str(s) / "results" / f"{name}.json"),
                                       work / "seeds" / str(s), name) for s in seeds]
        atomic_write_json(work / "results" / f"{name}.json", aggregate_results(per_seed, seeds))
    for part in ("transforms.json", "fidelity.json"):  # the first seed's (like the sweeps' examples)
        found = work / "seeds" / str(seeds[0]) / "results" / part
        if found.is_file():
            atomic_write_json(work / "results" / part, read_json(found))
    gaps = [work / "seeds" / str(s) / "results" / "clean_gap.json" for s in seeds]
    if all(p.is_file() for p in gaps):
        atomic_write_json(work / "results" / "clean_gap.json",
                          clean_gap.aggregate_clean_gap([read_json(p) for p in gaps], seeds))
    first = work / "seeds" / str(seeds[0]) / "results" / "sweeps"
    for path in sorted(first.glob("*.json")):
        found = [work / "seeds" / str(s) / "results" / "sweeps" / path.name for s in seeds]
        atomic_write_json(work / "results" / "sweeps" / path.name,
                          aggregate_sweep([read_json(f) for f in found if f.is_file()]))


def with_training_cost(result: dict, seed_dir: Path, name: str) -> dict:
    """``result`` with the cost of the whole training run (all epochs, from ``train_summary.json``): the
    checkpoint may be the best epoch's, whose recorded cost stops there (kept as ``train_cost.to_best``)."""
    record = seed_dir / "stages" / f"train_{name}.json"
    if not record.is_file():
        return result
    summary = seed_dir / json.loads(record.read_text())["outputs"]["run_dir"] / "train_summary.json"
    if not summary.is_file():
        return result
    total = json.loads(summary.read_text())
    run = result["run"]
    run["train_cost"] = {**total.get("train_cost", {}), "to_best": dict(run.get("train_cost") or {}),
                         "epochs_to_best": run.get("epochs")}
    run["train_seconds"], run["epochs"] = total["train_seconds"], total["epochs"]
    return result


def _run_study(cfg: Mapping, *, force: bool, log: Callable[[str], None], first_seed: bool = True,
               label: str = "") -> dict:
    """One seed's stages; returns what the study's meta file needs from it."""
    work = steps.work_dir(cfg)
    work.mkdir(parents=True, exist_ok=True)
    names = list(steps.methods(cfg))
    plan = stage_names(cfg, first_seed)
    runner = StageRunner(work, total=len(plan), log=log, force=force, label=label)
    log(f"[study] {label}: work dir {work}, stages: {', '.join(plan)}")

    data = runner.run("data", lambda: steps.make_data(cfg), key={"data": cfg["data"], "study": cfg["study"].get("pretrain")})
    substitute = None
    if "pretrain_substitute" in plan:
        sub_cfg = steps.substitute_config(cfg)
        out = runner.run("pretrain_substitute", lambda: steps.run_training(cfg, sub_cfg),
                         files=lambda o: [o["checkpoint"]], key={"config": steps.training_settings(sub_cfg)})
        substitute = str(work / out["checkpoint"])
        _check_pretraining(Path(substitute), label, log)
    trained: dict[str, dict] = {}
    run_cfgs = {name: steps.model_config(cfg, name, substitute) for name in names}
    for name in names:
        run_cfg = run_cfgs[name]
        trained[name] = runner.run(f"train_{name}", lambda c=run_cfg: steps.run_training(cfg, c),
                                   files=lambda o: [o["checkpoint"]],
                                   key={"config": steps.training_settings(run_cfg),
                                        "substitute": _digest(substitute)})
    standard = _standard_checkpoint(cfg, trained)
    eval_settings = {k: cfg["study"].get(k) for k in ("threats", "audit")} | {"eval": cfg["eval"]}
    for name in names:
        ckpt = work / trained[name]["checkpoint"]
        runner.run(f"eval_{name}", lambda n=name, c=ckpt: steps.run_evaluation(cfg, n, run_cfgs[n], c, standard),
                   files=lambda o: [o["results"]],
                   key={"checkpoint": _digest(ckpt), "surrogate": _digest(standard), **eval_settings,
                        "layout": steps.RESULTS_LAYOUT})
    steps.training_curves(cfg, trained)
    digests = {n: _digest(work / t["checkpoint"]) for n, t in trained.items()}
    for stage in plan:
        if stage.startswith("sweep_"):
            kind = stage[len("sweep_"):]
            runner.run(stage, lambda k=kind: steps.run_sweep(cfg, k, trained, run_cfgs), files=lambda o: [o["sweep"]],
                       key={"checkpoints": digests, "sweep": cfg["study"]["sweeps"][kind], "seed": cfg["seed"]})
    if "input_transforms" in plan:
        runner.run("input_transforms", lambda: steps.run_input_transforms(cfg, trained, run_cfgs),
                   files=lambda o: [o["transforms"]],
                   key={"checkpoints": digests, "spec": cfg["study"]["input_transforms"], "eval": cfg["eval"]})
    examples = {"examples": []}
    if "examples" in plan:
        examples = runner.run("examples", lambda: steps.make_examples(cfg, trained, run_cfgs),
                              files=lambda o: [e["png"] for e in o["examples"]],
                              key={"checkpoints": digests, "examples": cfg["study"].get("examples"),
                                   "eval": cfg["eval"]})
    if "fidelity" in plan:
        fidelity.run_stages(cfg, runner, trained, run_cfgs, substitute)
    clean_gap.run_stages(cfg, runner, trained, run_cfgs, substitute)
    pretraining = None
    if substitute is not None:
        summary = Path(substitute).parent / "train_summary.json"
        pretraining = json.loads(summary.read_text()).get("train_cost") if summary.is_file() else None
    return {"data": data, "stages": runner.all_timings(), "examples": examples["examples"], "pretraining": pretraining}


def _check_pretraining(checkpoint: Path, label: str, log: Callable[[str], None]) -> None:
    """Say so loudly when the pretraining (every model's starting point) stayed near chance: every model of
    this seed would then start from a failed run and the seed's numbers would mean little."""
    from videoabnn.models.checkpoint import load_checkpoint

    summary = checkpoint.parent / "train_summary.json"
    if not summary.is_file():
        return
    best = json.loads(summary.read_text()).get("best_metric")
    chance = 1.0 / int(load_checkpoint(checkpoint)["num_classes"])
    if best is not None and float(best) < 2 * chance:
        log(f"[study] warning: {label}: the substitute's pretraining reached only {float(best):.3f} validation "
            f"accuracy (chance {chance:.3f}); every model of this seed starts from it. Check study.pretrain "
            "(learning rate, epochs) before trusting this seed.")


def _digest(path: str | Path | None) -> str | None:
    """Content digest of a checkpoint (None when there is none)."""
    from videoabnn.utils.provenance import file_digest

    return file_digest(path) if path is not None and Path(path).is_file() else None


def publish_to_readme(cfg: Mapping) -> Path | None:
    """Publish the results (full section into ``study.readme.results``, the headline table into the README) when
    ``study.readme`` asks for it (the ``full`` profile)."""
    target = steps.section(cfg, "readme")
    if not target:
        return None
    from videoabnn.report.readme import update_readme

    return update_readme(steps.work_dir(cfg), target["path"], target["images"], results=target.get("results"))


SECTION_MARKERS = {"fidelity": "FIDELITY-RESULTS", "clean_gap": "CLEAN-GAP-RESULTS"}


def publish_sections(cfg: Mapping, paths: Mapping[str, Path]) -> list[Path]:
    """The ABNN stages' sections (``fidelity.md``, ``clean_gap.md``) into the ``<!-- FIDELITY-RESULTS -->`` /
    ``<!-- CLEAN-GAP-RESULTS -->`` block of the page ``study.<stage>.publish`` names (headings one level down)."""
    from videoabnn.report.readme import replace_marker_block

    written = []
    for part, marker in SECTION_MARKERS.items():
        page = (steps.section(cfg, part) or {}).get("publish")
        if page and part in paths:
            body = re.sub(r"^(#+) ", r"#\1 ", Path(paths[part]).read_text(), flags=re.M)
            written.append(replace_marker_block(page, marker, body.rstrip("\n") + "\n"))
    return written


def _standard_checkpoint(cfg: Mapping, trained: Mapping[str, dict]) -> Path | None:
    """Checkpoint of the undefended model (source of the transfer attacks), if one was trained."""
    source = (steps.section(cfg, "threats", {}) or {}).get("transfer_from", "standard")
    if source in trained:
        return steps.work_dir(cfg) / trained[source]["checkpoint"]
    return None


def cpu_model() -> str | None:
    """The CPU's model name (Linux), for the report's machine line."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None


def write_meta(cfg: Mapping, data: Mapping, names: list[str], stages: Mapping[str, dict], examples: list,
               seconds: float, seeds: list[int], pretraining: Mapping | None = None) -> Path:
    """``study.json``: what the report needs besides the result files (settings, timings, data, examples)."""
    classes = (data.get("study") or {}).get("classes") or []
    env = environment_info()
    machine = env.get("cuda") or cpu_model() or env.get("processor") or env.get("machine") or "unknown CPU"
    meta = {
        "title": steps.section(cfg, "title", "videoabnn robustness study"),
        "profile": cfg["study"].get("profile", "default"),
        "machine": f"{machine}; {env.get('cpu_count')} CPU cores visible, {env.get('torch_threads')} torch threads",
        "threads": {"setting": cfg.get("threads", "auto"), "torch": env.get("torch_threads")},
        "total_seconds": sum(float(v["seconds"]) for v in stages.values()),
        "last_run_seconds": seconds,
        "models": names,
        "chance": 1.0 / len(classes) if classes else None,
        "data": data,
        "stages": dict(stages),
        "examples": list(examples),
        "seed": int(seeds[0]),
        "seeds": list(seeds),
        "init": steps.section(cfg, "init", study_default("init")),
        "pretraining": pretraining,
        "study": {k: v for k, v in dict(cfg["study"]).items() if k != "profiles"},
        "environment": env,
    }
    return atomic_write_json(steps.work_dir(cfg) / "study.json", meta)
