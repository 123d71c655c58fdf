"""The one-command robustness study on the built-in synthetic data set.

Generates the data, pretrains ABNN's substitute, trains standard / ABNN / adversarial-training
models, attacks them all and writes report.md + report.html under the config's work dir.
Rerunning skips finished stages.

  videoabnn-study configs/synthetic/study.yaml            # the default study (CPU, <= 15 min)
  videoabnn-study configs/synthetic/study.yaml --quick    # smoke test (< 2 min)
  videoabnn-study configs/synthetic/study.yaml --full     # 3 seeds, writes docs/results.md and the README headline
  videoabnn-study configs/synthetic/study.yaml --large    # bigger data/models (GPU)
  videoabnn-study configs/synthetic/study.yaml train.epochs=5 work_dir=work_dirs/my_study
"""

from __future__ import annotations

import argparse
import sys

from videoabnn.cli.common import check_work_dir, parse, run_tool


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="videoabnn-study", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", help="study config, e.g. configs/synthetic/study.yaml")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_true", help="the study.profiles.quick settings (CI smoke test)")
    group.add_argument("--large", action="store_true", help="the study.profiles.large settings (GPU)")
    group.add_argument("--full", action="store_true",
                       help="the study.profiles.full settings: several seeds, writes docs/results.md and the README headline")
    p.add_argument("--force", action="store_true", help="rerun every stage, even those already finished")
    p.add_argument("--report-only", action="store_true", help="only rebuild the report from existing result files")
    return p


def _run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from videoabnn.report import build_report
    from videoabnn.study import load_study_config, run_study
    from videoabnn.study.pipeline import aggregate_seeds, publish_to_readme
    from videoabnn.study.steps import methods, seeds

    profile = "quick" if args.quick else "large" if args.large else "full" if args.full else "default"
    cfg = load_study_config(args.config, profile, args.overrides)
    check_work_dir(cfg)
    if args.report_only:
        work = Path(cfg["work_dir"])
        if all((work / "seeds" / str(s) / "results").is_dir() for s in seeds(cfg)):
            aggregate_seeds(work, seeds(cfg), list(methods(cfg)))  # re-read every seed's files
        paths = build_report(work)
        publish_to_readme(cfg)
    else:
        paths = run_study(cfg, force=args.force)
    print(f"report: {paths['markdown']}\n        {paths['html']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_tool(_run, parse(build_parser(), argv))


if __name__ == "__main__":
    sys.exit(main())
