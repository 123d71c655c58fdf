#!/usr/bin/env python
"""Evaluate a checkpoint: ``python tools/test.py CONFIG CHECKPOINT [--attacks ...] [key=value ...]``.

Clean accuracy plus every attack (``eval.attacks``: a preset such as standard/strong/quick or
attack names) under each threat model; writes results.json, results.md and eval.log to
``<work_dir>/eval/<checkpoint>-<sha256[:8]>/<settings digest>/`` (another checkpoint or other settings
write beside, never over). Rerunning reuses every finished piece of work whose inputs are unchanged.
Works under torchrun.
"""

from __future__ import annotations

import argparse
import os
import sys


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", help="YAML config (see configs/)")
    parser.add_argument("checkpoint", help="model checkpoint (e.g. work_dirs/<name>/best.pt)")
    parser.add_argument("overrides", nargs="*", help="config overrides key=value, e.g. eval.max_batches=2")
    parser.add_argument("--attacks", nargs="+", default=None,
                        help="attack names or presets (replaces eval.attacks); 'none' for clean only")
    parser.add_argument("--threat-models", nargs="+", default=None, choices=["white", "gray", "transfer"],
                        help="replaces eval.threat_models")
    parser.add_argument("--out-dir", default=None, help="a fixed results folder (refused if it holds results of another "
                        "checkpoint or other settings; default <work_dir>/eval/<checkpoint>-<digest>/<settings>/)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from videoabnn.utils.logs import setup_console

    setup_console()
    from videoabnn.config import ConfigError, load_config
    from videoabnn.engine import evaluate
    from videoabnn.engine.distributed import cleanup

    try:
        cfg = load_config(args.config, args.overrides)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        results = evaluate(cfg, args.checkpoint, attacks=args.attacks, threat_models=args.threat_models,
                           out_dir=args.out_dir)
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    finally:
        cleanup()
    if int(os.environ.get("RANK", "0")) == 0:
        from videoabnn.report.tables import results_markdown

        print(results_markdown(results))
        print(f"results: {results['provenance']['results_dir']}/results.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
