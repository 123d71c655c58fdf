"""The validation split is carved out of the training videos by group (issue 9)."""

from __future__ import annotations

import pytest

from videoabnn.data import HMDB51, UCF101, build_dataset
from videoabnn.data.splits import group_of, validation_split


def _groups(videos):
    return {group_of(p, y) for p, y in videos}


@pytest.mark.parametrize("layout", ["ucf", "hmdb"])
def test_validation_never_shares_a_group_with_training(layout, synthetic_ucf_root, synthetic_hmdb_root):
    if layout == "ucf":
        full = UCF101(synthetic_ucf_root, split=1, train=True, frames=4, short_side=20, crop=16)
    else:
        full = HMDB51(synthetic_hmdb_root, split=1, train=True, frames=4, short_side=20, crop=16)
    train, val = validation_split(full.videos, 0.2, seed=0)
    assert sorted(train + val) == list(range(len(full.videos)))  # train + val = the training list
    tr = _groups(full.videos[i] for i in train)
    va = _groups(full.videos[i] for i in val)
    assert val and not tr & va
    assert {full.videos[i][1] for i in val} == set(range(full.num_classes))  # every class validated
    assert validation_split(full.videos, 0.2, seed=0) == (train, val)  # deterministic
    assert validation_split(full.videos, 0.2, seed=1) != (train, val)


def test_builder_splits_and_samples_validation_like_test(synthetic_ucf_root):
    data = {"name": "synthetic", "root": str(synthetic_ucf_root), "frames": 4, "short_side": 20, "crop": 16,
            "clips_per_video": 2, "synthetic": {"preset": "quick"}, "val_fraction": 0.2}
    train, val = build_dataset(data, split="train"), build_dataset(data, split="val")
    full = build_dataset({**data, "val_fraction": 0.0}, split="train")
    assert len(train.videos) + len(val.videos) == len(full.videos)
    assert train.train and not val.train and len(val) == 2 * len(val.videos)  # uniform clips, no augmentation
    assert not {group_of(p, y) for p, y in train.videos} & {group_of(p, y) for p, y in val.videos}
    with pytest.raises(ValueError, match="val_fraction is 0"):
        build_dataset({**data, "val_fraction": 0.0}, split="val")
    with pytest.raises(ValueError, match="val_fraction must be in"):
        build_dataset({**data, "val_fraction": 1.5}, split="train")
