"""Synthetic action videos: real encoded .avi files in the UCF101 or HMDB51 layout, classes defined by motion.

Every video shows 2-3 textured objects, all moving the same way, over a random static background. Appearance (background,
shape, colours, texture, size) and the object's position and orientation are drawn at random,
identically for every class, and positions wrap around the frame (a torus), so the object's position,
angle and size at any one moment are distributed the same way whatever the class: a single frame
cannot tell the class, only the motion over time can (direction, speed, rotation, growth, periodic
motion). Two variants use disjoint motions: ``study`` (the main set) and ``pretrain`` (the larger,
distinct set used to pretrain ABNN's substitute network).

Generation is deterministic by seed (each video's content depends only on the seed, the variant,
its class, group and clip numbers) and idempotent: a marker file records the parameters and a rerun
with the same parameters does nothing.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from functools import partial
from pathlib import Path

import numpy as np

from videoabnn.utils.io import atomic_write, atomic_write_json, atomic_write_text

GENERATOR_VERSION = 3
MARKER = ".videoabnn_synthetic.json"
LAYOUTS = ("ucf101", "hmdb51")
VARIANTS = ("study", "pretrain")

# Sizes per preset; explicit arguments of generate_synthetic override them.
PRESETS: dict[str, dict] = {
    # CI smoke tests: tiny, a second or two to generate.
# Square frames by default: the study's 32-pixel crops of a 36-pixel short side then see ~90% of the
# frame both ways, so the moving object is (almost) always in view.
    "quick": {"num_classes": 4, "groups": 25, "clips_per_group": 1, "frames": 12, "width": 40, "height": 40},
    "default": {"num_classes": 10, "groups": 25, "clips_per_group": 4, "frames": 20, "width": 40, "height": 40},
}
# Per-variant changes to a preset: the pretraining set is the larger one.
VARIANT_ADJUST: dict[str, dict[str, dict]] = {"default": {"pretrain": {"clips_per_group": 6}}}


@dataclass(frozen=True)
class Motion:
    """One class: a name per layout and the per-frame trajectory it applies to the object."""

    ucf_name: str
    hmdb_name: str
    fn: Callable[[np.ndarray, np.random.Generator, float], dict]


# ---- trajectories: each returns per-frame offsets {"dx", "dy" (pixels), "angle" (rad), "log_scale", "visible"}
# ``t`` is the frame time centred on the middle of the video, ``h`` the frame height in pixels.


def _translate(ux: float, uy: float, lo: float = 0.035, hi: float = 0.05):
    def fn(t: np.ndarray, rng: np.random.Generator, h: float) -> dict:
        speed = rng.uniform(lo, hi) * h / math.hypot(ux, uy)
        return {"dx": ux * speed * t, "dy": uy * speed * t}

    return fn


def _rotate(sign: float, lo_deg: float = 14.0, hi_deg: float = 22.0):
    def fn(t: np.ndarray, rng: np.random.Generator, h: float) -> dict:
        return {"angle": sign * math.radians(rng.uniform(lo_deg, hi_deg)) * t}

    return fn


def _scale(sign: float):
    def fn(t: np.ndarray, rng: np.random.Generator, h: float) -> dict:
        return {"log_scale": sign * rng.uniform(GROWTH_MID - 0.0075, GROWTH_MID + 0.0075) * t}

    return fn


def _oscillate(ux: float, uy: float):
    def fn(t: np.ndarray, rng: np.random.Generator, h: float) -> dict:
        amp = rng.uniform(0.1, 0.14) * h
        wave = amp * np.sin(2 * math.pi * t / rng.uniform(5.0, 7.0) + rng.uniform(0, 2 * math.pi))
        return {"dx": ux * wave, "dy": uy * wave}

    return fn


def _orbit(sign: float):
    def fn(t: np.ndarray, rng: np.random.Generator, h: float) -> dict:
        radius = rng.uniform(0.12, 0.16) * h
        phase = sign * 2 * math.pi * t / rng.uniform(8.0, 12.0) + rng.uniform(0, 2 * math.pi)
        return {"dx": radius * np.cos(phase), "dy": radius * np.sin(phase)}

    return fn


def _pulse(t: np.ndarray, rng: np.random.Generator, h: float) -> dict:
    period = rng.uniform(5.0, 7.0)
    return {"log_scale": 0.35 * np.sin(2 * math.pi * t / period + rng.uniform(0, 2 * math.pi))}


def _blink(t: np.ndarray, rng: np.random.Generator, h: float) -> dict:
    half = int(rng.integers(2, 4))
    offset = int(rng.integers(0, 2 * half))
    return {"visible": ((np.round(t).astype(int) + offset) // half) % 2 == 0}


def _swing(t: np.ndarray, rng: np.random.Generator, h: float) -> dict:
    period = rng.uniform(6.0, 8.0)
    return {"angle": math.radians(45) * np.sin(2 * math.pi * t / period + rng.uniform(0, 2 * math.pi))}


GROWTH_MID = 0.0525  # grow/shrink: log-size change per frame (+-0.0075)
_S = math.sqrt(0.5)
MOTIONS: dict[str, list[Motion]] = {
    "study": [
        Motion("MoveRight", "move_right", _translate(1, 0)),
        Motion("MoveLeft", "move_left", _translate(-1, 0)),
        Motion("MoveUp", "move_up", _translate(0, -1)),
        Motion("MoveDown", "move_down", _translate(0, 1)),
        Motion("RotateClockwise", "rotate_cw", _rotate(1)),
        Motion("RotateCounterClockwise", "rotate_ccw", _rotate(-1)),
        Motion("Grow", "grow", _scale(1)),
        Motion("Shrink", "shrink", _scale(-1)),
        Motion("OscillateHorizontal", "oscillate_horizontal", _oscillate(1, 0)),
        Motion("MoveRightFast", "move_right_fast", _translate(1, 0, 0.09, 0.11)),
        Motion("OscillateVertical", "oscillate_vertical", _oscillate(0, 1)),
        Motion("MoveLeftFast", "move_left_fast", _translate(-1, 0, 0.09, 0.11)),
    ],
    "pretrain": [
        Motion("MoveUpRight", "move_up_right", _translate(_S, -_S)),
        Motion("MoveUpLeft", "move_up_left", _translate(-_S, -_S)),
        Motion("MoveDownRight", "move_down_right", _translate(_S, _S)),
        Motion("MoveDownLeft", "move_down_left", _translate(-_S, _S)),
        Motion("OrbitClockwise", "orbit_cw", _orbit(1)),
        Motion("OrbitCounterClockwise", "orbit_ccw", _orbit(-1)),
        Motion("Pulse", "pulse", _pulse),
        Motion("Blink", "blink", _blink),
        Motion("Swing", "swing", _swing),
        Motion("SpinFast", "spin_fast", _rotate(1, 35.0, 42.0)),
        Motion("MoveUpFast", "move_up_fast", _translate(0, -1, 0.09, 0.11)),
        Motion("MoveDownFast", "move_down_fast", _translate(0, 1, 0.09, 0.11)),
    ],
}
_VARIANT_CODE = {"study": 1, "pretrain": 2}

# ---- appearance -------------------------------------------------------------------------------


def _shape_mask(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Inside-test of a unit-sized shape in object coordinates (all shapes show their orientation)."""
    au, av = np.abs(u), np.abs(v)
    if shape == "square":
        return (au <= 0.8) & (av <= 0.8)
    if shape == "bar":
        return (au <= 1.0) & (av <= 0.38)
    if shape == "triangle":
        s3 = math.sqrt(3)
        return (v >= -0.5) & (s3 * u + v <= 1.0) & (-s3 * u + v <= 1.0)
    if shape == "cross":
        return ((au <= 1.0) & (av <= 0.3)) | ((au <= 0.3) & (av <= 1.0))
    if shape == "ellipse":
        return u**2 + (v / 0.5) ** 2 <= 1.0
    if shape == "ell":
        return ((u >= -0.8) & (u <= 0.8) & (v >= 0.3) & (v <= 0.8)) | ((u >= -0.8) & (u <= -0.3) & (av <= 0.8))
    raise ValueError(f"unknown shape {shape!r}")


