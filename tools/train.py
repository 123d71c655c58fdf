#!/usr/bin/env python
"""Train a model: ``python tools/train.py CONFIG [key=value ...] [--resume]``.

Runs unchanged under ``torchrun --nproc_per_node=N tools/train.py CONFIG``. The run directory
(``work_dir``, default ``work_dirs/<name>``) receives config.yaml, last.pt, best.pt, log.jsonl,
metrics.csv, TensorBoard events and train_summary.json.
"""

from __future__ import annotations

import argparse
import sys


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", help="YAML config (see configs/)")
    parser.add_argument("overrides", nargs="*", help="config overrides key=value, e.g. train.epochs=5 seed=1")
    parser.add_argument("--resume", action="store_true", help="continue the run in work_dir from its last.pt")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from videoabnn.utils.logs import setup_console

    setup_console()
    from videoabnn.config import ConfigError, load_config
    from videoabnn.engine import train
    from videoabnn.engine.distributed import cleanup

    try:
        cfg = load_config(args.config, args.overrides)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        run_dir = train(cfg, resume=args.resume)
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    finally:
        cleanup()
    print(f"run directory: {run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
