"""Check a UCF101 or HMDB51 data root against its split files: missing, unreadable and extra videos, and
files whose header announces another frame count than they hold.

Each listed video present on disk is decoded to its end and its first, middle and last frames are
converted; ``full`` converts every frame too and names the first that fails. That decode also builds
each video's frame index (:mod:`videoabnn.data.index`: the true frame count and the keyframes a seek
may start from, each checked) in ``index_dir`` (default: where training reads them), so training never
pays for it; the report says which videos cannot seek (they decode from the first packet). Splits:
those whose list files exist, or the ones asked for (a split asked for whose files are missing is an
error).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from videoabnn.data.decode import VideoDecodeError, check_video_file, open_video
from videoabnn.data.hmdb51 import read_hmdb_split, split_files
from videoabnn.data.ucf101 import read_class_index, read_ucf_list

VIDEO_SUFFIXES = {".avi", ".mp4", ".mkv", ".webm", ".mov"}
ALL_SPLITS = (1, 2, 3)


@dataclass
class VideoCheck:
    """What decoding one file found: the header's count, the decodable count, and the first failure."""

    header: int
    decodable: int | None
    error: str | None = None
    seek: str | None = None  # None: not indexed; "" seeks with its index; else why it decodes from the first packet


def _seek_note(reader) -> str | None:
    index = reader.index
    if index is None:
        return None
    return "" if index.seekable else (index.reason or "not seekable")


