"""Evaluation: clean and adversarial accuracy of one checkpoint under every configured attack.

For each threat model (``white``: through everything the model computes; ``gray``: ABNN with the
substitute's statistics hidden from the attacker; ``transfer``: clips crafted on the
``eval.transfer_from`` checkpoint) and each attack, the adversarial clips are scored by the
evaluated model. Every piece of work (clean logits, one attack's logits, a fitted universal patch,
the audit) is a cached item keyed by everything that produced it (see
:mod:`videoabnn.engine.eval_store`): a rerun reuses exactly the items whose key is unchanged, and
results of another checkpoint or other settings are written beside, never over, earlier ones.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from videoabnn.attacks.audit import AUDIT_VERSION
from videoabnn.audit_settings import AuditSettings
from videoabnn.capabilities import Capability, supports
from videoabnn.config import save_config
from videoabnn.engine import metrics as M
from videoabnn.engine.attack_specs import (
    EvaluationError,
    attack_params,
    attack_seed,
    resolve_attacks,
    resolve_threats,
    threat_params,
)
from videoabnn.engine.audit_run import (
    AuditJob,
    StoredReports,
    evaluation_budget,
    evaluation_clip_ids,
    evaluation_reuse,
    reuse_key,
    rows_of,
    run_audit,
)
from videoabnn.engine.build import (
    eval_loader,
    model_spec,
    num_classes_of,
    run_dir_of,
    select_device,
    split_dataset,
)
from videoabnn.engine.checkpoint import CheckpointError, read_run_checkpoint
from videoabnn.engine.distributed import (
    DistInfo,
    all_gather_objects,
    barrier,
    broadcast_object,
    init_distributed,
)
from videoabnn.engine.eval_store import ItemStore, checkpoint_folder
from videoabnn.engine.logging import progress
from videoabnn.engine.physical_eval import VIEWS, worst_logits
from videoabnn.engine.subsets import evaluation_subset, item_labels
from videoabnn.results import SCHEMA_VERSION, Results
from videoabnn.threats import (
    FRESH,
    NAIVE,
    PHYSICAL_PARAM,
    WHITE,
    WORST,
    ThreatModel,
    headline,
    surrogate_needed,
    threat_model,
    with_added,
)
from videoabnn.utils import environment_info, seed_everything
from videoabnn.utils.io import atomic_write_json, atomic_write_text
from videoabnn.utils.lock import RunLock
from videoabnn.utils.logs import log_to_file
from videoabnn.utils.provenance import code_versions, digest_of, file_digest

log = logging.getLogger(__name__)
RESULTS_JSON = "results.json"
RESULTS_MD = "results.md"
# data keys that never change a clip's pixels (how they are loaded, not what they are)
DATA_KEYS_WITHOUT_EFFECT = ("num_workers", "cache_dir", "batch_size", "test_batch_size", "skip_unreadable", "max_unreadable",
                            "backend")

__all__ = ["EvaluationError", "evaluate", "predict", "resolve_attacks", "resolve_threats"]


# --------------------------------------------------------------------------- predictions
@torch.no_grad()
def predict(model: nn.Module, loader: DataLoader, batch_ids: Sequence[int], device: torch.device,
            amp: bool = False, show: bool = False, desc: str = "clean") -> tuple[Tensor, Tensor, Tensor]:
    """Clean logits, labels and video ids of every clip, gathered over ranks in loader order."""
    was_training = model.training
    model.eval()
    parts = []
    for b, batch in zip(batch_ids, progress(loader, desc, enabled=show, total=len(batch_ids))):
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


# --------------------------------------------------------------------------- checkpoint checks
def _subset_of(expected: Any, stored: Any) -> bool:
    """Every key the config sets has the stored value (mappings compared key by key)."""
    if isinstance(expected, Mapping) and isinstance(stored, Mapping):
        return all(k in stored and _subset_of(v, stored[k]) for k, v in expected.items())
    if isinstance(expected, (list, tuple)) and isinstance(stored, (list, tuple)):
        return len(expected) == len(stored) and all(_subset_of(a, b) for a, b in zip(expected, stored))
    return expected == stored


def check_checkpoint(path: str | Path, cfg: Mapping, num_classes: int) -> dict:
    """Read ``path`` and check that it holds the config's architecture, builder arguments and class count."""
    data = read_run_checkpoint(path)
    if data.get("format") != "videoabnn" or "arch" not in data:
        raise CheckpointError(f"checkpoint {path}: not a videoabnn model file (expected one written by "
                              "tools/train.py or videoabnn.models.save_model)")
    arch, kwargs = model_spec(cfg, num_classes)
    held, stored = data["arch"], data.get("kwargs") or {}
    if held == "transformed" and cfg["model"].get("input_transform") is not None:  # trained behind a transform
        held, stored = stored.get("model", {}).get("arch"), stored.get("model", {}).get("kwargs") or {}
    if held != arch:
        raise CheckpointError(f"checkpoint {path} holds a {held!r} model but the config builds {arch!r} "
                              f"(model.name={cfg['model']['name']!r}, train.method={cfg['train']['method']!r})")
    differ = {k: (v, stored.get(k, "<not set>")) for k, v in kwargs.items() if not _subset_of(v, stored.get(k))}
    if differ:
        listed = "; ".join(f"{k}: config {a!r}, checkpoint {b!r}" for k, (a, b) in differ.items())
        raise CheckpointError(f"checkpoint {path} was built with other architecture arguments than the config: "
                              f"{listed} (fix model.kwargs / abnn.* in the config to match the checkpoint)")
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


