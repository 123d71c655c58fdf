"""The one training loop: any method (objective), any model, resumable, single process or torchrun.

Determinism: every epoch re-seeds Python/NumPy/torch and the loader from ``(seed, epoch,
rank)``, and the shuffling sampler is keyed by ``(seed, epoch)``, so an epoch's work depends
only on the weights and optimizer state it starts from. Those (plus all RNG states) are in
``last.pt`` after every epoch, so ``resume=True`` reproduces an uninterrupted run (bit-exactly
on CPU).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from videoabnn.config import save_config
from videoabnn.engine import checkpoint as ckpt
from videoabnn.engine.build import (
    build_model,
    check_weight_files,
    eval_loader,
    has_validation,
    model_spec,
    num_classes_of,
    run_dir_of,
    select_device,
    split_dataset,
    train_loader,
)
from videoabnn.engine.cost import measure_pass_flops, training_cost
from videoabnn.engine.distributed import all_reduce_sum, barrier, init_distributed
from videoabnn.engine.evaluator import predict
from videoabnn.engine.logging import RunLogger, progress
from videoabnn.engine.metrics import clip_accuracy, video_accuracy
from videoabnn.errors import UserError
from videoabnn.methods import training_method
from videoabnn.utils import atomic_write_json, atomic_write_text, environment_info, seed_everything
from videoabnn.utils.lock import RunLock
from videoabnn.utils.logs import log_to_file

log = logging.getLogger(__name__)
SUMMARY_NAME = "train_summary.json"
TEXT_LOG = "train.log"


class TrainingError(UserError, RuntimeError):
    """A run cannot start or continue (existing run without --resume, nothing to resume, ...)."""


def epoch_seed(seed: int, epoch: int, rank: int = 0) -> int:
    """A 32-bit seed for one epoch on one rank."""
    return int(np.random.SeedSequence([int(seed), int(epoch), int(rank)]).generate_state(1)[0])


def seed_epoch(seed: int, epoch: int, rank: int, generator: torch.Generator, deterministic: bool = False) -> int:
    """Seed every global RNG and the loader generator for this epoch; return the epoch seed."""
    s = epoch_seed(seed, epoch, rank)
    seed_everything(s, deterministic=deterministic)
    generator.manual_seed(s)
    return s


def set_determinism(deterministic: bool) -> None:
    """``train.deterministic``: cuDNN's deterministic kernels (bit-exact reruns and resumes on a GPU) or its
    autotuned fastest ones (``cudnn.benchmark``; the default, 3D convolutions are much faster). CPU runs are
    deterministic either way."""
    torch.backends.cudnn.deterministic = bool(deterministic)
    torch.backends.cudnn.benchmark = not deterministic


def lr_factor(epoch: int, t: Mapping[str, Any]) -> float:
    """Multiplier of the base LR for ``epoch``: linear warm-up, then cosine / step / constant."""
    warm = int(t["warmup_epochs"])
    if epoch < warm:
        return (epoch + 1) / (warm + 1)
    kind = t["scheduler"]
    if kind == "cosine":
        span = max(int(t["epochs"]) - warm, 1)
        return 0.5 * (1 + math.cos(math.pi * (epoch - warm) / span))
    if kind == "step":
        return float(t["step_gamma"]) ** sum(epoch >= int(m) for m in t["step_milestones"])
    if kind == "constant":
        return 1.0
    raise ValueError(f"train.scheduler: expected cosine, step or constant, got {kind!r}")


def _param_groups(model: nn.Module, params: list[nn.Parameter], t: Mapping[str, Any]) -> list:
    """``params``, or two groups when ABNN's statistics pathway gets its own lr scale / weight decay
    (the method's ``optimizer_args``, ``videoabnn.methods``)."""
    args = training_method(t["method"]).optimizer_options(t.get("method_args"))
    scale, wd = args.get("stats_lr_scale"), args.get("stats_weight_decay")
    if scale is None and wd is None:
        return params
    from videoabnn.abnn import AdaptiveBatchNorm3d

    ids = {id(p) for m in model.modules() if isinstance(m, AdaptiveBatchNorm3d) for p in m.statistics_parameters()}
    stats = [p for p in params if id(p) in ids]
    if not stats:
        raise TrainingError("train.method_args.stats_lr_scale / stats_weight_decay: the model has no ABNN "
                            "statistics-pathway weights to train")
    if scale is not None and float(scale) <= 0:
        raise TrainingError(f"train.method_args.stats_lr_scale: expected a positive number, got {scale}")
    group = {"params": stats, "lr": float(t["lr"]) * float(1.0 if scale is None else scale)}
    if wd is not None:
        group["weight_decay"] = float(wd)
    return [{"params": [p for p in params if id(p) not in ids]}, group]


def build_optimizer(model: nn.Module, t: Mapping[str, Any]) -> torch.optim.Optimizer:
    """Optimizer over the trainable parameters (a frozen ABNN substitute is left out)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise TrainingError("the model has no trainable parameters")
    name, lr, wd = t["optimizer"], float(t["lr"]), float(t["weight_decay"])
    params = _param_groups(model, params, t)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=float(t["momentum"]), weight_decay=wd)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    raise ValueError(f"train.optimizer: expected sgd, adam or adamw, got {name!r}")


def _flag(value: Any, device: torch.device, key: str) -> bool:
    """Resolve an ``auto | true | false`` option that only makes sense on CUDA."""
    if value == "auto" or value is None:
        return device.type == "cuda"
    if bool(value) and device.type != "cuda":
        raise ValueError(f"{key}=true needs a CUDA device (this run uses {device}); use auto or false")
    return bool(value)


def build_training_objective(cfg: Mapping, attack: Any = None):
    """The objective for ``train.method`` with ``train.attack`` / ``train.method_args``."""
    from videoabnn.defenses import build_objective

    t = cfg["train"]  # build_objective leaves out the method's optimizer and model options
    return build_objective(t["method"], attack_cfg=dict(t.get("attack") or {}), attack=attack,
                           label_smoothing=float(t["label_smoothing"]), **dict(t.get("method_args") or {}))


class _State:
    """Mutable bookkeeping of a run (what goes into the checkpoint besides weights)."""

    def __init__(self) -> None:
        self.epoch = -1
        self.best_metric = -math.inf
        self.best_epoch = -1
        self.train_seconds = 0.0
        self.epoch_seconds: list[float] = []
        self.passes: dict[str, float] = {}  # per-clip passes summed over every training clip so far
        self.pass_flops: dict[str, float] = {}

    def add_epoch(self, record: dict) -> None:
        """Count an epoch's seconds and passes (``record``'s ``passes`` is taken out of it)."""
        self.train_seconds += record["seconds"]
        self.epoch_seconds.append(record["seconds"])
        for kind, value in record.pop("passes").items():
            self.passes[kind] = self.passes.get(kind, 0.0) + value

    def fields(self) -> dict:
        return {"best_metric": self.best_metric, "best_epoch": self.best_epoch,
                "train_seconds": self.train_seconds, "epoch_seconds": list(self.epoch_seconds),
                "passes": dict(self.passes), "pass_flops": dict(self.pass_flops)}

    def cost(self) -> dict:
        """The training cost so far: passes, FLOPs, training-loop seconds (validation excluded)."""
        return training_cost(self.passes, self.pass_flops, self.train_seconds)

    def load(self, state: Mapping) -> None:
        self.epoch = int(state["epoch"])
        self.best_metric = float(state.get("best_metric", -math.inf))
        self.best_epoch = int(state.get("best_epoch", -1))
        self.train_seconds = float(state.get("train_seconds", 0.0))
        self.epoch_seconds = [float(s) for s in state.get("epoch_seconds", [])]
        self.passes = {k: float(v) for k, v in (state.get("passes") or {}).items()}
        self.pass_flops = {k: float(v) for k, v in (state.get("pass_flops") or {}).items()}


def _check_resume_target(run_dir: Path, resume: bool) -> Path:
    last = run_dir / ckpt.LAST_NAME
    if resume and not last.is_file():
        raise TrainingError(f"--resume: no checkpoint to resume from at {last}")
    if not resume and last.is_file():
        raise TrainingError(f"{run_dir} already holds a run ({last}); pass --resume to continue it, or choose "
                            "another name= / work_dir=")
    return last


# keys a resumed run may change: how it runs, not what it learns (train.epochs extends the schedule)
RESUME_FREE_KEYS = ("name", "work_dir", "device", "threads", "eval", "train.epochs", "train.eval_every",
                    "train.log_interval", "data.num_workers", "data.cache_dir", "data.backend",
                    "data.test_batch_size", "data.skip_unreadable", "data.max_unreadable", "model.pretrained", "abnn.substitute.checkpoint")


def _flat(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, Mapping) and data:
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(_flat(value, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): data}


def resume_changes(saved: Mapping, cfg: Mapping) -> list[str]:
    """``key: old -> new`` for every setting that differs from the run's saved config and would change
    what the run learns (see ``RESUME_FREE_KEYS``)."""
    old, new = _flat(dict(saved)), _flat(cfg.to_dict() if hasattr(cfg, "to_dict") else dict(cfg))

    def free(key: str) -> bool:
        return any(key == k or key.startswith(k + ".") for k in RESUME_FREE_KEYS)

    return [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in sorted(set(old) | set(new))
            if not free(k) and old.get(k) != new.get(k)]


def _check_resume_config(run_dir: Path, cfg: Mapping) -> int:
    """A resumed run must be the same run: a changed model, data, optimizer or method is an error.
    Returns the run's planned epochs (0 when it has no saved config)."""
    saved_path = run_dir / "config.yaml"
    if not saved_path.is_file():
        return 0
    from videoabnn.config import read_yaml

    saved = read_yaml(saved_path)
    changes = resume_changes(saved, cfg)
    if changes:
        raise TrainingError(f"--resume: {run_dir} was trained with other settings ({'; '.join(changes)}); only "
                            f"train.epochs and how the run executes may change on resume. Start a new run "
                            f"(another work_dir= or name=) for other settings")
    return int((saved.get("train") or {}).get("epochs") or 0)


