"""Evaluate a checkpoint: ``videoabnn-test CONFIG CHECKPOINT [--attacks ...] [key=value ...]``.

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

from videoabnn.cli.common import apply_config_threads, parse, run_tool


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="videoabnn-test", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", help="YAML config (see configs/)")
    parser.add_argument("checkpoint", help="model checkpoint (e.g. work_dirs/<name>/best.pt)")
    parser.add_argument("--attacks", nargs="+", default=None,
                        help="attack names or presets (replaces eval.attacks); 'none' for clean only")
    parser.add_argument("--threat-models", nargs="+", default=None, choices=["white", "gray", "transfer"],
                        help="replaces eval.threat_models")
    parser.add_argument("--out-dir", default=None, help="a fixed results folder (refused if it holds results of another "
                        "checkpoint or other settings; default <work_dir>/eval/<checkpoint>-<digest>/<settings>/)")
    return parser


def _run(args: argparse.Namespace) -> int:
    from videoabnn.config import load_config
    from videoabnn.engine import evaluate
    from videoabnn.engine.distributed import cleanup

    cfg = load_config(args.config, args.overrides)
    apply_config_threads(cfg)
    try:
        results = evaluate(cfg, args.checkpoint, attacks=args.attacks, threat_models=args.threat_models,
                           out_dir=args.out_dir)
    finally:
        cleanup()
    if int(os.environ.get("RANK", "0")) == 0:
        from videoabnn.report.tables import results_markdown

        print(results_markdown(results))
        print(f"results: {results['provenance']['results_dir']}/results.json")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_tool(_run, parse(build_parser(), argv))


if __name__ == "__main__":
    sys.exit(main())
