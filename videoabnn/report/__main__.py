"""``python -m videoabnn.report STUDY_DIR``: rebuild report.md/html and plots from result files only."""

from __future__ import annotations

import argparse

from videoabnn.report.study_report import build_report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("study_dir", help="directory holding results/*.json (and optionally study.json)")
    parser.add_argument("--tolerance", type=float, default=None, help="accuracy difference counted as on par")
    args = parser.parse_args(argv)
    paths = build_report(args.study_dir, tolerance=args.tolerance)
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
