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
