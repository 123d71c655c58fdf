"""Generate a synthetic action-video data set (real .avi files + official split files) and print a summary.

Example: videoabnn-make-synthetic --root data/synthetic --variant study --layout ucf101 --preset default
"""

from __future__ import annotations

import argparse
import sys

from videoabnn.cli.common import run_tool


def build_parser() -> argparse.ArgumentParser:
    from videoabnn.data.synthetic import LAYOUTS, PRESETS, VARIANTS

    p = argparse.ArgumentParser(prog="videoabnn-make-synthetic", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", required=True, help="output folder (created)")
    p.add_argument("--variant", choices=VARIANTS, default="study", help="study: main set; pretrain: other motions")
    p.add_argument("--layout", choices=LAYOUTS, default="ucf101", help="official layout to write")
    p.add_argument("--preset", choices=sorted(PRESETS), default="default", help="sizes (overridden by the flags below)")
    p.add_argument("--seed", type=int, default=0)
    for name in ("num-classes", "groups", "clips-per-group", "frames", "width", "height"):
        p.add_argument(f"--{name}", type=int, default=None)
    p.add_argument("--fps", type=int, default=25)
    p.add_argument("--overwrite", action="store_true", help="replace a set generated with other parameters")
    p.add_argument("--progress", action="store_true", help="show a progress bar")
    p.add_argument("--workers", type=int, default=None, help="parallel processes (default: CPU count, max 8)")
    p.add_argument("--debug", action="store_true", help="show the traceback of every error")
    return p


def format_summary(s: dict) -> str:
    """A short human-readable summary of a generate_synthetic result."""
    splits = "; ".join(f"split {k}: {v['train']} train / {v['test']} test" for k, v in s["splits"].items())
    status = f"generated in {s['seconds']:.1f} s" if s["generated"] else "already present (same parameters): skipped"
    return "\n".join([
        f"synthetic {s['variant']} set, {s['layout']} layout at {s['root']}: {status}",
        f"  {len(s['classes'])} classes: {', '.join(s['classes'])}",
        f"  {s['videos']} videos of {s['frames']} frames, {s['size']} at {s['fps']} fps, seed {s['seed']}, "
        f"{s['bytes'] / 1e6:.1f} MB",
        f"  {splits}",
    ])


def _run(a: argparse.Namespace) -> int:
    from videoabnn.data.synthetic import generate_synthetic

    summary = generate_synthetic(
        a.root, a.variant, a.layout, a.preset, num_classes=a.num_classes, groups=a.groups,
        clips_per_group=a.clips_per_group, frames=a.frames, width=a.width, height=a.height, fps=a.fps,
        seed=a.seed, overwrite=a.overwrite, progress=a.progress, workers=a.workers,
    )
    print(format_summary(summary))
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_tool(_run, build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
