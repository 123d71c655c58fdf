"""Clips: shape, range, determinism, multi-clip test indexing, short videos, cache, unreadable videos."""

from __future__ import annotations

import logging
import shutil

import numpy as np
import pytest
import torch

from videoabnn.config import config_from_dict
from videoabnn.data import (
    UCF101,
    FrameCache,
    ListFileDataset,
    UnreadableVideosError,
    build_dataset,
    random_clip_indices,
    uniform_clip_indices,
)


def test_train_clip_shape_range_and_seed_determinism(synthetic_ucf_root):
    a = UCF101(synthetic_ucf_root, split=1, train=True, frames=8, crop=32, seed=3)
    b = UCF101(synthetic_ucf_root, split=1, train=True, frames=8, crop=32, seed=3)
    item = a[5]
    assert set(item) == {"clip", "label", "video"}
    assert item["clip"].shape == (3, 8, 32, 32) and item["clip"].dtype == torch.float32
    assert 0.0 <= item["clip"].min() and item["clip"].max() <= 1.0 and item["clip"].std() > 0.01
    assert item["video"] == 5 and a.clips_per_video == 1 and len(a) == len(a.videos)
    torch.testing.assert_close(item["clip"], b[5]["clip"], rtol=0, atol=0)
    a.set_epoch(1)
    assert not torch.equal(a[5]["clip"], b[5]["clip"])  # a new epoch draws new clips


def test_train_clip_follows_torch_seed_without_fixed_seed(synthetic_ucf_root):
    ds = UCF101(synthetic_ucf_root, split=1, train=True)
    torch.manual_seed(7)
    first = ds[3]["clip"]
    torch.manual_seed(7)
    torch.testing.assert_close(ds[3]["clip"], first, rtol=0, atol=0)


def test_multi_clip_test_indexing_and_three_crop(synthetic_ucf_root):
    ds = UCF101(synthetic_ucf_root, split=1, train=False, frames=4, clips_per_video=3, three_crop=True,
                short_side=36, crop=32)
    assert ds.clips_per_video == 9 and len(ds) == 9 * len(ds.videos)
    items = [ds[i] for i in range(18)]
    assert [it["video"] for it in items] == [0] * 9 + [1] * 9
    assert all(it["label"] == ds.videos[it["video"]][1] for it in items)
    clips = torch.stack([it["clip"] for it in items[:9]])
    # 3 temporal clips x 3 crops of video 0 are all different views, and deterministic
    assert len({c.sum().item() for c in clips}) == 9
    torch.testing.assert_close(ds[4]["clip"], clips[4], rtol=0, atol=0)
    # first / centre / last crops along the long side of the resized 64x48 frame (same video files)
    full = UCF101(synthetic_ucf_root, split=1, train=False, frames=4, clips_per_video=3, three_crop=True,
                  short_side=48, crop=40)
    frame = UCF101(synthetic_ucf_root, split=1, train=False, frames=4, clips_per_video=3, short_side=48,
                   crop=None)[0]["clip"]
    assert frame.shape[-2:] == (48, 48)  # the quick set is square (40x40) -> 48x48
    torch.testing.assert_close(full[1]["clip"], frame[..., 4:44, 4:44])
    torch.testing.assert_close(full[0]["clip"], frame[..., 4:44, 0:40])
    torch.testing.assert_close(full[2]["clip"], frame[..., 4:44, 8:48])


def test_test_clips_uniformly_spaced():
    starts = [uniform_clip_indices(100, 8, 2, 5, k)[0] for k in range(5)]
    assert starts == [0, 21, 42, 64, 85]
    assert list(uniform_clip_indices(100, 8, 2, 1, 0)) == list(range(42, 58, 2))


@pytest.mark.parametrize(("policy", "expected"), [("loop", [0, 1, 2, 3, 4, 0, 1, 2]),
                                                  ("repeat_last", [0, 1, 2, 3, 4, 4, 4, 4])])
def test_short_video_policies(policy, expected):
    rng = np.random.default_rng(0)
    assert list(random_clip_indices(5, 8, 1, rng, policy)) == expected
    assert list(uniform_clip_indices(5, 8, 1, 3, 2, policy)) == expected
    with pytest.raises(ValueError, match="v.avi: video has 5 frames, shorter than a clip"):
        random_clip_indices(5, 8, 1, rng, "error", name="v.avi")


def test_short_video_in_dataset(synthetic_ucf_root):
    ds = UCF101(synthetic_ucf_root, split=1, train=False, frames=8, stride=2, short_video="repeat_last")
    clip = ds[0]["clip"]
    assert clip.shape[1] == 8
    # indices 0, 2, ..., 10, 12, 14 -> 0, 2, ..., 10, 11, 11: past the end, the last frame repeats
    torch.testing.assert_close(clip[:, 6], clip[:, 7], rtol=0, atol=0)
    assert not torch.equal(clip[:, 5], clip[:, 6])
    with pytest.raises(ValueError, match="shorter than a clip"):
        UCF101(synthetic_ucf_root, split=1, train=False, frames=8, stride=2, short_video="error")[0]


