"""Evaluation: clean and adversarial accuracy of one checkpoint under every configured attack.

For each threat model (``white``: through everything the model computes; ``gray``: ABNN with
the substitute's statistics hidden from the attacker; ``transfer``: clips crafted on the
``eval.transfer_from`` checkpoint) and each attack, the adversarial clips are scored by the
evaluated model. Results are written after every attack (``results.json``, ``results.md`` and
the per-clip ``eval_state.pt``); a rerun with the same inputs skips what is done.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from videoabnn.config import save_config
from videoabnn.engine import metrics as M
from videoabnn.engine.build import (
    build_dataset,
    eval_loader,
    model_spec,
    num_classes_of,
    run_dir_of,
    select_device,
)
from videoabnn.engine.checkpoint import CheckpointError, read_checkpoint
from videoabnn.engine.distributed import (
    DistInfo,
    all_gather_objects,
    barrier,
    broadcast_object,
    init_distributed,
)
from videoabnn.engine.logging import progress
from videoabnn.utils import (
    atomic_torch_save,
    atomic_write_json,
    atomic_write_text,
    environment_info,
    seed_everything,
)

THREAT_MODELS = ("white", "gray", "transfer")
RESULTS_JSON = "results.json"
RESULTS_MD = "results.md"
STATE_NAME = "eval_state.pt"


class EvaluationError(ValueError):
    """Evaluation cannot start: bad attack list, threat model, checkpoint or data."""


# --------------------------------------------------------------------------- predictions
@torch.no_grad()
def predict(model: nn.Module, loader: DataLoader, batch_ids: Sequence[int], device: torch.device,
            amp: bool = False, show: bool = False) -> tuple[Tensor, Tensor, Tensor]:
    """Clean logits, labels and video ids of every clip, gathered over ranks in dataset order."""
    was_training = model.training
    model.eval()
    parts = []
    for b, batch in zip(batch_ids, progress(loader, "clean", enabled=show, total=len(batch_ids))):
        with torch.autocast(device_type=device.type, enabled=amp):
            logits = model(batch["clip"].to(device)).float().cpu()
        parts.append((b, logits, batch["label"].cpu(), batch["video"].cpu()))
    model.train(was_training)
    merged = _merge(parts)
    return merged[0], merged[1], merged[2]


def _merge(parts: list[tuple]) -> list[Tensor]:
    """Gather ``(batch_id, tensor, ...)`` tuples from every rank and concatenate them by batch id."""
    gathered = sorted((p for rank_parts in all_gather_objects(parts) for p in rank_parts), key=lambda p: p[0])
    if not gathered:
        raise EvaluationError("the evaluation loader yielded no batches (empty test set or eval.max_batches=0)")
    return [torch.cat([p[i] for p in gathered]) for i in range(1, len(gathered[0]))]


# --------------------------------------------------------------------------- attack specs
def resolve_attacks(cfg: Mapping, attacks: Sequence | str | None = None) -> list[dict]:
    """Attack specs ``{"id", "name", **params}`` from a preset name, names or dicts, with overrides applied.

    Unknown attack or preset names fail here, before any work, naming the valid ones.
    """
    from videoabnn.attacks import ATTACK_PRESETS, list_attacks

    chosen = cfg["eval"]["attacks"] if attacks is None else attacks
    if isinstance(chosen, str):
        chosen = [chosen]
    known = set(list_attacks())
    specs: list[dict] = []
    for item in chosen or []:
        if isinstance(item, str) and item == "none":
            continue
        if isinstance(item, str) and item in ATTACK_PRESETS:
            specs += [dict(s) for s in ATTACK_PRESETS[item]]
        elif isinstance(item, str):
            specs.append({"id": item, "name": item})
        elif isinstance(item, Mapping) and "name" in item:
            specs.append({"id": item.get("id", item["name"]), **dict(item)})
        else:
            raise EvaluationError(f"eval.attacks: expected a preset ({', '.join(sorted(ATTACK_PRESETS))}), an "
                                  f"attack name or a mapping with 'name'; got {item!r}")
    for spec in specs:
        if spec["name"] not in known:
            raise EvaluationError(f"unknown attack {spec['name']!r}; known attacks: {', '.join(sorted(known))}; "
                                  f"presets: {', '.join(sorted(ATTACK_PRESETS))}")
    overrides = dict(cfg["eval"].get("attack_args") or {})
    unused = set(overrides) - {s["name"] for s in specs} - {s["id"] for s in specs}
    if unused:
        raise EvaluationError(f"eval.attack_args names attacks that are not run: {sorted(unused)} "
                              f"(running: {', '.join(s['id'] for s in specs)})")
    for spec in specs:
        spec.update(overrides.get(spec["name"], {}))
        spec.update(overrides.get(spec["id"], {}))
    ids = [s["id"] for s in specs]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise EvaluationError(f"eval.attacks: attack ids must be unique, repeated: {dupes} (give each an 'id')")
    return specs


def resolve_threats(cfg: Mapping, threat_models: Sequence[str] | None) -> list[str]:
    """Validated threat-model names (``transfer`` needs ``eval.transfer_from``)."""
    threats = list(cfg["eval"]["threat_models"] if threat_models is None else threat_models)
    for th in threats:
        if th not in THREAT_MODELS:
            raise EvaluationError(f"unknown threat model {th!r}; expected one of {', '.join(THREAT_MODELS)}")
    if "transfer" in threats and not cfg["eval"].get("transfer_from"):
        raise EvaluationError("threat model 'transfer' needs eval.transfer_from=<surrogate checkpoint>")
    return threats


def result_key(spec: Mapping, threat: str) -> str:
    """Key of an attack's entry in the results: its id (white-box) or ``id@threat``."""
    return spec["id"] if threat == "white" else f"{spec['id']}@{threat}"


