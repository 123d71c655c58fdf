"""The study's stage bodies: data, substitute pretraining, training, evaluation, sweeps, examples.

Each function takes the study config (``cfg``, with its free-form ``study:`` section) and the
outputs of earlier stages, does its work through the public engine/attack APIs and returns a
small JSON-serialisable dict (paths relative to the work dir) that the stage runner records.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from videoabnn.config import Config, ConfigError
from videoabnn.config_schema import study_default
from videoabnn.methods import training_method
from videoabnn.results import Results
from videoabnn.study.settings import derived_config
from videoabnn.threats import GRAY, NAIVE, PHYSICAL, TRANSFER, WHITE, ResultKey
from videoabnn.utils.io import atomic_write_json
from videoabnn.utils.provenance import code_versions, file_digest

# Bump when run_evaluation writes new fields, so a rerun refreshes every results file (attacks and audits
# come back from their caches; only the summary is recomputed).
RESULTS_LAYOUT = 3  # 3: the physical no-pattern control row

CHECKPOINT_NAMES = {"last": "last.pt", "best": "best.pt"}


def work_dir(cfg: Mapping) -> Path:
    return Path(cfg["work_dir"])


def rel(cfg: Mapping, path: str | Path) -> str:
    """``path`` relative to the work dir (as stored in stage records)."""
    return Path(path).resolve().relative_to(work_dir(cfg).resolve()).as_posix()


def section(cfg: Mapping, key: str, default: Any = None) -> Any:
    """``cfg.study[key]`` (``default`` when absent)."""
    value = (cfg.get("study") or {}).get(key)
    return default if value is None else value


def seeds(cfg: Mapping) -> list[int]:
    """The study's seeds (``study.seeds``; default: the run seed alone)."""
    found = section(cfg, "seeds")
    if found is None:
        return [int(cfg["seed"])]
    if not isinstance(found, list) or not found or not all(isinstance(s, int) and not isinstance(s, bool) for s in found):
        raise ConfigError(f"study.seeds: expected a non-empty list of integers, got {found!r}")
    return list(found)


def seed_config(cfg: Mapping, seed: int) -> Config:
    """The config of one seed's sub-study: ``<work_dir>/seeds/<seed>``, the shared frame cache, no README."""
    from videoabnn.config import config_from_dict

    data = copy.deepcopy(cfg.to_dict() if hasattr(cfg, "to_dict") else dict(cfg))
    data["seed"] = int(seed)
    data["work_dir"] = str(work_dir(cfg) / "seeds" / str(seed))
    data["data"]["cache_dir"] = frame_cache(cfg)
    data["study"]["readme"] = None
    profile = data["study"].pop("profile", None)
    out = config_from_dict(data)
    out["study"]["profile"] = profile
    return out


def methods(cfg: Mapping) -> dict[str, dict]:
    """The trained models: name -> dotted-key config overrides (``train.method`` defaults to the name)."""
    found = section(cfg, "methods")
    if not isinstance(found, Mapping) or not found:
        raise ConfigError("study.methods: expected a mapping of model name -> config overrides, e.g. "
                          "{standard: {}, abnn: {}, pgd_at: {train.attack: {...}}}")
    return {str(k): dict(v or {}) for k, v in found.items()}


# --------------------------------------------------------------------------- data
def make_data(cfg: Mapping) -> dict:
    """Generate the study set (``data``) and the distinct pretraining set (``study.pretrain``'s data)."""
    from videoabnn.data import generate_synthetic

    out = {}
    for variant, data_cfg in (("study", cfg["data"]), ("pretrain", substitute_config(cfg)["data"])):
        if data_cfg["name"] != "synthetic":
            out[variant] = {"root": str(data_cfg["root"]), "name": data_cfg["name"]}
            continue
        syn = {k: v for k, v in dict(data_cfg["synthetic"]).items() if k != "generate"}
        summary = generate_synthetic(data_cfg["root"], progress=True, **syn)
        out[variant] = {k: summary[k] for k in ("variant", "classes", "videos", "frames", "size", "splits", "seed")}
        out[variant]["root"] = str(data_cfg["root"])
    fill_frame_caches(cfg)
    return out