def train(cfg: Mapping, *, resume: bool = False, train_set: Dataset | None = None,
          val_set: Dataset | None = None, attack: Any = None) -> Path:
    """Train the model of ``cfg`` with ``train.method``; returns the run directory.

    ``train_set``/``val_set`` replace the configured data (programmatic use); ``attack`` is an
    optional factory ``(model, eps_scale, seed) -> attack(x, y)`` replacing ``train.attack``.
    """
    info = init_distributed(select_device(cfg["device"]))
    run_dir = run_dir_of(cfg)
    lock = RunLock(run_dir, "run directory") if info.is_main else None
    if lock is not None:
        lock.acquire()
    try:
        with log_to_file(run_dir / TEXT_LOG, enabled=info.is_main):
            return _train(cfg, info, run_dir, resume, train_set, val_set, attack)
    finally:
        if lock is not None:
            lock.release()


def _train(cfg: Mapping, info: Any, run_dir: Path, resume: bool, train_set: Dataset | None,
           val_set: Dataset | None, attack: Any) -> Path:
    t = cfg["train"]
    device = select_device(cfg["device"], info)
    last_path = _check_resume_target(run_dir, resume)
    planned = _check_resume_config(run_dir, cfg) if resume else 0
    if resume and _finished(run_dir, last_path, t):
        return run_dir
    seed, deterministic = int(cfg["seed"]), bool(t["deterministic"])
    seed_everything(seed, deterministic=deterministic)
    set_determinism(deterministic)
    objective = build_training_objective(cfg, attack)
    if not resume:
        check_weight_files(cfg)
    train_set = train_set if train_set is not None else split_dataset(cfg, "train")
    if val_set is None and int(t["eval_every"]) > 0 and has_validation(cfg):
        val_set = split_dataset(cfg, "val")  # best.pt and model selection never see the test split
    num_classes = num_classes_of(cfg, train_set)
    model = build_model(cfg, num_classes, load_weights=not resume)
    _log_model(cfg, model, len(train_set), val_set)
    if info.is_main:
        _write_skipped(run_dir, train_set, val_set)
    state = _State()
    if resume:
        data = ckpt.read_run_checkpoint(last_path)
        _check_same_model(data, cfg, num_classes, last_path)
        model.load_state_dict(data["state_dict"])
    amp = _flag(t["amp"], device, "train.amp")
    channels_last = _flag(t["channels_last"], device, "train.channels_last")
    model = model.to(device, memory_format=torch.channels_last_3d) if channels_last else model.to(device)
    plain = model
    if info.enabled:
        model = nn.parallel.DistributedDataParallel(plain, device_ids=[device.index] if device.type == "cuda" else None)
    optimizer = build_optimizer(plain, t)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: lr_factor(e, t))
    scaler = torch.amp.GradScaler(device.type, enabled=amp)
    generator = torch.Generator()
    loader, sampler = train_loader(train_set, cfg, info, generator)
    logger = RunLogger(run_dir, enabled=info.is_main)
    if resume:
        state.load(ckpt.restore_training(data, optimizer=optimizer, scheduler=scheduler, scaler=scaler,
                                         loader_generator=generator))
        logger.truncate(state.epoch)
        _continue_schedule(optimizer, scheduler, state.epoch, t, planned)
    if info.is_main:
        save_config(cfg, run_dir / "config.yaml")
    val_loader = eval_loader(val_set, cfg, info) if val_set is not None else None
    for epoch in range(state.epoch + 1, int(t["epochs"])):
        s = seed_epoch(seed, epoch, info.rank, generator, deterministic)
        sampler.set_epoch(epoch)
        if hasattr(train_set, "set_epoch"):
            train_set.set_epoch(epoch)
        record = _train_epoch(model, plain, objective, loader, optimizer, scaler, device, amp, channels_last,
                              epoch, s, t, info.is_main)
        scheduler.step()
        state.add_epoch(record)
        if not state.pass_flops:
            state.pass_flops = measure_pass_flops(plain, tuple(train_set[0]["clip"].shape), device)
        last_epoch = epoch == int(t["epochs"]) - 1
        if val_loader is not None and ((epoch + 1) % int(t["eval_every"]) == 0 or last_epoch):
            record.update(_validate(plain, val_loader, device, amp, show=info.is_main))
        # best = highest clean validation clip accuracy (training accuracy when there is no validation set)
        metric = record.get("val_clip_acc", record["acc"] if val_loader is None else None)
        is_best = metric is not None and metric > state.best_metric
        if is_best:
            state.best_metric, state.best_epoch = metric, epoch
        state.epoch = epoch
        record["train_seconds"] = state.train_seconds
        logger.log_epoch(record)
        _log_epoch(record, epoch, t)
        if info.is_main:
            training = ckpt.training_state(epoch=epoch, optimizer=optimizer, scheduler=scheduler, scaler=scaler,
                                           loader_generator=generator, **state.fields())
            _save_epoch(cfg, run_dir, last_path, plain, training, state, epoch, is_best)
        barrier()
    logger.close()
    if info.is_main:
        _write_summary(run_dir, cfg, state)
    barrier()
    return run_dir


