"""Evaluate a checkpoint: ``videoabnn-test [CONFIG] CHECKPOINT [--attacks ...] [key=value ...]``.

Clean accuracy plus every attack (``eval.attacks``: a preset such as standard/strong/quick or
attack names) under each threat model. A checkpoint of a run directory (``config.yaml`` beside it)
is evaluated with that run's config by default, and results go below the run directory:
``<run dir>/eval/<checkpoint>-<sha256[:8]>/<settings digest>/`` (results.json, results.md, eval.log;
another checkpoint or other settings write beside, never over). A CONFIG given explicitly wins (a
note names the keys where it differs from the run's); a checkpoint outside a run directory needs
one, and its results go to ``<work_dir>/eval/``. Rerunning reuses every finished piece of work
whose inputs are unchanged. Works under torchrun.
"""

from __future__ import annotations

import argparse
import os
import sys

from videoabnn.cli.common import apply_config_threads, check_work_dir, output_dir, parse, run_tool
from videoabnn.threats import list_threats


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="videoabnn-test", description=__doc__.split("\n")[0],
                                     usage="%(prog)s [options] [CONFIG] CHECKPOINT [key=value ...]",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", metavar="[CONFIG] CHECKPOINT",
                        help="the model checkpoint (e.g. work_dirs/<name>/best.pt), optionally after a YAML config "
                             "(default: the run's config.yaml beside the checkpoint)")
    parser.add_argument("--attacks", nargs="+", default=None,
                        help="attack names or presets (replaces eval.attacks); 'none' for clean only")
    parser.add_argument("--threat-models", nargs="+", default=None, choices=list_threats(),
                        help="replaces eval.threat_models")
    parser.add_argument("--out-dir", default=None, type=output_dir, help="a fixed results folder (refused if it holds results of another "
                        "checkpoint or other settings; default <work_dir>/eval/<checkpoint>-<digest>/<settings>/)")
    return parser


def _run(args: argparse.Namespace) -> int:
    from videoabnn.engine import evaluate
    from videoabnn.engine.distributed import cleanup
    from videoabnn.engine.run_config import eval_setup

    config, checkpoint = _config_and_checkpoint(args.paths)
    _check_checkpoint_file(checkpoint)
    setup = eval_setup(checkpoint, config, args.overrides)
    if setup.eval_root is None and args.out_dir is None:  # results go below work_dir
        check_work_dir(setup.cfg)
    apply_config_threads(setup.cfg)
    try:
        results = evaluate(setup.cfg, checkpoint, attacks=args.attacks, threat_models=args.threat_models,
                           out_dir=args.out_dir, eval_root=setup.eval_root)
    finally:
        cleanup()
    if int(os.environ.get("RANK", "0")) == 0:
        from videoabnn.report.tables import results_markdown

        print(results_markdown(results))
        print(f"results: {results['provenance']['results_dir']}/results.json")
    return 0


def _config_and_checkpoint(paths: list[str]) -> tuple[str | None, str]:
    """``CHECKPOINT`` or ``CONFIG CHECKPOINT``."""
    from videoabnn.config import ConfigError

    if len(paths) > 2:
        raise ConfigError(f"command line: expected [CONFIG] CHECKPOINT, got {len(paths)} paths: {' '.join(paths)}")
    return (paths[0], paths[1]) if len(paths) == 2 else (None, paths[0])


def _check_checkpoint_file(path: str) -> None:
    """A checkpoint that is a folder or no torch file at all is refused now, not after the test set is decoded
    (a missing one is named by the evaluation, also before any data)."""
    from pathlib import Path

    from videoabnn.models.weights import PICKLE_OR_ZIP, CheckpointError

    checkpoint = Path(path)
    if checkpoint.is_dir():
        raise CheckpointError(f"checkpoint {path}: is a folder, expected a checkpoint file (e.g. work_dirs/<name>/best.pt)")
    if checkpoint.is_file():
        with open(checkpoint, "rb") as f:
            head = f.read(4)
        if not head.startswith(PICKLE_OR_ZIP):
            raise CheckpointError(f"checkpoint {path}: not a PyTorch checkpoint (it starts with bytes {head!r}, not a "
                                  "torch.save file); expected one written by videoabnn-train")


def main(argv: list[str] | None = None) -> int:
    return run_tool(_run, parse(build_parser(), argv))


if __name__ == "__main__":
    sys.exit(main())
