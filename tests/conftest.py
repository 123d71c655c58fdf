"""Suite-wide settings: small thread counts and fixed seeds so tests are fast and repeatable."""

import os

import pytest
import torch

os.environ.setdefault("OMP_NUM_THREADS", "2")
torch.set_num_threads(2)


# Test folders of tiny models only: single-threaded torch runs them fastest (OpenMP threads only contend on a
# busy 2-core machine); the other folders keep the suite-wide 2 threads.
ONE_THREAD_FOLDERS = frozenset({"abnn", "defenses", "engine", "tools"})


@pytest.fixture(autouse=True)
def _seed_torch():
    torch.manual_seed(0)
    yield


@pytest.fixture(autouse=True)
def _threads_for_folder(request):
    """One torch thread in :data:`ONE_THREAD_FOLDERS`, restored afterwards."""
    if request.node.path.parent.name not in ONE_THREAD_FOLDERS:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def synthetic_ucf_root(tmp_path_factory):
    """A tiny synthetic set in the official UCF101 layout (4 motion classes x 25 groups x 1 clip, 12 frames
    of 40x40), generated once per test session. Pass it as ``data.root`` with ``data.name=synthetic`` and
    ``data.synthetic.preset=quick``, or to ``UCF101(root, split, train)``."""
    from videoabnn.data import generate_synthetic

    root = tmp_path_factory.mktemp("synthetic_ucf")
    generate_synthetic(root, variant="study", layout="ucf101", preset="quick", seed=0)
    return root


@pytest.fixture(scope="session")
def synthetic_hmdb_root(tmp_path_factory):
    """The same tiny synthetic set in the official HMDB51 layout (``hmdb51_org/`` + split files)."""
    from videoabnn.data import generate_synthetic

    root = tmp_path_factory.mktemp("synthetic_hmdb")
    generate_synthetic(root, variant="study", layout="hmdb51", preset="quick", seed=0)
    return root


def write_xvid_ucf_tree(root, classes=("ApplyEyeMakeup", "HandstandPushups", "Basketball"), groups: int = 4,
                        frames: int = 48, width: int = 96, height: int = 72, seed: int = 0):
    """A UCF101-layout tree in UCF101's own format: Xvid MPEG-4 AVIs with B-frames and several keyframes
    (scene cuts), CRLF split lists, and the HandstandPushups folder holding v_HandStandPushups_* files.
    Each class moves its objects its own way (the synthetic motions), so a small model can learn it."""
    from pathlib import Path

    import numpy as np

    from videoabnn.data import MOTIONS, encode_video, render_video

    root = Path(root)
    lists = root / "ucfTrainTestlist"
    lists.mkdir(parents=True, exist_ok=True)
    stem = {name: ("HandStandPushups" if name == "HandstandPushups" else name) for name in classes}
    (lists / "classInd.txt").write_bytes("".join(f"{i + 1} {n}\r\n" for i, n in enumerate(classes)).encode())
    motions = MOTIONS["study"]
    rng = np.random.default_rng(seed)
    for i, name in enumerate(classes):
        for g in range(1, groups + 1):
            video = render_video(motions[i % len(motions)], rng, frames, width, height)
            cuts = tuple(int(k) for k in rng.choice(np.arange(6, frames - 4), 2, replace=False))
            encode_video(root / "UCF-101" / name / f"v_{stem[name]}_g{g:02d}_c01.avi", video, max_b_frames=2,
                         keyframes=cuts, gop_size=18, bit_rate=600_000)
    for split in (1, 2, 3):
        train, test = [], []
        for i, name in enumerate(classes):
            for g in range(1, groups + 1):
                rel = f"{name}/v_{stem[name]}_g{g:02d}_c01.avi"
                (test.append(rel) if g == split else train.append(f"{rel} {i + 1}"))
        (lists / f"trainlist0{split}.txt").write_bytes(("\r\n".join(train) + "\r\n").encode())
        (lists / f"testlist0{split}.txt").write_bytes(("\r\n".join(test) + "\r\n").encode())
    return root


@pytest.fixture(scope="session")
def xvid_ucf_root(tmp_path_factory):
    """A 3-class UCF101-layout tree of Xvid AVIs with B-frames (see ``write_xvid_ucf_tree``), 4 groups."""
    return write_xvid_ucf_tree(tmp_path_factory.mktemp("xvid_ucf"))
