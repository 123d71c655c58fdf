"""ABNN cost vs the target alone: forward, training step, white-box gradient, and parameter counts.

Usage: python benchmarks/bench_abnn.py [--device cpu|cuda] [--repeats 5] [--threads 2]
Targets (issue 3): ABNN overhead over the target alone <= substitute forward + 10% of the target,
adaptive-layer parameters a small fraction of the target's (the author's prototype had ~1.1e9).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
from torch import nn

from videoabnn.models import create_model

PROTOTYPE_ADAPTIVE_PARAMS = 1.1e9
PAIRS = [  # (substitute, substitute kwargs, target, target kwargs, batch, frames, size)
    ("tiny_r3d", {}, "tiny_r3d", {}, 2, 8, 32),
    ("r3d_18", {}, "resnext3d_101", {}, 2, 8, 56),
    # the released I3D as substitute (configs/ucf101/abnn_r3d18_i3d.yaml), at that config's clip size
    ("i3d", {}, "resnet3d_18", {"shortcut": "A"}, 2, 16, 112),
]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fns: dict[str, Callable[[], None]], device: torch.device, repeats: int, warmup: int = 2) -> dict:
    """Best-of-``repeats`` wall time (ms) of each function, run interleaved so that load from other
    processes hits all of them alike (the minimum is the least noisy estimate on a shared machine)."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            _sync(device)
            start = time.perf_counter()
            fn()
            _sync(device)
            times[name].append((time.perf_counter() - start) * 1e3)
    return {name: min(values) for name, values in times.items()}


def _forward(model: nn.Module, x: torch.Tensor) -> Callable[[], None]:
    def run() -> None:
        model.eval()
        with torch.no_grad():
            if isinstance(model, nn.ModuleList):
                for m in model:
                    m(x)
            else:
                model(x)
    return run


def _train_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> Callable[[], None]:
    def run() -> None:
        model.train()
        model.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(x), y).backward()
    return run


def _input_grad(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> Callable[[], None]:
    def run() -> None:
        model.eval()
        xa = x.clone().requires_grad_(True)
        torch.autograd.grad(nn.functional.cross_entropy(model(xa), y), xa)
    return run


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def bench_pair(sub_name: str, sub_kw: dict, tgt: str, tgt_kw: dict, batch: int, frames: int, size: int,
               device: torch.device, repeats: int) -> None:
    """Print forward / train-step / white-box-gradient times and parameter counts for one pair."""
    torch.manual_seed(0)
    abnn = create_model("abnn", num_classes=101, substitute=sub_name, substitute_kwargs=sub_kw, target=tgt,
                        target_kwargs=tgt_kw).to(device)
    target_alone = create_model(tgt, num_classes=101, **tgt_kw).to(device)
    x = torch.rand(batch, 3, frames, size, size, device=device)
    y = torch.randint(0, 101, (batch,), device=device)
    sub = abnn.substitute
    both = _forward(nn.ModuleList([target_alone, sub]), x)  # the two networks back to back, no ABNN layers
    fwd = timed({"t": _forward(target_alone, x), "s": _forward(sub, x), "a": _forward(abnn, x),
                 "ts": both}, device, repeats)
    step = timed({"t": _train_step(target_alone, x, y), "a": _train_step(abnn, x, y)}, device, repeats)
    grad = timed({"t": _input_grad(target_alone, x, y), "s": _input_grad(sub, x, y),
                  "a": _input_grad(abnn, x, y)}, device, repeats)
    print(f"\n== substitute {sub_name} -> target {tgt}: batch {batch}, {frames}x{size}x{size}, {device} ==")
    print(f"substitute alone: forward {fwd['s']:.1f} ms, forward+input-backward {grad['s']:.1f} ms; target and "
          f"substitute forwards back to back (no adaptive layers): {fwd['ts']:.1f} ms "
          f"(= target + {fwd['ts'] - fwd['t']:.1f} ms)")
    rows = (("forward (eval, no grad)", fwd, fwd["s"], "sub fwd"),
            ("train step (fwd+bwd)", step, fwd["s"], "sub fwd"),
            ("white-box input grad", grad, grad["s"], "sub fwd+bwd"))
    for label, t, sub_cost, sub_label in rows:
        overhead = t["a"] - t["t"]
        budget = sub_cost + 0.10 * t["t"]
        verdict = "within" if overhead <= budget else "OVER"
        print(f"{label:24s} target {t['t']:8.1f} ms | ABNN {t['a']:8.1f} ms | overhead {overhead:7.1f} ms = "
              f"{overhead / sub_cost:4.2f} x {sub_label}; budget {sub_label} + 10% target = {budget:.1f} ms: {verdict}")
    n_t, n_s, n_a = count(abnn.target), count(abnn.substitute), abnn.adaptive_parameter_count()
    print(f"params: target {n_t / 1e6:.2f}M, substitute {n_s / 1e6:.2f}M (frozen), adaptive layers "
          f"{n_a / 1e6:.3f}M = {100 * n_a / n_t:.1f}% of target ({n_a / PROTOTYPE_ADAPTIVE_PARAMS:.2e} x the "
          f"prototype's ~1.1e9)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (torch.set_num_threads)")
    parser.add_argument("--pairs", default="all", help="'all', or a model name part: 'tiny', 'resnext', 'i3d'")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    pairs = PAIRS if args.pairs == "all" else [p for p in PAIRS if args.pairs in p[0] or args.pairs in p[2]]
    print(f"torch {torch.__version__}, device {device}, threads {torch.get_num_threads()}, repeats {args.repeats}")
    for pair in pairs:
        bench_pair(*pair, device=device, repeats=args.repeats)


if __name__ == "__main__":
    main()