SHAPES = ("square", "bar", "triangle", "cross", "ellipse", "ell")
TEXTURES = ("solid", "split", "stripes")
BACKGROUNDS = ("smooth", "stripes", "checker", "gradient")


def _colour(rng: np.random.Generator, dark: bool) -> np.ndarray:
    """A random RGB colour in [0, 1] whose luminance lies in the dark or the light band."""
    while True:
        c = rng.uniform(0.0, 1.0, 3)
        lum = 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]
        if (lum < 0.38) if dark else (lum > 0.62):
            return c


def _background(rng: np.random.Generator, h: int, w: int, dark: bool) -> np.ndarray:
    """A random static background (float RGB (h, w, 3) in [0, 1]) of one of several kinds."""
    kind = BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    c1, c2 = _colour(rng, dark), _colour(rng, dark)
    if kind == "smooth":
        gh, gw = int(rng.integers(2, 5)), int(rng.integers(2, 6))
        grid = np.stack([_colour(rng, dark) for _ in range(gh * gw)]).reshape(gh, gw, 3)
        gy, gx = ys / max(h - 1, 1) * (gh - 1), xs / max(w - 1, 1) * (gw - 1)
        y0, x0 = np.floor(gy).astype(int).clip(0, gh - 2 if gh > 1 else 0), np.floor(gx).astype(int)
        x0 = x0.clip(0, gw - 2 if gw > 1 else 0)
        fy, fx = (gy - y0)[..., None], (gx - x0)[..., None]
        y1, x1 = np.minimum(y0 + 1, gh - 1), np.minimum(x0 + 1, gw - 1)
        img = (grid[y0, x0] * (1 - fy) * (1 - fx) + grid[y1, x0] * fy * (1 - fx)
               + grid[y0, x1] * (1 - fy) * fx + grid[y1, x1] * fy * fx)
    else:
        theta = rng.uniform(0, math.pi)
        proj = xs * math.cos(theta) + ys * math.sin(theta)
        if kind == "stripes":
            period = rng.uniform(5.0, 14.0)
            mix = 0.5 + 0.5 * np.sin(2 * math.pi * proj / period)
        elif kind == "checker":
            cell = rng.uniform(4.0, 10.0)
            other = -xs * math.sin(theta) + ys * math.cos(theta)
            mix = ((np.floor(proj / cell) + np.floor(other / cell)) % 2).astype(np.float64)
        else:
            mix = (proj - proj.min()) / max(float(np.ptp(proj)), 1e-6)
        img = c1 * mix[..., None] + c2 * (1 - mix[..., None])
    noise = rng.normal(0.0, 0.012, (h, w, 1))
    return np.clip(img + noise, 0.0, 1.0)


