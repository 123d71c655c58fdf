"""Several seeds of one study, read as one: mean and standard deviation of every number.

Each seed's results file keeps its own per-clip worst case; the aggregate holds the mean over seeds
of each number and, in ``spread``, its standard deviation (keyed by the number's dotted path, e.g.
``attacks.pgd_linf_4.clip_acc`` or ``summary.worst_case.white``), so tables print ``mean ± std`` and
the claims logic can tell a difference from seed noise.
"""

from __future__ import annotations

import copy
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

# dotted paths (with "*" for every attack / threat) of the numbers that are averaged over seeds
NUMBERS = ("clean.clip_acc", "clean.video_acc", "attacks.*.clip_acc", "attacks.*.video_acc",
           "attacks.*.success_rate", "summary.acc_adv", "summary.acc_all", "summary.worst_case.*",
           "summary.worst_case_budget.*.*.clip_acc",
           "run.train_seconds", "run.train_cost.flops", "run.train_cost.seconds")


def _paths(result: Mapping, pattern: str) -> list[list[str]]:
    """Concrete key paths of ``result`` matching ``pattern``."""
    out: list[list[str]] = [[]]
    for part in pattern.split("."):
        nxt = []
        for path in out:
            node = _get(result, path)
            if not isinstance(node, Mapping):
                continue
            keys = list(node) if part == "*" else [part]
            nxt += [path + [k] for k in keys if k in node]
        out = nxt
    return out


def _get(result: Any, path: Sequence[str]) -> Any:
    for key in path:
        if not isinstance(result, Mapping) or key not in result:
            return None
        result = result[key]
    return result


def _set(result: dict, path: Sequence[str], value: Any) -> None:
    for key in path[:-1]:
        result = result[key]
    result[path[-1]] = value


def aggregate_results(per_seed: Sequence[Mapping], seeds: Sequence[int]) -> dict:
    """One results dict: per-seed numbers averaged, their standard deviation in ``spread``."""
    if not per_seed:
        raise ValueError("aggregate_results: no results given")
    out = copy.deepcopy(dict(per_seed[0]))
    spread: dict[str, float] = {}
    for pattern in NUMBERS:
        for path in _paths(out, pattern):
            values = [_get(r, path) for r in per_seed]
            if any(v is None for v in values):
                continue
            values = [float(v) for v in values]
            _set(out, path, statistics.fmean(values))
            spread[".".join(path)] = statistics.stdev(values) if len(values) > 1 else 0.0
    out["seeds"] = [int(s) for s in seeds]
    out["spread"] = spread
    out["per_seed"] = {".".join(p): [float(_get(r, p)) for r in per_seed]
                       for pattern in ("clean.clip_acc", "summary.worst_case.*", "summary.worst_case_budget.*.*.clip_acc") for p in _paths(out, pattern)
                       if all(_get(r, p) is not None for r in per_seed)}
    audits = [r.get("audit") for r in per_seed]
    failed = [int(s) for s, a in zip(seeds, audits) if a and a.get("passed") is False]
    if any(audits):
        first = next(a for s, a in zip(seeds, audits) if a and (not failed or int(s) == failed[0]))
        # failed if any seed failed; not applicable only if no seed could be judged
        passed = False if failed else (True if any(a and a.get("passed") for a in audits) else None)
        out["audit"] = {**copy.deepcopy(first), "passed": passed}
        if passed is not None:
            out["audit"]["not_applicable"] = None
        out["audit"].setdefault("metrics", {})["seeds_failed"] = failed
    out["complete"] = all(r.get("complete", True) for r in per_seed)
    return out


def aggregate_sweep(per_seed: Sequence[Mapping]) -> dict:
    """A sweep file with each point's accuracy averaged over seeds (and its std as ``clip_acc_std``)."""
    out = copy.deepcopy(dict(per_seed[0]))
    for name, points in (out.get("models") or {}).items():
        if not isinstance(points, list):
            continue
        for i, point in enumerate(points):
            values = [float(s["models"][name][i]["clip_acc"]) for s in per_seed
                      if name in (s.get("models") or {}) and i < len(s["models"][name])]
            point["clip_acc"] = statistics.fmean(values)
            point["clip_acc_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
    return out