def inspect_video(path: Path, backend: str = "auto", full: bool = False,
                  index_dir: str | os.PathLike | None = "auto") -> VideoCheck:
    """Decode ``path`` to its end (every frame converted when ``full``) and report what it holds; builds the
    file's frame index in ``index_dir`` (None: no index)."""
    try:
        reader = open_video(path, backend, index_dir=index_dir)
    except VideoDecodeError as err:
        return VideoCheck(0, None, err.cause)
    with reader:
        header = reader.header_frames
        seek = _seek_note(reader)
        try:
            if full:
                n = _convert_every_frame(reader)
            else:
                n = reader.count_frames()
                reader.get_frames([0, n // 2, n - 1])
        except VideoDecodeError as err:
            return VideoCheck(header, None, err.cause, seek)
    return VideoCheck(header, n, seek=seek)


def _convert_every_frame(reader) -> int:
    """Frames read one by one in order (the reader continues its cursor); the first failure names its index."""
    k = 0
    while True:
        try:
            reader.get_frames([k])
        except VideoDecodeError as err:
            if k > 0 and len(reader) == k:
                return k  # the end of the stream
            raise VideoDecodeError(reader.path, f"frame {k}: {err.cause}") from err
        k += 1


def available_splits(dataset: str, root: Path, splits: Sequence[int] | None) -> list[int]:
    """The splits to check: ``splits`` (each must exist), or every split whose list files exist."""
    def exists(split: int) -> bool:
        if dataset == "ucf101":
            lists = root / "ucfTrainTestlist"
            return (lists / f"trainlist0{split}.txt").is_file() and (lists / f"testlist0{split}.txt").is_file()
        lists = root / "testTrainMulti_7030_splits"
        return lists.is_dir() and any(lists.glob(f"*_test_split{split}.txt"))

    wanted = list(splits) if splits else list(ALL_SPLITS)
    found = [s for s in wanted if exists(s)]
    where = root / ("ucfTrainTestlist" if dataset == "ucf101" else "testTrainMulti_7030_splits")
    if splits and len(found) != len(wanted):
        missing = sorted(set(wanted) - set(found))
        raise FileNotFoundError(f"split {missing[0]}: its list files are not in {where} (found splits: "
                                f"{', '.join(map(str, available_splits(dataset, root, None))) or 'none'})")
    if not found:
        raise FileNotFoundError(f"no split list files in {where}: expected "
                                + ("trainlist0N.txt and testlist0N.txt" if dataset == "ucf101"
                                   else "<class>_test_splitN.txt"))
    return found


def _ucf_listed(root: Path, splits: list[int]) -> tuple[Path, dict[str, set[str]], dict]:
    video_dir, lists = root / "UCF-101", root / "ucfTrainTestlist"
    classes = read_class_index(lists / "classInd.txt")
    listed: dict[str, set[str]] = {}
    info = {}
    group = re.compile(r"_g(\d+)_c\d+\.\w+$")
    for split in splits:
        train = read_ucf_list(lists / f"trainlist0{split}.txt", classes, with_labels=True)
        test = read_ucf_list(lists / f"testlist0{split}.txt", classes, with_labels=False)
        for rel, _ in train + test:
            listed.setdefault(rel, set()).add(f"split{split}")
        g_train = {m[1] for rel, _ in train if (m := group.search(rel))}
        g_test = {m[1] for rel, _ in test if (m := group.search(rel))}
        info[split] = {"train": len(train), "test": len(test), "groups_in_both": sorted(g_train & g_test)}
    return video_dir, listed, {"classes": len(classes), "splits": info}


def _hmdb_listed(root: Path, splits: list[int]) -> tuple[Path, dict[str, set[str]], dict]:
    video_dir, lists = root / "hmdb51_org", root / "testTrainMulti_7030_splits"
    listed: dict[str, set[str]] = {}
    info, classes = {}, []
    for split in splits:
        counts = {"train": 0, "test": 0, "unused": 0}
        files = split_files(lists, split)
        classes = list(files)
        for name, path in files.items():
            for clip, tag in read_hmdb_split(path):
                listed.setdefault(f"{name}/{clip}", set()).add(f"split{split}")
                counts[("unused", "train", "test")[tag]] += 1
        info[split] = counts
    return video_dir, listed, {"classes": len(classes), "splits": info}


def verify_root(dataset: str, root: str | os.PathLike, probe: bool = True, backend: str = "auto",
                workers: int = 4, splits: Sequence[int] | None = None, full: bool = False,
                progress: bool = False, index_dir: str | os.PathLike | None = "auto") -> dict:
    """Report for ``root``: counts per split; missing, unreadable (probe), extra videos; header/decodable mismatches;
    with ``probe``, the frame index of every readable video is built (or checked) in ``index_dir``."""
    root = Path(root)
    if dataset not in ("ucf101", "hmdb51"):
        raise ValueError(f"unknown dataset {dataset!r}; expected ucf101 or hmdb51")
    chosen = available_splits(dataset, root, splits)
    video_dir, listed, info = (_ucf_listed if dataset == "ucf101" else _hmdb_listed)(root, chosen)
    if not video_dir.is_dir():
        raise FileNotFoundError(f"video folder not found: {video_dir}")
    missing, present = [], []
    for rel in sorted(listed):
        try:
            check_video_file(video_dir / rel)
            present.append(rel)
        except VideoDecodeError as err:
            missing.append((rel, err.cause))
    unreadable, mismatched, sequential = [], [], []
    indexed = 0
    if probe:
        for rel, check in _inspect_all(video_dir, present, backend, full, workers, progress, index_dir):
            if check.seek is not None:
                indexed += 1
                if check.seek:
                    sequential.append((rel, check.seek))
            if check.error is not None:
                unreadable.append((rel, check.error))
            elif check.header and check.header != check.decodable:
                mismatched.append((rel, f"header announces {check.header} frames, {check.decodable} decodable"))
    on_disk = {p.relative_to(video_dir).as_posix() for p in video_dir.rglob("*")
               if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file()}
    extra = sorted(on_disk - set(listed))
    return {"dataset": dataset, "root": str(root), **info, "listed": len(listed), "on_disk": len(on_disk),
            "missing": missing, "unreadable": unreadable, "frame_count_mismatch": mismatched, "extra": extra,
            "probed": probe, "full": full, "indexed": indexed, "index_dir": _index_folder(index_dir),
            "not_seekable": sequential, "ok": not missing and not unreadable}


def _index_folder(index_dir) -> str | None:
    from videoabnn.data.index import resolve_index_dir

    folder = resolve_index_dir(index_dir)
    return None if folder is None else str(folder)


def _inspect_all(video_dir: Path, present: list[str], backend: str, full: bool, workers: int, progress: bool,
                 index_dir="auto"):
    """(rel, VideoCheck) per file, decoded by ``workers`` threads (the decoders release the GIL), in order."""
    from tqdm import tqdm

    with ThreadPoolExecutor(max(1, workers)) as pool:
        checks = pool.map(lambda rel: inspect_video(video_dir / rel, backend, full, index_dir), present)
        yield from tqdm(zip(present, checks), total=len(present), desc="decoding", unit="video",
                        disable=not progress, leave=False)


def format_report(report: dict, limit: int = 20) -> str:
    """Human-readable text of a verify_root report."""
    lines = [f"{report['dataset']} at {report['root']}: {report['classes']} classes, {report['listed']} videos "
             f"listed in the split files of split(s) {', '.join(map(str, report['splits']))}, "
             f"{report['on_disk']} video files on disk"]
    for split, counts in report["splits"].items():
        lines.append(f"  split {split}: " + ", ".join(f"{k} {v}" for k, v in counts.items()
                                                       if k != "groups_in_both"))
        if counts.get("groups_in_both"):
            lines.append(f"    WARNING groups in both train and test: {counts['groups_in_both']}")
    sections = (("missing", "missing"), ("unreadable", "unreadable"),
                ("frame_count_mismatch", "header frame count differs from the decodable frames (usable: the "
                                         "decodable count is used)"),
                ("extra", "extra (in no split file)"))
    for key, title in sections:
        items = report.get(key, [])
        lines.append(f"  {title}: {len(items)}")
        for item in items[:limit]:
            lines.append(f"    {item[0]}: {item[1]}" if isinstance(item, (tuple, list)) else f"    {item}")
        if len(items) > limit:
            lines.append(f"    ... and {len(items) - limit} more")
    if report.get("indexed"):
        seq = report.get("not_seekable", [])
        lines.append(f"  frame index: {report['indexed']} videos indexed in {report['index_dir']}; "
                     f"{report['indexed'] - len(seq)} seek to a checked keyframe, {len(seq)} decode from the first "
                     "packet")
        for rel, why in seq[:limit]:
            lines.append(f"    {rel}: {why}")
        if len(seq) > limit:
            lines.append(f"    ... and {len(seq) - limit} more")
    if not report["probed"]:
        lines.append("  (videos were not decoded: run without --no-probe to find unreadable files)")
    elif not report.get("full"):
        lines.append("  (each video decoded to its end, first/middle/last frames converted; --full converts every frame)")
    lines.append("OK" if report["ok"] else "PROBLEMS FOUND")
    return "\n".join(lines)