@dataclass(frozen=True)
class _Sprite:
    shape: str
    texture: str
    colours: tuple[np.ndarray, np.ndarray]
    cx: float
    cy: float
    angle: float
    radius: float
    log_scale: float


def _sprite(rng: np.random.Generator, width: int, height: int, dark: bool, frames: int) -> _Sprite:
    """One object's appearance and starting state, drawn independently of the class."""
    return _Sprite(
        shape=SHAPES[int(rng.integers(len(SHAPES)))], texture=TEXTURES[int(rng.integers(len(TEXTURES)))],
        colours=(_colour(rng, dark), _colour(rng, dark)), cx=rng.uniform(0, width), cy=rng.uniform(0, height),
        angle=rng.uniform(0, 2 * math.pi), radius=rng.uniform(0.13, 0.18) * min(height, width),
        # classes that keep the size still draw it from the same per-frame distribution as grow/shrink
        log_scale=rng.uniform(-1, 1) * GROWTH_MID * (frames - 1) / 2,
    )


def render_video(
    motion: Motion, rng: np.random.Generator, frames: int, width: int, height: int, supersample: int = 2
) -> np.ndarray:
    """Render one video of ``motion`` as uint8 (frames, height, width, 3), appearance drawn from ``rng``.

    2-3 objects with independent appearance and positions all follow the class's motion, so the
    motion covers much of the frame and survives random crops.
    """
    dark_bg = bool(rng.integers(2))
    background = _background(rng, height, width, dark_bg)
    sprites = [_sprite(rng, width, height, not dark_bg, frames) for _ in range(int(rng.integers(2, 4)))]
    t = np.arange(frames, dtype=np.float64) - (frames - 1) / 2
    traj = motion.fn(t, rng, float(min(height, width)))
    zeros = np.zeros(frames)
    dx, dy, turn = traj.get("dx", zeros), traj.get("dy", zeros), traj.get("angle", zeros)
    visible = traj.get("visible", np.ones(frames, dtype=bool))

    s = supersample
    ys, xs = np.mgrid[0 : height * s, 0 : width * s].astype(np.float64)
    xs, ys = (xs + 0.5) / s, (ys + 0.5) / s
    out = np.empty((frames, height, width, 3), dtype=np.uint8)
    for k in range(frames):
        img = background.copy()
        for sp in sprites:
            # displacement from the object centre on the torus, then into object coordinates
            ddx = (xs - (sp.cx + dx[k]) + width / 2) % width - width / 2
            ddy = (ys - (sp.cy + dy[k]) + height / 2) % height - height / 2
            r = sp.radius * math.exp(traj["log_scale"][k] if "log_scale" in traj else sp.log_scale)
            ca, sa = math.cos(sp.angle + turn[k]), math.sin(sp.angle + turn[k])
            u, v = (ca * ddx + sa * ddy) / r, (-sa * ddx + ca * ddy) / r
            inside = _shape_mask(sp.shape, u, v) & bool(visible[k])
            if sp.texture == "split":
                second = u > 0
            elif sp.texture == "stripes":
                second = np.floor(u * 2.5) % 2 == 0
            else:
                second = np.zeros_like(inside)
            alpha_1 = (inside & ~second).reshape(height, s, width, s).mean(axis=(1, 3))[..., None]
            alpha_2 = (inside & second).reshape(height, s, width, s).mean(axis=(1, 3))[..., None]
            img = img * (1 - alpha_1 - alpha_2) + sp.colours[0] * alpha_1 + sp.colours[1] * alpha_2
        out[k] = np.round(img * 255).astype(np.uint8)
    return out


