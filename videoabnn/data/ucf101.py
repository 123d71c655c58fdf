"""UCF101 (official layout): ``UCF-101/<Class>/v_<Class>_gGG_cCC.avi`` + ``ucfTrainTestlist/`` split files.

Labels come from the class FOLDER through ``classInd.txt`` (0-based here; the files are 1-based),
never from the file name: the folder ``HandstandPushups`` holds ``v_HandStandPushups_*.avi``.
A train-list label that disagrees with the folder is an error naming file:line.
"""

from __future__ import annotations

import os
from pathlib import Path

from videoabnn.data.dataset import SplitFileError, VideoDataset
from videoabnn.data.listfile import parse_int, read_lines

SPLITS = (1, 2, 3)


def read_class_index(path: Path) -> list[str]:
    """Class names in ``classInd.txt`` order (``<index 1..K> <Name>`` lines, indices 1..K in order)."""
    names: list[str] = []
    for number, text in read_lines(path):
        parts = text.split()
        where = f"{path}:{number}"
        if len(parts) != 2:
            raise SplitFileError(f"{where}: expected '<index> <ClassName>', got {text!r}")
        index = parse_int(parts[0], where, "a 1-based class index")
        if index != len(names) + 1:
            raise SplitFileError(f"{where}: expected class index {len(names) + 1}, got {index}")
        names.append(parts[1])
    if not names:
        raise SplitFileError(f"{path}: no classes listed")
    return names


def read_ucf_list(path: Path, classes: list[str], with_labels: bool) -> list[tuple[str, int]]:
    """(relative path, 0-based label) per line of a train list (``path label``) or test list (``path``)."""
    lookup = {name: i for i, name in enumerate(classes)}
    out = []
    for number, text in read_lines(path):
        parts = text.split()
        where = f"{path}:{number}"
        if len(parts) not in ((2,) if with_labels else (1, 2)):
            expected = "'<Class>/<file>.avi <label>'" if with_labels else "'<Class>/<file>.avi'"
            raise SplitFileError(f"{where}: expected {expected}, got {text!r}")
        rel = parts[0].replace("\\", "/")
        folder = rel.split("/")[0] if "/" in rel else None
        if folder not in lookup:
            raise SplitFileError(f"{where}: {rel!r} is not inside a class folder listed in classInd.txt")
        label = lookup[folder]
        if len(parts) == 2:
            listed = parse_int(parts[1], where, "a 1-based class index")
            if listed != label + 1:
                raise SplitFileError(f"{where}: label {listed} disagrees with folder {folder!r} (index {label + 1})")
        out.append((rel, label))
    return out


class UCF101(VideoDataset):
    """UCF101 split ``split`` (1-3), train or test list; ``root`` holds ``UCF-101/`` and ``ucfTrainTestlist/``.

    ``video_dir`` / ``list_dir`` override those two folders (absolute, or relative to ``root``).
    Remaining keyword arguments go to :class:`VideoDataset` (frames, stride, crop, backend, ...).
    Labels come from the class folder through ``classInd.txt`` (0-based here), never from the file name;
    a train-list label that disagrees with the folder is a `SplitFileError` naming file:line.

    Paper: Soomro, Zamir & Shah, "UCF101: A Dataset of 101 Human Actions Classes From Videos in The Wild", 2012.

    Args:
        root: folder holding ``video_dir`` and ``list_dir``.
        split: official split, 1, 2 or 3. Default: 1.
        train: the split's ``trainlist0N.txt`` (training sampling) or ``testlist0N.txt`` (test sampling).
            Default: True.
        video_dir: the videos' folder (``<Class>/v_<Class>_gGG_cCC.avi``), absolute or relative to ``root``.
            Default: "UCF-101".
        list_dir: the split files' folder (``classInd.txt``, ``trainlist0N.txt``, ``testlist0N.txt``).
            Default: "ucfTrainTestlist".
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
        >>> train = UCF101("data/ucf101", split=1, train=True, frames=16, short_side=128, crop=112)
        >>> item = train[0]
        >>> item["clip"].shape, train.classes[item["label"]]
    """

    def __init__(self, root: str | os.PathLike, split: int = 1, train: bool = True, *,
                 video_dir: str | os.PathLike = "UCF-101", list_dir: str | os.PathLike = "ucfTrainTestlist",
                 **kwargs):
        if split not in SPLITS:
            raise ValueError(f"UCF101 split must be 1, 2 or 3, got {split!r}")
        self.root = Path(root)
        self.video_dir, self.list_dir = self.root / video_dir, self.root / list_dir
        for folder in (self.video_dir, self.list_dir):
            if not folder.is_dir():
                raise FileNotFoundError(f"UCF101 folder not found: {folder} (expected {self.root}/UCF-101 and "
                                        f"{self.root}/ucfTrainTestlist; see datasets/ucf101/README.md)")
        self.split = split
        classes = read_class_index(self.list_dir / "classInd.txt")
        name = f"{'train' if train else 'test'}list0{split}.txt"
        entries = read_ucf_list(self.list_dir / name, classes, with_labels=train)
        if not entries:
            raise SplitFileError(f"{self.list_dir / name}: no videos listed")
        super().__init__([(self.video_dir / rel, y) for rel, y in entries], classes, train=train, **kwargs)
