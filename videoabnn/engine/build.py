"""Build what a run needs from its config: device, model (plain, ABNN or feature-denoising), data loaders.

``model.name`` is the classifier (for a method that trains the ABNN composite, ``abnn`` or
``abnn_pgd_at``, the ABNN *target*, with the substitute from ``abnn.substitute``; for
``feature_denoise`` the backbone that gets the denoising blocks: ``videoabnn.methods`` says which).
``model.name: abnn`` with explicit ``model.kwargs`` also works.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler

from videoabnn.config import ConfigError
from videoabnn.engine.distributed import BatchShardSampler, DistInfo
from videoabnn.methods import training_method


def select_device(spec: str, info: DistInfo | None = None) -> torch.device:
    """``auto`` = CUDA (this rank's local GPU under torchrun) when available, else CPU."""
    spec = str(spec)
    local = info.local_rank if info is not None else 0
    if spec == "auto":
        return torch.device(f"cuda:{local}") if torch.cuda.is_available() else torch.device("cpu")
    if spec.startswith("cuda"):
        if not torch.cuda.is_available():
            raise RuntimeError(f"config device: {spec!r} requested but CUDA is not available (use device=cpu)")
        if spec == "cuda":
            return torch.device(f"cuda:{local}")
    if spec != "cpu" and not spec.startswith("cuda"):
        raise ValueError(f"config device: expected auto, cpu, cuda or cuda:N, got {spec!r}")
    return torch.device(spec)


# abnn.* options of the modulate layer for the clean-accuracy study, with their defaults
ABNN_STUDY_OPTIONS = {"stats_dropout": 0.0, "modulation": "gamma_beta", "stats_stages": None}


def uses_abnn(cfg: Mapping) -> bool:
    """Whether the run's model is the ABNN composite."""
    return training_method(cfg["train"]["method"]).composite or cfg["model"]["name"] == "abnn"


def model_spec(cfg: Mapping, num_classes: int) -> tuple[str, dict[str, Any]]:
    """``(arch, builder kwargs)`` of the run's model, as ``create_model`` takes them (the network the
    method trains: ``videoabnn.methods``)."""
    m = cfg["model"]
    kwargs = dict(m.get("kwargs") or {})
    method = training_method(cfg["train"]["method"])
    if m["name"] == "abnn":
        return "abnn", kwargs
    if method.network == "abnn":
        return "abnn", _abnn_kwargs(cfg, kwargs)
    if method.network == "feature_denoise":
        t = cfg["train"]
        affinity = method.model_options(t.get("method_args"))["denoise_affinity"]
        return "feature_denoise", {"base": m["name"], "stages": list(t["denoise_stages"]),
                                   "affinity": affinity, "base_kwargs": kwargs}
    return m["name"], kwargs


def _abnn_kwargs(cfg: Mapping, target_kwargs: dict[str, Any]) -> dict[str, Any]:
    """The ABNN composite's builder kwargs: target ``model.*``, substitute and layers ``abnn.*``."""
    a = cfg["abnn"]
    sub = a["substitute"]
    abnn_kwargs = {"target": cfg["model"]["name"], "target_kwargs": target_kwargs, "substitute": sub["name"],
                   "substitute_kwargs": dict(sub.get("kwargs") or {}), "mode": a["mode"],
                   "stats_eps": a["stats_eps"]}
    if a["mode"] == "prototype_exact":  # tied to one clip size: the configured one unless given
        d = cfg["data"]
        abnn_kwargs["input_size"] = list(a.get("input_size") or (d["frames"], d["crop"], d["crop"]))
        abnn_kwargs["prototype_statistics"] = a.get("prototype_statistics", "clip")
    if sub.get("shortcut_gradient", "full") != "full":
        abnn_kwargs["shortcut_gradient"] = sub["shortcut_gradient"]
    for key, default in ABNN_STUDY_OPTIONS.items():  # passed only when set, so default specs stay unchanged
        if a.get(key, default) != default:
            abnn_kwargs[key] = a[key]
    return abnn_kwargs


def check_weight_files(cfg: Mapping) -> None:
    """Fail early, naming the config key, when a configured weights file (or tag) cannot be found."""
    from videoabnn.models.weights import resolve_weights

    wanted = [("model.pretrained", cfg["model"]["name"], cfg["model"].get("pretrained"))]
    if uses_abnn(cfg) and cfg["model"]["name"] != "abnn":
        sub = cfg["abnn"]["substitute"]
        wanted.append(("abnn.substitute.checkpoint", sub["name"], sub.get("checkpoint")))
    for key, name, value in wanted:
        if value:
            try:
                resolve_weights(name, value)
            except FileNotFoundError as err:
                raise FileNotFoundError(f"{key}: {err}") from err
            except ValueError as err:  # a tag this model has no weights for
                raise ConfigError(f"{key}: expected weights for {name}, got {value!r}: {err}") from err


def build_model(cfg: Mapping, num_classes: int, *, load_weights: bool = True) -> nn.Module:
    """The run's model; with ``load_weights`` the configured pretrained/substitute files are read."""

    from videoabnn.defenses import wrap_with_transform

    return wrap_with_transform(_build_network(cfg, num_classes, load_weights), cfg["model"].get("input_transform"))


def _build_network(cfg: Mapping, num_classes: int, load_weights: bool) -> nn.Module:
    from videoabnn.models import create_model

    arch, kwargs = model_spec(cfg, num_classes)
    pretrained = cfg["model"].get("pretrained") if load_weights else None
    if arch == "abnn" and cfg["model"]["name"] != "abnn":
        sub_ckpt = cfg["abnn"]["substitute"].get("checkpoint")
        if load_weights and sub_ckpt:
            kwargs["substitute_checkpoint"] = str(sub_ckpt)
        if pretrained:
            kwargs["target_pretrained"] = str(pretrained)
        return create_model(arch, num_classes, **kwargs)
    if arch == "feature_denoise":
        model = create_model(arch, num_classes, **kwargs)
        if pretrained:
            _load_base_weights(model, cfg, num_classes, str(pretrained))
        return model
    return create_model(arch, num_classes, pretrained=pretrained, **kwargs)


def _load_base_weights(model: nn.Module, cfg: Mapping, num_classes: int, path: str) -> None:
    """Copy pretrained backbone weights into a feature-denoising model (its new blocks stay as built)."""
    from videoabnn.models import create_model

    base = create_model(cfg["model"]["name"], num_classes, pretrained=path, **dict(cfg["model"].get("kwargs") or {}))
    result = model.load_state_dict(base.state_dict(), strict=False)
    if result.unexpected_keys:
        raise ValueError(f"model.pretrained {path}: keys that do not fit the denoising model: "
                         f"{result.unexpected_keys[:5]}")


def split_dataset(cfg: Mapping, split: str) -> Dataset:
    """The ``train``, ``val`` or ``test`` split of a run config's data (errors name what is missing on disk).

    Training clips are keyed by ``(seed, epoch, index)`` (the trainer calls ``set_epoch``), so
    they do not depend on loader workers or world size.
    """
    from videoabnn.data import build_dataset

    return build_dataset(cfg["data"], seed=int(cfg["seed"]), split=split)


def has_validation(cfg: Mapping) -> bool:
    """Whether the run carves a validation split out of its training videos (``data.val_fraction`` > 0)."""
    return float(cfg["data"].get("val_fraction") or 0.0) > 0.0


def num_classes_of(cfg: Mapping, dataset: Dataset) -> int:
    """``data.num_classes`` if set, else the data set's class count."""
    configured = cfg["data"].get("num_classes")
    found = getattr(dataset, "num_classes", None)
    if configured is not None and found is not None and int(configured) != int(found):
        raise ConfigError(f"data.num_classes: expected the data set's class count, {found}, got {configured}; set "
                          f"data.num_classes={found} (or null to take it from the data)")
    if configured is None and found is None:
        raise ConfigError("data.num_classes: expected a class count (this data set does not say how many classes "
                          "it has), got null")
    return int(configured if configured is not None else found)


def _collate_fields(batch: list) -> dict[str, torch.Tensor]:
    """Stack dataset items (dicts with clip/label/video, or (clip, label) pairs) into one batch."""
    first = batch[0]
    if isinstance(first, Mapping):
        out = {"clip": torch.stack([b["clip"] for b in batch]),
               "label": torch.as_tensor([int(b["label"]) for b in batch])}
        out["video"] = torch.as_tensor([int(b.get("video", -1)) for b in batch])
        return out
    clips, labels = zip(*[(b[0], b[1]) for b in batch])
    return {"clip": torch.stack(clips), "label": torch.as_tensor([int(y) for y in labels]),
            "video": torch.full((len(batch),), -1)}


def collate(batch: list) -> dict[str, torch.Tensor]:
    """Batch collation shared by training and evaluation loaders."""
    return _collate_fields(batch)


def loader_workers(cfg: Mapping) -> int:
    """``data.num_workers`` as a count (``auto``: what the machine and ``--threads`` allow)."""
    from videoabnn.utils.threads import resolve_workers

    return resolve_workers(cfg["data"].get("num_workers", "auto"))


def train_loader(dataset: Dataset, cfg: Mapping, info: DistInfo,
                 generator: torch.Generator) -> tuple[DataLoader, DistributedSampler]:
    """Shuffling loader; the sampler is sharded over ranks and re-seeded each epoch via ``set_epoch``."""
    d = cfg["data"]
    sampler = DistributedSampler(dataset, num_replicas=info.world_size, rank=info.rank, shuffle=True,
                                 seed=int(cfg["seed"]), drop_last=False)
    loader = DataLoader(dataset, batch_size=int(d["batch_size"]), sampler=sampler, num_workers=loader_workers(cfg),
                        collate_fn=collate, generator=generator, drop_last=False,
                        pin_memory=torch.cuda.is_available(), persistent_workers=False)
    return loader, sampler


def eval_loader(dataset: Dataset, cfg: Mapping, info: DistInfo, max_batches: int | None = None,
                indices: Sequence[int] | None = None) -> tuple[DataLoader, list[int]]:
    """Ordered loader over this rank's share of the single-process batches (of ``indices``, default all
    items), and their global batch ids."""
    d = cfg["data"]
    batch_size = int(d.get("test_batch_size") or d["batch_size"])
    sampler = BatchShardSampler(len(dataset), batch_size, info.rank, info.world_size, max_batches, indices)
    loader = DataLoader(dataset, batch_sampler=sampler, num_workers=loader_workers(cfg), collate_fn=collate,
                        pin_memory=torch.cuda.is_available())
    return loader, sampler.batch_ids


def run_dir_of(cfg: Mapping) -> Path:
    """``work_dir`` if set, else ``work_dirs/<name>``."""
    return Path(cfg["work_dir"]) if cfg.get("work_dir") else Path("work_dirs") / str(cfg["name"])