# --------------------------------------------------------------------------- one evaluation
class _Evaluation:
    """What one evaluation holds: settings, the checkpoint, the clip subset and the records computed so far."""

    def __init__(self, cfg: Mapping, checkpoint: Path, info: DistInfo, device: torch.device, meta: Mapping,
                 ids: list[int]) -> None:
        self.cfg, self.checkpoint, self.info, self.device = cfg, checkpoint, info, device
        self.ids, self.clip_digest = ids, digest_of(ids)
        self.records: dict[str, dict] = {}
        self.clean: dict | None = None
        self.audit: dict | None = None
        self.audit_naive: dict | None = None
        self.digest = file_digest(checkpoint)
        # test-time BN or a batch-statistics model: a clip's output depends on its batch
        self.batch_coupled = bool(cfg["eval"].get("test_time_bn")) or batch_coupled_spec(meta)
        surrogate = cfg["eval"].get("transfer_from")
        self.surrogate_digest = file_digest(surrogate) if surrogate and Path(surrogate).is_file() else None

    def data_key(self) -> dict:
        """The data settings that decide each clip's pixels."""
        data = {k: v for k, v in dict(self.cfg["data"]).items() if k not in DATA_KEYS_WITHOUT_EFFECT}
        if self.batch_coupled:  # batch statistics: the batch composition matters
            data["test_batch_size"] = self.cfg["data"].get("test_batch_size") or self.cfg["data"]["batch_size"]
        return data

    def base_key(self) -> dict:
        """Key components shared by every item of this evaluation."""
        key = {"checkpoint": self.digest, "clips": self.clip_digest, "data": self.data_key(),
               "test_time_bn": bool(self.cfg["eval"].get("test_time_bn")), "versions": code_versions()}
        if self.cfg["eval"].get("input_transform") is not None:
            key["input_transform"] = self.cfg["eval"]["input_transform"]
            key["eot"] = self.cfg["eval"].get("eot")
        return key

    def attack_key(self, spec: Mapping, threat: str, seed: int, earlier: Mapping | None = None) -> dict:
        """``earlier``: the key of the attack this one runs after (its clips are the ones it left correct)."""
        key = {**self.base_key(), "threat": threat, "attack": dict(spec), "seed": seed}
        if threat_model(threat).surrogate:
            key["surrogate"] = self.surrogate_digest
        if threat_model(threat).physical:  # one logits tensor per view: another set of views is another record
            key["views"] = list(VIEWS)
        if earlier is not None:
            key["after"] = dict(earlier)
        return key