def fill_frame_caches(cfg: Mapping) -> None:
    """Decode the study's and the pretraining's videos into the shared frame cache, one loader process per
    thread of the run, instead of one video at a time in each model's first epoch (same entries, same numbers)."""
    import torch

    from videoabnn.data import build_dataset

    workers = torch.get_num_threads() if torch.get_num_threads() > 1 else 0
    sets = [(cfg["data"], True), (cfg["data"], False)]
    if needs_substitute(cfg):
        sets.append((substitute_config(cfg)["data"], True))
    for data_cfg, train in sets:
        if data_cfg.get("cache_dir"):
            build_dataset(data_cfg, train).fill_cache(workers)


# --------------------------------------------------------------------------- training
def frame_cache(cfg: Mapping) -> str | None:
    """``data.cache_dir`` if set, else ``<work_dir>/cache`` (every video is read many times in a study)
    unless ``study.frame_cache`` is false."""
    if cfg["data"].get("cache_dir") or not section(cfg, "frame_cache", study_default("frame_cache")):
        return cfg["data"].get("cache_dir")
    return str(work_dir(cfg) / "cache")


def training_settings(run_cfg: Mapping) -> dict:
    """The parts of a run config that decide its training (not where it is written, not its evaluation)."""
    data = run_cfg.to_dict() if hasattr(run_cfg, "to_dict") else dict(run_cfg)
    return {k: v for k, v in data.items() if k not in ("work_dir", "eval")}


def keyed_run_dir(cfg: Mapping, run_cfg: Config) -> Config:
    """``run_cfg`` with its work dir set to ``runs/<name>-<digest8 of the config>``: a changed config
    trains in a new folder instead of resuming (or overwriting) a run made with other settings."""
    from videoabnn.utils.provenance import digest_of

    settings = training_settings(run_cfg)
    run_cfg["work_dir"] = str(work_dir(cfg) / "runs" / f"{run_cfg['name']}-{digest_of(settings, 8)}")
    return run_cfg


def substitute_config(cfg: Mapping) -> Config:
    """Config of the substitute pretraining run (pretraining set, substitute architecture)."""
    sub = cfg["abnn"]["substitute"]
    fixed = {"name": "substitute", "train.method": "standard", "data.cache_dir": frame_cache(cfg),
             "model.name": sub["name"], "model.kwargs": dict(sub.get("kwargs") or {}), "model.pretrained": None}
    run_cfg = derived_config(cfg, section(cfg, "pretrain", {}), "study.pretrain", fixed)
    return keyed_run_dir(cfg, run_cfg)


def model_config(cfg: Mapping, name: str, substitute: str | None = None,
                 overrides: Mapping[str, Any] | None = None) -> Config:
    """Config of one trained model of the study (same data, backbone and epochs unless overridden);
    ``overrides`` replace ``study.methods.<name>`` (for models derived from a study model)."""
    overrides = dict(methods(cfg)[name] if overrides is None else overrides)
    fixed: dict[str, Any] = {"name": name, "data.cache_dir": frame_cache(cfg)}
    if "train.method" not in overrides:
        fixed["train.method"] = name
    if substitute is not None:
        fixed["abnn.substitute.checkpoint"] = substitute
        if init_mode(cfg) == "pretrained":  # every model starts from the same pretrained weights
            fixed["model.pretrained"] = substitute
    return keyed_run_dir(cfg, derived_config(cfg, overrides, f"study.methods.{name}", fixed))


def init_mode(cfg: Mapping) -> str:
    """``study.init``: ``pretrained`` (every model starts from the substitute's pretrained weights) or ``scratch``."""
    mode = section(cfg, "init", study_default("init"))
    if mode not in ("pretrained", "scratch"):
        raise ConfigError(f"study.init: expected pretrained or scratch, got {mode!r}")
    return mode


def needs_substitute(cfg: Mapping) -> bool:
    """Whether a substitute is pretrained: for ABNN, or as every model's initialisation."""
    uses_abnn = any(training_method(model_config(cfg, n)["train"]["method"]).composite for n in methods(cfg))
    return uses_abnn or init_mode(cfg) == "pretrained"


def checkpoint_of(cfg: Mapping, run_dir: Path) -> Path:
    which = str(section(cfg, "checkpoint", study_default("checkpoint")))
    if which not in CHECKPOINT_NAMES:
        raise ConfigError(f"study.checkpoint: expected last or best, got {which!r}")
    return run_dir / CHECKPOINT_NAMES[which]


