"""Verify a UCF101 or HMDB51 data root against its official split files.

Reports the videos each split lists, and which are missing, unreadable, extra (on disk but in no split
file), or announce in their header another frame count than they hold (usable: the decodable count is
used; listed so you know). Every present video is decoded to its end and its first, middle and last
frames converted; --full converts every frame and names the first that fails. Exit status 0 when
nothing is missing or unreadable, 1 otherwise.

    videoabnn-verify ucf101 /data/ucf101              # holds UCF-101/ and ucfTrainTestlist/
    videoabnn-verify ucf101 /data/ucf101 --split 1    # only split 1's lists (default: every split present)
    videoabnn-verify hmdb51 /data/hmdb51 --full       # holds hmdb51_org/ and testTrainMulti_7030_splits/
"""

from __future__ import annotations

import argparse
import json
import sys

from videoabnn.cli.common import add_common_options, existing_dir, int_in, run_tool


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="videoabnn-verify", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset", choices=["ucf101", "hmdb51"])
    p.add_argument("root", type=existing_dir("the data root (see datasets/<dataset>/README.md for the expected tree)"),
                   help="data root (see datasets/<dataset>/README.md for the expected tree)")
    p.add_argument("--split", type=int, choices=[1, 2, 3], action="append", default=None,
                   help="check this split (repeatable; default: every split whose list files exist)")
    p.add_argument("--full", action="store_true", help="convert every frame of every video (slower, thorough)")
    p.add_argument("--no-probe", action="store_true", help="only check that files exist (no decoding)")
    p.add_argument("--backend", default="auto", choices=["auto", "decord", "pyav"])
    p.add_argument("--workers", type=int_in(1), default=None,
                   help="videos decoded in parallel (default: the --threads count)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    add_common_options(p)
    return p


def _run(a: argparse.Namespace) -> int:
    from videoabnn.config import ConfigError
    from videoabnn.data.decode import set_decoder_threads
    from videoabnn.data.verify import format_report, verify_root
    from videoabnn.utils.threads import resolve_threads

    try:
        threads = resolve_threads(a.threads if a.threads is not None else "auto")
    except ValueError as err:
        raise ConfigError(f"--threads: {err}") from None
    workers = a.workers or threads
    set_decoder_threads(max(1, threads // workers))  # workers x decoder threads stay within --threads
    report = verify_root(a.dataset, a.root, probe=not a.no_probe, backend=a.backend, workers=workers,
                         splits=a.split, full=a.full, progress=sys.stderr.isatty())
    print(json.dumps(report, indent=2) if a.json else format_report(report))
    return 0 if report["ok"] else 1


def main(argv: list[str] | None = None) -> int:
    return run_tool(_run, build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