def evaluate(cfg: Mapping, checkpoint: str | Path, attacks: Sequence | str | None = None,
             threat_models: Sequence[str] | None = None, out_dir: str | Path | None = None, *,
             eval_root: str | Path | None = None, test_set: Dataset | None = None,
             train_set: Dataset | None = None) -> dict:
    """Evaluate ``checkpoint`` clean and under each attack and threat model; write and return the results.

    ``attacks``/``threat_models`` replace ``eval.attacks``/``eval.threat_models``. Results go to
    ``<eval_root>/<checkpoint stem>-<digest8>/<settings digest8>/`` (``eval_root`` defaults to
    ``<work_dir>/eval``), or to ``out_dir`` when given (which must then hold no results of another
    checkpoint or other settings). ``test_set``/``train_set`` replace the configured data.
    """
    info = init_distributed(select_device(cfg["device"]))
    device = select_device(cfg["device"], info)
    seed_everything(int(cfg["seed"]))
    checkpoint = Path(checkpoint)
    specs = resolve_attacks(cfg, attacks)
    threats = resolve_threats(cfg, threat_models)
    if not checkpoint.is_file():
        raise CheckpointError(f"checkpoint not found: {checkpoint}")
    if surrogate_needed(threats) and not Path(cfg["eval"]["transfer_from"]).is_file():
        raise CheckpointError(f"eval.transfer_from: checkpoint not found: {cfg['eval']['transfer_from']}")
    test_set = test_set if test_set is not None else split_dataset(cfg, "test")
    num_classes = num_classes_of(cfg, test_set)
    meta = check_checkpoint(checkpoint, cfg, num_classes)
    ids = evaluation_subset(test_set, cfg["eval"].get("max_batches"), _test_batch_size(cfg), int(cfg["seed"]))
    ev = _Evaluation(cfg, checkpoint, info, device, meta, ids)
    settings = _settings_key(ev, specs, threats)
    results_dir, cache_dir, lock_dir = _locations(cfg, checkpoint, ev.digest, settings, out_dir, eval_root)
    lock = RunLock(lock_dir, "evaluation directory") if info.is_main else None
    if lock is not None:
        lock.acquire()
    try:
        with log_to_file(results_dir / "eval.log", enabled=info.is_main):
            log.info("evaluating %s (sha256 %s) on %d clips; results in %s", checkpoint, ev.digest[:12],
                     len(ev.ids), results_dir)
            store = ItemStore(cache_dir, writable=info.is_main)
            if info.is_main:
                save_config(cfg, results_dir / "config.yaml")
            return _run(ev, store, specs, threats, test_set, train_set, meta, settings, results_dir)
    finally:
        if lock is not None:
            lock.release()


def batch_coupled_spec(spec: Mapping) -> bool:
    """Whether a checkpoint's model couples the clips of a batch (ABNN prototype_exact, batch statistics)."""
    kwargs = spec.get("kwargs") or {}
    if spec.get("arch") == "transformed":
        return batch_coupled_spec(kwargs.get("model") or {})
    return spec.get("arch") == "abnn" and kwargs.get("prototype_statistics") == "batch"


def _test_batch_size(cfg: Mapping) -> int:
    return int(cfg["data"].get("test_batch_size") or cfg["data"]["batch_size"])


def _settings_key(ev: _Evaluation, specs: list[dict], threats: list[str]) -> dict:
    """Everything that decides this evaluation's results file (its folder is named by the digest)."""
    e = ev.cfg["eval"]
    return {**ev.base_key(), "attacks": specs, "threats": list(threats), "seed": int(ev.cfg["seed"]),
            "surrogate": ev.surrogate_digest if surrogate_needed(threats) else None,
            "audit": bool(e.get("audit")), "audit_batches": e.get("audit_batches"), "fit_batches": e.get("fit_batches"),
            **({"audit_settings": {**evaluation_budget(ev.cfg), "clips": (e.get("audit_budget") or {}).get("clips")}}
               if e.get("audit") else {})}


def _locations(cfg: Mapping, checkpoint: Path, digest: str, settings: dict, out_dir: str | Path | None,
               eval_root: str | Path | None) -> tuple[Path, Path, Path]:
    """(results folder, item cache folder, folder to lock) of this evaluation."""
    settings_digest = digest_of(settings, 8)
    if out_dir is not None:
        out_dir = Path(out_dir)
        _check_out_dir(out_dir, digest, settings_digest)
        return out_dir, out_dir / "cache", out_dir
    root = Path(eval_root) if eval_root is not None else run_dir_of(cfg) / "eval"
    folder = root / checkpoint_folder(checkpoint, digest)
    return folder / settings_digest, folder / "cache", folder


def _check_out_dir(out_dir: Path, digest: str, settings_digest: str) -> None:
    """An explicit results folder may be reused only by the same checkpoint with the same settings."""
    existing = out_dir / RESULTS_JSON
    if not existing.is_file():
        return
    from videoabnn.utils.io import read_json

    try:
        prov = read_json(existing).get("provenance") or {}
    except ValueError:
        prov = {}
    if prov.get("checkpoint_digest") != digest or prov.get("settings_digest") != settings_digest:
        what = "another checkpoint" if prov.get("checkpoint_digest") != digest else "other settings"
        raise EvaluationError(f"{out_dir} already holds results of {what} ({existing}); choose another out_dir "
                              "(or leave it unset: results then go to <work_dir>/eval/<checkpoint>-<digest>/...)")


@dataclass
class _Pass:
    """What every attack of an evaluation runs on: the evaluated model, the loader over the evaluated clips
    (with each batch's global id), the item store and the training split universal attacks fit on."""

    model: nn.Module
    loader: DataLoader
    batch_ids: Sequence[int]
    store: ItemStore
    train_set: Dataset | None


