"""The numbers of a study run that must not change when code moves, and a comparison of two runs.

``numbers(work_dir)`` collects every accuracy, distance, audit verdict and sweep point of a study's
``results/`` (times, paths and provenance left out); the golden files beside this module hold those of
the code before a refactor. Compare a finished run with::

    python tests/golden/study_numbers.py work_dirs/study tests/golden/study_demo.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

# per-row fields that depend on the machine's speed or the run's location, not on the computation
SKIP = {"seconds", "artifact", "provenance", "environment", "config", "run", "data_subset", "skipped_videos",
        "train_seconds", "time", "elapsed", "wall_seconds", "flops"}


def _strip(value: Any) -> Any:
    """``value`` without the machine- and location-dependent fields, floats rounded to 7 significant digits."""
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in SKIP and "second" not in k}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    if isinstance(value, float):
        return float(f"{value:.7g}")
    return value


def numbers(work_dir: str | Path) -> dict[str, Any]:
    """Every model's results and the sweeps of the study in ``work_dir``, stripped to what the code computes."""
    results = Path(work_dir) / "results"
    out: dict[str, Any] = {}
    for path in sorted(results.rglob("*.json")):
        data = json.loads(path.read_text())
        out[str(path.relative_to(results))] = _strip(data)
    return out


def differences(got: Any, want: Any, where: str = "") -> list[str]:
    """Where two stripped trees differ (paths and both values), empty when equal."""
    if isinstance(want, dict) and isinstance(got, dict):
        diffs = [f"{where}/{k}: missing" for k in want if k not in got]
        diffs += [f"{where}/{k}: unexpected" for k in got if k not in want]
        for k in want.keys() & got.keys():
            diffs += differences(got[k], want[k], f"{where}/{k}")
        return diffs
    if isinstance(want, list) and isinstance(got, list) and len(want) == len(got):
        return [d for i, (g, w) in enumerate(zip(got, want)) for d in differences(g, w, f"{where}[{i}]")]
    return [] if got == want else [f"{where}: {got!r} != {want!r}"]


def main(argv: list[str]) -> int:
    """Compare a run with a golden file (``compare``), or write one (``--write``)."""
    if len(argv) == 3 and argv[0] == "--write":
        Path(argv[2]).write_text(json.dumps(numbers(argv[1]), indent=1, sort_keys=True) + "\n")
        return 0
    if len(argv) != 2:
        print(__doc__)
        return 2
    diffs = differences(numbers(argv[0]), json.loads(Path(argv[1]).read_text()))
    for line in diffs[:40]:
        print(line)
    print(f"{len(diffs)} differences" if diffs else "same numbers")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
