"""Spatial transforms on uint8 frames: short-side resize, random crop + flip (train), centre/3-crop (test).

The output clip is float (C, T, H, W) in [0, 1]; mean/std normalization belongs to the model.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def resized_shape(height: int, width: int, short_side: int) -> tuple[int, int]:
    """(height, width) after resizing the short side to ``short_side`` (aspect ratio kept)."""
    if height <= width:
        return short_side, max(1, int(round(width * short_side / height)))
    return max(1, int(round(height * short_side / width))), short_side


def resize_short_side(frames: np.ndarray, short_side: int | None) -> np.ndarray:
    """Resize uint8 (T, H, W, 3) frames so the short side is ``short_side`` (bilinear, antialiased), as uint8.

    Runs on uint8 channels-last tensors (torch's fast path, ~10x faster than float on CPU) and stays
    uint8, so clips read through the frame cache and clips decoded directly are bit-identical.
    """
    if not short_side:
        return frames
    t, h, w, _ = frames.shape
    new_h, new_w = resized_shape(h, w, short_side)
    if (new_h, new_w) == (h, w):
        return frames
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)  # channels-last view
    x = F.interpolate(x, size=(new_h, new_w), mode="bilinear", align_corners=False, antialias=True)
    return x.permute(0, 2, 3, 1).contiguous().numpy()


def _check_crop(frames: np.ndarray, crop: int) -> None:
    h, w = frames.shape[1:3]
    if crop > h or crop > w:
        raise ValueError(f"crop {crop} is larger than the resized frame {w}x{h}; raise short_side or lower crop")


def random_crop_flip(frames: np.ndarray, crop: int, rng: np.random.Generator, flip: bool = True) -> np.ndarray:
    """A random ``crop`` x ``crop`` window, mirrored left-right with probability 1/2 (training)."""
    _check_crop(frames, crop)
    h, w = frames.shape[1:3]
    y, x = int(rng.integers(0, h - crop + 1)), int(rng.integers(0, w - crop + 1))
    out = frames[:, y : y + crop, x : x + crop]
    if flip and rng.random() < 0.5:
        out = out[:, :, ::-1]
    return out


def spatial_crop(frames: np.ndarray, crop: int, position: int = 1, num_crops: int = 1) -> np.ndarray:
    """Test-time crop: the centre crop (``num_crops=1``) or crop ``position`` of 3 along the long side."""
    _check_crop(frames, crop)
    h, w = frames.shape[1:3]
    y, x = (h - crop) // 2, (w - crop) // 2
    if num_crops == 3:
        offset = [0, None, -1][position]
        if offset is not None:
            if w >= h:
                x = 0 if offset == 0 else w - crop
            else:
                y = 0 if offset == 0 else h - crop
    elif num_crops != 1:
        raise ValueError(f"num_crops must be 1 or 3, got {num_crops}")
    return frames[:, y : y + crop, x : x + crop]


def to_clip_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 (T, H, W, 3) -> float (3, T, H, W) in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(3, 0, 1, 2).contiguous().float().div_(255.0)
