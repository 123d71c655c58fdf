"""Single-threaded torch for the tiny ABNN tests (OpenMP threads only contend on a busy 2-core machine)."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
