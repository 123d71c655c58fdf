"""``build_dataset(data_cfg, train)``: the ``data`` config section -> a VideoDataset."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from videoabnn.config import ConfigError
from videoabnn.data.dataset import VideoDataset
from videoabnn.data.hmdb51 import HMDB51
from videoabnn.data.listfile import ListFileDataset
from videoabnn.data.splits import validation_split
from videoabnn.data.synthetic import generate_synthetic
from videoabnn.data.ucf101 import UCF101

DATASETS = ("synthetic", "ucf101", "hmdb51", "listfile")


def _data_defaults() -> dict:
    from videoabnn.config import load_defaults

    return load_defaults()["data"]


def _merged(data_cfg: Mapping[str, Any]) -> dict:
    defaults = _data_defaults()
    cfg = {**defaults, **dict(data_cfg)}
    cfg["synthetic"] = {**defaults["synthetic"], **dict(data_cfg.get("synthetic") or {})}
    return cfg


def ensure_synthetic(data_cfg: Mapping[str, Any]) -> dict:
    """Generate the synthetic set described by ``data_cfg`` into its root (no-op when already there)."""
    cfg = _merged(data_cfg)
    syn = dict(cfg["synthetic"])
    syn.pop("generate")
    return generate_synthetic(cfg["root"], **syn)


def _flip(value: Any, name: str) -> bool:
    """Resolve ``data.flip``: mirroring swaps the synthetic set's left/right and cw/ccw classes."""
    if value == "auto":
        return name != "synthetic"
    if not isinstance(value, bool):
        raise ValueError(f"data.flip must be auto, true or false, got {value!r}")
    return value


SPLITS = ("train", "val", "test")


def build_dataset(data_cfg: Mapping[str, Any], train: bool | None = None, seed: int | None = None,
                  split: str | None = None) -> VideoDataset:
    """The ``split`` (``train``, ``val`` or ``test``; or ``train=True/False``) named by a ``data`` section.

    ``train`` is the training list minus the validation groups (``data.val_fraction`` of them, chosen
    with ``data.val_seed``), ``val`` those groups, sampled like the test split; ``test`` the test list.
    Keys missing from ``data_cfg`` take their defaults from ``videoabnn/defaults.yaml``. ``seed``:
    fixes training clips per (seed, epoch, index) (see ``VideoDataset.set_epoch``); None follows
    torch's RNG, which ``seed_everything`` and the DataLoader seed.

    Args:
        data_cfg: the ``data`` config section (``name``: synthetic, ucf101, hmdb51 or listfile; ``root``;
            ``split``; clip and crop settings); missing keys take their ``defaults.yaml`` values. A synthetic
            set is generated into ``root`` first when ``data.synthetic.generate`` is true.
        train: with ``split`` None: True for ``"train"``, else ``"test"``. Default: None (``"test"``).
        seed: training clips per (seed, epoch, index); None: torch's RNG. Default: None.
        split: ``"train"``, ``"val"`` or ``"test"``; overrides ``train``. Default: None.

    Returns:
        The `VideoDataset` (a `UCF101`, `HMDB51` or `ListFileDataset`, or a subset of one for train/val).

    Shape:
        - item: ``{"clip": (C, T, H, W) float in [0, 1], "label": int, "video": int}``.

    Examples:
        >>> train = build_dataset({"name": "ucf101", "root": "data/ucf101", "frames": 16, "crop": 112,
        ...                        "short_side": 128}, split="train", seed=0)
    """
    split = split or ("train" if train else "test")
    if split not in SPLITS:
        raise ValueError(f"dataset split must be one of {', '.join(SPLITS)}, got {split!r}")
    cfg = _merged(data_cfg)
    fraction = float(cfg.get("val_fraction") or 0.0)
    if split == "test" or fraction == 0.0:
        if split == "val":
            raise ValueError("data.val_fraction is 0: there is no validation split (set e.g. data.val_fraction=0.1)")
        return _official(cfg, split == "train", seed)
    full = _official(cfg, True, seed)
    train_idx, val_idx = validation_split(full.videos, fraction, int(cfg.get("val_seed") or 0))
    chosen = train_idx if split == "train" else val_idx
    return full.subset(chosen, train=split == "train")


ROOT_LAYOUT = {"ucf101": "UCF-101/ and ucfTrainTestlist/ (see datasets/ucf101/README.md)",
               "hmdb51": "hmdb51_org/ and testTrainMulti_7030_splits/ (see datasets/hmdb51/README.md)",
               "listfile": "the videos the list files name"}


def _under_root(root: Path, make: Callable[[], VideoDataset]) -> VideoDataset:
    """``make()``, with a missing folder or list file reported against ``data.root``."""
    try:
        return make()
    except FileNotFoundError as err:
        raise FileNotFoundError(f"data.root={root}: {err}") from err


def _official(cfg: Mapping[str, Any], train: bool, seed: int | None) -> VideoDataset:
    """The official training or test list of the configured data set."""
    name = cfg["name"]
    if name not in DATASETS:
        raise ValueError(f"data.name: unknown data set {name!r}; expected one of {', '.join(DATASETS)}")
    if cfg["root"] is None:
        raise ValueError("data.root is not set")
    common = {
        "train": train, "frames": cfg["frames"], "stride": cfg["stride"], "short_side": cfg["short_side"],
        "crop": cfg["crop"], "clips_per_video": cfg["clips_per_video"], "three_crop": cfg["three_crop"],
        "short_video": cfg["short_video"], "backend": cfg["backend"], "cache_dir": cfg["cache_dir"],
        "index_dir": cfg.get("index_dir", "auto"), "skip_unreadable": cfg["skip_unreadable"],
        "max_unreadable": cfg.get("max_unreadable", 0.05), "max_videos": cfg["max_videos"], "seed": seed,
        "flip": _flip(cfg["flip"], name),
    }
    root = Path(cfg["root"])
    if name != "synthetic" and not root.is_dir():
        raise ConfigError(f"data.root: expected the folder holding {ROOT_LAYOUT[name]}, got {str(root)!r} "
                          "(no such folder)")
    if name == "synthetic":
        layout = cfg["synthetic"]["layout"]
        if cfg["synthetic"]["generate"]:
            ensure_synthetic(cfg)
        cls = UCF101 if layout == "ucf101" else HMDB51
        dataset = _under_root(root, lambda: cls(root, split=cfg["split"], **common))
    elif name == "ucf101":
        dataset = _under_root(root, lambda: UCF101(root, split=cfg["split"], **common))
    elif name == "hmdb51":
        dataset = _under_root(root, lambda: HMDB51(root, split=cfg["split"], **common))
    else:
        list_file = cfg["train_list"] if train else cfg["test_list"]
        if list_file is None:
            raise ConfigError(f"data.{'train_list' if train else 'test_list'}: expected a list file for "
                              "data.name=listfile, got null")
        dataset = ListFileDataset(root, list_file, num_classes=cfg["num_classes"], **common)
    expected = cfg["num_classes"]
    if expected is not None and expected != dataset.num_classes:
        raise ConfigError(f"data.num_classes: expected the class count of {name} at {root}, which has "
                          f"{dataset.num_classes} classes, got {expected}; set data.num_classes={dataset.num_classes} "
                          "(or data.num_classes=null to take it from the data)")
    return dataset
