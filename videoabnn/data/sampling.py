"""Which frame indices make a clip: one random clip for training, N uniformly spaced clips for testing.

A clip of ``frames`` frames with temporal ``stride`` spans ``(frames - 1) * stride + 1`` frames.
Videos shorter than that are handled by the ``short_video`` policy:

- ``loop``: indices wrap around to the start of the video (a short action repeats);
- ``repeat_last``: indices past the end repeat the last frame (the action freezes);
- ``error``: raise a ValueError naming the video.
"""

from __future__ import annotations

import numpy as np

SHORT_VIDEO_POLICIES = ("loop", "repeat_last", "error")


def clip_span(frames: int, stride: int) -> int:
    """Number of video frames covered by one clip."""
    return (frames - 1) * stride + 1


def _fit(indices: np.ndarray, num_frames: int, policy: str, name: str) -> np.ndarray:
    if indices[-1] < num_frames:
        return indices
    if policy == "loop":
        return indices % num_frames
    if policy == "repeat_last":
        return np.minimum(indices, num_frames - 1)
    if policy == "error":
        raise ValueError(f"{name}: video has {num_frames} frames, shorter than a clip "
                         f"({indices[-1] - indices[0] + 1} frames); set short_video to loop or repeat_last")
    raise ValueError(f"unknown short_video policy {policy!r}; expected one of {', '.join(SHORT_VIDEO_POLICIES)}")


def check_sampling(frames: int, stride: int, num_clips: int = 1, short_video: str = "loop") -> None:
    """Validate clip-sampling parameters, naming the bad one."""
    if frames < 1 or stride < 1 or num_clips < 1:
        raise ValueError(f"frames, stride and clips_per_video must be >= 1 (got {frames}, {stride}, {num_clips})")
    if short_video not in SHORT_VIDEO_POLICIES:
        raise ValueError(f"unknown short_video policy {short_video!r}; "
                         f"expected one of {', '.join(SHORT_VIDEO_POLICIES)}")


def random_clip_indices(num_frames: int, frames: int, stride: int, rng: np.random.Generator,
                       short_video: str = "loop", name: str = "video") -> np.ndarray:
    """Indices of one clip whose start is uniform over all positions where it fits."""
    start = int(rng.integers(0, max(num_frames - clip_span(frames, stride), 0) + 1))
    return _fit(start + stride * np.arange(frames), num_frames, short_video, name)


def uniform_clip_indices(num_frames: int, frames: int, stride: int, num_clips: int, clip: int,
                      short_video: str = "loop", name: str = "video") -> np.ndarray:
    """Indices of clip ``clip`` of ``num_clips`` whose starts are uniformly spaced from first to last position."""
    last_start = max(num_frames - clip_span(frames, stride), 0)
    start = int(round(clip * last_start / (num_clips - 1))) if num_clips > 1 else last_start // 2
    return _fit(start + stride * np.arange(frames), num_frames, short_video, name)
