"""Test-time clips of one video come from one decode, identical to decoding each clip alone (issue 14)."""

from __future__ import annotations

import torch

from videoabnn.data import UCF101
from videoabnn.data import dataset as dataset_module
from videoabnn.data.sampling import uniform_clip_indices
from videoabnn.data.transforms import resize_short_side, spatial_crop, to_clip_tensor


def test_multi_clip_items_equal_per_clip_decoding_with_one_decode_per_video(synthetic_ucf_root, monkeypatch):
    kwargs = {"split": 1, "train": False, "frames": 4, "short_side": 20, "crop": 16, "clips_per_video": 3,
              "three_crop": True, "max_videos": 3}
    opens = []
    original = dataset_module.open_video

    def counting(path, backend="auto"):
        opens.append(str(path))
        return original(path, backend)

    monkeypatch.setattr(dataset_module, "open_video", counting)
    ds = UCF101(synthetic_ucf_root, **kwargs)
    items = [ds[i] for i in range(len(ds))]
    assert len(ds) == 3 * 9 and len(opens) == 3  # 9 items (3 clips x 3 crops) per video, one decode each
    for i, item in enumerate(items):  # the same tensors as decoding that clip alone (the per-clip path)
        video, j = divmod(i, 9)
        clip, crop = divmod(j, 3)
        path, label = ds.videos[video]
        with original(path, "pyav") as reader:
            idx = uniform_clip_indices(len(reader), 4, 1, 3, clip, "loop", str(path))
            frames = resize_short_side(reader.get_frames(idx), 20)
        alone = to_clip_tensor(spatial_crop(frames, 16, crop, 3))
        assert torch.equal(item["clip"], alone) and item["label"] == label and item["video"] == video
