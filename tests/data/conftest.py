"""Fixtures for the data tests: tiny hand-built layouts and a writer for small encoded videos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from videoabnn.data import encode_video


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
