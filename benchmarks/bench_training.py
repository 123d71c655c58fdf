#!/usr/bin/env python
"""Training cost per method: seconds per epoch of the tiny model on in-memory clips and the training FLOPs
(passes x FLOPs per pass, as the trainer counts them), each with its ratio to ABNN, and where each
epoch's time goes (waiting for data, crafting attacks, the model step, validation).

The FLOPs ratio is the pass-count prediction of the cost; the seconds ratio is what it measured.

ABNN's claim is that it trains far faster than adversarial training (no attack in the loop); this
measures it with the real trainer: same data, model, batch size and optimizer for every method,
the field's standard training attack (PGD-Linf 4/255, 5 steps) for the adversarial ones.

    python benchmarks/bench_training.py [--clips 64] [--epochs 2] [--width 16] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch
from torch.utils.data import Dataset

METHODS = ("standard", "abnn", "at", "pgd_at", "alp", "trades", "feature_denoise")


class RandomClips(Dataset):
    """Fixed random clips (C, T, H, W) with labels: the cost of a step does not depend on the content."""

    def __init__(self, n: int, frames: int, size: int, classes: int, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.clips = torch.rand(n, 3, frames, size, size, generator=g)
        self.labels = torch.randint(classes, (n,), generator=g)
        self.num_classes = classes

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict:
        return {"clip": self.clips[i], "label": int(self.labels[i]), "video": i}


def measure(method: str, data: Dataset, args: argparse.Namespace, root: Path) -> dict:
    """Train ``method`` for ``args.epochs`` epochs; return its training summary."""
    from videoabnn.config import config_from_dict
    from videoabnn.engine import train

    cfg = config_from_dict({
        "name": f"bench_{method}", "work_dir": str(root / method), "device": args.device, "seed": 0,
        "data": {"batch_size": args.batch, "num_classes": data.num_classes},
        "model": {"name": "tiny_r3d", "kwargs": {"width": args.width}},
        "abnn": {"substitute": {"name": "tiny_r3d", "kwargs": {"width": args.width}}},
        "train": {"method": method, "epochs": args.epochs, "lr": 0.01, "eval_every": 1,
                  "method_args": {"eps_warmup_epochs": 0} if method in ("pgd_at", "feature_denoise") else {},
                  "attack": {"name": "pgd", "eps": 4 / 255, "alpha": 1 / 255, "steps": 5}},
    })
    run_dir = train(cfg, train_set=data, val_set=data)
    summary = json.loads((run_dir / "train_summary.json").read_text())
    records = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()][1:] or [{}]
    shares = {k: sum(r.get(f"{k}_seconds", 0.0) for r in records) for k in ("data", "attack", "step", "val")}
    total = sum(shares.values()) or 1.0
    summary["shares"] = {k: v / total for k, v in shares.items()}
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=64)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = RandomClips(args.clips, args.frames, args.size, classes=4)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for method in args.methods:
            summary = measure(method, data, args, Path(tmp))
            seconds = summary["epoch_seconds"]
            steady = seconds[1:] if len(seconds) > 1 else seconds  # the first epoch includes warm-up
            rows[method] = (sum(steady) / len(steady), summary["train_cost"]["flops"] / len(seconds), summary["shares"])
    base = rows.get("abnn")
    print(f"tiny_r3d width {args.width}, {args.clips} clips of {args.frames}x{args.size}x{args.size}, batch "
          f"{args.batch}, device {args.device}, {args.threads} threads; adversarial methods: PGD-Linf 4/255 x 5; "
          "validation every epoch (excluded from s/epoch); shares of epochs 2+ incl. validation")
    print(f"{'method':<16}{'s/epoch':>9}{'x abnn':>8}{'GFLOPs/ep':>11}{'predicted':>11}"
          f"{'data':>7}{'attack':>8}{'step':>7}{'val':>6}")
    for method, (sec, flops, sh) in rows.items():
        ratio = f"{sec / base[0]:.2f}" if base else "-"
        work = f"{flops / base[1]:.2f}" if base else "-"
        print(f"{method:<16}{sec:>9.3f}{ratio:>8}{flops / 1e9:>11.1f}{work:>11}"
              f"{sh['data']:>7.0%}{sh['attack']:>8.0%}{sh['step']:>7.0%}{sh['val']:>6.0%}")
    print("x abnn: measured wall-time ratio; predicted: the FLOPs (pass-count) ratio")


if __name__ == "__main__":
    main()