@dataclass
class _Job:
    """One attack under one threat model: its spec and position in the attack list (its seed), the module
    its attack differentiates through and the record of the attack it runs after (``after``), if any."""

    spec: dict
    index: int
    threat: ThreatModel
    attacker: nn.Module
    earlier: Mapping | None = None

    @property
    def name(self) -> str:
        """Its results key (and item name)."""
        return self.threat.key(self.spec["id"]).format()


def _run(ev: _Evaluation, store: ItemStore, specs: list[dict], threats: list[str], test_set: Dataset,
         train_set: Dataset | None, meta: dict, settings: dict, results_dir: Path) -> dict:
    """The clean pass, every attack under every threat model and the audit, writing the results after each."""
    model = _defended_model(ev.cfg, ev.checkpoint, ev.device)
    threats = with_added(threats, model)  # naive beside white for a model behind an input transform
    attackers = _attackers(ev.cfg, model, threats, ev.device)
    loader, batch_ids = eval_loader(test_set, ev.cfg, ev.info, indices=ev.ids)
    run = _Pass(model, loader, batch_ids, store, train_set)
    write = _writer(ev, specs, threats, test_set, meta, settings, results_dir)
    _clean_pass(ev, run)
    write(complete=False)
    for th in threats:
        _threat_rows(ev, run, specs, threat_model(th), attackers[th], write)
    if ev.cfg["eval"].get("audit"):
        surrogate = next((attackers[th] for th in threats if threat_model(th).surrogate), None)
        white = _adaptive_view(ev.cfg, model, seed=int(ev.cfg["seed"]))
        ev.audit = _audit(ev, store, white, test_set, surrogate, "audit", specs, threats, WHITE)
        if white is not model:  # behind an input transform: the naive view must be caught by the audit
            ev.audit_naive = _audit(ev, store, model, test_set, surrogate, "audit_naive", specs, threats, NAIVE)
    return write(complete=True)


def _clean_pass(ev: _Evaluation, run: _Pass) -> None:
    """The clean logits, labels and video ids of the evaluated clips, from the item store or computed."""
    ev.clean = run.store.get("clean", ev.base_key())
    if ev.clean is None:
        logits, labels, videos = predict(run.model, run.loader, run.batch_ids, ev.device, show=ev.info.is_main)
        ev.clean = {"logits": logits, "labels": labels, "videos": videos}
        if ev.info.is_main:
            run.store.put("clean", ev.base_key(), ev.clean)
        barrier()


def _threat_rows(ev: _Evaluation, run: _Pass, specs: list[dict], threat: ThreatModel, attacker: nn.Module,
                 write) -> None:
    """Every attack of ``specs`` that ``threat`` scores, from the item store or computed; written after each."""
    from videoabnn.attacks import attack_class

    keys: dict[str, dict] = {}
    for index, spec in enumerate(specs):
        if not threat.applies(attack_class(spec["name"])):
            continue  # e.g. no printable pattern: no physical row
        after = spec.get("after") if threat.chains else None
        name = threat.key(spec["id"]).format()
        key = keys[spec["id"]] = ev.attack_key(spec, threat.name, attack_seed(ev.cfg, index), keys.get(after))
        record = run.store.get(name, key)
        if record is None:
            earlier = ev.records[threat.key(after).format()] if after else None
            record = _run_attack(ev, run, _Job(spec, index, threat, attacker, earlier))
            if ev.info.is_main:
                run.store.put(name, key, record)
            barrier()
        ev.records[name] = record
        write(complete=False)


def _adaptive_view(cfg: Mapping, model: nn.Module, seed: int) -> nn.Module:
    """The model an adaptive white-box attacker differentiates through: BPDA/EOT for input transforms."""
    if not supports(model, Capability.ATTACK_VIEW):
        return model
    return model.attack_view(bpda="auto", eot=cfg["eval"].get("eot"), seed=seed)


def _writer(ev: _Evaluation, specs: list[dict], threats: list[str], test_set: Dataset, meta: dict, settings: dict,
            results_dir: Path):
    """A function writing the results (so far) to ``results_dir``; returns the results dict."""
    from videoabnn.report.tables import results_markdown

    def write(complete: bool) -> dict:
        results = build_results(ev, specs, threats, test_set, meta, settings, complete)
        results["provenance"]["results_dir"] = str(results_dir)
        data = Results.from_dict(results, "evaluator output").to_dict()
        if ev.info.is_main:
            atomic_write_json(results_dir / RESULTS_JSON, data)
            atomic_write_text(results_dir / RESULTS_MD, results_markdown(data))
        return data

    return write


