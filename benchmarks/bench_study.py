#!/usr/bin/env python
"""Time the robustness study: every stage of a profile in a fresh temporary directory, then the
report rebuild from result files alone. Prints one line per stage and the totals.

  python benchmarks/bench_study.py                 # the quick profile (the CI smoke test)
  python benchmarks/bench_study.py --profile default --threads 1
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "synthetic" / "study.yaml"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profile", default="quick", choices=["quick", "default", "large"])
    p.add_argument("--threads", type=int, default=None, help="study.threads (default: the profile's)")
    p.add_argument("overrides", nargs="*", help="key=value study config overrides")
    args = p.parse_args()
    import torch

    from videoabnn.report import build_report
    from videoabnn.study import load_study_config, run_study

    overrides = list(args.overrides) + ([f"study.threads={args.threads}"] if args.threads else [])
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        cfg = load_study_config(CONFIG, args.profile, overrides)
        start = time.perf_counter()
        stages: list[str] = []
        run_study(cfg, log=lambda s: stages.append(s) if "done in" in s else None)
        total = time.perf_counter() - start
        start = time.perf_counter()
        build_report(cfg["work_dir"])
        rebuild = time.perf_counter() - start
    print(f"profile {args.profile}, torch threads {cfg['study'].get('threads') or torch.get_num_threads()}, "
          f"{os.cpu_count()} CPUs visible")
    for line in stages:
        print("  " + line.split("] ", 1)[-1])
    print(f"whole study: {total:.1f} s; report rebuild from result files: {rebuild:.2f} s")


if __name__ == "__main__":
    main()
