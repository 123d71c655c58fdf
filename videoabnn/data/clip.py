"""One clip from one video file, the way the test split reads it: the centre clip, short side resized,
centre crop, float (C, T, H, W) in [0, 1]. For running a model on a user's video."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from videoabnn.data.decode import open_video
from videoabnn.data.sampling import uniform_clip_indices
from videoabnn.data.transforms import resize_short_side, spatial_crop, to_clip_tensor

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg")
SHORT_SIDE_RATIO = 256 / 224  # short side before the centre crop, as Kinetics models are evaluated


@dataclass
class VideoClip:
    """A decoded clip and where it came from."""

    path: Path
    clip: torch.Tensor  # (C, T, H, W) float in [0, 1]
    indices: list[int]
    fps: float
    video_frames: int


def short_side_for(size: int) -> int:
    """Short side to resize to before a ``size`` centre crop (256 for 224, 128 for 112)."""
    return int(round(size * SHORT_SIDE_RATIO))


def load_clip(path: str | os.PathLike, frames: int, size: int, stride: int = 1, backend: str = "auto") -> VideoClip:
    """The centre clip of ``frames`` frames (every ``stride``-th; looped if the video is shorter), centre-cropped."""
    reader = open_video(path, backend)
    indices = uniform_clip_indices(len(reader), frames, stride, 1, 0, short_video="loop", name=str(path))
    raw = reader.get_frames(indices)
    cropped = spatial_crop(resize_short_side(raw, short_side_for(size)), size)
    return VideoClip(Path(path), to_clip_tensor(cropped), [int(i) for i in np.asarray(indices)], float(reader.fps),
                     len(reader))


def video_files(paths: list[str | os.PathLike]) -> list[Path]:
    """The given files, and the video files directly inside given folders (sorted); a missing path raises."""
    out: list[Path] = []
    for item in map(Path, paths):
        if item.is_dir():
            found = sorted(p for p in item.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file())
            if not found:
                raise FileNotFoundError(f"{item}: no video files ({', '.join(VIDEO_SUFFIXES)}) in this folder")
            out += found
        elif item.is_file():
            out.append(item)
        else:
            raise FileNotFoundError(f"video not found: {item}")
    return out