def run_training(cfg: Mapping, run_cfg: Config) -> dict:
    """Train (resuming an interrupted run in the same directory); returns the checkpoint and cost."""
    from videoabnn.engine import train

    run_dir = Path(run_cfg["work_dir"])
    run_dir = train(run_cfg, resume=(run_dir / "last.pt").is_file())
    summary_path = run_dir / "train_summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    return {"run_dir": rel(cfg, run_dir), "checkpoint": rel(cfg, checkpoint_of(cfg, run_dir)),
            "train_seconds": summary.get("train_seconds"), "epochs": summary.get("epochs")}


def training_curves(cfg: Mapping, trained: Mapping[str, dict]) -> Path:
    """``results/sweeps/training.json``: clean validation accuracy per epoch, from each run's log."""
    models = {}
    for name, out in trained.items():
        log = work_dir(cfg) / out["run_dir"] / "log.jsonl"
        if not log.is_file():
            continue
        points = []
        for line in log.read_text().splitlines():
            rec = json.loads(line) if line.strip() else {}
            if rec.get("val_clip_acc") is not None:
                points.append({"x": int(rec["epoch"]) + 1, "clip_acc": float(rec["val_clip_acc"])})
        if points:
            models[name] = points
    return atomic_write_json(work_dir(cfg) / "results" / "sweeps" / "training.json",
                             {"x_label": "epoch", "description": "clean validation clip accuracy", "models": models})


# --------------------------------------------------------------------------- evaluation
def attack_specs(cfg: Mapping) -> list[dict]:
    """The study's attack list (``eval.attacks``) as specs with ids."""
    from videoabnn.engine.evaluator import resolve_attacks

    return resolve_attacks(cfg)


def run_evaluation(cfg: Mapping, name: str, model_cfg: Config, checkpoint: Path, standard_checkpoint: Path | None) -> dict:
    """White-box evaluation (+ audit); for ABNN also gray-box and transfer rows, merged into one file."""
    from videoabnn.engine import evaluate

    run_cfg = derived_config(model_cfg, {"eval.audit": False}, "study.audit")
    results = evaluate(run_cfg, checkpoint, threat_models=[WHITE], eval_root=work_dir(cfg) / "evals" / name)
    if cfg["eval"].get("audit"):
        surrogate = standard_checkpoint if standard_checkpoint not in (None, checkpoint) else None
        results["audit"] = run_audit(cfg, run_cfg, checkpoint, surrogate, work_dir(cfg) / "evals" / name / "audits")
    extra_threats = _extra_threats(cfg, run_cfg, name, standard_checkpoint)
    if extra_threats:
        extra_cfg = derived_config(run_cfg, {"eval.audit": False, "eval.transfer_from": str(standard_checkpoint)
                                             if standard_checkpoint else None}, "study.threats")
        wanted = section(cfg, "threats", {}).get("attacks")
        specs = [s for s in attack_specs(run_cfg) if not wanted or s["id"] in wanted]
        extra = evaluate(extra_cfg, checkpoint, attacks=specs, threat_models=extra_threats,
                         eval_root=work_dir(cfg) / "evals" / name)
        _merge_threats(results, extra)
    physical = physical_specs(cfg, run_cfg)
    if physical:
        extra = evaluate(derived_config(run_cfg, {"eval.audit": False}, "study.threats"), checkpoint,
                         attacks=physical, threat_models=[PHYSICAL], eval_root=work_dir(cfg) / "evals" / name)
        _merge_threats(results, extra)
    results["run"]["name"] = name
    results = Results.from_dict(results, f"study results of {name}").to_dict()
    path = atomic_write_json(work_dir(cfg) / "results" / f"{name}.json", results)
    return {"results": rel(cfg, path), "clean": results["clean"]["clip_acc"],
            "worst_case": results["summary"]["worst_case"]}


def _merge_threats(results: dict, extra: Mapping) -> None:
    """Add another evaluation's non-white threat rows and worst cases to ``results``."""
    results["attacks"].update(extra["attacks"])
    results["summary"]["worst_case"].update({k: v for k, v in extra["summary"]["worst_case"].items() if k != WHITE})
    for part in ("worst_case_attacks", "worst_case_budget"):
        results["summary"].setdefault(part, {}).update(
            {k: v for k, v in extra["summary"].get(part, {}).items() if k != WHITE})