def budget_worst_cases(specs: list[dict], correct: Mapping[str, Tensor], clean_correct: Tensor) -> dict:
    """Robust accuracy per norm-ball budget: ``{"linf 4/255": {"clip_acc", "attacks"}}``, the per-clip
    worst case over every attack in a ball of that norm with radius <= the budget (an attack at 4/255 is
    also an attack at 8/255). Attacks without a norm ball (patches, stickers) have no budget."""
    from videoabnn.attacks import attack_budget, budget_label

    balls = {s["id"]: attack_budget(s["name"], attack_params(s)) for s in specs if s["id"] in correct}
    balls = {k: b for k, b in balls.items() if b is not None}
    out = {}
    for norm, eps in sorted(set(balls.values())):
        within = sorted(k for k, (n, e) in balls.items() if n == norm and e <= eps + 1e-9)
        out[budget_label(norm, eps)] = {"clip_acc": M.worst_case_accuracy({k: correct[k] for k in within},
                                                                            clean_correct),
                                        "attacks": within}
    return out


def build_results(ev: _Evaluation, specs: list[dict], threats: list[str], test_set: Dataset, meta: dict,
                  settings: dict, complete: bool) -> dict:
    """The results dict (schema ``videoabnn.results.Results``) of the records computed so far."""
    clean = ev.clean
    classes = list(getattr(test_set, "classes", []) or []) or None
    clean_correct = M.clip_correct(clean["logits"], clean["labels"])
    rows, by_threat = {}, {th: {} for th in threats}
    for th in threats:
        threat = threat_model(th)
        for index, spec in enumerate(specs):
            rec = ev.records.get(threat.key(spec["id"]).format())
            if rec is None:
                continue
            params = threat_params(spec, th)
            views = {None: rec["logits"], **(rec.get("conditions") or {})}  # a physical record: one per condition
            for condition, logits in views.items():
                key = threat.key(spec["id"], condition)
                correct = M.clip_correct(logits, clean["labels"])
                by_threat.setdefault(key.view, {})[spec["id"]] = correct
                rows[key.format()] = {
                    "name": spec["name"], "threat": key.view, "params": params,
                    "clip_acc": correct.float().mean().item(),
                    "video_acc": M.video_accuracy(logits, clean["labels"], clean["videos"]),
                    "success_rate": _nan_none(M.success_rate(clean_correct, correct)),
                    "mean_linf": rec["linf"].mean().item(), "mean_l2": rec["l2"].mean().item(),
                    "seconds": rec["seconds"], "seed": attack_seed(ev.cfg, index),
                    "parts": dict(rec.get("parts") or {}), "details": dict(rec.get("details") or {}),
                    "artifact": rec.get("artifact")}
    clean_summary = M.summarize_predictions(clean["logits"], clean["labels"], clean["videos"], classes)
    head_threat = headline(threats)
    head = [v for v in rows.values() if v["threat"] == head_threat]
    summary = {
        "threat": head_threat,
        "acc_adv": _nan_none(M.acc_adv(v["clip_acc"] for v in head)),
        "acc_all": M.acc_all(clean_summary["clip_acc"], [v["clip_acc"] for v in head]),
        "acc_adv_video": _nan_none(M.acc_adv(v["video_acc"] for v in head)),
        "acc_all_video": M.acc_all(clean_summary["video_acc"], [v["video_acc"] for v in head]),
        "worst_case": {th: M.worst_case_accuracy(v, clean_correct) for th, v in by_threat.items() if v},
        "worst_case_attacks": {th: sorted(v) for th, v in by_threat.items() if v},
        "worst_case_budget": {th: budget_worst_cases(specs, v, clean_correct) for th, v in by_threat.items() if v},
    }
    run = {"name": meta.get("run_name", ev.cfg["name"]), "method": meta.get("method", ev.cfg["train"]["method"]),
           "checkpoint": str(ev.checkpoint), "checkpoint_digest": ev.digest,
           "train_seconds": meta.get("train_seconds"), "epochs": meta.get("epochs"),
           "train_cost": dict(meta.get("train_cost") or {}), "batch_coupled": ev.batch_coupled}
    return {"schema_version": SCHEMA_VERSION, "run": run, "clean": clean_summary, "attacks": rows,
            "summary": summary, "audit": ev.audit, "audit_naive": ev.audit_naive, "complete": complete, "num_clips": len(clean["labels"]),
            "data_subset": _subset_record(ev, test_set), "skipped_videos": _skipped(test_set),
            "provenance": {"checkpoint_digest": ev.digest, "settings_digest": digest_of(settings, 8),
                           "surrogate_digest": ev.surrogate_digest, "versions": code_versions()},
            "config": ev.cfg.to_dict() if hasattr(ev.cfg, "to_dict") else dict(ev.cfg),
            "environment": environment_info(), "seed": int(ev.cfg["seed"])}