def _finished(run_dir: Path, last_path: Path, t: Mapping) -> bool:
    """Whether a resumed run has already trained all of ``train.epochs`` (then there is nothing to do)."""
    done = int(ckpt.read_run_checkpoint(last_path).get("epochs") or 0)
    if done >= int(t["epochs"]):
        log.info("run %s already finished: %d of %d epochs done, nothing to train (raise train.epochs to "
                 "extend it)", run_dir, done, int(t["epochs"]))
    return done >= int(t["epochs"])


def _log_epoch(record: Mapping, epoch: int, t: Mapping) -> None:
    """One line per epoch in the text log: loss, accuracies, seconds."""
    log.info("epoch %d/%s: loss %.4f, train acc %.4f%s, %.1f s", epoch + 1, t["epochs"], record["loss"],
             record["acc"], f", val acc {record['val_clip_acc']:.4f}" if "val_clip_acc" in record else "",
             record["seconds"])


def _save_epoch(cfg: Mapping, run_dir: Path, last_path: Path, plain: nn.Module, training: dict, state: _State,
                epoch: int, is_best: bool) -> None:
    """``last.pt`` after every epoch, ``best.pt`` when the epoch is the best so far."""
    t = cfg["train"]
    meta = {"method": t["method"], "epochs": epoch + 1, "train_seconds": state.train_seconds,
            "run_name": cfg["name"], "seed": int(cfg["seed"]), "train_cost": state.cost()}
    ckpt.save_checkpoint(last_path, plain, training, **meta)
    if is_best:
        ckpt.save_checkpoint(run_dir / ckpt.BEST_NAME, plain, training, **meta)