def encode_video(path: str | os.PathLike, frames: np.ndarray, fps: int = 25, bit_rate: int = 4_000_000, *,
                 codec: str = "mpeg4", max_b_frames: int = 0, gop_size: int = 12, fourcc: str | None = "XVID",
                 keyframes: Sequence[int] = (), frame_ms: Sequence[int] | None = None) -> Path:
    """Encode uint8 (T, H, W, 3) RGB frames to a video file, atomically; the suffix picks the container.

    The defaults (used by the synthetic sets) write MPEG-4 Part 2 in an Xvid-tagged ``.avi``,
    single-threaded, no B-frames, a keyframe every 12 frames: deterministic output, easy to seek. The
    generous ``bit_rate`` keeps P-frames as clean as keyframes at small sizes (no blocking). The other
    arguments write the files real data sets hold, for decoder tests: ``max_b_frames`` B-frames,
    ``codec="libx264"`` in ``.mp4``, extra ``keyframes`` (scene cuts) and ``frame_ms`` (a variable
    frame rate: each frame's display time in milliseconds).
    """
    import av

    path = Path(path)
    t, h, w, _ = frames.shape
    if h % 2 or w % 2:
        raise ValueError(f"{path}: frame size {w}x{h} must be even for yuv420p encoding")
    container_format = {".mp4": "mp4", ".mkv": "matroska", ".mov": "mov"}.get(path.suffix.lower(), "avi")
    cuts = set(int(k) for k in keyframes)

    def write(tmp: str) -> None:
        with av.open(tmp, mode="w", format=container_format) as container:
            stream = container.add_stream(codec, rate=fps)
            stream.codec_context.bit_rate = bit_rate
            stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
            stream.codec_context.gop_size = gop_size
            stream.codec_context.max_b_frames = max_b_frames
            stream.codec_context.thread_count = 1
            if fourcc:
                stream.codec_context.codec_tag = fourcc
            if frame_ms is not None:
                stream.codec_context.time_base = Fraction(1, 1000)
            for k, frame in enumerate(frames):
                picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
                if k in cuts:
                    picture.pict_type = av.video.frame.PictureType.I
                if frame_ms is not None:
                    picture.pts, picture.time_base = int(frame_ms[k]), Fraction(1, 1000)
                for packet in stream.encode(picture):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)

    return atomic_write(path, write)


