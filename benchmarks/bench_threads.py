#!/usr/bin/env python
"""Thread settings on this machine, idle and with a competing CPU-bound process: wall time of a
study-sized workload (tiny_r3d forward+backward on 8x32x32 clips, as attacks and training run it)
with torch's default threads, 1 thread, the physical cores and ``auto`` (``videoabnn.utils.threads``).

Each setting runs in its own process (threads are fixed per process); ratios are to the best time of
the same condition, measured side by side in one run.

    python benchmarks/bench_threads.py [--steps 30] [--batch 32] [--competitors 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

CHILD = r"""
import json, sys, time, torch
setting = sys.argv[1]
if setting != "default":
    from videoabnn.utils.threads import apply_threads
    apply_threads(setting if setting == "auto" else int(setting))
from videoabnn.models import create_model
torch.manual_seed(0)
model = create_model("tiny_r3d", 10, width=8).eval()
x = torch.rand(int(sys.argv[3]), 3, 8, 32, 32, requires_grad=True)
y = torch.randint(10, (x.shape[0],))
def step():
    loss = torch.nn.functional.cross_entropy(model(x), y)
    torch.autograd.grad(loss, x)
step()
start = time.perf_counter()
for _ in range(int(sys.argv[2])):
    step()
print(json.dumps({"seconds": time.perf_counter() - start, "threads": torch.get_num_threads()}))
"""


def run(setting: str, steps: int, batch: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", CHILD, setting, str(steps), str(batch)], capture_output=True,
                         text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--competitors", type=int, default=1, help="CPU-bound processes for the loaded condition")
    a = p.parse_args()
    import torch

    physical = torch.get_num_threads()
    settings = ["default", "1", str(physical), "auto"]
    print(f"{os.cpu_count()} CPU cores visible, torch default {physical} threads; {a.steps} forward+backward "
          f"steps of tiny_r3d on {a.batch} clips of 8x32x32")
    for condition in ("idle", "loaded"):
        competitors = []
        if condition == "loaded":
            competitors = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(a.competitors)]
            time.sleep(65)  # let the 1-minute load average see them (what `auto` reads)
        try:
            times = {s: run(s, a.steps, a.batch) for s in settings}
        finally:
            for c in competitors:
                c.kill()
        best = min(t["seconds"] for t in times.values())
        label = condition if condition == "idle" else f"loaded ({a.competitors} competing process)"
        print(f"\n{label}:")
        print(f"{'setting':>10} {'threads':>8} {'seconds':>9} {'x best':>7}")
        for s, t in times.items():
            print(f"{s:>10} {t['threads']:>8} {t['seconds']:>9.2f} {t['seconds'] / best:>7.2f}")
        if condition == "idle":
            time.sleep(5)


if __name__ == "__main__":
    main()
