"""Split/list-file reading shared by the data sets, and the generic ``relative/path label`` dataset."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from videoabnn.data.dataset import SplitFileError, VideoDataset


def read_lines(path: str | os.PathLike) -> Iterator[tuple[int, str]]:
    """(line number, stripped text) of each non-blank line; CRLF/LF endings and a UTF-8 BOM are accepted."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"split/list file not found: {path}")
    with open(path, encoding="utf-8-sig", newline=None) as f:
        for number, line in enumerate(f, start=1):
            text = line.strip()
            if text:
                yield number, text


def parse_int(text: str, where: str, what: str) -> int:
    """``int(text)`` or a SplitFileError naming ``where`` (file:line) and what was expected."""
    try:
        return int(text)
    except ValueError:
        raise SplitFileError(f"{where}: expected {what}, got {text!r}") from None


def read_class_names(source: str | os.PathLike | Sequence[str]) -> list[str]:
    """Class names from a list, or a file with one ``name`` or ``index name`` per line (in file order)."""
    if not isinstance(source, (str, os.PathLike)):
        return [str(c) for c in source]
    names = []
    for _, text in read_lines(source):
        parts = text.split()
        names.append(parts[-1] if len(parts) > 1 else parts[0])
    return names


class ListFileDataset(VideoDataset):
    """Videos listed as ``relative/path label`` lines (0-based labels; paths may contain spaces).

    ``classes`` (optional): a list of names or a file with one name (or ``index name``) per line;
    default names are the label numbers, as many as ``num_classes`` or the largest label + 1.
    A malformed line, a negative label or a label beyond the named classes is a `SplitFileError`
    naming file:line.

    Args:
        root: folder the listed paths are relative to.
        list_file: the list file: a path as given when it exists, else relative to ``root``.
        train: training sampling (random clip, crop and flip) or test sampling. Default: True.
        classes: class names: a sequence, or a file with one ``name`` or ``index name`` per line (in label
            order). Default: None (the label numbers as names).
        num_classes: with ``classes`` None: how many classes to name, when more than the largest label + 1.
            Default: None.
        **kwargs: `VideoDataset` options: ``frames`` (8), ``stride`` (1), ``short_side`` (36), ``crop`` (32),
            ``clips_per_video`` (1), ``three_crop`` (False), ``short_video`` ("loop"), ``backend`` ("auto"),
            ``cache_dir``, ``skip_unreadable`` (False), ``max_unreadable`` (0.05), ``max_videos``, ``flip`` (True),
            ``seed``, ``probe_workers`` (4).

    Shape:
        - item: ``{"clip": (C, T, H, W) float in [0, 1], "label": int, "video": int}``; C = 3, T = ``frames``,
          H = W = ``crop`` (None: the resized frame); ``video`` indexes ``videos`` (test items of one video
          share it: ``video = index // clips_per_video``).
        - length: videos x ``clips_per_video`` (temporal clips x 3 crops at test time, 1 when training).

    Examples:
        >>> ds = ListFileDataset("data/myvideos", "train.txt", train=True, classes="classes.txt")
        >>> item = ds[0]
    """

    def __init__(self, root: str | os.PathLike, list_file: str | os.PathLike, train: bool = True, *,
                 classes: str | os.PathLike | Sequence[str] | None = None, num_classes: int | None = None,
                 **kwargs):
        root, list_file = Path(root), Path(list_file)
        if not list_file.is_absolute() and not list_file.is_file():
            list_file = root / list_file
        videos = []
        for number, text in read_lines(list_file):
            parts = text.rsplit(maxsplit=1)
            where = f"{list_file}:{number}"
            if len(parts) != 2:
                raise SplitFileError(f"{where}: expected 'relative/path label', got {text!r}")
            label = parse_int(parts[1], where, "an integer label")
            if label < 0:
                raise SplitFileError(f"{where}: labels are 0-based, got {label}")
            videos.append((root / parts[0].replace("\\", "/"), label))
        if not videos:
            raise SplitFileError(f"{list_file}: no videos listed")
        top = max(y for _, y in videos) + 1
        names = read_class_names(classes) if classes is not None else [str(k) for k in range(max(top, num_classes or 0))]
        if top > len(names):
            raise SplitFileError(f"{list_file}: label {top - 1} but only {len(names)} classes are named")
        self.root, self.list_file = root, list_file
        super().__init__(videos, names, train=train, **kwargs)
