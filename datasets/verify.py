#!/usr/bin/env python
"""Verify a UCF101 or HMDB51 data root against its official split files.

Reports the videos each split lists, and which are missing, unreadable (first and last frame decoded)
or extra (on disk but in no split file). Exit status 0 when nothing is missing or unreadable.

    python datasets/verify.py ucf101 /data/ucf101      # holds UCF-101/ and ucfTrainTestlist/
    python datasets/verify.py hmdb51 /data/hmdb51      # holds hmdb51_org/ and testTrainMulti_7030_splits/
"""

from __future__ import annotations

import argparse
import json
import sys

from videoabnn.data.verify import format_report, verify_root


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset", choices=["ucf101", "hmdb51"])
    p.add_argument("root", help="data root (see datasets/<dataset>/README.md for the expected tree)")
    p.add_argument("--no-probe", action="store_true", help="only check that files exist (no decoding)")
    p.add_argument("--backend", default="auto", choices=["auto", "decord", "pyav"])
    p.add_argument("--workers", type=int, default=4, help="threads decoding videos in parallel")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    a = p.parse_args(argv)
    report = verify_root(a.dataset, a.root, probe=not a.no_probe, backend=a.backend, workers=a.workers)
    print(json.dumps(report, indent=2) if a.json else format_report(report))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