# ---- layouts ---------------------------------------------------------------------------------


def ucf_test_groups(split: int, groups: int) -> range:
    """Groups tested by ``split`` (1-3): 1-7, 8-14, 15-21 for UCF101's 25 groups, scaled for fewer."""
    per_split = max(1, round(groups * 7 / 25))
    return range((split - 1) * per_split + 1, split * per_split + 1)


def _video_seed(seed: int, variant: str, cls: int, group: int, clip: int) -> np.random.Generator:
    return np.random.default_rng([seed, _VARIANT_CODE[variant], cls, group, clip])


def ucf101_path(name: str, group: int, clip: int) -> str:
    """``<Class>/v_<Class>_gGG_cCC.avi``, the UCF101 naming."""
    return f"{name}/v_{name}_g{group:02d}_c{clip:02d}.avi"


def _hmdb_clip(name: str, group: int, clip: int) -> str:
    return f"Synthetic_{name}_g{group:02d}_c{clip:02d}_u_nm_np1_fr_goo_0.avi"


def _hmdb_tags(rng: np.random.Generator, n: int) -> np.ndarray:
    """HMDB51-style tags for one class and split: ~30% test (2), a few unused (0), the rest train (1)."""
    tags = np.ones(n, dtype=int)
    order = rng.permutation(n)
    n_test = max(1, round(0.3 * n))
    n_unused = n // 15
    tags[order[:n_test]] = 2
    tags[order[n_test : n_test + n_unused]] = 0
    return tags


def write_ucf101_lists(root: Path, names: list[str], groups: int, clips: int) -> dict:
    """Write ``ucfTrainTestlist/`` (classInd, train/test lists of splits 1-3) for the UCF101 naming."""
    lists = root / "ucfTrainTestlist"
    atomic_write_text(lists / "classInd.txt", "".join(f"{i + 1} {n}\n" for i, n in enumerate(names)))
    sizes = {}
    for split in (1, 2, 3):
        test_g = set(ucf_test_groups(split, groups))
        train, test = [], []
        for i, name in enumerate(names):
            for g in range(1, groups + 1):
                for c in range(1, clips + 1):
                    rel = ucf101_path(name, g, c)
                    (test.append(rel + "\n") if g in test_g else train.append(f"{rel} {i + 1}\n"))
        atomic_write_text(lists / f"trainlist0{split}.txt", "".join(train))
        atomic_write_text(lists / f"testlist0{split}.txt", "".join(test))
        sizes[split] = {"train": len(train), "test": len(test)}
    return sizes