def _nan_none(value: float) -> float | None:
    return None if value != value else value


def _subset_record(ev: _Evaluation, test_set: Dataset) -> dict:
    """Which clips were evaluated: all of them, or a class-stratified subset (ids recorded)."""
    total = len(test_set)
    if len(ev.ids) == total:
        return {"kind": "all", "count": total, "digest": ev.clip_digest}
    labels, _ = item_labels(test_set)
    return {"kind": "stratified", "count": len(ev.ids), "of": total, "digest": ev.clip_digest,
            "classes": len({labels[i] for i in ev.ids}), "ids": list(ev.ids)}


def _skipped(dataset: Dataset) -> list[dict[str, str]]:
    return [{"path": str(p), "cause": str(c)} for p, c in getattr(dataset, "skipped", []) or []]


def _defended_model(cfg: Mapping, checkpoint: Path, device: torch.device) -> nn.Module:
    """The evaluated model (behind ``eval.input_transform``; in test-time BatchNorm when ``eval.test_time_bn``)."""
    from videoabnn.defenses import wrap_with_transform

    model = wrap_with_transform(_load(checkpoint, device), cfg["eval"].get("input_transform")).eval()
    if cfg["eval"].get("test_time_bn"):
        from videoabnn.abnn import TestTimeBN

        model = TestTimeBN(model).to(device).eval()
    return model


def _attackers(cfg: Mapping, model: nn.Module, threats: list[str], device: torch.device) -> dict[str, nn.Module]:
    """The module each threat model's attacks differentiate through (``white``: build_attack adds BPDA/EOT for
    a model behind an input transform)."""
    out: dict[str, nn.Module] = {}
    for th in threats:
        threat = threat_model(th)
        if not threat.accepts(model):
            raise EvaluationError(f"threat model {th!r} needs {threat.needs}; this checkpoint is a "
                                  f"{type(model).__name__}")
        out[th] = threat.view(model, lambda: _surrogate(cfg, model, device))
    return out


def _surrogate(cfg: Mapping, model: nn.Module, device: torch.device) -> nn.Module:
    """The ``eval.transfer_from`` checkpoint, which must have the evaluated model's class count."""
    surrogate = _load(cfg["eval"]["transfer_from"], device)
    k_model, k_sur = _num_classes(model), _num_classes(surrogate)
    if k_model is not None and k_sur is not None and k_model != k_sur:
        raise CheckpointError(f"eval.transfer_from {cfg['eval']['transfer_from']}: the surrogate has {k_sur} "
                              f"classes, the evaluated model {k_model}")
    return surrogate


def _num_classes(model: nn.Module) -> int | None:
    spec = getattr(model, "videoabnn_spec", None) or getattr(getattr(model, "model", None), "videoabnn_spec", None)
    return int(spec["num_classes"]) if spec else None


def _run_attack(ev: _Evaluation, run: _Pass, job: _Job) -> dict:
    """Attack every evaluated batch; adversarial logits and perturbation sizes per clip, gathered over ranks.

    With ``job.earlier`` (the record of the attack named by ``after``) only the clips it left correct are
    attacked; the others keep its logits and perturbation sizes.
    """
    from videoabnn.attacks import build_attack

    seed = attack_seed(ev.cfg, job.index)
    params = threat_params(job.spec, job.threat.name)
    if job.threat.adaptive and supports(job.attacker, Capability.ATTACK_VIEW):  # BPDA (non-differentiable), EOT
        params.setdefault("bpda", "auto")
        params.setdefault("eot", ev.cfg["eval"].get("eot"))
    # build_attack then attacks through the model's attack view (see videoabnn.attacks.adaptive_target)
    through_view = supports(job.attacker, Capability.ATTACK_VIEW) and not (params.get("bpda") is None
                                                                          and params.get("eot") is None)
    attack = build_attack(job.spec["name"], job.attacker, seed=seed, **params)
    start = time.perf_counter()
    artifact = None
    if supports(attack, Capability.FIT):
        artifact = str(_fit_universal(ev, run, attack, job, seed))
    parts, stages = _attack_batches(ev, run, job, attack, seed, reusable=artifact is None)
    logits, linf, l2, *views = _merge(parts)
    counted = {k: sum(v) for k, v in _gather_sums(stages).items()}
    total = len(logits)
    seconds = max(all_gather_objects(time.perf_counter() - start))
    log.info("%s: clip accuracy %.4f (%.1f s)", job.name, M.clip_correct(logits, ev.clean["labels"]).float().mean(),
             seconds)
    details = attack.settings()
    if through_view:
        details = {**details, **attack.model.settings()}
    if job.earlier is not None:
        details = {**details, "after": job.spec["after"]}
    record = {"logits": logits, "linf": linf, "l2": l2, "seconds": seconds, "artifact": artifact,
              "parts": {k: v / total for k, v in counted.items()}, "details": details}
    if views:  # the physical threat model's fixed conditions (and the ideal capture), then their worst case
        record["conditions"] = dict(zip((*VIEWS, WORST), views))
    return record


