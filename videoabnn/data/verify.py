"""Check a UCF101 or HMDB51 data root against its split files: missing, unreadable and extra videos."""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from videoabnn.data.dataset import probe_video
from videoabnn.data.decode import VideoDecodeError, check_video_file
from videoabnn.data.hmdb51 import read_hmdb_split, split_files
from videoabnn.data.ucf101 import read_class_index, read_ucf_list

VIDEO_SUFFIXES = {".avi", ".mp4", ".mkv", ".webm", ".mov"}


def _ucf_listed(root: Path) -> tuple[Path, dict[str, set[str]], dict]:
    video_dir, lists = root / "UCF-101", root / "ucfTrainTestlist"
    classes = read_class_index(lists / "classInd.txt")
    listed: dict[str, set[str]] = {}
    splits = {}
    group = re.compile(r"_g(\d+)_c\d+\.\w+$")
    for split in (1, 2, 3):
        train = read_ucf_list(lists / f"trainlist0{split}.txt", classes, with_labels=True)
        test = read_ucf_list(lists / f"testlist0{split}.txt", classes, with_labels=False)
        for rel, _ in train + test:
            listed.setdefault(rel, set()).add(f"split{split}")
        g_train = {m[1] for rel, _ in train if (m := group.search(rel))}
        g_test = {m[1] for rel, _ in test if (m := group.search(rel))}
        splits[split] = {"train": len(train), "test": len(test), "groups_in_both": sorted(g_train & g_test)}
    return video_dir, listed, {"classes": len(classes), "splits": splits}


def _hmdb_listed(root: Path) -> tuple[Path, dict[str, set[str]], dict]:
    video_dir, lists = root / "hmdb51_org", root / "testTrainMulti_7030_splits"
    listed: dict[str, set[str]] = {}
    splits, classes = {}, []
    for split in (1, 2, 3):
        counts = {"train": 0, "test": 0, "unused": 0}
        files = split_files(lists, split)
        classes = list(files)
        for name, path in files.items():
            for clip, tag in read_hmdb_split(path):
                listed.setdefault(f"{name}/{clip}", set()).add(f"split{split}")
                counts[("unused", "train", "test")[tag]] += 1
        splits[split] = counts
    return video_dir, listed, {"classes": len(classes), "splits": splits}


def verify_root(dataset: str, root: str | os.PathLike, probe: bool = True, backend: str = "auto",
                workers: int = 4) -> dict:
    """Report for ``root``: counts per split, and lists of missing, unreadable (probe) and extra videos."""
    root = Path(root)
    if dataset == "ucf101":
        video_dir, listed, info = _ucf_listed(root)
    elif dataset == "hmdb51":
        video_dir, listed, info = _hmdb_listed(root)
    else:
        raise ValueError(f"unknown dataset {dataset!r}; expected ucf101 or hmdb51")
    if not video_dir.is_dir():
        raise FileNotFoundError(f"video folder not found: {video_dir}")
    missing, present = [], []
    for rel in sorted(listed):
        try:
            check_video_file(video_dir / rel)
            present.append(rel)
        except VideoDecodeError as err:
            missing.append((rel, err.cause))
    unreadable = []
    if probe:
        with ThreadPoolExecutor(max(1, workers)) as pool:
            causes = pool.map(lambda rel: probe_video(video_dir / rel, backend), present)
            unreadable = [(rel, c) for rel, c in zip(present, causes) if c is not None]
    on_disk = {p.relative_to(video_dir).as_posix() for p in video_dir.rglob("*")
               if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file()}
    extra = sorted(on_disk - set(listed))
    return {"dataset": dataset, "root": str(root), **info, "listed": len(listed), "on_disk": len(on_disk),
            "missing": missing, "unreadable": unreadable, "extra": extra, "probed": probe,
            "ok": not missing and not unreadable}


def format_report(report: dict, limit: int = 20) -> str:
    """Human-readable text of a verify_root report."""
    lines = [f"{report['dataset']} at {report['root']}: {report['classes']} classes, {report['listed']} videos "
             f"listed in the split files, {report['on_disk']} video files on disk"]
    for split, counts in report["splits"].items():
        lines.append(f"  split {split}: " + ", ".join(f"{k} {v}" for k, v in counts.items()
                                                       if k != "groups_in_both"))
        if counts.get("groups_in_both"):
            lines.append(f"    WARNING groups in both train and test: {counts['groups_in_both']}")
    for key, title in (("missing", "missing"), ("unreadable", "unreadable"), ("extra", "extra (in no split file)")):
        items = report[key]
        lines.append(f"  {title}: {len(items)}")
        for item in items[:limit]:
            lines.append(f"    {item[0]}: {item[1]}" if isinstance(item, tuple) else f"    {item}")
        if len(items) > limit:
            lines.append(f"    ... and {len(items) - limit} more")
    if not report["probed"]:
        lines.append("  (videos were not decoded: run without --no-probe to find unreadable files)")
    lines.append("OK" if report["ok"] else "PROBLEMS FOUND")
    return "\n".join(lines)
