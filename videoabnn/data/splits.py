"""A validation split carved out of the training videos by group, so no group is in both.

UCF101 names its videos ``v_<Class>_gGG_cCC.avi``: clips of one group come from one long video,
and the official splits hold out whole group numbers (1-7, 8-14, 15-21). The validation split does
the same within the training groups: a seeded choice of group numbers, held out for every class.
Other names (HMDB51's free-text clips) are grouped by their name without the trailing ``_<n>``
index, per class, so the clips of one source video stay together.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

UCF_GROUP = re.compile(r"_g(\d+)_c\d+$")
TRAILING_INDEX = re.compile(r"_\d+$")


def group_of(path: str | Path, label: int) -> tuple[str, str]:
    """(kind, group) of a video: ``("ucf", "08")`` for UCF-style names, else ``("clip", "<label>/<source>")``."""
    stem = Path(path).stem
    match = UCF_GROUP.search(stem)
    if match:
        return "ucf", match.group(1)
    return "clip", f"{label}/{TRAILING_INDEX.sub('', stem)}"


def _held_out(groups: list[str], fraction: float, rng: np.random.Generator) -> set[str]:
    """A seeded choice of ``fraction`` of ``groups`` (at least one when there are two or more)."""
    if fraction <= 0 or len(groups) < 2:
        return set()
    k = min(len(groups) - 1, max(1, round(fraction * len(groups))))
    return {groups[i] for i in rng.permutation(len(groups))[:k]}


def validation_split(videos: Sequence[tuple[str | Path, int]], fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """(training indices, validation indices) of ``videos`` with ``fraction`` of the groups held out."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"data.val_fraction must be in [0, 1), got {fraction}")
    keys = [group_of(path, label) for path, label in videos]
    rng = np.random.default_rng(int(seed))
    held: set[tuple[str, str]] = set()
    ucf = sorted({g for kind, g in keys if kind == "ucf"})
    held |= {("ucf", g) for g in _held_out(ucf, fraction, rng)}
    for label in sorted({label for _, label in videos}):
        sources = sorted({g for (kind, g), (_, y) in zip(keys, videos) if kind == "clip" and y == label})
        held |= {("clip", g) for g in _held_out(sources, fraction, rng)}
    val = [i for i, key in enumerate(keys) if key in held]
    train = [i for i, key in enumerate(keys) if key not in held]
    return train, val