def _write_hmdb_lists(root: Path, names: list[str], groups: int, clips: int, seed: int, variant: str) -> dict:
    lists = root / "testTrainMulti_7030_splits"
    sizes = {s: {"train": 0, "test": 0, "unused": 0} for s in (1, 2, 3)}
    for i, name in enumerate(names):
        files = [_hmdb_clip(name, g, c) for g in range(1, groups + 1) for c in range(1, clips + 1)]
        for split in (1, 2, 3):
            tags = _hmdb_tags(np.random.default_rng([seed, _VARIANT_CODE[variant], i, 1000 + split]), len(files))
            text = "".join(f"{f} {tag} \n" for f, tag in zip(files, tags))  # trailing space as in HMDB51
            atomic_write_text(lists / f"{name}_test_split{split}.txt", text)
            for key, tag in (("train", 1), ("test", 2), ("unused", 0)):
                sizes[split][key] += int((tags == tag).sum())
    return sizes


# ---- entry point ------------------------------------------------------------------------------


def synthetic_params(
    variant: str = "study",
    layout: str = "ucf101",
    preset: str = "default",
    *,
    num_classes: int | None = None,
    groups: int | None = None,
    clips_per_group: int | None = None,
    frames: int | None = None,
    width: int | None = None,
    height: int | None = None,
    fps: int = 25,
    seed: int = 0,
) -> dict:
    """The full, validated parameter set of a synthetic data set (preset values + explicit overrides).

    A bad value raises :class:`~videoabnn.config.ConfigError` (a ``ValueError``) naming the parameter,
    the value and what was expected, so the tools report it as one ``error:`` line.
    """
    from videoabnn.config import ConfigError

    if variant not in VARIANTS:
        raise ConfigError(f"unknown synthetic variant {variant!r}; expected one of {', '.join(VARIANTS)}")
    if layout not in LAYOUTS:
        raise ConfigError(f"unknown synthetic layout {layout!r}; expected one of {', '.join(LAYOUTS)}")
    if preset not in PRESETS:
        raise ConfigError(f"unknown synthetic preset {preset!r}; expected one of {', '.join(PRESETS)}")
    base = {**PRESETS[preset], **VARIANT_ADJUST.get(preset, {}).get(variant, {})}
    explicit = {"num_classes": num_classes, "groups": groups, "clips_per_group": clips_per_group,
                "frames": frames, "width": width, "height": height}
    base.update({k: v for k, v in explicit.items() if v is not None})
    available = len(MOTIONS[variant])
    if not 2 <= base["num_classes"] <= available:
        raise ConfigError(f"synthetic num_classes must be in 2..{available} for variant {variant!r} (its {available} "
                          f"motion classes), got {base['num_classes']}")
    for key, least in (("groups", 4), ("clips_per_group", 1), ("frames", 2)):
        if base[key] < least:
            raise ConfigError(f"synthetic {key}: expected an integer >= {least}, got {base[key]}")
    if base["width"] % 2 or base["height"] % 2 or min(base["width"], base["height"]) < 8:
        raise ConfigError(f"synthetic width/height must be even and >= 8, got {base['width']}x{base['height']}")
    if fps < 1:
        raise ConfigError(f"synthetic fps: expected an integer >= 1, got {fps}")
    if seed < 0:
        raise ConfigError(f"synthetic seed: expected an integer >= 0, got {seed}")
    return {"generator_version": GENERATOR_VERSION, "variant": variant, "layout": layout, **base,
            "fps": int(fps), "seed": int(seed)}


def _check_root(root: Path) -> None:
    """``root`` is a folder, or a path where one can be created (no file on the way)."""
    from videoabnn.config import ConfigError

    for above in (root, *root.parents):
        if above.exists():
            if not above.is_dir():
                where = "is a file" if above == root else f"{above} is a file"
                raise ConfigError(f"synthetic data root {root}: {where}; expected a folder (or a path to create one at)")
            return


def class_names(variant: str, layout: str, num_classes: int) -> list[str]:
    """Class names of a synthetic set in the layout's naming style (CamelCase for UCF101, snake_case HMDB51)."""
    motions = MOTIONS[variant][:num_classes]
    return [m.ucf_name if layout == "ucf101" else m.hmdb_name for m in motions]


