"""What a result file records about the software and machine that produced it."""

from __future__ import annotations

import platform
import sys
from importlib import metadata


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def environment_info() -> dict:
    """Versions of Python and the key packages, plus the machine (CPU/GPU) the run used."""
    import torch

    info = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpu_count": __import__("os").cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "packages": {
            name: _version(name)
            for name in ("videoabnn", "torch", "torchvision", "pytorchvideo", "decord", "av", "einops", "numpy")
        },
    }
    return info