def _attack_batches(ev: _Evaluation, run: _Pass, job: _Job, attack: Any, seed: int,
                    reusable: bool) -> tuple[list[tuple], dict[str, float]]:
    """Per batch ``(batch id, logits, linf, l2, *view logits)``, and an ensemble's per-part accuracies summed
    over clips."""
    parts, stages = [], {}
    for b, batch in zip(run.batch_ids, progress(run.loader, job.name, enabled=ev.info.is_main,
                                                total=len(run.batch_ids))):
        x, y = batch["clip"].to(ev.device), batch["label"].to(ev.device)
        if job.earlier is not None:
            parts.append((b, *_attack_after(attack, run.model, x, y, _batch_slice(job.earlier, b, ev.cfg))))
            continue
        if job.threat.physical:
            parts.append((b, *_physical_batch(attack, run.model, x, y, job)))
            continue
        x_adv, report = _crafted(ev, attack, job, seed, b, x, y, reusable=reusable)
        for stage, acc in report.items():  # an ensemble's parts
            stages[stage] = stages.get(stage, 0.0) + acc * len(y)
        with torch.no_grad():
            logits = run.model(x_adv).float().cpu()
        linf, l2 = M.perturbation_norms(x, x_adv)
        parts.append((b, logits, linf, l2))
    return parts, stages


def _crafted(ev: _Evaluation, attack: Any, job: _Job, seed: int, batch_id: int, x: Tensor, y: Tensor,
             reusable: bool) -> tuple[Tensor, dict]:
    """The adversarial batch and the attack's per-part report; clips crafted on the surrogate only (transfer)
    come from the in-process cache when an earlier evaluation of this process crafted them."""
    from videoabnn.engine.transfer_cache import TRANSFER_CLIPS, crafting_key

    key = None
    if job.threat.surrogate and reusable and ev.surrogate_digest is not None:
        key = crafting_key(surrogate=ev.surrogate_digest, attack=dict(job.spec), seed=seed, batch=batch_id,
                           clips=ev.clip_digest, data=ev.data_key(), batch_size=_test_batch_size(ev.cfg),
                           device=str(ev.device), versions=code_versions())
        found = TRANSFER_CLIPS.get(key)
        if found is not None:
            return found[0].to(device=x.device, dtype=x.dtype), found[1]
    x_adv = attack(x, y)
    report = dict(getattr(attack, "last_report", None) or {})
    if key is not None:
        TRANSFER_CLIPS.put(key, x_adv, report)
    return x_adv, report


def _physical_batch(attack: Any, model: nn.Module, x: Tensor, y: Tensor, job: _Job) -> tuple[Tensor, ...]:
    """Fresh-draw logits and perturbation sizes, then the logits of every fixed view and their worst case."""
    from videoabnn.attacks.physical_eot import parse_physical

    dist = parse_physical(threat_params(job.spec, job.threat.name)[PHYSICAL_PARAM])[0]
    views = attack.physical_views(x, y, dist)
    with torch.no_grad():
        logits = {k: model(v).float().cpu() for k, v in views.items()}
    linf, l2 = M.perturbation_norms(x, views[FRESH])
    logits[WORST] = worst_logits(logits, y.cpu())
    return (logits[FRESH], linf, l2, *[logits[k] for k in (*VIEWS, WORST)])


def _batch_slice(record: Mapping, batch_id: int, cfg: Mapping) -> dict[str, Tensor]:
    """The logits and perturbation sizes of global batch ``batch_id`` in a gathered record."""
    size = _test_batch_size(cfg)
    rows = slice(batch_id * size, (batch_id + 1) * size)
    return {k: record[k][rows] for k in ("logits", "linf", "l2")}