def attack_params(spec: Mapping) -> dict:
    """The builder parameters of a spec (everything but id and name)."""
    return {k: v for k, v in spec.items() if k not in ("id", "name")}


# --------------------------------------------------------------------------- checkpoint checks
def check_checkpoint(path: str | Path, cfg: Mapping, num_classes: int) -> dict:
    """Read ``path`` and check that it holds the config's architecture and class count."""
    data = read_checkpoint(path)
    if data.get("format") != "videoabnn" or "arch" not in data:
        raise CheckpointError(f"checkpoint {path}: not a videoabnn model file (expected one written by "
                              "tools/train.py or videoabnn.models.save_model)")
    arch, _ = model_spec(cfg, num_classes)
    if data["arch"] != arch:
        raise CheckpointError(f"checkpoint {path} holds a {data['arch']!r} model but the config builds {arch!r} "
                              f"(model.name={cfg['model']['name']!r}, train.method={cfg['train']['method']!r})")
    if int(data.get("num_classes", -1)) != num_classes:
        raise CheckpointError(f"checkpoint {path} has {data.get('num_classes')} classes but the data set has "
                              f"{num_classes}")
    return data


def _load(path: str | Path, device: torch.device) -> nn.Module:
    from videoabnn.models import load_model

    try:
        return load_model(path, map_location=device).eval()
    except (ValueError, FileNotFoundError) as err:
        raise CheckpointError(f"checkpoint {path}: {err}") from err


