"""Example frames people can look at: clean clip, adversarial clip and the amplified perturbation.

Clips are tensors or arrays ``(C, T, H, W)`` float in [0, 1]. Outputs: a PNG grid (one row per
clip, one column per frame), an animated GIF (Pillow) and an MP4 (PyAV), each written atomically.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from videoabnn.utils.io import atomic_save_image, atomic_write

LABEL_WIDTH = 96


def to_uint8_frames(clip) -> np.ndarray:
    """``(C, T, H, W)`` float in [0, 1] (tensor or array) -> ``(T, H, W, 3)`` uint8."""
    arr = clip.detach().cpu().float().numpy() if hasattr(clip, "detach") else np.asarray(clip, dtype=np.float32)
    if arr.ndim != 4:
        raise ValueError(f"expected a clip of shape (C, T, H, W), got shape {tuple(arr.shape)}")
    if arr.shape[0] == 1:
        arr = np.repeat(arr, 3, axis=0)
    if arr.shape[0] != 3:
        raise ValueError(f"expected 1 or 3 channels first (C, T, H, W), got shape {tuple(arr.shape)}")
    return (np.clip(arr.transpose(1, 2, 3, 0), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def amplify_perturbation(clean, adversarial, gain: float | None = None):
    """``0.5 + gain * (adv - clean)`` clipped to [0, 1]; default gain maps the largest change to 0.5."""
    delta = adversarial - clean
    if gain is None:
        peak = float(abs(delta).max())
        gain = 0.5 / peak if peak > 0 else 1.0
    out = 0.5 + gain * delta
    return out.clamp(0, 1) if hasattr(out, "clamp") else np.clip(out, 0, 1)


def _pick(frames: np.ndarray, max_frames: int | None) -> np.ndarray:
    if max_frames is None or len(frames) <= max_frames:
        return frames
    idx = np.linspace(0, len(frames) - 1, max_frames).round().astype(int)
    return frames[idx]


def grid_size(num_rows: int, num_frames: int, height: int, width: int, scale: int = 4, pad: int = 2) -> tuple[int, int]:
    """Pixel size (width, height) of the PNG that :func:`save_frame_grid` writes."""
    return (LABEL_WIDTH + num_frames * (width * scale + pad) + pad, num_rows * (height * scale + pad) + pad)


def frame_grid(rows: Mapping[str, object], max_frames: int | None = 8, scale: int = 4, pad: int = 2) -> Image.Image:
    """An image with one labelled row per clip and one column per (evenly chosen) frame."""
    if not rows:
        raise ValueError("frame_grid needs at least one clip")
    clips = {name: _pick(to_uint8_frames(c), max_frames) for name, c in rows.items()}
    t, h, w, _ = next(iter(clips.values())).shape
    for name, frames in clips.items():
        if frames.shape[:3] != (t, h, w):
            raise ValueError(f"clip {name!r} has shape {frames.shape[:3]}, expected {(t, h, w)} like the first")
    size = grid_size(len(clips), t, h, w, scale, pad)
    canvas = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for r, (name, frames) in enumerate(clips.items()):
        top = pad + r * (h * scale + pad)
        draw.text((4, top + h * scale // 2 - 6), str(name)[:14], fill=(0, 0, 0))
        for c, frame in enumerate(frames):
            left = LABEL_WIDTH + pad + c * (w * scale + pad)
            tile = Image.fromarray(frame).resize((w * scale, h * scale), Image.NEAREST)
            canvas.paste(tile, (left, top))
    return canvas


def save_frame_grid(path: str | os.PathLike, rows: Mapping[str, object], max_frames: int | None = 8,
                    scale: int = 4) -> Path:
    """Write :func:`frame_grid` as a PNG atomically."""
    image = frame_grid(rows, max_frames, scale)
    return atomic_save_image(image, path, "PNG")


def side_by_side(clips: Sequence[object], scale: int = 4, pad: int = 2) -> np.ndarray:
    """Clips placed next to each other per frame: ``(T, H*scale, n*(W*scale+pad), 3)`` uint8."""
    frames = [to_uint8_frames(c) for c in clips]
    t = min(len(f) for f in frames)
    tiles = [np.kron(f[:t], np.ones((1, scale, scale, 1), dtype=np.uint8)) for f in frames]
    gap = np.full((t, tiles[0].shape[1], pad, 3), 255, dtype=np.uint8)
    parts: list[np.ndarray] = []
    for tile in tiles:
        parts += [tile, gap]
    return np.concatenate(parts[:-1], axis=2)


def save_gif(path: str | os.PathLike, clips: Sequence[object] | object, fps: float = 8.0, scale: int = 4) -> Path:
    """An animated GIF of one clip or several side by side, looping forever."""
    clips = clips if isinstance(clips, (list, tuple)) else [clips]
    frames = [Image.fromarray(f) for f in side_by_side(clips, scale)]
    duration = max(20, int(1000 / fps))

    def write(tmp: str) -> None:
        frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:], duration=duration, loop=0)

    return atomic_write(path, write)


def save_mp4(path: str | os.PathLike, clips: Sequence[object] | object, fps: int = 8, scale: int = 4) -> Path:
    """An H.264 (or MPEG-4 when libx264 is missing) MP4 of one clip or several side by side (PyAV)."""
    import av

    clips = clips if isinstance(clips, (list, tuple)) else [clips]
    frames = side_by_side(clips, scale)
    h, w = frames.shape[1] - frames.shape[1] % 2, frames.shape[2] - frames.shape[2] % 2

    def write(tmp: str) -> None:
        with av.open(tmp, mode="w", format="mp4") as container:
            try:
                stream = container.add_stream("libx264", rate=int(fps))
            except (av.error.FFmpegError, ValueError):
                stream = container.add_stream("mpeg4", rate=int(fps))
            stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
            for frame in frames:
                vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame[:h, :w]), format="rgb24")
                for packet in stream.encode(vf):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)

    return atomic_write(path, write)


def save_example(out_dir: str | os.PathLike, name: str, clean, adversarial, *, max_frames: int = 8,
                 scale: int = 4, fps: float = 8.0, mp4: bool = False) -> dict[str, Path]:
    """PNG grid (clean / adversarial / amplified perturbation) and GIF (and MP4) of one example."""
    out_dir = Path(out_dir)
    perturbation = amplify_perturbation(clean, adversarial)
    rows = {"clean": clean, "adversarial": adversarial, "amplified diff": perturbation}
    paths = {
        "png": save_frame_grid(out_dir / f"{name}.png", rows, max_frames, scale),
        "gif": save_gif(out_dir / f"{name}.gif", [clean, adversarial, perturbation], fps, scale),
    }
    if mp4:
        paths["mp4"] = save_mp4(out_dir / f"{name}.mp4", [clean, adversarial, perturbation], int(fps), scale)
    return paths
