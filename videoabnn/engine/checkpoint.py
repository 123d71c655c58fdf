"""Training checkpoints: the model in ``videoabnn.models.save_model`` form plus everything a resume needs.

A checkpoint written here is also a model file: ``videoabnn.models.load_model(path)`` rebuilds
the network from it. The extra ``training`` entry holds optimizer, scheduler, AMP scaler,
epoch, best metric, elapsed seconds and every RNG state, so ``--resume`` continues exactly.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from videoabnn.models.weights import CheckpointError, read_checkpoint

TRAINING_KEY = "training"
LAST_NAME = "last.pt"
BEST_NAME = "best.pt"


def rng_state() -> dict:
    """Every global RNG state a training step can touch (Python, NumPy, torch CPU and CUDA)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {  # tensors and plain containers only, so the file loads with weights_only=True
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what :func:`rng_state` captured."""
    random.setstate(state["python"])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module inside a DistributedDataParallel/DataParallel wrapper."""
    return model.module if hasattr(model, "module") and isinstance(model, nn.parallel.DistributedDataParallel) else model


def save_checkpoint(path: str | Path, model: nn.Module, training: dict[str, Any], **extra: Any) -> Path:
    """Write the model (``save_model`` format) plus a ``training`` state dict, atomically."""
    from videoabnn.models import save_model

    save_model(unwrap(model), path, **{TRAINING_KEY: training, **extra})
    return Path(path)


def training_state(
    *,
    epoch: int,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    scaler: Any = None,
    loader_generator: torch.Generator | None = None,
    **fields: Any,
) -> dict:
    """Collect the resumable state after ``epoch`` (0-based, completed)."""
    state = {"epoch": int(epoch), "rng": rng_state(), **fields}
    if optimizer is not None:
        state["optimizer"] = optimizer.state_dict()
    if scheduler is not None:
        state["scheduler"] = scheduler.state_dict()
    if scaler is not None:
        state["scaler"] = scaler.state_dict()
    if loader_generator is not None:
        state["loader_generator"] = loader_generator.get_state()
    return state


def read_run_checkpoint(path: str | Path) -> dict:
    """A videoabnn checkpoint as a dict (the project's one reader, ``videoabnn.models.read_checkpoint``)."""
    data = read_checkpoint(path)
    if not isinstance(data, dict):
        raise CheckpointError(f"checkpoint {path}: expected a dict saved by videoabnn, got {type(data).__name__}")
    return data


def restore_training(
    data: dict,
    *,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    scaler: Any = None,
    loader_generator: torch.Generator | None = None,
) -> dict:
    """Load optimizer/scheduler/scaler/RNG states from a checkpoint dict; return its training state."""
    state = data.get(TRAINING_KEY)
    if not isinstance(state, dict):
        raise CheckpointError("checkpoint has no training state (was it written by the trainer?)")
    if optimizer is not None and "optimizer" in state:
        optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and "scheduler" in state:
        scheduler.load_state_dict(state["scheduler"])
    if scaler is not None and "scaler" in state:
        scaler.load_state_dict(state["scaler"])
    if loader_generator is not None and "loader_generator" in state:
        loader_generator.set_state(state["loader_generator"])
    set_rng_state(state["rng"])
    return state