def physical_specs(cfg: Mapping, run_cfg: Mapping) -> list[dict]:
    """The attacks scored under the physical threat model for every model (``study.threats.physical``:
    ``{attacks: [ids], physical: <distribution>}``), each with the study's distribution and draws."""
    physical = (section(cfg, "threats", {}) or {}).get(PHYSICAL)
    if not physical:
        return []
    wanted = list(physical.get("attacks") or [])
    by_id = {s["id"]: s for s in attack_specs(run_cfg)}
    unknown = [a for a in wanted if a not in by_id]
    if unknown:
        raise ConfigError(f"study.threats.physical.attacks: {unknown} are not in eval.attacks ({sorted(by_id)})")
    overrides = {k: v for k, v in physical.items() if k != "attacks"}
    return [{**by_id[a], **overrides} for a in wanted]


def run_audit(cfg: Mapping, run_cfg: Mapping, checkpoint: Path, surrogate: Path | None,
              cache_dir: Path | None = None) -> dict:
    """The gradient-masking checks (:func:`videoabnn.engine.audit_run.run_audit`) on a seeded, class-stratified
    subset of ``eval.audit_batches`` batches' worth of test clips, with the settings of ``study.audit`` on the
    thorough defaults (white-box vs transfer from ``surrogate``). With ``cache_dir``, a report is kept there
    under the digest of everything it depends on and reused."""
    import torch
    from torch.utils.data import DataLoader, Subset

    from videoabnn.attacks import AUDIT_VERSION
    from videoabnn.audit_settings import AuditSettings
    from videoabnn.engine.audit_run import AuditJob, JsonReports
    from videoabnn.engine.audit_run import run_audit as audited
    from videoabnn.engine.build import split_dataset
    from videoabnn.engine.subsets import evaluation_subset
    from videoabnn.models import load_model

    test_set = split_dataset(run_cfg, "test")
    batch_size = int(run_cfg["data"].get("test_batch_size") or run_cfg["data"]["batch_size"])
    ids = evaluation_subset(test_set, int(cfg["eval"].get("audit_batches") or 1), batch_size, int(cfg["seed"]))
    args = dict(section(cfg, "audit", {}) or {})
    key = {"checkpoint": file_digest(checkpoint), "surrogate": file_digest(surrogate) if surrogate else None,
           "ids": [int(i) for i in ids], "args": args, "seed": int(cfg["seed"]), "versions": code_versions(),
           "audit_version": AUDIT_VERSION}

    def load() -> list:
        loader = DataLoader(Subset(test_set, ids), batch_size=batch_size, shuffle=False, num_workers=0)
        return [(batch["clip"], torch.as_tensor(batch["label"])) for batch in loader]

    def models() -> tuple:
        return load_model(checkpoint).eval(), load_model(surrogate).eval() if surrogate is not None else None

    job = AuditJob("audit", ids, load, models, AuditSettings.from_mapping(args), int(cfg["seed"]), key,
                   JsonReports(cache_dir))
    return audited(job)


def _extra_threats(cfg: Mapping, run_cfg: Mapping, name: str, standard_checkpoint: Path | None) -> list[str]:
    threats = section(cfg, "threats", {}) or {}
    out = []
    if training_method(run_cfg["train"]["method"]).composite and threats.get(GRAY, True):
        out.append(GRAY)
    source = threats.get("transfer_from", "standard")
    transfer_to = threats.get("transfer_to") or [n for n in methods(cfg) if n != source]  # every defended model
    if standard_checkpoint is not None and name in transfer_to and threats.get(TRANSFER, True):
        out.append(TRANSFER)
    return out


# --------------------------------------------------------------------------- sweeps
def sweep_points(spec: Mapping) -> list[tuple[float, dict]]:
    """(x, attack spec) pairs of a sweep: ``{"attack": {name, ...}, "param", "values", "scale"}``."""
    attack = dict(spec.get("attack") or {})
    if "name" not in attack:
        raise ConfigError(f"study sweep: 'attack' needs a 'name' (got {spec!r})")
    param, scale = spec.get("param", "eps"), float(spec.get("scale", 1.0))
    step_ratio = spec.get("alpha_ratio")
    out = []
    for value in spec.get("values") or []:
        if float(value) <= 0:
            continue
        a = {**attack, "id": f"{param}_{value}", param: float(value) / scale if scale != 1.0 else value}
        if step_ratio is not None:
            a["alpha"] = float(value) / scale * float(step_ratio)
        out.append((value, a))
    return out


