"""torchrun / DistributedDataParallel support: one process per device, rank 0 writes files.

Under ``torchrun`` the environment carries RANK/WORLD_SIZE/LOCAL_RANK; without it everything
runs as a single process (world size 1) and every helper here is a cheap no-op. The backend is
nccl on CUDA and gloo on CPU. Evaluation shards whole batches (batch b goes to rank b mod W),
so each batch, its attack seed and hence every number equal the single-process run exactly.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch.utils.data import Sampler


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_world_size() -> int:
    """World size announced by the launcher (1 when not launched by torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def init_distributed(device: torch.device) -> DistInfo:
    """Join the process group announced by torchrun (if any); nccl for CUDA, gloo otherwise."""
    world = env_world_size()
    if world <= 1:
        return DistInfo()
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend, rank=rank, world_size=world)
    return DistInfo(rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=local_rank)


def get_info() -> DistInfo:
    """The current process's place (world size 1 when no process group is running)."""
    if dist.is_available() and dist.is_initialized():
        return DistInfo(
            rank=dist.get_rank(),
            world_size=dist.get_world_size(),
            local_rank=int(os.environ.get("LOCAL_RANK", dist.get_rank())),
        )
    return DistInfo()


def is_main() -> bool:
    """True on rank 0 (and in single-process runs): the process that writes files."""
    return get_info().is_main


def barrier() -> None:
    """Wait for every rank (no-op in single-process runs)."""
    if get_info().enabled:
        dist.barrier()


def all_gather_objects(obj: Any) -> list[Any]:
    """Every rank's ``obj`` in rank order (``[obj]`` in single-process runs)."""
    info = get_info()
    if not info.enabled:
        return [obj]
    out: list[Any] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` on every rank."""
    if not get_info().enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def all_reduce_sum(values: Sequence[float], device: torch.device | None = None) -> list[float]:
    """Sum a few numbers over ranks (e.g. loss and sample counts for the epoch log)."""
    if not get_info().enabled:
        return [float(v) for v in values]
    backend_device = device if (device is not None and device.type == "cuda") else torch.device("cpu")
    t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=backend_device)
    dist.all_reduce(t)
    return t.cpu().tolist()


def cleanup() -> None:
    """Leave the process group (if this process joined one)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


class BatchShardSampler(Sampler[list[int]]):
    """Batch sampler for evaluation: the single-process batches in order, batch b on rank b mod W.

    Batches cut ``indices`` (default: every item) in order; yields lists of dataset indices.
    ``batch_ids`` holds the global batch numbers this rank handles, in the same order.
    """

    def __init__(self, num_samples: int, batch_size: int, rank: int = 0, world_size: int = 1,
                 max_batches: int | None = None, indices: Sequence[int] | None = None) -> None:
        if batch_size < 1:
            raise ValueError(f"batch size must be >= 1, got {batch_size}")
        self.indices = list(range(num_samples)) if indices is None else [int(i) for i in indices]
        total = (len(self.indices) + batch_size - 1) // batch_size
        if max_batches is not None:
            total = min(total, int(max_batches))
        self.num_samples = num_samples
        self.batch_size = batch_size
        self.batch_ids = [b for b in range(total) if b % world_size == rank]

    def __iter__(self) -> Iterator[list[int]]:
        for b in self.batch_ids:
            yield self.indices[b * self.batch_size:(b + 1) * self.batch_size]

    def __len__(self) -> int:
        return len(self.batch_ids)
