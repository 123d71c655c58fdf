"""Universal patch / frame studies: fit universal attacks against one or several checkpoints, then
sweep their size, position and number of attacked frames.

Outputs under the work dir (the same layout as the robustness study, so ``build_report`` reads it):
``results/<model>.json`` (clean + one row per size), ``results/sweeps/{size,position,frames}.json``,
``patches/<model>/*.pt`` + ``.png`` (the trained patches), ``frames/*.png|gif`` (example clips),
``study.json``, ``report.md`` and ``report.html``. Attacks run in eval mode, white-box.

With ``physical`` set (a :mod:`videoabnn.attacks.physical_eot` distribution, e.g. ``default``), each size
also gets the physical threat model: a shared pattern fitted through that distribution, scored under
fresh draws (``<kind>_<size>@physical``) and as the worst case over the fixed conditions
(``@physical:worst``); the size sweep then holds a ``<model> (physical)`` curve beside each model's
digital one, and the examples show the printed pattern under each condition.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from videoabnn.config import ConfigError
from videoabnn.threats import CONTROL, FRESH, PHYSICAL, PHYSICAL_PARAM, WHITE, WORST, ResultKey
from videoabnn.utils import atomic_write_json, environment_info, seed_everything

KINDS = ("universal_patch", "universal_framing")
SIZE_PARAM = {"universal_patch": "size", "universal_framing": "width"}


def _settings(cfg: Mapping) -> dict:
    spec = dict((cfg.get("study") or {}).get("patch_study") or {})
    if not spec.get("checkpoints") and spec.get("from_study"):
        spec["checkpoints"] = study_checkpoints(spec["from_study"], spec.get("models"), int(spec.get("study_seed") or 0))
    if not spec.get("checkpoints"):
        raise ConfigError("study.patch_study.checkpoints: expected a mapping of model name -> checkpoint path, or "
                          "study.patch_study.from_study: a study's work_dir (or pass --checkpoints NAME=PATH ...)")
    kind = spec.get("kind", "universal_patch")
    if kind not in KINDS:
        raise ConfigError(f"study.patch_study.kind: expected one of {', '.join(KINDS)}, got {kind!r}")
    if not spec.get("sizes"):
        raise ConfigError("study.patch_study.sizes: expected a non-empty list of sizes (fractions of the frame)")
    return spec


def study_checkpoints(study_dir: str | Path, models: list[str] | None, seed: int) -> dict[str, str]:
    """The checkpoint a robustness study selected for each of ``models`` (None: all it trained) in one seed,
    read from its stage records (``<study_dir>/seeds/<seed>/stages/train_<name>.json``)."""
    stages = Path(study_dir) / "seeds" / str(seed) / "stages"
    if not stages.is_dir():
        raise ConfigError(f"study.patch_study.from_study: {study_dir}: no study run with seed {seed} there "
                          f"(expected {stages}); run the study first (make demo)")
    found = {p.stem[len("train_"):]: p for p in sorted(stages.glob("train_*.json"))}
    unknown = sorted(set(models or []) - set(found))
    if unknown:
        raise ConfigError(f"study.patch_study.models: {unknown} not trained by the study in {study_dir} "
                          f"(it has {sorted(found)})")
    out = {}
    for name in models or sorted(found):
        record = json.loads(found[name].read_text())
        out[name] = str(Path(study_dir) / "seeds" / str(seed) / record["outputs"]["checkpoint"])
    return out


def _batches(dataset, batch_size: int, max_batches: int | None) -> list[tuple[Tensor, Tensor]]:
    """The first ``max_batches`` batches (all when None), in dataset order, kept in memory."""
    from torch.utils.data import DataLoader

    out = []
    for b, batch in enumerate(DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0)):
        if max_batches is not None and b >= int(max_batches):
            break
        out.append((batch["clip"], torch.as_tensor(batch["label"])))
    if not out:
        raise ValueError("the data set yielded no batches (empty split or max_batches=0)")
    return out


def _test_batches(dataset, batch_size: int, max_batches: int | None, seed: int) -> tuple[list, dict]:
    """Test batches of a class-stratified subset (all clips when ``max_batches`` is None) and its record."""
    from torch.utils.data import Subset

    from videoabnn.engine.subsets import evaluation_subset
    from videoabnn.utils.provenance import digest_of

    ids = evaluation_subset(dataset, max_batches, batch_size, seed)
    record = {"kind": "all" if len(ids) == len(dataset) else "stratified", "count": len(ids), "of": len(dataset),
              "digest": digest_of(ids), "ids": ids if len(ids) < len(dataset) else None}
    return _batches(Subset(dataset, ids), batch_size, None), record


@torch.no_grad()
def _correct(model: nn.Module, batches: list[tuple[Tensor, Tensor]], transform: Callable[[Tensor], Tensor]) -> Tensor:
    """Per-clip correctness of ``model`` on ``transform(x)`` over all batches."""
    return torch.cat([model(transform(x)).argmax(1).eq(y) for x, y in batches])


def _entry(kind: str, params: dict, correct: Tensor, clean: Tensor, seconds: float, threat: str = WHITE) -> dict:
    fooled = (clean & ~correct).sum().item()
    return {"name": kind, "threat": threat, "params": params, "clip_acc": correct.float().mean().item(),
            "video_acc": None, "success_rate": fooled / max(1, int(clean.sum().item())),
            "mean_linf": None, "mean_l2": None, "seconds": seconds}


def position_grid(h: int, w: int, side: int, steps: int) -> tuple[list[int], list[int]]:
    """Top-left pixel rows/columns of a ``steps`` x ``steps`` grid of patch places inside an h x w frame."""
    def axis(full: int) -> list[int]:
        last = max(0, full - side)
        return sorted({round(last * i / max(1, steps - 1)) for i in range(steps)})

    return axis(h), axis(w)


def study_model(cfg: Mapping, name: str, checkpoint: Path, train_batches: list, test_batches: list,
                log: Callable[[str], None] = print) -> dict:
    """All sweeps for one checkpoint; returns its results dict and its sweep series."""
    from videoabnn.attacks import build_attack, parse_frames
    from videoabnn.engine.eval_store import checkpoint_folder
    from videoabnn.models import load_model
    from videoabnn.report.media import save_example
    from videoabnn.utils.provenance import digest_of, file_digest

    spec = _settings(cfg)
    kind, param = spec.get("kind", "universal_patch"), SIZE_PARAM[spec.get("kind", "universal_patch")]
    work = Path(cfg["work_dir"])
    seed = int(cfg["seed"])
    model, fit_model, transform = _defended(cfg, load_model(checkpoint).eval(), seed)
    folder = checkpoint_folder(checkpoint, file_digest(checkpoint))  # patches of another checkpoint never mix
    if transform is not None:  # nor those fitted behind another input transformation
        folder += f"-{transform['name']}-{digest_of(transform, 8)}"
    clean = _correct(model, test_batches, lambda x: x)
    fit = dict(spec.get("fit") or {})
    if kind == "universal_patch":
        fit.update(spec.get("eot") or {})
    epochs = int(fit.pop("epochs", 5))
    attacks, series, fitted = {}, [], {}
    physical_series, physical_fitted = [], {}
    for size in spec["sizes"]:
        start = time.perf_counter()
        attack = build_attack(kind, fit_model, seed=seed, epochs=epochs, **{param: float(size)}, **fit)
        attack.fit(train_batches)
        attack.save(work / "patches" / folder / f"{kind}_{size}.pt")
        correct = _correct(model, test_batches, lambda x, a=attack: a(x, torch.zeros(len(x), dtype=torch.long)))
        key = ResultKey(f"{kind}_{size}").format()
        attacks[key] = _entry(kind, {param: float(size), "epochs": epochs, **fit}, correct, clean,
                              time.perf_counter() - start)
        attacks[key]["_correct"] = correct
        series.append({"x": float(size), "clip_acc": attacks[key]["clip_acc"]})
        fitted[float(size)] = attack
        if spec.get(PHYSICAL_PARAM):
            physical = _physical_rows(model, fit_model, kind, param, float(size), epochs, fit, spec[PHYSICAL_PARAM],
                                      seed, train_batches, test_batches, clean)
            attacks.update(physical["attacks"])
            physical_series.append({"x": float(size), "clip_acc": physical["attacks"][ResultKey(key, PHYSICAL).format()]["clip_acc"]})
            physical_fitted[float(size)] = physical["attack"]
        log(f"[patch study] {name}: {kind} {param}={size}: accuracy {attacks[key]['clip_acc']:.3f} "
            f"(clean {clean.float().mean().item():.3f})")
    ref_size = float(spec.get("position_size", spec["sizes"][len(spec["sizes"]) // 2]))
    ref = fitted.get(ref_size) or next(iter(fitted.values()))
    frames_series = []
    for k in spec.get("frame_counts") or []:
        ref.frames = parse_frames(f"first:{int(k)}")
        correct = _correct(model, test_batches, lambda x, a=ref: a(x, torch.zeros(len(x), dtype=torch.long)))
        frames_series.append({"x": int(k), "clip_acc": correct.float().mean().item()})
    ref.frames = parse_frames("all")
    grid = None
    if kind == "universal_patch" and spec.get("position_steps"):
        grid = _position_grid(model, ref, test_batches, int(spec["position_steps"]))
    examples = []
    x0, _ = test_batches[0]
    for i in range(min(int(spec.get("examples", 2)), len(x0))):
        x_adv = ref(x0[i:i + 1], torch.zeros(1, dtype=torch.long))
        paths = save_example(work / "frames", f"{kind}_{name}_{i}", x0[i], x_adv[0], mp4=bool(spec.get("mp4", True)))
        examples.append({"title": f"{kind} ({param} {ref_size}) on {name}, test clip {i}", "model": name,
                         **{k: p.relative_to(work).as_posix() for k, p in paths.items()}})
    if physical_fitted:
        printed = physical_fitted.get(ref_size) or next(iter(physical_fitted.values()))
        examples.append(_condition_example(work, kind, name, printed, x0[:1], param, ref_size))
    return {"clean": clean, "attacks": attacks, "size": series, "frames": frames_series, "position": grid,
            "examples": examples, "model": model, "folder": folder, "size_physical": physical_series}


def _physical_rows(model: nn.Module, fit_model: nn.Module, kind: str, param: str, size: float, epochs: int,
                   fit: dict, physical: Any, seed: int, train_batches: list, test_batches: list,
                   clean: Tensor) -> dict:
    """The physical threat model at one size: fit a shared pattern through ``physical``, score it under
    fresh draws (one per clip, an independent seed stream), the same draws without it (the control) and
    under each fixed condition."""
    from videoabnn.attacks import build_attack
    from videoabnn.attacks.physical_eot import CONDITIONS

    start = time.perf_counter()
    attack = build_attack(kind, fit_model, seed=seed, epochs=epochs, physical=physical, **{param: size}, **fit)
    attack.fit(train_batches, show_progress=False)
    correct = {view: [] for view in (FRESH, CONTROL, *CONDITIONS)}
    for x, y in test_batches:
        views = attack.physical_views(x, y)
        with torch.no_grad():
            for view in correct:
                correct[view].append(model(views[view]).argmax(1).eq(y))
    correct = {k: torch.cat(v) for k, v in correct.items()}
    worst = torch.stack([correct[k] for k in CONDITIONS]).all(0)
    seconds = time.perf_counter() - start
    params = {param: size, "epochs": epochs, **fit, **attack.settings()}
    fresh, worst_key = ResultKey(f"{kind}_{size}", PHYSICAL), ResultKey(f"{kind}_{size}", PHYSICAL, WORST)
    attacks = {fresh.format(): {**_entry(kind, params, correct[FRESH], clean, seconds, fresh.view),
                                "_correct": correct[FRESH]},
               worst_key.format(): {**_entry(kind, params, worst, clean, seconds, worst_key.view), "_correct": worst}}
    for view in (CONTROL, *CONDITIONS):
        key = ResultKey(f"{kind}_{size}", PHYSICAL, view)
        attacks[key.format()] = {**_entry(kind, params, correct[view], clean, seconds, key.view), "_correct": correct[view]}
    return {"attacks": attacks, "attack": attack}


def _condition_example(work: Path, kind: str, name: str, attack: Any, clip: Tensor, param: str, size: float) -> dict:
    """A frame grid of one test clip with the physically fitted pattern as captured under each condition."""
    from videoabnn.report.media import save_frame_grid

    views = attack.physical_views(clip, torch.zeros(1, dtype=torch.long))
    path = save_frame_grid(work / "frames" / f"{kind}_{name}_physical.png", {k: v[0] for k, v in views.items()}, 4)
    return {"title": f"{kind} ({param} {size}) fitted through physical EOT on {name}: ideal capture, a fresh draw "
                     "and each fixed condition", "model": name, "png": path.relative_to(work).as_posix()}


def _defended(cfg: Mapping, model: nn.Module, seed: int) -> tuple[nn.Module, nn.Module, dict | None]:
    """(the model as deployed, the model the patch is fitted on, the transform spec): behind
    ``eval.input_transform`` when set, the patch is fitted through its BPDA/EOT view (``eval.eot`` draws per
    step) and scored on the deployed model with its own random draws; otherwise the model itself twice."""
    from videoabnn.defenses import build_transform, wrap_with_transform

    spec = cfg["eval"].get("input_transform")
    if spec is None:
        return model, model, None
    deployed = wrap_with_transform(model, spec).eval()
    return deployed, deployed.attack_view(bpda="auto", eot=cfg["eval"].get("eot"), seed=seed), build_transform(spec).spec()


def _position_grid(model: nn.Module, attack: Any, batches: list, steps: int) -> dict:
    """Accuracy with the patch at each place of a grid (no rotation, unit scale)."""
    x0 = batches[0][0]
    h, w = x0.shape[-2:]
    side = int(attack.param.shape[-1])
    rows, cols = position_grid(h, w, side, steps)
    acc = []
    for top in rows:
        line = []
        for left in cols:
            place = {"cy": top + side / 2, "cx": left + side / 2, "scale": 1.0, "angle": 0.0}
            correct = _correct(model, batches, lambda x, p=place: attack.apply(x, placement=p))
            line.append(correct.float().mean().item())
        acc.append(line)
    return {"rows": rows, "cols": cols, "acc": acc, "side": side}


def _results_file(cfg: Mapping, name: str, checkpoint: Path, out: dict) -> dict:
    """The results (schema ``videoabnn.results.Results``): white-box rows and the per-clip worst case."""
    from videoabnn.models.checkpoint import load_checkpoint
    from videoabnn.results import SCHEMA_VERSION, Results
    from videoabnn.utils.provenance import code_versions, file_digest

    meta = load_checkpoint(checkpoint)
    clean = out["clean"]
    worst: dict[str, Tensor] = {}
    attacks = {}
    for key, entry in out["attacks"].items():
        threat = entry["threat"]
        worst[threat] = worst.get(threat, clean.clone()) & entry.pop("_correct")
        attacks[key] = entry
    accs = [a["clip_acc"] for a in attacks.values() if a["threat"] == WHITE]
    clean_acc = clean.float().mean().item()
    digest = file_digest(checkpoint)
    return Results.from_dict({
        "schema_version": SCHEMA_VERSION,
        "run": {"name": name, "method": meta.get("method", name), "checkpoint": str(checkpoint),
                "checkpoint_digest": digest, "train_seconds": meta.get("train_seconds"), "epochs": meta.get("epochs")},
        "clean": {"clip_acc": clean_acc, "video_acc": None, "per_class": {}},
        "attacks": attacks,
        "summary": {"threat": WHITE, "acc_adv": sum(accs) / len(accs),
                    "acc_all": (clean_acc + sum(accs)) / (len(accs) + 1),
                    "worst_case": {th: w.float().mean().item() for th, w in worst.items()},
                    "worst_case_attacks": {th: sorted(k for k, a in attacks.items() if a["threat"] == th)
                                           for th in worst}},
        "audit": None, "num_clips": len(clean), "data_subset": out["subset"],
        "provenance": {"checkpoint_digest": digest, "versions": code_versions()},
        "config": cfg.to_dict() if hasattr(cfg, "to_dict") else dict(cfg),
        "environment": environment_info(), "seed": int(cfg["seed"])}, f"patch study {name}").to_dict()


def run_patch_study(cfg: Mapping, log: Callable[[str], None] = print) -> dict[str, Path]:
    """Fit, sweep and report; returns the report's paths."""
    from videoabnn.engine.build import split_dataset
    from videoabnn.report.study_report import build_report

    start = time.perf_counter()
    spec = _settings(cfg)
    seed_everything(int(cfg["seed"]))
    work = Path(cfg["work_dir"])
    batch_size = int(cfg["data"].get("test_batch_size") or cfg["data"]["batch_size"])
    train_batches = _batches(split_dataset(cfg, "train"), batch_size, spec.get("fit_batches"))
    test_set = split_dataset(cfg, "test")
    test_batches, subset = _test_batches(test_set, batch_size, spec.get("test_batches"), int(cfg["seed"]))
    kind = spec.get("kind", "universal_patch")
    sweeps: dict[str, dict] = {"size": {}, "frames": {}, "position": {}}
    examples, names = [], []
    for name, path in spec["checkpoints"].items():
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"study.patch_study.checkpoints.{name}: checkpoint not found: {path}")
        log(f"[patch study] {name}: {path}")
        out = study_model(cfg, name, path, train_batches, test_batches, log)
        out["subset"] = subset
        results = _results_file(cfg, name, path, out)
        atomic_write_json(work / "patches" / out["folder"] / "results.json", results)  # kept per checkpoint
        atomic_write_json(work / "results" / f"{name}.json", results)  # the report's current view
        sweeps["size"][name] = [{"x": 0.0, "clip_acc": out["clean"].float().mean().item()}] + out["size"]
        if out["size_physical"]:
            sweeps["size"][f"{name} (physical)"] = [{"x": 0.0, "clip_acc": out["clean"].float().mean().item()}] + \
                out["size_physical"]
        if out["frames"]:
            sweeps["frames"][name] = out["frames"]
        if out["position"]:
            sweeps["position"][name] = out["position"]
        examples += out["examples"]
        names.append(name)
    labels = {"size": f"{SIZE_PARAM[kind]} (fraction of the frame side)", "frames": "attacked frames (first k)"}
    for key, models in sweeps.items():
        if models:
            atomic_write_json(work / "results" / "sweeps" / f"{key}.json",
                              {"kind": key, "x_label": labels.get(key, key), "description": kind, "models": models})
    env = environment_info()
    atomic_write_json(work / "study.json", {
        "title": spec.get("title", f"videoabnn {kind} study"), "profile": "patch_study",
        "machine": f"{env.get('cuda') or env.get('machine')}; {env.get('cpu_count')} CPU cores visible",
        "total_seconds": time.perf_counter() - start, "models": names, "examples": examples,
        "study": {"patch_study": spec, "report": (cfg.get("study") or {}).get("report") or {}},
        "seed": int(cfg["seed"]), "environment": env})
    return build_report(work)