# --------------------------------------------------------------------------- the evaluation
class _Run:
    """Everything one evaluation holds: models, loaders, per-clip records and the output files."""

    def __init__(self, cfg: Mapping, checkpoint: Path, out_dir: Path, info: DistInfo, device: torch.device) -> None:
        self.cfg, self.checkpoint, self.out_dir, self.info, self.device = cfg, checkpoint, out_dir, info, device
        self.state: dict[str, Any] = {"clean": None, "attacks": {}, "audit": None}
        self.meta: dict[str, Any] = {}

    # ----- persistence
    def fingerprint(self, test_len: int) -> str:
        stat = self.checkpoint.stat()
        e = self.cfg["eval"]
        keys = {"checkpoint": str(self.checkpoint.resolve()), "size": stat.st_size, "mtime": stat.st_mtime_ns,
                "data": dict(self.cfg["data"]), "test_len": test_len, "max_batches": e.get("max_batches"),
                "test_time_bn": e.get("test_time_bn", False), "seed": int(self.cfg["seed"])}
        return hashlib.sha256(json.dumps(keys, sort_keys=True, default=str).encode()).hexdigest()

    def load_state(self, fingerprint: str) -> None:
        path = self.out_dir / STATE_NAME
        if path.is_file():
            data = torch.load(path, map_location="cpu", weights_only=True)
            if data.get("fingerprint") == fingerprint:
                self.state = data["state"]
        self.fp = fingerprint

    def save(self, specs: list[dict], threats: list[str], complete: bool) -> dict:
        results = self.results(specs, threats, complete)
        if self.info.is_main:
            atomic_torch_save({"fingerprint": self.fp, "state": self.state}, self.out_dir / STATE_NAME)
            atomic_write_json(self.out_dir / RESULTS_JSON, results)
            atomic_write_text(self.out_dir / RESULTS_MD, results_markdown(results))
        return results

    # ----- results
    def results(self, specs: list[dict], threats: list[str], complete: bool) -> dict:
        clean = self.state["clean"]
        classes = self.meta.get("classes")
        clean_correct = M.clip_correct(clean["logits"], clean["labels"])
        out_attacks, by_threat = {}, {th: {} for th in threats}
        for th in threats:
            for spec in specs:
                rec = self.state["attacks"].get(result_key(spec, th))
                if rec is None:
                    continue
                correct = M.clip_correct(rec["logits"], clean["labels"])
                by_threat[th][spec["id"]] = correct
                out_attacks[result_key(spec, th)] = {
                    "name": spec["name"], "threat": th, "params": attack_params(spec),
                    "clip_acc": correct.float().mean().item(),
                    "video_acc": M.video_accuracy(rec["logits"], clean["labels"], clean["videos"]),
                    "success_rate": M.success_rate(clean_correct, correct),
                    "mean_linf": rec["linf"].mean().item(), "mean_l2": rec["l2"].mean().item(),
                    "seconds": rec["seconds"]}
        clean_summary = M.summarize_predictions(clean["logits"], clean["labels"], clean["videos"], classes)
        headline = "white" if "white" in threats else (threats[0] if threats else "white")
        head = [v for v in out_attacks.values() if v["threat"] == headline]
        summary = {
            "threat": headline,
            "acc_adv": M.acc_adv(v["clip_acc"] for v in head),
            "acc_all": M.acc_all(clean_summary["clip_acc"], [v["clip_acc"] for v in head]),
            "acc_adv_video": M.acc_adv(v["video_acc"] for v in head),
            "acc_all_video": M.acc_all(clean_summary["video_acc"], [v["video_acc"] for v in head]),
            "worst_case": {th: M.worst_case_accuracy(v, clean_correct) for th, v in by_threat.items() if v},
            "worst_case_attacks": {th: sorted(v) for th, v in by_threat.items() if v},
        }
        return {"run": self.meta["run"], "clean": clean_summary, "attacks": out_attacks, "summary": summary,
                "audit": self.state.get("audit"), "complete": complete, "num_clips": len(clean["labels"]),
                "config": self.cfg.to_dict() if hasattr(self.cfg, "to_dict") else copy.deepcopy(dict(self.cfg)),
                "environment": environment_info(), "seed": int(self.cfg["seed"])}


