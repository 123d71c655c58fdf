"""Dataset level: every frame of every training and test item of a UCF101 tree of Xvid AVIs with B-frames
is the frame the sequential decode puts at that index, for every backend."""

from __future__ import annotations

import av
import numpy as np
import pytest

from videoabnn.data import UCF101, decord_available, random_clip_indices, uniform_clip_indices

BACKENDS = ["auto", "pyav"] + (["decord"] if decord_available() else [])


def sequential_decode(path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def as_frames(clip) -> np.ndarray:
    """A (C, T, H, W) float clip in [0, 1] back to uint8 (T, H, W, 3)."""
    return np.round(clip.permute(1, 2, 3, 0).numpy() * 255).astype(np.uint8)


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_training_and_test_frame_is_the_sequential_frame(xvid_ucf_root, backend):
    options = dict(frames=8, stride=3, short_side=None, crop=None, backend=backend)
    train = UCF101(xvid_ucf_root, split=1, train=True, seed=5, flip=False, **options)
    test = UCF101(xvid_ucf_root, split=1, train=False, clips_per_video=4, **options)
    truth = {path: sequential_decode(path) for path, _ in train.videos + test.videos}
    assert train.classes[1] == "HandstandPushups" and len(train) == 9 and len(test) == 12
    for epoch in (0, 1):
        train.set_epoch(epoch)
        for i in range(len(train)):
            path = train.videos[i][0]
            rng = np.random.default_rng([5, epoch, i])
            idx = random_clip_indices(len(truth[path]), 8, 3, rng, "loop", str(path))
            np.testing.assert_array_equal(as_frames(train[i]["clip"]), truth[path][idx], err_msg=f"{path} {idx}")
    for i in range(len(test)):
        video, clip = divmod(i, test.clips_per_video)
        path = test.videos[video][0]
        idx = uniform_clip_indices(len(truth[path]), 8, 3, 4, clip, "loop", str(path))
        np.testing.assert_array_equal(as_frames(test[i]["clip"]), truth[path][idx], err_msg=f"{path} {idx}")
