#!/usr/bin/env python
"""Run a benchmark script and write what it printed into its block of ``benchmarks/README.md``.

    python benchmarks/record.py bench_threads.py [ARGS...]
    python benchmarks/record.py --list                 # the blocks and when each was last written

The block ``<!-- BENCH:<script stem> -->`` gets the command, the date, the machine (CPU model, cores,
torch threads as the script set them is in its own output), the package and torch versions and the
script's complete output; a script that fails writes nothing. So every figure in the benchmarks
README was printed by a run of the script named above it, never typed by hand.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
README = HERE / "README.md"
sys.path.insert(0, str(HERE.parent))


def _machine() -> str:
    """CPU model and visible cores (the figures are ratios, but the reader should know the machine)."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} CPU cores visible"


def block_body(script: str, args: list[str], output: str) -> str:
    """The Markdown written between the script's markers."""
    import torch

    import videoabnn

    command = " ".join(["python", f"benchmarks/{script}", *args])
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (f"Written by `python benchmarks/record.py {script}{' ' if args else ''}{' '.join(args)}` on {when}: "
            f"`{command}` on {_machine()}, videoabnn {videoabnn.__version__}, torch {torch.__version__}.\n\n"
            f"```text\n{output.rstrip()}\n```\n")


def record(script: str, args: list[str], readme: Path = README, folder: Path = HERE) -> Path:
    """Run ``<folder>/<script>`` and put its output into the README block named after it."""
    from videoabnn.report.readme import replace_marker_block

    path = folder / script
    if not path.is_file():
        raise SystemExit(f"error: {script}: no such benchmark in {folder} (expected one of "
                         f"{', '.join(sorted(p.name for p in folder.glob('bench_*.py')))})")
    marker = f"BENCH:{path.stem}"
    if f"<!-- {marker} -->" not in readme.read_text():
        raise SystemExit(f"error: {readme}: no '<!-- {marker} -->' block for {script}")
    run = subprocess.run([sys.executable, str(path), *args], capture_output=True, text=True, cwd=HERE.parent)
    sys.stdout.write(run.stdout)
    sys.stderr.write(run.stderr)
    if run.returncode != 0:
        raise SystemExit(f"error: {script} exited with status {run.returncode}; {readme} left unchanged")
    return replace_marker_block(readme, marker, block_body(script, args, run.stdout))


def list_blocks(readme: Path = README) -> None:
    """Print each block and the line saying when it was written."""
    for name, body in re.findall(r"<!-- BENCH:(\S+) -->\n(.*?)<!-- /BENCH:\1 -->", readme.read_text(), re.S):
        print(f"{name}: {body.splitlines()[0] if body.strip() else '(empty)'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("script", nargs="?", help="a benchmarks/bench_*.py file name")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="the script's own arguments")
    parser.add_argument("--list", action="store_true", help="list the README's blocks")
    opts = parser.parse_args(argv)
    if opts.list or not opts.script:
        list_blocks()
        return 0
    print(f"written: {record(opts.script, opts.args)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