def evaluate(cfg: Mapping, checkpoint: str | Path, attacks: Sequence | str | None = None,
             threat_models: Sequence[str] | None = None, out_dir: str | Path | None = None, *,
             test_set: Dataset | None = None, train_set: Dataset | None = None) -> dict:
    """Evaluate ``checkpoint`` clean and under each attack and threat model; write and return the results.

    ``attacks``/``threat_models`` replace ``eval.attacks``/``eval.threat_models``; ``out_dir``
    defaults to ``<work_dir>/eval``. ``test_set``/``train_set`` replace the configured data.
    """
    info = init_distributed(select_device(cfg["device"]))
    device = select_device(cfg["device"], info)
    seed_everything(int(cfg["seed"]))
    checkpoint = Path(checkpoint)
    specs = resolve_attacks(cfg, attacks)
    threats = resolve_threats(cfg, threat_models)
    if not checkpoint.is_file():
        raise CheckpointError(f"checkpoint not found: {checkpoint}")
    if "transfer" in threats and not Path(cfg["eval"]["transfer_from"]).is_file():
        raise CheckpointError(f"eval.transfer_from: checkpoint not found: {cfg['eval']['transfer_from']}")
    test_set = test_set if test_set is not None else build_dataset(cfg, train=False)
    num_classes = num_classes_of(cfg, test_set)
    data = check_checkpoint(checkpoint, cfg, num_classes)
    model = _defended_model(cfg, checkpoint, device)
    attackers = _attackers(cfg, model, threats, device)
    run = _Run(cfg, checkpoint, Path(out_dir) if out_dir else run_dir_of(cfg) / "eval", info, device)
    run.meta = {"classes": list(getattr(test_set, "classes", []) or []) or None,
                "run": {"name": data.get("run_name", cfg["name"]), "method": data.get("method", cfg["train"]["method"]),
                        "checkpoint": str(checkpoint), "train_seconds": data.get("train_seconds"),
                        "epochs": data.get("epochs")}}
    run.load_state(run.fingerprint(len(test_set)))
    barrier()  # every rank has read the saved state before rank 0 writes a new one
    if info.is_main:
        save_config(cfg, run.out_dir / "config.yaml")
    loader, batch_ids = eval_loader(test_set, cfg, info, cfg["eval"].get("max_batches"))
    if run.state["clean"] is None:
        logits, labels, videos = predict(model, loader, batch_ids, device, show=info.is_main)
        run.state["clean"] = {"logits": logits, "labels": labels, "videos": videos}
        run.save(specs, threats, complete=False)
    for th in threats:
        for index, spec in enumerate(specs):
            key = result_key(spec, th)
            done = run.state["attacks"].get(key)
            if done is not None and done.get("params") == json.dumps(attack_params(spec), sort_keys=True):
                continue
            run.state["attacks"][key] = _run_attack(run, model, attackers[th], spec, th, index, loader, batch_ids,
                                                    train_set)
            run.save(specs, threats, complete=False)
    if cfg["eval"].get("audit") and run.state.get("audit") is None:
        run.state["audit"] = _audit(run, model, test_set, attackers.get("transfer"))
        run.save(specs, threats, complete=False)
    results = run.save(specs, threats, complete=True)
    barrier()
    return results


def _defended_model(cfg: Mapping, checkpoint: Path, device: torch.device) -> nn.Module:
    """The evaluated model (wrapped in test-time BatchNorm when ``eval.test_time_bn``)."""
    model = _load(checkpoint, device)
    if cfg["eval"].get("test_time_bn"):
        from videoabnn.abnn import TestTimeBN

        model = TestTimeBN(model).to(device).eval()
    return model


def _attackers(cfg: Mapping, model: nn.Module, threats: list[str], device: torch.device) -> dict[str, nn.Module]:
    """The model each threat model's attacks differentiate through."""
    out: dict[str, nn.Module] = {}
    for th in threats:
        if th == "white":
            out[th] = model
        elif th == "gray":
            if not hasattr(model, "gray_box"):
                raise EvaluationError(f"threat model 'gray' needs an ABNN model (one with gray_box()); this "
                                      f"checkpoint is a {type(model).__name__}")
            out[th] = model.gray_box().to(device).eval()
        else:
            surrogate = _load(cfg["eval"]["transfer_from"], device)
            k_model, k_sur = _num_classes(model), _num_classes(surrogate)
            if k_model is not None and k_sur is not None and k_model != k_sur:
                raise CheckpointError(f"eval.transfer_from {cfg['eval']['transfer_from']}: the surrogate has {k_sur} "
                                      f"classes, the evaluated model {k_model}")
            out[th] = surrogate
    return out


def _num_classes(model: nn.Module) -> int | None:
    spec = getattr(model, "videoabnn_spec", None) or getattr(getattr(model, "model", None), "videoabnn_spec", None)
    return int(spec["num_classes"]) if spec else None


def _run_attack(run: _Run, model: nn.Module, attacker: nn.Module, spec: dict, threat: str, index: int,
                loader: DataLoader, batch_ids: Sequence[int], train_set: Dataset | None) -> dict:
    """Attack every test batch; adversarial logits and perturbation sizes per clip, gathered over ranks."""
    from videoabnn.attacks import build_attack

    cfg, device, info = run.cfg, run.device, run.info
    attack = build_attack(spec["name"], attacker, seed=int(cfg["seed"]) + index, **attack_params(spec))
    start = time.perf_counter()
    if hasattr(attack, "fit"):
        _fit_universal(run, attack, spec, threat, train_set)
    parts = []
    desc = f"{result_key(spec, threat)}"
    for b, batch in zip(batch_ids, progress(loader, desc, enabled=info.is_main, total=len(batch_ids))):
        x, y = batch["clip"].to(device), batch["label"].to(device)
        x_adv = attack(x, y)
        with torch.no_grad():
            logits = model(x_adv).float().cpu()
        linf, l2 = M.perturbation_norms(x, x_adv)
        parts.append((b, logits, linf, l2))
    logits, linf, l2 = _merge(parts)
    seconds = max(all_gather_objects(time.perf_counter() - start))
    return {"logits": logits, "linf": linf, "l2": l2, "seconds": seconds,
            "params": json.dumps(attack_params(spec), sort_keys=True)}