def _make_video(job: tuple[int, int, int], params: dict, root: Path, names: list[str]) -> int:
    """Render and encode one video (its content depends only on seed, variant, class, group, clip)."""
    i, g, c = job
    variant = params["variant"]
    rel = ucf101_path(names[i], g, c) if params["layout"] == "ucf101" else f"{names[i]}/{_hmdb_clip(names[i], g, c)}"
    rng = _video_seed(params["seed"], variant, i, g, c)
    video = render_video(MOTIONS[variant][i], rng, params["frames"], params["width"], params["height"])
    return encode_video(root / rel, video, fps=params["fps"]).stat().st_size


def _progress(items, total: int, show: bool, variant: str):
    if not show:
        return items
    from tqdm import tqdm

    return tqdm(items, total=total, desc=f"synthetic {variant}", unit="video")


def _read_marker(root: Path) -> dict | None:
    try:
        return json.loads((root / MARKER).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def generate_synthetic(
    root: str | os.PathLike,
    variant: str = "study",
    layout: str = "ucf101",
    preset: str = "default",
    *,
    num_classes: int | None = None,
    groups: int | None = None,
    clips_per_group: int | None = None,
    frames: int | None = None,
    width: int | None = None,
    height: int | None = None,
    fps: int = 25,
    seed: int = 0,
    overwrite: bool = False,
    progress: bool = False,
    workers: int | None = None,
) -> dict:
    """Write a synthetic set under ``root`` in the official ``layout``; returns a summary dict.

    Idempotent: when ``root`` already holds a complete set with the same parameters nothing is
    written (``summary["generated"]`` is False). A set with other parameters is an error unless
    ``overwrite=True`` (which deletes the layout's folders first); a set written by an older
    generator version with the same parameters is regenerated. ``workers`` processes render in
    parallel (default: the CPU count, at most 8, for sets of 200 videos or more; else one); the
    files do not depend on it.

    Classes are defined by motion only (direction, speed, rotation, growth, periodic motion of 2-3 textured
    objects over a random background), so no single frame tells the class. The size arguments override the
    ``preset`` (:data:`PRESETS`; ``default``: 10 classes, 25 groups, 4 clips per group (6 for ``pretrain``),
    20 frames of 40 x 40; ``quick``: 4 classes, 25 groups, 1 clip, 12 frames of 40 x 40); a bad value raises
    a ``ValueError`` (see `synthetic_params`).

    Paper: none (a synthetic stand-in written in the UCF101 / HMDB51 layouts: Soomro et al. 2012,
    Kuehne et al., ICCV 2011).

    Args:
        root: folder to write into (``UCF-101/`` + ``ucfTrainTestlist/``, or ``hmdb51_org/`` +
            ``testTrainMulti_7030_splits/``, and a marker file recording the parameters).
        variant: ``"study"`` (the main set) or ``"pretrain"`` (disjoint motions, for ABNN's substitute).
            Default: "study".
        layout: ``"ucf101"`` or ``"hmdb51"``, the official layout and split files written. Default: "ucf101".
        preset: ``"default"`` or ``"quick"`` (CI smoke tests), the sizes used where no override is given.
            Default: "default".
        num_classes: classes, 2 up to the variant's motion count. Default: None (the preset's).
        groups: UCF101-style groups per class, >= 4 (splits test groups 1-7, 8-14, 15-21 of 25).
            Default: None (the preset's).
        clips_per_group: clips per group, >= 1. Default: None (the preset's).
        frames: frames per video, >= 2. Default: None (the preset's).
        width: frame width in pixels, even and >= 8. Default: None (the preset's).
        height: frame height in pixels, even and >= 8. Default: None (the preset's).
        fps: frame rate written into the files. Default: 25.
        seed: generator seed (same seed, same videos). Default: 0.
        overwrite: replace a set with other parameters (deleting the layout folders) instead of raising
            FileExistsError. Default: False.
        progress: show a tqdm progress bar. Default: False.
        workers: rendering processes. Default: None (see above).

    Returns:
        A summary dict: ``variant``, ``layout``, ``classes``, ``videos``, ``frames``, ``size``, ``fps``,
        ``seed``, ``splits``, ``bytes``, ``video_dir``, ``list_dir``, ``root``, ``generated`` (False when
        the set was already there) and ``seconds``.

    Shape:
        - videos: ``frames`` x ``height`` x ``width`` RGB .avi files; read back by `UCF101` / `HMDB51` as
          ``{"clip": (C, T, H, W) float in [0, 1], "label": int, "video": int}`` items.

    Examples:
        >>> summary = generate_synthetic("data/synthetic", preset="quick")
        >>> train = UCF101("data/synthetic", split=1, train=True)
    """
    root = Path(root)
    params = synthetic_params(variant, layout, preset, num_classes=num_classes, groups=groups,
                              clips_per_group=clips_per_group, frames=frames, width=width, height=height,
                              fps=fps, seed=seed)
    _check_root(root)
    existing = _read_marker(root)
    if existing is not None and existing.get("params") == params:
        summary = {**existing["summary"]}
        summary["splits"] = {int(k): v for k, v in (summary.get("splits") or {}).items()}  # JSON made them strings
        return {**summary, "root": str(root), "generated": False, "seconds": 0.0}
    video_dir, list_dir = ("UCF-101", "ucfTrainTestlist") if layout == "ucf101" else (
        "hmdb51_org", "testTrainMulti_7030_splits")
    if existing is not None:
        old = existing.get("params", {})
        same_but_version = {**old, "generator_version": GENERATOR_VERSION} == params
        if not (overwrite or same_but_version):
            changed = sorted(k for k in params if old.get(k) != params[k])
            diff = ", ".join(f"{k} {old.get(k)!r} there, {params[k]!r} wanted" for k in changed)
            raise FileExistsError(f"{root / MARKER}: a synthetic set with other parameters is already there ({diff}); "
                                  "use another root (data.root=... / --root) or replace it (--overwrite, "
                                  "overwrite=True)")
        (root / MARKER).unlink()
        for sub in ("UCF-101", "ucfTrainTestlist", "hmdb51_org", "testTrainMulti_7030_splits"):
            shutil.rmtree(root / sub, ignore_errors=True)

    start = time.perf_counter()
    names = class_names(variant, layout, params["num_classes"])
    jobs = [(i, g, c) for i in range(len(names)) for g in range(1, params["groups"] + 1)
            for c in range(1, params["clips_per_group"] + 1)]
    make = partial(_make_video, params=params, root=root / video_dir, names=names)
    if workers is None:
        workers = min(os.cpu_count() or 1, 8) if len(jobs) >= 200 else 1
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            sizes_iter = pool.map(make, jobs, chunksize=16)
            total_bytes = sum(_progress(sizes_iter, len(jobs), progress, variant))
    else:
        total_bytes = sum(_progress(map(make, jobs), len(jobs), progress, variant))
    count = len(jobs)
    if layout == "ucf101":
        sizes = write_ucf101_lists(root, names, params["groups"], params["clips_per_group"])
    else:
        sizes = _write_hmdb_lists(root, names, params["groups"], params["clips_per_group"], params["seed"], variant)
    summary = {"variant": variant, "layout": layout, "classes": names, "videos": count,
               "frames": params["frames"], "size": f"{params['width']}x{params['height']}", "fps": params["fps"],
               "seed": params["seed"], "splits": sizes, "bytes": total_bytes, "video_dir": video_dir,
               "list_dir": list_dir}
    atomic_write_json(root / MARKER, {"params": params, "summary": summary})
    return {**summary, "root": str(root), "generated": True, "seconds": round(time.perf_counter() - start, 3)}
