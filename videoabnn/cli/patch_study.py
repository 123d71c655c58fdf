"""Universal patch / adversarial-frame study against one or several checkpoints.

Fits a universal patch (or frame) per size on the training split, then measures accuracy vs size,
a heat map by patch position and accuracy vs number of attacked frames; writes the patch images,
example clips (PNG, GIF, MP4) and report.md/report.html under the config's work dir.

  videoabnn-patch-study configs/patch_study/synthetic.yaml
  videoabnn-patch-study configs/patch_study/synthetic.yaml \\
      --checkpoints standard=work_dirs/study/seeds/0/runs/standard-<digest>/best.pt abnn=...
"""

from __future__ import annotations

import argparse
import sys

from videoabnn.cli.common import apply_config_threads, check_work_dir, parse, run_tool


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="videoabnn-patch-study", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", help="config with a study.patch_study section, e.g. configs/patch_study/synthetic.yaml")
    p.add_argument("--checkpoints", nargs="+", metavar="NAME=PATH", help="replace study.patch_study.checkpoints")
    return p


def _run(args: argparse.Namespace) -> int:
    from videoabnn.config import ConfigError, load_config
    from videoabnn.study.patch import run_patch_study

    overrides = list(args.overrides)
    if args.checkpoints:
        pairs = [item.split("=", 1) for item in args.checkpoints]
        if any(len(p) != 2 or not p[0] or not p[1] for p in pairs):
            raise ConfigError(f"command line: --checkpoints: expected NAME=PATH items, got {args.checkpoints}")
        overrides.append({"study.patch_study.checkpoints": dict(pairs)})
    cfg = load_config(args.config, _as_mapping(overrides))
    if (cfg.get("study") or {}).get("patch_study") is None:
        raise ConfigError(f"{args.config}: study.patch_study: missing (see configs/patch_study/synthetic.yaml)")
    if not cfg.get("work_dir"):
        cfg["work_dir"] = f"work_dirs/{cfg['name']}"
    check_work_dir(cfg)
    _check_checkpoints(cfg["study"]["patch_study"], bool(args.checkpoints))
    apply_config_threads(cfg)
    paths = run_patch_study(cfg)
    print(f"report: {paths['markdown']}\n        {paths['html']}")
    return 0


def _check_checkpoints(spec, from_command_line: bool) -> None:
    """Every named checkpoint is a file, before the data are generated and decoded (the study would
    otherwise find a missing one only when it reaches it)."""
    from collections.abc import Mapping
    from pathlib import Path

    checkpoints = spec.get("checkpoints") if isinstance(spec, Mapping) else None
    if not isinstance(checkpoints, Mapping):
        return  # from_study, or a bad value the study itself names
    for name, path in checkpoints.items():
        if not Path(str(path)).is_file():
            where = f"--checkpoints {name}={path}" if from_command_line else f"study.patch_study.checkpoints.{name}"
            what = "is a folder" if Path(str(path)).is_dir() else "checkpoint not found"
            raise FileNotFoundError(f"{where}: {what}: {path} (expected a checkpoint file, e.g. a run's best.pt)")


def _as_mapping(overrides: list) -> dict:
    """Command-line ``key=value`` words and mappings as one mapping of dotted keys (in order)."""
    from videoabnn.config import parse_override

    out: dict = {}
    for item in overrides:
        out.update(item if isinstance(item, dict) else dict([parse_override(item)]))
    return out


def main(argv: list[str] | None = None) -> int:
    return run_tool(_run, parse(build_parser(), argv))


if __name__ == "__main__":
    sys.exit(main())