def _fit_universal(run: _Run, attack: Any, spec: dict, threat: str, train_set: Dataset | None) -> None:
    """Fit a universal attack on the training split (rank 0), save it, and load it on every rank."""
    cfg = run.cfg
    digest = hashlib.sha256(json.dumps(attack_params(spec), sort_keys=True).encode()).hexdigest()[:8]
    path = run.out_dir / "universal" / f"{result_key(spec, threat).replace('@', '_')}_{digest}.pt"
    if run.info.is_main and not path.is_file():
        train_set = train_set if train_set is not None else build_dataset(cfg, train=True)
        fit_batches = cfg["eval"].get("fit_batches")
        single = DistInfo()
        loader, _ = eval_loader(train_set, cfg, single, fit_batches)
        attack.fit(_Clips(loader, run.device))
        path.parent.mkdir(parents=True, exist_ok=True)
        attack.save(path)
    barrier()
    attack.load(path)


class _Clips:
    """A loader view yielding ``(clip, label)`` pairs on the device (what universal attacks fit on)."""

    def __init__(self, loader: DataLoader, device: torch.device) -> None:
        self.loader, self.device = loader, device

    def __iter__(self):
        for batch in self.loader:
            yield batch["clip"].to(self.device), batch["label"].to(self.device)

    def __len__(self) -> int:
        return len(self.loader)


def _audit(run: _Run, model: nn.Module, test_set: Dataset, surrogate: nn.Module | None) -> dict | None:
    """Gradient-masking checks on the first ``eval.audit_batches`` test batches (rank 0; shared with all).

    With a transfer surrogate configured, the white-box vs transfer check runs too."""
    from videoabnn.attacks import audit_gradient_masking

    report = None
    if run.info.is_main:
        loader, _ = eval_loader(test_set, run.cfg, DistInfo(), int(run.cfg["eval"]["audit_batches"]))
        batches = list(_Clips(loader, run.device))
        report = audit_gradient_masking(model, batches, surrogate, seed=int(run.cfg["seed"])).to_dict()
    return broadcast_object(report)


# --------------------------------------------------------------------------- markdown
def _pct(value: Any) -> str:
    return "-" if value is None or value != value else f"{100 * value:.2f}"


def results_markdown(results: Mapping) -> str:
    """A Markdown table of one results dict (accuracies in %)."""
    run, clean, summary = results["run"], results["clean"], results["summary"]
    lines = [f"# {run['name']} ({run['method']})", "",
             f"checkpoint: `{run['checkpoint']}`; clips: {results['num_clips']}; seed: {results['seed']}"
             + ("" if results.get("complete") else "; **partial results (evaluation not finished)**"), "",
             "| attack | threat | clip acc % | video acc % | success % | mean Linf | mean L2 | seconds |",
             "|---|---|---|---|---|---|---|---|",
             f"| clean | - | {_pct(clean['clip_acc'])} | {_pct(clean['video_acc'])} | - | - | - | - |"]
    for key, a in results["attacks"].items():
        lines.append(f"| {key} | {a['threat']} | {_pct(a['clip_acc'])} | {_pct(a['video_acc'])} | "
                     f"{_pct(a['success_rate'])} | {a['mean_linf']:.4f} | {a['mean_l2']:.3f} | {a['seconds']:.1f} |")
    lines += ["", f"Acc_adv ({summary['threat']}, clip): {_pct(summary['acc_adv'])}; "
              f"Acc_all: {_pct(summary['acc_all'])}; video: {_pct(summary['acc_adv_video'])} / "
              f"{_pct(summary['acc_all_video'])}"]
    for th, acc in summary["worst_case"].items():
        lines.append(f"Worst case over {len(summary['worst_case_attacks'][th])} {th}-box attacks (per clip, "
                     f"clean included): {_pct(acc)}")
    audit = results.get("audit")
    if audit:
        passed = audit.get("passed")
        lines.append(f"Gradient-masking audit: {'passed' if passed else 'FAILED' if passed is not None else '-'}")
    return "\n".join(lines) + "\n"