def test_cache_hit_equals_miss_equals_uncached(synthetic_ucf_root, tmp_path):
    kwargs = {"split": 1, "train": True, "seed": 1, "max_videos": 6}
    plain = UCF101(synthetic_ucf_root, **kwargs)
    cached = UCF101(synthetic_ucf_root, cache_dir=tmp_path / "cache", **kwargs)
    misses = [cached[i]["clip"] for i in range(len(cached))]
    assert cached.cache.misses == 6 and cached.cache.hits == 0
    hits = [cached[i]["clip"] for i in range(len(cached))]
    assert cached.cache.hits == 6
    for m, h, p in zip(misses, hits, (plain[i]["clip"] for i in range(len(plain)))):
        torch.testing.assert_close(m, h, rtol=0, atol=0)
        torch.testing.assert_close(m, p, rtol=0, atol=0)
    entries = sorted((tmp_path / "cache").rglob("*.npy"))
    assert len(entries) == 6 and np.load(entries[0]).shape == (12, 36, 36, 3)
    other = FrameCache(tmp_path / "cache")
    video = plain.videos[0][0]
    assert other.entry(video, 36) != other.entry(video, 64)  # keyed by resolution too


def test_missing_video_is_an_error_listing_it(synthetic_ucf_root, tmp_path):
    lines = ["UCF-101/MoveUp/v_MoveUp_g01_c01.avi 2", "UCF-101/MoveUp/v_MoveUp_g99_c01.avi 2"]
    (tmp_path / "list.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(FileNotFoundError, match=r"(?s)1 of 2 videos .*v_MoveUp_g99_c01.avi: file not found"):
        ListFileDataset(synthetic_ucf_root, tmp_path / "list.txt")


def test_skip_unreadable_counts_and_lists(synthetic_ucf_root, tmp_path, caplog):
    root = tmp_path / "root"
    shutil.copytree(synthetic_ucf_root, root)
    videos = root / "UCF-101" / "MoveLeft"
    (videos / "v_MoveLeft_g08_c01.avi").unlink()
    (videos / "v_MoveLeft_g09_c01.avi").write_bytes(b"")
    (videos / "v_MoveLeft_g10_c01.avi").write_bytes(b"RIFF" + bytes(range(256)) * 8)
    data = (videos / "v_MoveLeft_g11_c01.avi").read_bytes()
    (videos / "v_MoveLeft_g11_c01.avi").write_bytes(data[: len(data) // 3])
    with pytest.raises(FileNotFoundError, match="2 of 72 videos"):
        UCF101(root, split=1, train=True)
    with pytest.raises(UnreadableVideosError, match=r"4 of 72 videos \(5.6%\).*data.max_unreadable=0.05"):
        UCF101(root, split=1, train=True, skip_unreadable=True)  # more than the default 5% unreadable
    with caplog.at_level(logging.WARNING, logger="videoabnn.data"):
        ds = UCF101(root, split=1, train=True, skip_unreadable=True, max_unreadable=0.1)
    assert len(ds.videos) == 68 and len(ds.skipped) == 4
    names = {p.name: cause for p, cause in ds.skipped}
    assert names["v_MoveLeft_g08_c01.avi"] == "file not found"
    assert "empty" in names["v_MoveLeft_g09_c01.avi"]
    assert set(names) == {f"v_MoveLeft_g{g:02d}_c01.avi" for g in (8, 9, 10, 11)}
    print(names["v_MoveLeft_g11_c01.avi"])
    assert "4 of 72 videos (5.6%) are unreadable" in caplog.text and "v_MoveLeft_g08_c01.avi" in caplog.text
    assert all(ds[i]["clip"].shape == (3, 8, 32, 32) for i in range(0, len(ds), 17))


def test_build_dataset_from_config(synthetic_ucf_root):
    cfg = config_from_dict({"data": {"root": str(synthetic_ucf_root), "synthetic": {"preset": "quick"},
                                     "clips_per_video": 2, "max_videos": 8, "val_fraction": 0.0}})
    train, test = build_dataset(cfg.data, train=True), build_dataset(cfg.data, train=False)
    assert isinstance(train, UCF101) and train.num_classes == 4 and len(train.videos) == 8
    assert {y for _, y in train.videos} == {0, 1, 2, 3}  # max_videos spreads over the classes
    assert test.clips_per_video == 2 and len(test) == 16
    assert train[0]["clip"].shape == (3, 8, 32, 32)
    assert train.flip is False  # flip=auto: mirroring would swap MoveLeft/MoveRight
    assert build_dataset({**cfg.data, "name": "ucf101"}, train=True).flip is True
    with pytest.raises(ValueError, match="data.num_classes: expected the class count .* which has 4 classes, got 5; "
                                         "set data.num_classes=4"):
        build_dataset({**cfg.data, "num_classes": 5}, train=True)
    with pytest.raises(ValueError, match="unknown data set 'ucf'"):
        build_dataset({**cfg.data, "name": "ucf"}, train=True)


def test_build_dataset_generates_hmdb_layout(tmp_path):
    data = {"name": "synthetic", "root": str(tmp_path / "syn"), "frames": 4,
            "synthetic": {"layout": "hmdb51", "preset": "quick", "num_classes": 2, "groups": 4, "frames": 6}}
    ds = build_dataset(data, train=False)
    assert ds.classes == ["move_left", "move_right"] and ds[0]["clip"].shape == (3, 4, 32, 32)