def run_sweep(cfg: Mapping, kind: str, trained: Mapping[str, dict], model_cfgs: Mapping[str, Config]) -> dict:
    """One sweep (``study.sweeps.<kind>``) over the listed models; writes ``results/sweeps/<kind>.json``."""
    from videoabnn.engine import evaluate

    spec = section(cfg, "sweeps", {})[kind]
    names = spec.get("models") or list(trained)
    points = sweep_points(spec)
    models = {}
    for name in names:
        run_cfg = derived_config(model_cfgs[name], {"eval.audit": False, "eval.max_batches": spec.get("max_batches"),
                                           "abnn.substitute.checkpoint": None}, f"study.sweeps.{kind}")
        res = evaluate(run_cfg, work_dir(cfg) / trained[name]["checkpoint"], attacks=[a for _, a in points],
                       threat_models=[WHITE], eval_root=work_dir(cfg) / "sweeps" / kind / name)
        series = [{"x": 0, "clip_acc": res["clean"]["clip_acc"]}] if spec.get("include_clean", True) else []
        series += [{"x": x, "clip_acc": res["attacks"][a["id"]]["clip_acc"]} for x, a in points]
        models[name] = series
    sweep = {"kind": kind, "x_label": spec.get("x_label", spec.get("param", "x")),
             "description": spec.get("description", ""), "attack": spec.get("attack"), "models": models}
    path = atomic_write_json(work_dir(cfg) / "results" / "sweeps" / f"{kind}.json", sweep)
    return {"sweep": rel(cfg, path)}


# --------------------------------------------------------------------------- example frames
def make_examples(cfg: Mapping, trained: Mapping[str, dict], model_cfgs: Mapping[str, Config]) -> dict:
    """Clean / adversarial / amplified-perturbation frames and GIFs for a few attacks on one model."""
    import torch

    from videoabnn.attacks import build_attack
    from videoabnn.capabilities import Capability, supports
    from videoabnn.engine.attack_specs import attack_params
    from videoabnn.engine.build import split_dataset
    from videoabnn.models import load_model
    from videoabnn.report.media import save_example

    spec = section(cfg, "examples", {}) or {}
    name = spec.get("model", "standard")
    if name not in trained:
        raise ConfigError(f"study.examples.model: {name!r} is not one of the trained models ({', '.join(trained)})")
    run_cfg = model_cfgs[name]
    model = load_model(work_dir(cfg) / trained[name]["checkpoint"]).eval()
    test_set = split_dataset(run_cfg, "test")
    x, y = _correctly_classified(model, test_set, int(spec.get("clip", 0)))
    rows = json.loads((work_dir(cfg) / "results" / f"{name}.json").read_text())["attacks"]
    fitted = {k: row.get("artifact") for k, row in rows.items()}
    wanted = spec.get("attacks")
    classes = list(getattr(test_set, "classes", []) or [])
    examples = []
    for a in attack_specs(run_cfg):
        if wanted and a["id"] not in wanted:
            continue
        attack = build_attack(a["name"], model, seed=int(cfg["seed"]), **attack_params(a))
        if supports(attack, Capability.FIT):
            saved = fitted.get(ResultKey(a["id"]).format())
            if not saved or not Path(saved).is_file():
                continue
            attack.load(saved)
        x_adv = attack(x, y)
        with torch.no_grad():
            pred_clean, pred_adv = int(model(x).argmax(1)), int(model(x_adv).argmax(1))
        paths = save_example(work_dir(cfg) / "frames", f"{a['id']}_{name}", x[0], x_adv[0],
                             mp4=bool(spec.get("mp4", False)))
        title = (f"{a['id']} on {name}: true {_label(classes, int(y))}, predicted {_label(classes, pred_clean)} "
                 f"clean -> {_label(classes, pred_adv)} adversarial")
        examples.append({"title": title, "attack": a["id"], "model": name,
                         **{k: rel(cfg, p) for k, p in paths.items()}})
    return {"examples": examples}


def _label(classes: list[str], k: int) -> str:
    return classes[k] if k < len(classes) else str(k)


