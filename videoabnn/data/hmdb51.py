"""HMDB51 (official layout): ``hmdb51_org/<class>/<clip>.avi`` + ``testTrainMulti_7030_splits/``.

Each ``<class>_test_split<N>.txt`` line is ``<clip>.avi <tag>`` with tag 1 = train, 2 = test,
0 = unused. Classes are the class names of the split files, sorted; label = index (0-based).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from videoabnn.data.dataset import SplitFileError, VideoDataset
from videoabnn.data.listfile import parse_int, read_lines

SPLITS = (1, 2, 3)
TAGS = {0: "unused", 1: "train", 2: "test"}
_SPLIT_FILE = re.compile(r"^(?P<name>.+)_test_split(?P<split>[123])\.txt$")


def split_files(list_dir: Path, split: int) -> dict[str, Path]:
    """{class name: split file} for ``split``, in sorted class order."""
    found = {}
    for path in list_dir.iterdir():
        m = _SPLIT_FILE.match(path.name)
        if m and int(m["split"]) == split:
            found[m["name"]] = path
    if not found:
        raise FileNotFoundError(f"{list_dir}: no <class>_test_split{split}.txt files")
    return dict(sorted(found.items()))


def read_hmdb_split(path: Path) -> list[tuple[str, int]]:
    """(clip file name, tag) per line; a bad line is an error naming file:line."""
    out = []
    for number, text in read_lines(path):
        parts = text.rsplit(maxsplit=1)
        where = f"{path}:{number}"
        if len(parts) != 2:
            raise SplitFileError(f"{where}: expected '<clip>.avi <tag>', got {text!r}")
        tag = parse_int(parts[1], where, "a tag 0, 1 or 2")
        if tag not in TAGS:
            raise SplitFileError(f"{where}: tag must be 0 (unused), 1 (train) or 2 (test), got {tag}")
        out.append((parts[0], tag))
    return out


class HMDB51(VideoDataset):
    """HMDB51 split ``split`` (1-3); ``root`` holds ``hmdb51_org/`` and ``testTrainMulti_7030_splits/``.

    ``video_dir`` / ``list_dir`` override those two folders (absolute, or relative to ``root``).
    Each ``<class>_test_split<N>.txt`` tags its clips 1 (train), 2 (test) or 0 (unused); classes are the split
    files' class names, sorted, label = index.

    Paper: Kuehne et al., "HMDB: A Large Video Database for Human Motion Recognition", ICCV 2011.

    Args:
        root: folder holding ``video_dir`` and ``list_dir``.
        split: official split, 1, 2 or 3. Default: 1.
        train: the clips tagged 1 (training sampling) or 2 (test sampling). Default: True.
        video_dir: the videos' folder (``<class>/<clip>.avi``), absolute or relative to ``root``.
            Default: "hmdb51_org".
        list_dir: the split files' folder (``<class>_test_split<N>.txt``).
            Default: "testTrainMulti_7030_splits".
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
        >>> test = HMDB51("data/hmdb51", split=1, train=False, clips_per_video=10)
        >>> item = test[0]
    """

    def __init__(self, root: str | os.PathLike, split: int = 1, train: bool = True, *,
                 video_dir: str | os.PathLike = "hmdb51_org",
                 list_dir: str | os.PathLike = "testTrainMulti_7030_splits", **kwargs):
        if split not in SPLITS:
            raise ValueError(f"HMDB51 split must be 1, 2 or 3, got {split!r}")
        self.root = Path(root)
        self.video_dir, self.list_dir = self.root / video_dir, self.root / list_dir
        for folder in (self.video_dir, self.list_dir):
            if not folder.is_dir():
                raise FileNotFoundError(f"HMDB51 folder not found: {folder} (expected {self.root}/hmdb51_org and "
                                        f"{self.root}/testTrainMulti_7030_splits; see datasets/hmdb51/README.md)")
        self.split = split
        files = split_files(self.list_dir, split)
        want = 1 if train else 2
        videos = []
        for label, (name, path) in enumerate(files.items()):
            videos += [(self.video_dir / name / clip, label) for clip, tag in read_hmdb_split(path) if tag == want]
        if not videos:
            raise SplitFileError(f"{self.list_dir}: split {split} lists no {'train' if train else 'test'} videos")
        super().__init__(videos, list(files), train=train, **kwargs)
