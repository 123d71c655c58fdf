"""Verify a UCF101 or HMDB51 data root against its official split files.

Reports the videos each split lists, and which are missing, unreadable (first and last frame decoded)
or extra (on disk but in no split file). Exit status 0 when nothing is missing or unreadable, 1 otherwise.

    videoabnn-verify ucf101 /data/ucf101      # holds UCF-101/ and ucfTrainTestlist/
    videoabnn-verify hmdb51 /data/hmdb51      # holds hmdb51_org/ and testTrainMulti_7030_splits/
"""

from __future__ import annotations

import argparse
import json
import sys

from videoabnn.cli.common import run_tool


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="videoabnn-verify", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset", choices=["ucf101", "hmdb51"])
    p.add_argument("root", help="data root (see datasets/<dataset>/README.md for the expected tree)")
    p.add_argument("--no-probe", action="store_true", help="only check that files exist (no decoding)")
    p.add_argument("--backend", default="auto", choices=["auto", "decord", "pyav"])
    p.add_argument("--workers", type=int, default=4, help="threads decoding videos in parallel")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--debug", action="store_true", help="show the traceback of every error")
    return p


def _run(a: argparse.Namespace) -> int:
    from videoabnn.data.verify import format_report, verify_root

    report = verify_root(a.dataset, a.root, probe=not a.no_probe, backend=a.backend, workers=a.workers)
    print(json.dumps(report, indent=2) if a.json else format_report(report))
    return 0 if report["ok"] else 1


def main(argv: list[str] | None = None) -> int:
    return run_tool(_run, build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