def _correctly_classified(model, test_set, start: int, tries: int = 64):
    """The first test clip from index ``start`` that ``model`` classifies correctly (else clip ``start``)."""
    import torch

    first = None
    for offset in range(min(tries, len(test_set))):
        item = test_set[(start + offset) % len(test_set)]
        x, y = item["clip"].unsqueeze(0), torch.tensor([int(item["label"])])
        first = first or (x, y)
        with torch.no_grad():
            if int(model(x).argmax(1)) == int(y):
                return x, y
    return first


# --------------------------------------------------------------------------- input transformations
def _transform_and_bpda(entry: str | Mapping) -> tuple[str | dict, str | None]:
    """A ``study.input_transforms.transforms`` entry as (transform spec, the attacks' BPDA choice or None):
    ``{name: codec, crf: 30, bpda: standin}`` attacks the codec through its differentiable stand-in."""
    if isinstance(entry, str):
        return entry, None
    transform = dict(entry)
    return transform, transform.pop("bpda", None)


def run_input_transforms(cfg: Mapping, trained: Mapping[str, dict], model_cfgs: Mapping[str, Config]) -> dict:
    """``study.input_transforms``: one model (default: standard) behind each transform, white-box naive
    (autograd through the transform) and adaptive (BPDA for non-differentiable, EOT for random ones),
    in one table (``results/transforms.json``) with seconds per clip."""
    import time

    import torch

    from videoabnn.defenses import wrap_with_transform
    from videoabnn.engine import evaluate
    from videoabnn.engine.build import split_dataset
    from videoabnn.models import load_model

    spec = dict(section(cfg, "input_transforms", {}) or {})
    name = spec.get("model", "standard")
    wanted = spec.get("attacks") or ["pgd_linf_4"]
    attacks = [a for a in attack_specs(cfg) if a["id"] in wanted]
    checkpoint = work_dir(cfg) / trained[name]["checkpoint"]
    test_set = split_dataset(model_cfgs[name], "test")
    batch = torch.stack([test_set[i]["clip"] for i in range(min(len(test_set), 16))])
    rows = []
    for entry in spec.get("transforms") or []:
        transform, bpda = _transform_and_bpda(entry)
        label = (transform if isinstance(transform, str) else transform["name"]) + (f"_bpda_{bpda}" if bpda else "")
        run_attacks = [{**a, "bpda": bpda} for a in attacks] if bpda else attacks
        run_cfg = derived_config(model_cfgs[name], {"eval.input_transform": transform, "eval.threat_models": [WHITE],
                                                    "eval.audit": bool(spec.get("audit", False)),
                                                    "eval.max_batches": spec.get("max_batches",
                                                                                 cfg["eval"].get("max_batches"))},
                                 "study.input_transforms")
        res = evaluate(run_cfg, checkpoint, attacks=run_attacks, eval_root=work_dir(cfg) / "evals" / f"{name}_{label}")
        model = wrap_with_transform(load_model(checkpoint), transform).eval()
        start = time.perf_counter()
        with torch.no_grad():
            model(batch)
        forward = (time.perf_counter() - start) / len(batch)
        for attack in attacks:
            adaptive, naive = res["attacks"][attack["id"]], res["attacks"][ResultKey(attack["id"], NAIVE).format()]
            rows.append({"transform": label, "spec": transform, "attack": attack["id"],
                         "clean": res["clean"]["clip_acc"], NAIVE: naive["clip_acc"], "adaptive": adaptive["clip_acc"],
                         "bpda": adaptive["details"].get("bpda"), "eot": adaptive["details"].get("eot"),
                         "seconds_per_clip": {"forward": forward, NAIVE: naive["seconds"] / res["num_clips"],
                                              "adaptive": adaptive["seconds"] / res["num_clips"]},
                         "audit_naive": (res.get("audit_naive") or {}).get("passed"),
                         "audit_adaptive": (res.get("audit") or {}).get("passed")})
    plain = json.loads((work_dir(cfg) / "results" / f"{name}.json").read_text())
    out = {"model": name, "clean_without_transform": plain["clean"]["clip_acc"], "rows": rows,
           "undefended": {a["id"]: plain["attacks"][a["id"]]["clip_acc"] for a in attacks if a["id"] in plain["attacks"]}}
    path = atomic_write_json(work_dir(cfg) / "results" / "transforms.json", out)
    return {"transforms": rel(cfg, path)}