def _attack_after(attack: Any, model: nn.Module, x: Tensor, y: Tensor,
                  earlier: Mapping[str, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
    """Attack the clips the earlier attack left correct; keep the earlier result for the others."""
    logits, linf, l2 = earlier["logits"].clone(), earlier["linf"].clone(), earlier["l2"].clone()
    todo = (logits.argmax(1) == y.cpu()).nonzero().flatten()
    if todo.numel():
        idx = todo.to(x.device)
        x_adv = attack(x[idx], y[idx])
        with torch.no_grad():
            new_logits = model(x_adv).float().cpu()
        new_linf, new_l2 = M.perturbation_norms(x[idx], x_adv)
        fooled = new_logits.argmax(1) != y[idx].cpu()
        rows = todo[fooled]
        logits[rows], linf[rows], l2[rows] = new_logits[fooled], new_linf.cpu()[fooled], new_l2.cpu()[fooled]
    return logits, linf, l2


def _gather_sums(values: dict[str, float]) -> dict[str, list[float]]:
    """Every rank's per-key sums (single process: its own)."""
    out: dict[str, list[float]] = {}
    for rank_values in all_gather_objects(values):
        for key, value in rank_values.items():
            out.setdefault(key, []).append(value)
    return out


def _fit_universal(ev: _Evaluation, run: _Pass, attack: Any, job: _Job, seed: int) -> Path:
    """Fit a universal attack on the training split (rank 0) or reuse the one fitted under the same key."""
    cfg = ev.cfg
    attacked = ev.surrogate_digest if job.threat.surrogate else ev.digest
    key = {"attacked_checkpoint": attacked, "threat": job.threat.name, "attack": dict(job.spec), "seed": seed,
           "train_data": ev.data_key(), "fit_batches": cfg["eval"].get("fit_batches"),
           "train_set": "given" if run.train_set is not None else "configured", "versions": code_versions()}
    patches = ItemStore(run.store.folder / "universal", writable=run.store.writable)
    name = job.name
    path = patches.path_for(name, key)
    if ev.info.is_main and not path.is_file():
        patches.explain(name, key)
        train_set = run.train_set if run.train_set is not None else split_dataset(cfg, "train")
        loader, _ = eval_loader(train_set, cfg, DistInfo(), cfg["eval"].get("fit_batches"))
        log.info("fitting %s on %d training batches", name, len(loader))
        attack.fit(_Clips(loader, ev.device))
        attack.save(path)
        patches.remember(name, key)
    barrier()
    attack.load(path)
    return path


class _Clips:
    """A loader view yielding ``(clip, label)`` pairs on the device (what universal attacks fit on)."""

    def __init__(self, loader: DataLoader, device: torch.device) -> None:
        self.loader, self.device = loader, device

    def __iter__(self):
        for batch in self.loader:
            yield batch["clip"].to(self.device), batch["label"].to(self.device)

    def __len__(self) -> int:
        return len(self.loader)


def _audit(ev: _Evaluation, store: ItemStore, model: nn.Module, test_set: Dataset,
           surrogate: nn.Module | None, name: str = "audit", specs: Sequence[Mapping] = (),
           threats: Sequence[str] = (), white: str = WHITE) -> dict | None:
    """The gradient-masking audit of this evaluation (:func:`videoabnn.engine.audit_run.run_audit`, rank 0;
    shared with all): a stratified subset of the evaluated clips, the budget of ``eval.audit_budget``, and the
    evaluation's own Linf rows (threat ``white``, or ``naive``, and ``transfer``) read, not re-attacked."""
    ids = evaluation_clip_ids(ev.cfg, test_set, ev.ids, _test_batch_size(ev.cfg))
    budget = evaluation_budget(ev.cfg)
    rows = rows_of(ev.ids, ids)
    usable = not ev.batch_coupled and ev.clean is not None and rows is not None  # the same clips, one at a time
    reuse = evaluation_reuse(ev.records, ev.clean, rows, specs, threats, white) if usable else None
    key = {**ev.base_key(), "audit_clips": digest_of(ids), "seed": int(ev.cfg["seed"]),
           "surrogate": ev.surrogate_digest if surrogate is not None else None, "audit_version": AUDIT_VERSION,
           "settings": budget, "reuse": reuse_key(reuse), "correct_only": not ev.batch_coupled}
    if name != "audit":
        key["view"] = name

    def load() -> list:
        loader, _ = eval_loader(test_set, ev.cfg, DistInfo(), indices=ids)
        return list(_Clips(loader, ev.device))

    job = AuditJob(name, ids, load, lambda: (model, surrogate),
                   AuditSettings(correct_only=not ev.batch_coupled).replace(**budget), int(ev.cfg["seed"]), key,
                   StoredReports(store, name), reuse, ev.clean["labels"][rows] if reuse is not None else None)
    return broadcast_object(run_audit(job, compute=ev.info.is_main))
