"""Suite-wide settings: small thread counts and fixed seeds so tests are fast and repeatable."""

import os

import pytest
import torch

os.environ.setdefault("OMP_NUM_THREADS", "2")
torch.set_num_threads(2)


@pytest.fixture(autouse=True)
def _seed_torch():
    torch.manual_seed(0)
    yield


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