def _continue_schedule(optimizer: torch.optim.Optimizer, scheduler: Any, epoch: int, t: Mapping, planned: int) -> None:
    """Set the learning rate of the next epoch from the schedule of ``train.epochs`` (recomputed when a
    resumed run is extended; identical to the stored one otherwise, so resume stays bit-exact)."""
    for group, base in zip(optimizer.param_groups, scheduler.base_lrs):
        group["lr"] = base * lr_factor(epoch + 1, t)
    if planned and planned != int(t["epochs"]) and epoch + 1 < int(t["epochs"]):
        log.info("resuming at epoch %d with the %s schedule recomputed for %d epochs (lr %.3g)", epoch + 2,
                 t["scheduler"], int(t["epochs"]), optimizer.param_groups[0]["lr"])


def _log_model(cfg: Mapping, model: nn.Module, n_train: int, val_set: Dataset | None) -> None:
    """What is about to be trained: method, model, data sizes and each network's input normalization."""
    from videoabnn.models import describe_normalization

    t = cfg["train"]
    log.info("training %s (%s) for %s epochs on %d clips; validation: %s", cfg["model"]["name"], t["method"],
             t["epochs"], n_train, f"{len(val_set)} clips" if val_set is not None else "none (best = last)")
    for line in describe_normalization(model):
        log.info(line)


