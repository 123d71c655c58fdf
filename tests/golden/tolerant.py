"""Comparing a golden JSON tree with a fresh one: floats within a relative tolerance, everything else exactly
(loaded by path from the golden tests, like ``study_numbers.py``)."""

from __future__ import annotations

import math
from typing import Any


def close(got: Any, want: Any, rtol: float = 1e-9, where: str = "") -> list[str]:
    """Where ``got`` and ``want`` differ (paths and both values): floats within ``rtol``, the rest exactly."""
    if isinstance(want, dict) and isinstance(got, dict):
        out = [f"{where}/{k}: missing" for k in want if k not in got]
        out += [f"{where}/{k}: unexpected" for k in got if k not in want]
        return out + [d for k in want.keys() & got.keys() for d in close(got[k], want[k], rtol, f"{where}/{k}")]
    if isinstance(want, list) and isinstance(got, list) and len(got) == len(want):
        return [d for i, (g, w) in enumerate(zip(got, want)) for d in close(g, w, rtol, f"{where}[{i}]")]
    if isinstance(want, float) and isinstance(got, (int, float)) and not isinstance(got, bool):
        return [] if math.isclose(got, want, rel_tol=rtol, abs_tol=1e-15) else [f"{where}: {got!r} != {want!r}"]
    return [] if got == want and type(got) is type(want) else [f"{where}: {got!r} != {want!r}"]
