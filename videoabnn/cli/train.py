"""Train a model: ``videoabnn-train CONFIG [key=value ...] [--resume] [--threads N]``.

Runs unchanged under ``torchrun --nproc_per_node=N``. The run directory (``work_dir``, default
``work_dirs/<name>``) receives config.yaml, last.pt, best.pt (best on the validation split),
train.log, log.jsonl, metrics.csv, TensorBoard events and train_summary.json. ``--resume``
continues an interrupted run; with a larger ``train.epochs`` it extends a finished one (the
schedule is recomputed for the new length).
"""

from __future__ import annotations

import argparse
import sys

from videoabnn.cli.common import apply_config_threads, check_work_dir, parse, run_tool


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="videoabnn-train", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", help="YAML config (see configs/)")
    parser.add_argument("--resume", action="store_true", help="continue (or extend) the run in work_dir from last.pt")
    return parser


def _run(args: argparse.Namespace) -> int:
    from videoabnn.config import load_config
    from videoabnn.engine import train
    from videoabnn.engine.attack_specs import EvaluationError, resolve_attacks
    from videoabnn.engine.distributed import cleanup

    cfg = load_config(args.config, args.overrides)
    check_work_dir(cfg)
    try:  # unused by training, but saved with the run for videoabnn-test: a typo is named now, not after training
        resolve_attacks(cfg)
    except EvaluationError as err:
        text = str(err)
        raise EvaluationError(text if text.startswith("eval.") else f"eval.attacks: {text}") from err
    apply_config_threads(cfg)
    try:
        run_dir = train(cfg, resume=args.resume)
    finally:
        cleanup()
    print(f"run directory: {run_dir}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_tool(_run, parse(build_parser(), argv))


if __name__ == "__main__":
    sys.exit(main())
