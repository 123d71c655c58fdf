"""A short factual reading of study results in the ABNN paper's terms, computed from the numbers.

Nothing here is a fixed conclusion: every sentence compares two numbers read from results files,
with a tolerance (in accuracy points) below which two numbers count as on par.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from videoabnn.methods import ADVERSARIAL_METHODS
from videoabnn.report.tables import (
    attack_threat,
    audit_passed,
    flops_ratio,
    headline_budget,
    model_name,
    pct,
    robust_accuracy,
    spread,
    time_ratio,
    train_seconds,
    worst_case,
)
from videoabnn.threats import TRANSFER, WHITE, ResultKey, list_threats, threat_model

HOLDS = {True: "yes", False: "**no**", None: "not distinguishable"}


def _method(result: Mapping) -> str:
    return str((result.get("run") or {}).get("method") or model_name(result))


def by_method(results: Sequence[Mapping]) -> dict[str, Mapping]:
    """First result per training method."""
    out: dict[str, Mapping] = {}
    for res in results:
        out.setdefault(_method(res), res)
    return out


def compare(a: float | None, b: float | None, tolerance: float) -> str:
    """'higher than', 'lower than' or 'on par with' (within ``tolerance``), or 'not comparable'."""
    if a is None or b is None:
        return "not comparable with"
    if abs(a - b) <= tolerance:
        return "on par with"
    return "higher than" if a > b else "lower than"


def _pts(a: float, b: float) -> str:
    return f"{100 * (a - b):+.1f} points"


def _clean(res: Mapping) -> float:
    return float(res["clean"]["clip_acc"])


def _threat_accs(res: Mapping, threat: str) -> dict[str, float]:
    return {k: float(e["clip_acc"]) for k, e in res["attacks"].items() if attack_threat(k, e) == threat}


def _noise(a_res: Mapping, b_res: Mapping, path_a: str, path_b: str, tolerance: float) -> float:
    """The difference two numbers must exceed to count: their summed std over seeds, else the tolerance."""
    sa, sb = spread(a_res, path_a), spread(b_res, path_b)
    return tolerance if sa is None and sb is None else (sa or 0.0) + (sb or 0.0)


def verdict(a: float, b: float, noise: float) -> bool | None:
    """True when ``a`` exceeds ``b`` by more than ``noise``, False when it falls short by more, else None."""
    if a - b > noise:
        return True
    if b - a > noise:
        return False
    return None


def _compare_with_spread(a: float, b: float, noise: float) -> str:
    """Like :func:`compare`, but a difference inside ``noise`` (the seeds' spread, else the tolerance) is
    'not distinguishable from'."""
    return {True: "higher than", False: "lower than", None: "not distinguishable from"}[verdict(a, b, noise)]


def _with_spread(res: Mapping, path: str, value: float) -> str:
    sd = spread(res, path)
    return f"{pct(value)}%" + ("" if sd is None else f" ± {100 * sd:.1f}")


def claims(results: Sequence[Mapping], tolerance: float = 0.02) -> list[dict]:
    """The paper's claims checked on equal threat models: ``{"claim", "measured", "holds"}``.

    ``holds`` is True / False when the difference is larger than the spread over seeds (or the
    tolerance for a single seed), None ("not distinguishable") when it is not.
    """
    m = by_method(results)
    abnn, std = m.get("abnn"), m.get("standard")
    ats = [m[k] for k in ADVERSARIAL_METHODS if k in m]
    out: list[dict] = []
    if abnn is None:
        return out
    for at in ats:
        a, b = _clean(abnn), _clean(at)
        out.append({"claim": f"higher clean accuracy than adversarial training ({model_name(at)})",
                    "measured": f"{_with_spread(abnn, 'clean.clip_acc', a)} vs {_with_spread(at, 'clean.clip_acc', b)}",
                    "holds": verdict(a, b, _noise(abnn, at, "clean.clip_acc", "clean.clip_acc", tolerance))})
    budget = headline_budget(results)
    scope = f"worst case within {budget}" if budget else "worst case over every attack"
    if std is not None and worst_case(abnn, WHITE) is not None and worst_case(std, WHITE) is not None:
        (wa, pa), (ws, ps) = robust_accuracy(abnn, WHITE, budget), robust_accuracy(std, WHITE, budget)
        out.append({"claim": f"more robust than the undefended model (white-box, {scope}, both models)",
                    "measured": f"{_with_spread(abnn, pa, wa)} vs {_with_spread(std, ps, ws)}",
                    "holds": verdict(wa, ws, _noise(abnn, std, pa, ps, tolerance))})
    for at in ats:
        for threat in (WHITE, TRANSFER):
            if worst_case(abnn, threat) is None or worst_case(at, threat) is None:
                continue
            (wa, pa), (wt, pt) = robust_accuracy(abnn, threat, budget), robust_accuracy(at, threat, budget)
            noise = _noise(abnn, at, pa, pt, tolerance)
            label = threat_model(WHITE).title if threat == WHITE else "transfer (crafted on the undefended model)"
            holds = True if wa >= wt - noise else False
            out.append({"claim": f"{label} robustness comparable to {model_name(at)} ({scope}, both models)",
                        "measured": f"{_with_spread(abnn, pa, wa)} vs {_with_spread(at, pt, wt)}", "holds": holds})
        out += _cost_claims(abnn, at)
    return out


def _cost_claims(abnn: Mapping, at: Mapping) -> list[dict]:
    """Training several times cheaper, in FLOPs and in seconds (pretraining counted for neither)."""
    out = []
    flops = flops_ratio(at, abnn)
    if flops is not None:
        out.append({"claim": f"training several times (>= 2x) cheaper than {model_name(at)}, in FLOPs",
                    "measured": f"{model_name(at)} needed {flops:.2f}x ABNN's training FLOPs", "holds": flops >= 2.0})
    ratio = time_ratio(at, abnn)
    if ratio is not None:
        sa, sb = spread(abnn, "run.train_seconds"), spread(at, "run.train_seconds")
        holds: bool | None = ratio >= 2.0
        if sa is not None and sb is not None:
            low = (train_seconds(at) - sb) / (train_seconds(abnn) + sa)
            high = (train_seconds(at) + sb) / max(train_seconds(abnn) - sa, 1e-9)
            holds = True if low >= 2.0 else False if high < 2.0 else None
        out.append({"claim": f"training several times (>= 2x) cheaper than {model_name(at)}, in seconds",
                    "measured": f"{model_name(at)} took {ratio:.2f}x ABNN's training-loop time", "holds": holds})
    return out


def reading(results: Sequence[Mapping], tolerance: float = 0.02, clean_target: float | None = 0.9,
            sweeps: Mapping[str, Mapping] | None = None, pretraining: Mapping | None = None) -> list[str]:
    """Sentences stating where ABNN stands, each computed from the results (empty input -> no sentences)."""
    m = by_method(results)
    abnn, std = m.get("abnn"), m.get("standard")
    ats = [m[k] for k in ADVERSARIAL_METHODS if k in m]
    out: list[str] = []
    if std is not None and clean_target is not None:
        out += _caveats(std, clean_target)
    if abnn is None:
        out.append("No ABNN result was found, so the ABNN claims cannot be checked.")
        return out + _audit_sentences(results) + _sweep_sentences(sweeps or {}, tolerance)
    out += _clean_sentences(abnn, std, ats, tolerance)
    out += _white_sentences(abnn, std, ats, tolerance, headline_budget(results))
    out += _other_threat_sentences(abnn, std, tolerance)
    out += _cost_sentences(abnn, ats, pretraining)
    out += _audit_sentences(results)
    out += _sweep_sentences(sweeps or {}, tolerance)
    return out


def _caveats(std: Mapping, clean_target: float) -> list[str]:
    """Warn when the undefended model did not learn the task: on the mean, or in any single seed (a seed
    whose training collapsed is a failed run, not noise to average over)."""
    seeds = list(std.get("seeds") or [])
    per_seed = (std.get("per_seed") or {}).get("clean.clip_acc") or []
    low = [(s, v) for s, v in zip(seeds, per_seed) if v < clean_target]
    if low and len(seeds) > 1:
        listed = ", ".join(f"seed {s}: {pct(v)}%" for s, v in low)
        return [f"Caveat: the undefended model stayed below the {pct(clean_target)}% clean-accuracy target in "
                f"{len(low)} of {len(seeds)} seeds ({listed}); those seeds did not learn the task, so the means "
                "and spreads below mix failed runs with working ones."]
    if _clean(std) < clean_target:
        return [f"Caveat: the undefended model reached only {pct(_clean(std))}% clean accuracy (target "
                f"{pct(clean_target)}%), so the task is not learnt well and the comparisons below are weak."]
    return []


def _clean_sentences(abnn: Mapping, std: Mapping | None, ats: list[Mapping], tol: float) -> list[str]:
    a = _clean(abnn)
    parts = []
    for other, what in [(std, "the undefended model")] + [(at, f"adversarial training ({model_name(at)})") for at in ats]:
        if other is None:
            continue
        b = _clean(other)
        parts.append(f"{compare(a, b, tol)} {what} ({pct(b)}%, {_pts(a, b)})")
    if not parts:
        return [f"Clean accuracy: ABNN {pct(a)}%."]
    return [f"Clean accuracy: ABNN reaches {pct(a)}%, " + "; ".join(parts) + "."]


def _white_sentences(abnn: Mapping, std: Mapping | None, ats: list[Mapping], tol: float,
                     budget: str | None = None) -> list[str]:
    out = []
    scope = f"worst case within {budget}" if budget else "worst case over every attack"
    wa, pa = robust_accuracy(abnn, WHITE, budget) if worst_case(abnn, WHITE) is not None else (None, "")
    if std is not None and wa is not None:
        ws, ps = robust_accuracy(std, WHITE, budget)
        verdict = _compare_with_spread(wa, ws, _noise(abnn, std, pa, ps, tol))
        if verdict == "higher than":
            out.append(f"White-box (gradients through substitute and target), {scope}: ABNN keeps "
                       f"{pct(wa)}% vs {pct(ws)}% for the undefended model ({_pts(wa, ws)}).")
        else:
            out.append(f"Where ABNN does not hold up: under full white-box attack (gradients through substitute and "
                       f"target) its {scope} is {pct(wa)}%, {verdict} the undefended model's {pct(ws)}%; "
                       f"it gives no measurable white-box robustness here.")
        accs_a, accs_s = _threat_accs(abnn, WHITE), _threat_accs(std, WHITE)
        common = [k for k in accs_a if k in accs_s]
        gains = [k for k in common if accs_a[k] > accs_s[k] + tol]
        no_gain = [k for k in common if k not in gains]
        if gains:
            out.append("White-box attacks where ABNN beats the undefended model by more than "
                       f"{100 * tol:.0f} points: " + ", ".join(f"{k} ({pct(accs_a[k])}% vs {pct(accs_s[k])}%)"
                                                            for k in gains) + ".")
        if no_gain:
            out.append("White-box attacks where it does not: " + ", ".join(
                f"{k} ({pct(accs_a[k])}% vs {pct(accs_s[k])}%)" for k in no_gain) + ".")
    for at in ats:
        if wa is None or worst_case(at, WHITE) is None:
            continue
        wt, pt = robust_accuracy(at, WHITE, budget)
        verdict = _compare_with_spread(wa, wt, _noise(abnn, at, pa, pt, tol))
        out.append(f"Against adversarial training: {model_name(at)} keeps {pct(wt)}% white-box {scope}, "
                   f"ABNN {pct(wa)}% ({verdict} it, {_pts(wa, wt)}).")
    return out


def _other_threat_sentences(abnn: Mapping, std: Mapping | None, tol: float) -> list[str]:
    out = []
    white_a = _threat_accs(abnn, WHITE)
    white_s = _threat_accs(std, WHITE) if std is not None else {}
    titles = {t: threat_model(t).reading for t in list_threats() if threat_model(t).reading}
    for threat, title in titles.items():
        accs = _threat_accs(abnn, threat)
        if not accs:
            continue
        items = []
        for k, v in accs.items():
            same = ResultKey.parse(k).attack  # the same attack, white-box
            base, ref = white_a.get(same), white_s.get(same)
            text = f"{k}: {pct(v)}%"
            if base is not None:
                text += f" (white-box {pct(base)}%)"
            if ref is not None:
                text += f", undefended model under the white-box attack {pct(ref)}%"
            items.append(text)
        wc = worst_case(abnn, threat)
        head = (f"Under {title}, ABNN's worst case over these {len(accs)} attacks is {pct(wc)}% (each attack beside "
                "the same attack white-box)")
        out.append(head + ". " + "; ".join(items) + ".")
    return out


def _cost_sentences(abnn: Mapping, ats: list[Mapping], pretraining: Mapping | None = None) -> list[str]:
    secs = (abnn.get("run") or {}).get("train_seconds")
    if secs is None:
        return []
    parts = []
    for at in ats:
        ratio, flops = time_ratio(at, abnn), flops_ratio(at, abnn)
        if ratio is None:
            continue
        work = f"{flops:.2f}x the FLOPs and " if flops is not None else ""
        parts.append(f"{model_name(at)} needed {work}{ratio:.2f}x the training-loop time")
    text = f"Training cost: ABNN trained in {float(secs):.1f} s (training loop only, validation excluded)"
    text += ("; " + "; ".join(parts) if parts else "") + "."
    if pretraining:
        text += (f" The substitute's pretraining ({float(pretraining.get('seconds', 0)):.1f} s, "
                 f"{float(pretraining.get('flops', 0)) / 1e9:.0f} GFLOPs) is the shared initialisation of every "
                 "model, so it is counted for none of them.")
    return [text]


def _audit_sentences(results: Sequence[Mapping]) -> list[str]:
    failed = [model_name(r) for r in results if audit_passed(r) is False]
    passed = [model_name(r) for r in results if audit_passed(r) is True]
    unjudged = [model_name(r) for r in results if r.get("audit") and audit_passed(r) is None]
    out = []
    if failed:
        out.append(f"Gradient-masking checks FAILED for {', '.join(failed)}: treat their robust accuracy as an upper "
                   "bound, not a measurement of robustness.")
    elif passed:
        out.append(f"Gradient-masking checks passed for {', '.join(passed)}.")
    if unjudged:
        out.append(f"Gradient-masking checks not applicable for {', '.join(unjudged)}: too few correctly classified "
                   "clips to attack.")
    return out


def _sweep_sentences(sweeps: Mapping[str, Mapping], tol: float) -> list[str]:
    out = []
    eps = sweeps.get("eps")
    if not eps:
        return out
    rising = []
    for name, points in (eps.get("models") or {}).items():
        ys = [p["clip_acc"] for p in sorted(points, key=lambda p: p["x"]) if p.get("clip_acc") is not None]
        if any(b > a + tol for a, b in zip(ys, ys[1:])):
            rising.append(name)
    if rising:
        out.append("Accuracy rises with a larger eps for " + ", ".join(rising) +
                   ", a sign of a weak attack or masked gradients.")
    else:
        out.append("Accuracy falls (or stays flat) as eps grows for every model, as a sound evaluation should show.")
    return out
