"""Fixtures for the data tests: tiny hand-built layouts and a writer for small encoded videos."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from videoabnn.data import encode_video


@pytest.fixture(autouse=True, scope="session")
def frame_index_dir(tmp_path_factory):
    """The data tests' frame indexes go to a temporary folder, not the user cache (subprocesses too)."""
    from videoabnn.data.index import ENV_VAR

    folder = tmp_path_factory.mktemp("frame_index")
    before = os.environ.get(ENV_VAR)
    os.environ[ENV_VAR] = str(folder)
    yield folder
    if before is None:
        os.environ.pop(ENV_VAR, None)
    else:
        os.environ[ENV_VAR] = before


def tiny_video(path: Path, frames: int = 8, width: int = 32, height: int = 24, value: int | None = None) -> Path:
    """Encode a small video whose frame k has a distinct brightness ramp (so frames can be told apart)."""
    rng = np.random.default_rng(abs(hash(path.name)) % 2**32)
    base = rng.integers(0, 200, (1, height, width, 3)) if value is None else np.full((1, height, width, 3), value)
    ramp = (np.arange(frames) * 4)[:, None, None, None]
    return encode_video(path, np.clip(base + ramp, 0, 255).astype(np.uint8))


@pytest.fixture
def make_video():
    return tiny_video


@pytest.fixture(scope="session")
def quirk_ucf_root(tmp_path_factory) -> Path:
    """A 2-class UCF101 layout with the HandstandPushups/v_HandStandPushups_ quirk and CRLF list files."""
    root = tmp_path_factory.mktemp("quirk_ucf")
    classes = ["ApplyEyeMakeup", "HandstandPushups"]
    file_stem = {"ApplyEyeMakeup": "ApplyEyeMakeup", "HandstandPushups": "HandStandPushups"}
    lists = root / "ucfTrainTestlist"
    lists.mkdir()
    (lists / "classInd.txt").write_bytes(b"1 ApplyEyeMakeup\r\n2 HandstandPushups\r\n")
    for split in (1, 2, 3):
        train, test = [], []
        for i, name in enumerate(classes):
            for g in (1, 8, 15, 22):
                rel = f"{name}/v_{file_stem[name]}_g{g:02d}_c01.avi"
                in_test = (split - 1) * 7 < g <= split * 7
                (test if in_test else train).append(rel if in_test else f"{rel} {i + 1}")
        (lists / f"trainlist0{split}.txt").write_bytes(("\r\n".join(train) + "\r\n").encode())
        (lists / f"testlist0{split}.txt").write_bytes(("\r\n".join(test) + "\r\n").encode())
    for name in classes:
        for g in (1, 8, 15, 22):
            tiny_video(root / "UCF-101" / name / f"v_{file_stem[name]}_g{g:02d}_c01.avi")
    return root


REAL_VIDEOS = Path(__file__).resolve().parents[3] / "shared" / "data" / "real-videos"


def real_video_files() -> list[Path]:
    """The shared real clips (../shared/data/real-videos), empty when that folder is absent."""
    return sorted(p for p in REAL_VIDEOS.glob("*") if p.suffix in (".mp4", ".avi")) if REAL_VIDEOS.is_dir() else []


def moving_frames(frames: int, width: int, height: int, seed: int = 0) -> np.ndarray:
    """Textured frames that move and carry their number in a bright band: every frame is distinct."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (height, width, 3)).astype(np.uint8)
    out = np.stack([np.roll(base, 3 * k, axis=1) for k in range(frames)])
    out[:, : height // 8] = ((np.arange(frames) * 7) % 256)[:, None, None, None]
    return out


def write_dataset_like_videos(folder: Path) -> dict[str, Path]:
    """The properties that broke decoders on real data sets, as small files: Xvid and DivX AVIs with
    B-frames and scene-cut keyframes (UCF101, HMDB51), H.264 with B-frames in MP4, a variable frame
    rate, and an AVI whose header announces more frames than it holds (cut short)."""
    folder.mkdir(parents=True, exist_ok=True)
    frames = moving_frames(60, 160, 120)
    files = {
        "ucf_xvid_bframes.avi": dict(max_b_frames=2, keyframes=(10, 22, 41), bit_rate=800_000),
        "hmdb_divx_bframes.avi": dict(max_b_frames=3, fourcc="DIVX", gop_size=25, bit_rate=600_000),
        "h264_bframes.mp4": dict(codec="libx264", fourcc=None, max_b_frames=3, gop_size=20),
        "h264_vfr.mp4": dict(codec="libx264", fourcc=None, max_b_frames=2,
                             frame_ms=np.cumsum(np.random.default_rng(1).choice([33, 40, 67], 60))),
    }
    out = {name: encode_video(folder / name, frames, **kwargs) for name, kwargs in files.items()}
    whole = encode_video(folder / "full.avi", frames, max_b_frames=2, bit_rate=800_000)
    data = whole.read_bytes()
    (folder / "header_overstates.avi").write_bytes(data[: int(len(data) * 0.6)])
    whole.unlink()
    out["header_overstates.avi"] = folder / "header_overstates.avi"
    return out


@pytest.fixture(scope="session")
def dataset_like_videos(tmp_path_factory) -> dict[str, Path]:
    return write_dataset_like_videos(tmp_path_factory.mktemp("dataset_like"))