def _write_skipped(run_dir: Path, *datasets: Dataset | None) -> None:
    """List every video ``data.skip_unreadable`` left out in ``skipped_videos.txt`` (the log only summarises)."""
    skipped = sorted({(str(p), str(c)) for d in datasets if d is not None for p, c in getattr(d, "skipped", [])})
    if skipped:
        atomic_write_text(run_dir / "skipped_videos.txt", "".join(f"{p}\t{c}\n" for p, c in skipped))
        log.warning("%d unreadable videos skipped; all listed in %s", len(skipped), run_dir / "skipped_videos.txt")


def _check_same_model(data: Mapping, cfg: Mapping, num_classes: int, path: Path) -> None:
    arch, _ = model_spec(cfg, num_classes)
    if data.get("arch") != arch or int(data.get("num_classes", -1)) != num_classes:
        raise TrainingError(f"--resume: {path} holds a {data.get('arch')!r} model with {data.get('num_classes')} "
                            f"classes, but the config builds {arch!r} with {num_classes}")


def _train_epoch(model: nn.Module, plain: nn.Module, objective: Any, loader: Any, optimizer: torch.optim.Optimizer,
                 scaler: Any, device: torch.device, amp: bool, channels_last: bool, epoch: int, seed: int,
                 t: Mapping, show: bool) -> dict:
    """One pass over the training loader; returns the epoch's record (rank-summed loss and accuracy)."""
    model.train()
    objective.start_epoch(plain, epoch, seed)
    max_batches = t.get("max_batches")
    total = len(loader) if max_batches is None else min(len(loader), int(max_batches))
    sums: dict[str, float] = {"loss": 0.0, "correct": 0.0, "n": 0.0}
    extra: dict[str, float] = {}
    passes: dict[str, float] = {}
    lr = optimizer.param_groups[0]["lr"]
    start = time.perf_counter()
    objective.craft_seconds = 0.0
    data_seconds, waited = 0.0, start
    bar = progress(loader, desc=f"epoch {epoch + 1}/{t['epochs']}", enabled=show, total=total)
    for i, batch in enumerate(bar):
        if i >= total:
            break
        data_seconds += time.perf_counter() - waited
        x = batch["clip"].to(device, non_blocking=True)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last_3d)
        y = batch["label"].to(device, non_blocking=True)
        with torch.autocast(device_type=device.type, enabled=amp):
            out = objective(model, x, y)
        if not torch.isfinite(out.loss):
            raise TrainingError(f"epoch {epoch + 1}, batch {i + 1}: the loss is {out.loss.item()} "
                                "(lower train.lr or set train.grad_clip)")
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(out.loss).backward()
        if t.get("grad_clip"):
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_([p for p in plain.parameters() if p.requires_grad], float(t["grad_clip"]))
        scaler.step(optimizer)
        scaler.update()
        n = len(y)
        sums["loss"] += out.loss.item() * n
        sums["correct"] += out.logits.argmax(1).eq(y).sum().item()
        sums["n"] += n
        for k, v in out.stats.items():
            extra[k] = extra.get(k, 0.0) + v * n
        for k, v in out.passes.items():
            passes[k] = passes.get(k, 0.0) + v * n
        if show and i % max(int(t["log_interval"]), 1) == 0 and hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{out.loss.item():.4f}")
        waited = time.perf_counter()
    seconds = time.perf_counter() - start
    keys, kinds = sorted(extra), sorted(passes)
    totals = all_reduce_sum([sums["loss"], sums["correct"], sums["n"], *(extra[k] for k in keys),
                             *(passes[k] for k in kinds)], device)
    n = max(totals[2], 1.0)
    craft = float(getattr(objective, "craft_seconds", 0.0))
    record = {"epoch": epoch, "lr": lr, "loss": totals[0] / n, "acc": totals[1] / n, "seconds": seconds,
              "eps_scale": getattr(objective, "eps_scale", 1.0),
              # where the epoch's wall time went: waiting for data, crafting attacks, the rest (model step)
              "data_seconds": data_seconds, "attack_seconds": craft,
              "step_seconds": max(seconds - data_seconds - craft, 0.0)}
    record.update({f"train_{k}": v / n for k, v in zip(keys, totals[3:3 + len(keys)])})
    record["passes"] = dict(zip(kinds, totals[3 + len(keys):]))
    return record


def _validate(model: nn.Module, val: tuple, device: torch.device, amp: bool, show: bool = False) -> dict:
    """Clean clip and video accuracy on the validation split (gathered over ranks)."""
    loader, batch_ids = val
    start = time.perf_counter()
    logits, labels, videos = predict(model, loader, batch_ids, device, amp=amp, show=show, desc="validation")
    return {"val_clip_acc": clip_accuracy(logits, labels), "val_video_acc": video_accuracy(logits, labels, videos),
            "val_seconds": time.perf_counter() - start}


def _write_summary(run_dir: Path, cfg: Mapping, state: _State) -> None:
    """``train_summary.json``: wall time and time per epoch (the training-cost comparison), best epoch."""
    seconds = state.epoch_seconds
    atomic_write_json(run_dir / SUMMARY_NAME, {
        "name": cfg["name"], "method": cfg["train"]["method"], "epochs": len(seconds),
        "train_seconds": state.train_seconds,
        "mean_epoch_seconds": sum(seconds) / len(seconds) if seconds else None,
        "epoch_seconds": seconds, "best_epoch": state.best_epoch, "best_metric": state.best_metric,
        "train_cost": state.cost(),
        "seed": int(cfg["seed"]), "environment": environment_info(),
    })
