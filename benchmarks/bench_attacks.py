"""Time per clip and peak memory of each attack, and PGD-k time over k forward+backward passes.

    .venv/bin/python benchmarks/bench_attacks.py [--model tiny_r3d] [--frames 8] [--size 56] [--batch 2]

The floor of a gradient attack is k forward+backward passes to the input; the ratio printed for
PGD-k should stay <= 1.10 on CPU. Uses the GPU when available (``--device``).
"""

from __future__ import annotations

import argparse
import resource
import time

import torch
from torch import nn

from videoabnn.attacks import build_attack
from videoabnn.attacks.base import attack_mode


class TinyR3D(nn.Module):
    """Fallback 3D ResNet-like model (used when videoabnn.models has no ``tiny_r3d``)."""

    def __init__(self, num_classes: int = 10, width: int = 16) -> None:
        super().__init__()

        def block(cin: int, cout: int, stride: int) -> nn.Module:
            return nn.Sequential(nn.Conv3d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm3d(cout), nn.ReLU())

        self.net = nn.Sequential(block(3, width, 1), block(width, 2 * width, 2), block(2 * width, 4 * width, 2),
                                 nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(4 * width, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - 0.45) / 0.225)


def make_model(name: str, num_classes: int) -> nn.Module:
    try:
        from videoabnn.models import create_model

        return create_model(name, num_classes)
    except (ImportError, ValueError, KeyError):
        return TinyR3D(num_classes)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device: torch.device, repeats: int) -> tuple[float, float]:
    """Fastest of ``repeats`` runs of ``fn()`` (robust to other load on a shared machine) and peak memory
    in MiB: the CUDA allocator's peak on GPU, the process's peak resident set size on CPU."""
    fn()  # warm-up
    times = []
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    for _ in range(repeats):
        sync(device)
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return min(times), peak


def paired_ratio(attack_fn, floor_fn, k: int, device: torch.device, repeats: int) -> float:
    """min time(attack) / min time(k x floor), measured alternately so that load from other
    processes on a shared machine hits both sides alike."""
    best_a, best_f = float("inf"), float("inf")
    for _ in range(repeats):
        sync(device)
        t0 = time.perf_counter()
        attack_fn()
        sync(device)
        t1 = time.perf_counter()
        for _ in range(k):
            floor_fn()
        sync(device)
        t2 = time.perf_counter()
        best_a, best_f = min(best_a, t1 - t0), min(best_f, t2 - t1)
    return best_a / best_f


ATTACKS = [
    ("fgsm", {"eps": 4 / 255}),
    ("pgd", {"eps": 4 / 255, "alpha": 1 / 255, "steps": 5}),
    ("pgd", {"eps": 8 / 255, "alpha": 2 / 255, "steps": 10}),
    ("pgd_l2", {"eps": 160 / 255, "alpha": 1 / 255, "steps": 5}),
    ("mifgsm", {"eps": 4 / 255, "steps": 5}),
    ("apgd_ce", {"eps": 8 / 255, "steps": 10}),
    ("apgd_dlr", {"eps": 8 / 255, "steps": 10}),
    ("multav", {"steps": 5}),
    ("square", {"eps": 4 / 255, "queries": 20}),
    ("roa", {"size": 30 / 112, "position": "gradient", "steps": 5}),
    ("roa", {"size": 30 / 112, "position": "random", "per_frame": True, "steps": 5}),
    ("framing", {"width": 5 / 112, "steps": 5}),
    ("spa", {"pixels": 100 / 112**2, "steps": 5}),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tiny_r3d")
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--size", type=int, default=56)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    model = make_model(args.model, args.classes).to(device).eval()
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(args.batch, 3, args.frames, args.size, args.size, generator=gen).to(device)
    y = torch.randint(0, args.classes, (args.batch,), generator=gen).to(device)
    print(f"model={type(model).__name__} clip=3x{args.frames}x{args.size}x{args.size} batch={args.batch} "
          f"device={device} threads={torch.get_num_threads()}")

    def fwd_bwd() -> None:
        with attack_mode(model), torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            torch.autograd.grad(nn.functional.cross_entropy(model(xg), y, reduction="sum"), xg)

    floor, floor_mem = timed(fwd_bwd, device, args.repeats * 3)
    print(f"{'forward+backward to input':<44} {floor / args.batch * 1e3:9.2f} ms/clip  peak {floor_mem:8.1f} MiB (CPU: process peak RSS)")
    for name, params in ATTACKS:
        attack = build_attack(name, model, seed=0, **params)
        sec, mem = timed(lambda a=attack: a(x, y), device, args.repeats)
        label = f"{name} " + " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())
        extra = ""
        if name in ("pgd", "pgd_l2", "fgsm"):
            k = params.get("steps", 1)
            extra = f"  ratio vs {k}x fwd+bwd {paired_ratio(lambda a=attack: a(x, y), fwd_bwd, k, device, args.repeats):.3f}"
        print(f"{label:<44} {sec / args.batch * 1e3:9.2f} ms/clip  peak {mem:8.1f} MiB{extra}")


if __name__ == "__main__":
    main()
