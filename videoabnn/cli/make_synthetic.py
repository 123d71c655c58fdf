"""Generate a synthetic action-video data set (real .avi files + official split files) and print a summary.

Example: videoabnn-make-synthetic --root data/synthetic --variant study --layout ucf101 --preset default
"""

from __future__ import annotations

import argparse
import sys

from videoabnn.cli.common import int_in, output_dir, run_tool

# Command-line bounds: what synthetic_params accepts, plus upper bounds that catch typos before a
# generator run that would take hours or all the memory (UCF101 names number groups and clips with two digits).
MAX_SIDE, MAX_FRAMES, MAX_NUMBER = 1024, 1024, 99


def build_parser() -> argparse.ArgumentParser:
    from videoabnn.data.synthetic import LAYOUTS, MOTIONS, PRESETS, VARIANTS

    classes = max(len(m) for m in MOTIONS.values())
    p = argparse.ArgumentParser(prog="videoabnn-make-synthetic", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", required=True, type=output_dir, help="output folder (created)")
    p.add_argument("--variant", choices=VARIANTS, default="study", help="study: main set; pretrain: other motions")
    p.add_argument("--layout", choices=LAYOUTS, default="ucf101", help="official layout to write")
    p.add_argument("--preset", choices=sorted(PRESETS), default="default", help="sizes (overridden by the flags below)")
    p.add_argument("--seed", type=int_in(0), default=0, help="generator seed (>= 0)")
    p.add_argument("--num-classes", type=int_in(2, classes, note=f"the synthetic sets have {classes} motion classes"),
                   default=None, metavar="N", help=f"motion classes, 2..{classes}")
    p.add_argument("--groups", type=int_in(4, MAX_NUMBER),
                   default=None, metavar="N", help=f"groups per class (UCF101's gGG), 4..{MAX_NUMBER}")
    p.add_argument("--clips-per-group", type=int_in(1, MAX_NUMBER), default=None, metavar="N",
                   help=f"clips per group (UCF101's cCC), 1..{MAX_NUMBER}")
    p.add_argument("--frames", type=int_in(2, MAX_FRAMES), default=None, metavar="N",
                   help=f"frames per video, 2..{MAX_FRAMES}")
    for name in ("width", "height"):
        p.add_argument(f"--{name}", type=int_in(8, MAX_SIDE, even=True, note="video frame sides must be even"),
                       default=None, metavar="PIXELS", help=f"frame {name}, even, 8..{MAX_SIDE}")
    p.add_argument("--fps", type=int_in(1), default=25, help="frame rate written into the files (>= 1)")
    p.add_argument("--overwrite", action="store_true", help="replace a set generated with other parameters")
    p.add_argument("--progress", action="store_true", help="show a progress bar")
    p.add_argument("--workers", type=int_in(1), default=None, help="parallel processes (default: CPU count, max 8)")
    p.add_argument("--debug", action="store_true", help="show the traceback of every error")
    return p


def parse_args(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse the line; the checks that depend on two options (the variant's class count) end it the same way."""
    from videoabnn.data.synthetic import MOTIONS

    args = parser.parse_args(argv)
    available = len(MOTIONS[args.variant])
    if args.num_classes is not None and args.num_classes > available:
        parser.error(f"argument --num-classes: {args.num_classes}: the synthetic {args.variant} set has {available} "
                     f"motion classes; expected 2..{available}")
    return args


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
    import os
    from pathlib import Path

    from videoabnn.config import ConfigError
    from videoabnn.data.synthetic import generate_synthetic

    try:  # before any video is rendered
        Path(a.root).mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"--root {a.root}: cannot create the folder ({err.strerror or err})") from err
    if not os.access(a.root, os.W_OK):
        raise ConfigError(f"--root {a.root}: the folder is not writable")
    summary = generate_synthetic(
        a.root, a.variant, a.layout, a.preset, num_classes=a.num_classes, groups=a.groups,
        clips_per_group=a.clips_per_group, frames=a.frames, width=a.width, height=a.height, fps=a.fps,
        seed=a.seed, overwrite=a.overwrite, progress=a.progress, workers=a.workers,
    )
    print(format_summary(summary))
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_tool(_run, parse_args(build_parser(), argv))


if __name__ == "__main__":
    sys.exit(main())
