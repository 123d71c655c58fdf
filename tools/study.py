#!/usr/bin/env python
"""The one-command robustness study on the built-in synthetic data set.

Generates the data, pretrains ABNN's substitute, trains standard / ABNN / adversarial-training
models, attacks them all and writes report.md + report.html under the config's work dir.
Rerunning skips finished stages.

  python tools/study.py configs/synthetic/study.yaml            # the full study (CPU, <= 15 min)
  python tools/study.py configs/synthetic/study.yaml --quick    # smoke test (< 2 min)
  python tools/study.py configs/synthetic/study.yaml --large    # bigger data/models (GPU)
  python tools/study.py configs/synthetic/study.yaml train.epochs=5 work_dir=work_dirs/my_study
"""

from __future__ import annotations

import argparse
import sys

from videoabnn.config import ConfigError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", help="study config, e.g. configs/synthetic/study.yaml")
    p.add_argument("overrides", nargs="*", help="key=value config overrides (applied after the profile)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_true", help="the study.profiles.quick settings (CI smoke test)")
    group.add_argument("--large", action="store_true", help="the study.profiles.large settings (GPU)")
    group.add_argument("--full", action="store_true",
                       help="the study.profiles.full settings: several seeds, writes the README results")
    p.add_argument("--force", action="store_true", help="rerun every stage, even those already finished")
    p.add_argument("--report-only", action="store_true", help="only rebuild the report from existing result files")
    return p.parse_intermixed_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from videoabnn.utils.logs import setup_console

    setup_console()
    from videoabnn.report import build_report
    from videoabnn.study import load_study_config, run_study
    from videoabnn.study.pipeline import publish_to_readme

    profile = "quick" if args.quick else "large" if args.large else "full" if args.full else "default"
    try:
        cfg = load_study_config(args.config, profile, args.overrides)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.report_only:
        from pathlib import Path

        from videoabnn.study.pipeline import aggregate_seeds
        from videoabnn.study.steps import methods, seeds

        work = Path(cfg["work_dir"])
        if all((work / "seeds" / str(s) / "results").is_dir() for s in seeds(cfg)):
            aggregate_seeds(work, seeds(cfg), list(methods(cfg)))  # re-read every seed's files
        paths = build_report(work)
        publish_to_readme(cfg)
    else:
        paths = run_study(cfg, force=args.force)
    print(f"report: {paths['markdown']}\n        {paths['html']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
