"""Markdown tables built from results JSON files (the schema in docs/design.md).

Only numbers read from the files appear in a table; nothing is computed that the file does
not hold, apart from the training-time ratio to the ABNN run and means over columns.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from videoabnn.results import Results
from videoabnn.results import load_results as schema_load
from videoabnn.threats import PHYSICAL, PHYSICAL_REPORT_VIEWS, WHITE, ResultKey, title


def load_results(paths: Iterable[str | os.PathLike]) -> list[dict]:
    """Read results files, validated against the schema (``videoabnn.results``); errors name the file."""
    return [read_results_file(path).to_dict() for path in paths]


def read_results_file(path: str | os.PathLike) -> Results:
    """One validated results file."""
    return schema_load(path)


def check_results(data: Any, source: str = "results") -> dict:
    """Validate ``data`` against the results schema; returns it as the schema writes it."""
    return Results.from_dict(data, source).to_dict()


def model_name(result: Mapping) -> str:
    """The label of a result in tables: the run name, else its method."""
    run = result.get("run", {})
    return str(run.get("name") or run.get("method") or "model")


def pct(value: float | None, digits: int = 1) -> str:
    """A fraction in [0, 1] as a percentage string; a missing value as an en dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{100.0 * float(value):.{digits}f}"


def attack_threat(attack_id: str, entry: Mapping) -> str:
    """The threat model of one attack entry (white-box when the file does not say)."""
    return str(entry.get("threat") or WHITE)


def attack_label(attack_id: str, entry: Mapping) -> str:
    """A column label: the attack id, with the threat model appended unless white-box."""
    threat = attack_threat(attack_id, entry)
    if threat == WHITE or ResultKey.parse(attack_id).view == threat:
        return attack_id
    return f"{attack_id} [{threat}]"


def attack_columns(results: Sequence[Mapping], threat: str | None = WHITE) -> list[str]:
    """Attack ids in first-seen order over all results (only those of ``threat`` unless None)."""
    cols: list[str] = []
    for res in results:
        for attack_id, entry in res["attacks"].items():
            if threat is not None and attack_threat(attack_id, entry) != threat:
                continue
            if attack_id not in cols:
                cols.append(attack_id)
    return cols


def _mean(values: Sequence[float]) -> float | None:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def threat_acc_adv(result: Mapping, threat: str | None = WHITE) -> float | None:
    """Acc_adv of one threat model: the file's summary for its headline threat, else the mean over its attacks."""
    summary = result.get("summary") or {}
    if threat == summary.get("threat") and summary.get("acc_adv") is not None:
        return float(summary["acc_adv"])
    accs = [e["clip_acc"] for k, e in result["attacks"].items() if threat is None or attack_threat(k, e) == threat]
    return _mean(accs)


def threat_acc_all(result: Mapping, threat: str | None = WHITE) -> float | None:
    """Acc_all of one threat model: the file's summary for its headline threat, else clean plus its attacks."""
    summary = result.get("summary") or {}
    if threat == summary.get("threat") and summary.get("acc_all") is not None:
        return float(summary["acc_all"])
    accs = [e["clip_acc"] for k, e in result["attacks"].items() if threat is None or attack_threat(k, e) == threat]
    return _mean([result["clean"]["clip_acc"], *accs])


def worst_case(result: Mapping, threat: str = WHITE) -> float | None:
    """The headline robust accuracy under ``threat``: the file's per-clip worst case, else the min."""
    summary = result.get("summary") or {}
    wc = (summary.get("worst_case") or {}).get(threat)
    if wc is not None:
        return float(wc)
    accs = [e["clip_acc"] for k, e in result["attacks"].items() if attack_threat(k, e) == threat]
    return min(accs) if accs else None


def budgets(result: Mapping, threat: str = WHITE) -> dict[str, dict]:
    """The file's robust accuracy per norm-ball budget under ``threat``: ``{"linf 4/255": {"clip_acc", "attacks"}}``."""
    return dict(((result.get("summary") or {}).get("worst_case_budget") or {}).get(threat) or {})


def budget_columns(results: Sequence[Mapping], threat: str = WHITE) -> list[str]:
    """Budget labels present in any result, Linf first, each norm by radius."""
    labels = {b: v for res in results for b, v in budgets(res, threat).items()}

    def order(label: str) -> tuple:
        norm, radius = label.split(" ", 1)
        value = float(radius.split("/")[0]) / (255 if "/" in radius else 1)
        return norm != "linf", norm, value

    return sorted(labels, key=order)


def headline_budget(results: Sequence[Mapping], threat: str = WHITE) -> str | None:
    """The budget the claims compare models on: the Linf ball with the most attacks of exactly that
    radius (the protocol's eps, where the evaluation puts its effort); ties go to the smaller radius."""
    best, best_count = None, 0
    for res in results:
        inner: set[str] = set()
        for label in [c for c in budget_columns([res], threat) if c.startswith("linf")]:
            attacks = set(budgets(res, threat)[label]["attacks"])
            count = len(attacks - inner)
            inner |= attacks
            if count > best_count:
                best, best_count = label, count
        if best is not None:
            return best
    return best


def robust_accuracy(result: Mapping, threat: str = WHITE, budget: str | None = None) -> tuple[float | None, str]:
    """(value, dotted path for its spread): the worst case within ``budget``, or over every attack of
    ``threat`` when ``budget`` is None or missing from the file."""
    entry = budgets(result, threat).get(budget) if budget else None
    if entry is not None:
        return float(entry["clip_acc"]), f"summary.worst_case_budget.{threat}.{budget}.clip_acc"
    return worst_case(result, threat), f"summary.worst_case.{threat}"


def train_seconds(result: Mapping) -> float | None:
    """Training wall time recorded in the file, if any."""
    value = (result.get("run") or {}).get("train_seconds")
    return float(value) if value is not None else None


def find_reference(results: Sequence[Mapping], method: str = "abnn") -> Mapping | None:
    """The first result whose run method (or name) is ``method``."""
    for res in results:
        run = res.get("run") or {}
        if run.get("method") == method:
            return res
    for res in results:
        if model_name(res) == method:
            return res
    return None


def time_ratio(result: Mapping, reference: Mapping | None) -> float | None:
    """This run's training wall time divided by the reference run's (None when either is missing)."""
    if reference is None:
        return None
    mine, ref = train_seconds(result), train_seconds(reference)
    if mine is None or not ref:
        return None
    return mine / ref


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]], align: Sequence[str] | None = None) -> str:
    """A GitHub-flavoured Markdown table; ``align`` holds 'l' or 'r' per column."""
    align = list(align or ["l"] + ["r"] * (len(header) - 1))
    sep = ["---:" if a == "r" else ":---" for a in align]
    lines = ["| " + " | ".join(str(h) for h in header) + " |", "| " + " | ".join(sep) + " |"]
    for row in rows:
        cells = [str(c).replace("|", "\\|") for c in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def _ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}x"


def spread(result: Mapping, path: str) -> float | None:
    """Standard deviation over seeds of the number at dotted ``path`` (None for a single-seed result)."""
    value = (result.get("spread") or {}).get(path)
    return None if value is None or len(result.get("seeds") or []) < 2 else float(value)


def acc_cell(result: Mapping, path: str, value: float | None, digits: int = 1) -> str:
    """A percentage, with ``± std`` over seeds when the result aggregates several seeds."""
    sd = spread(result, path)
    return pct(value, digits) + ("" if sd is None or value is None else f" ± {100 * sd:.{digits}f}")


def train_flops(result: Mapping) -> float | None:
    """Training FLOPs recorded in the file (passes x measured FLOPs per pass), if any."""
    value = ((result.get("run") or {}).get("train_cost") or {}).get("flops")
    return float(value) if value else None


def flops_ratio(result: Mapping, reference: Mapping | None) -> float | None:
    """This run's training FLOPs divided by the reference run's."""
    mine, ref = train_flops(result), train_flops(reference) if reference is not None else None
    return mine / ref if mine is not None and ref else None


def results_rows(results: Sequence[Mapping], threat: str = WHITE, reference_method: str = "abnn") -> tuple[list[str], list[list[str]]]:
    """Header and rows of the main table: model x attack accuracy (%) plus summaries and cost."""
    cols = attack_columns(results, threat)
    balls = budget_columns(results, threat)
    ref = find_reference(results, reference_method)
    header = ["model", "clean", *cols, "Acc_adv", "Acc_all", *[f"worst {b}" for b in balls], "worst case", "train GFLOPs",
              f"FLOPs / {reference_method}", "train s", f"time / {reference_method}"]
    rows = []
    for res in results:
        accs = [acc_cell(res, f"attacks.{c}.clip_acc", res["attacks"][c]["clip_acc"]) if c in res["attacks"] else "–"
                for c in cols]
        headline = threat == (res.get("summary") or {}).get("threat")
        flops = train_flops(res)
        rows.append([
            model_name(res),
            acc_cell(res, "clean.clip_acc", res["clean"]["clip_acc"]),
            *accs,
            acc_cell(res, "summary.acc_adv", threat_acc_adv(res, threat)) if headline else pct(threat_acc_adv(res, threat)),
            acc_cell(res, "summary.acc_all", threat_acc_all(res, threat)) if headline else pct(threat_acc_all(res, threat)),
            *[budget_cell(res, threat, b) for b in balls],
            acc_cell(res, f"summary.worst_case.{threat}", worst_case(res, threat)),
            "–" if flops is None else f"{flops / 1e9:.0f}",
            _ratio(flops_ratio(res, ref)),
            _seconds(train_seconds(res)),
            _ratio(time_ratio(res, ref)),
        ])
    return header, rows


def budget_cell(result: Mapping, threat: str, budget: str) -> str:
    """The robust accuracy within ``budget`` (with its spread over seeds), or a dash where the file has none."""
    if budget not in budgets(result, threat):
        return "–"
    value, path = robust_accuracy(result, threat, budget)
    return acc_cell(result, path, value)


def results_table(results: Sequence[Mapping], threat: str = WHITE, reference_method: str = "abnn") -> str:
    """The main Markdown table (clip accuracy in %) for one threat model."""
    header, rows = results_rows(results, threat, reference_method)
    return markdown_table(header, rows)


def threat_models(results: Sequence[Mapping]) -> list[str]:
    """Threat models present in the results, white-box first."""
    found = [WHITE]
    for res in results:
        for k, e in res["attacks"].items():
            t = attack_threat(k, e)
            if t not in found:
                found.append(t)
    return found


def extra_threat_table(results: Sequence[Mapping], threat: str) -> str | None:
    """Accuracy (%) under a non-white threat model (gray-box, transfer) beside the white-box number."""
    rows = []
    for res in results:
        for attack_id, entry in res["attacks"].items():
            if attack_threat(attack_id, entry) != threat:
                continue
            base = _white_counterpart(res, attack_id, entry)
            src = (entry.get("params") or {}).get("source") or (entry.get("params") or {}).get("transfer_from")
            rows.append([model_name(res), attack_id, pct(entry["clip_acc"]), pct(base), str(src or "")])
    if not rows:
        return None
    return markdown_table(["model", "attack", f"{title(threat)} acc", f"{title(WHITE)} acc", "source"], rows,
                          ["l", "l", "r", "r", "l"])


def physical_attack_ids(results: Sequence[Mapping]) -> list[str]:
    """Attack ids that have a physical-threat row (``<id>@physical``), in first-seen order."""
    found: list[str] = []
    for res in results:
        for key in map(ResultKey.parse, res["attacks"]):
            if key.threat == PHYSICAL and key.condition is None and key.attack not in found:
                found.append(key.attack)
    return found


def physical_table(results: Sequence[Mapping]) -> str | None:
    """Digital vs physical, one row per model and attack: the white-box row (the field's per-frame digital
    protocol) beside one shared pattern fitted through the physical distribution, scored under fresh draws,
    the same draws without the pattern (what the camera alone costs), the worst fixed condition and an
    ideal capture; mean ± std over seeds where the results aggregate several."""
    ids = physical_attack_ids(results)
    if not ids:
        return None
    header = ["model", "attack", "digital", *(label for _, label in PHYSICAL_REPORT_VIEWS)]
    rows = []
    for res in results:
        for a in ids:
            row = [model_name(res), a]
            for key in (a, *(ResultKey(a, PHYSICAL, view).format() for view, _ in PHYSICAL_REPORT_VIEWS)):
                entry = res["attacks"].get(key)
                row.append(acc_cell(res, f"attacks.{key}.clip_acc", entry["clip_acc"]) if entry else "–")
            rows.append(row)
    return markdown_table(header, rows, ["l", "l"] + ["r"] * (len(header) - 2))


def _white_counterpart(result: Mapping, attack_id: str, entry: Mapping) -> float | None:
    """The white-box accuracy of the same attack: the row of the same id (``id@threat`` -> ``id``), else one with
    the same name and parameters."""
    base = ResultKey.parse(attack_id).attack
    own = result["attacks"].get(base)
    if own is not None and attack_threat(base, own) == WHITE:
        return own["clip_acc"]
    for k, e in result["attacks"].items():
        if k == attack_id or attack_threat(k, e) != WHITE:
            continue
        if e.get("name") == entry.get("name") and _core(e.get("params")) == _core(entry.get("params")):
            return e["clip_acc"]
    return None


def _core(params: Mapping | None) -> dict:
    params = dict(params or {})
    for key in ("source", "transfer_from", "threat"):
        params.pop(key, None)
    return params


def attack_settings_table(results: Sequence[Mapping]) -> str:
    """One row per attack id: its name, threat model and parameters (the exact threat model)."""
    seen: dict[str, list[str]] = {}
    for res in results:
        for attack_id, entry in res["attacks"].items():
            if attack_id in seen:
                continue
            params = entry.get("params") or {}
            text = ", ".join(f"{k}={_fmt_param(v)}" for k, v in params.items())
            seen[attack_id] = [attack_id, str(entry.get("name", attack_id)), attack_threat(attack_id, entry), text]
    return markdown_table(["id", "attack", "threat", "parameters"], list(seen.values()), ["l", "l", "l", "l"])


def _fmt_param(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return json.dumps(value) if isinstance(value, (list, dict)) else str(value)


def audit_rows(result: Mapping) -> list[tuple[str, bool | None, str]]:
    """(check name, passed, detail) rows of a result's gradient-masking audit (schema AuditResult)."""
    audit = result.get("audit")
    rows = []
    for check in (audit or {}).get("checks") or []:
        detail = check["reason"]
        if check.get("value") is not None:
            limit = f" (threshold {_fmt_param(check['threshold'])})" if check.get("threshold") is not None else ""
            detail = f"value {_fmt_param(check['value'])}{limit}; {detail}"
        rows.append((str(check["name"]), check["passed"], detail))
    return rows


def audit_passed(result: Mapping) -> bool | None:
    """Whether every gradient-masking check passed (None when the file has no audit or the audit is not
    applicable: see :func:`audit_verdict`)."""
    audit = result.get("audit")
    return None if not audit or audit.get("passed") is None else bool(audit["passed"])


def audit_verdict(audit: Mapping) -> str:
    """``passed``, ``FAILED`` or ``not applicable: <reason>`` (schema AuditResult)."""
    if audit.get("passed") is None:
        return f"not applicable: {audit.get('not_applicable') or 'no reason recorded'}"
    return "passed" if audit["passed"] else "FAILED"


def audit_table(results: Sequence[Mapping]) -> str:
    """Per model: overall audit verdict and the checks that failed."""
    rows = []
    for res in results:
        failed = [f"{n}: {d}" if d else n for n, p, d in audit_rows(res) if p is False]
        n_checks = len(audit_rows(res))
        status = "not run" if not res.get("audit") else audit_verdict(res["audit"])
        rows.append([model_name(res), status, str(n_checks), "; ".join(failed) or "–"])
    return markdown_table(["model", "audit", "checks", "failed checks"], rows, ["l", "l", "r", "l"])


def sweep_table(sweep: Mapping) -> str:
    """A sweep file (``{"x_label", "models": {name: [{"x", "clip_acc"}]}}``) as a table of % accuracy."""
    models = sweep.get("models") or {}
    xs: list = []
    for points in models.values():
        for p in points:
            if p["x"] not in xs:
                xs.append(p["x"])
    xs.sort()
    header = ["model", *[f"{sweep.get('x_label', 'x')}={_fmt_param(x)}" for x in xs]]
    rows = []
    for name, points in models.items():
        by_x = {p["x"]: p["clip_acc"] for p in points}
        rows.append([name, *[pct(by_x.get(x)) for x in xs]])
    return markdown_table(header, rows)


def results_markdown(results: Mapping) -> str:
    """One results dict as Markdown: a row per attack (accuracies in %), summaries and the audit verdict."""
    run, clean, summary = results["run"], results["clean"], results["summary"]
    subset = results.get("data_subset") or {}
    clips = f"{results['num_clips']}" + (f" (class-stratified subset of {subset.get('of')})"
                                         if subset.get("kind") == "stratified" else "")
    head = [f"# {run['name']} ({run['method']})", "",
            f"checkpoint: `{run['checkpoint']}` (sha256 {str(run.get('checkpoint_digest') or '')[:12]}); clips: "
            f"{clips}; seed: {results['seed']}" + ("" if results.get("complete") else
                                                 "; **partial results (evaluation not finished)**"), ""]
    if run.get("batch_coupled"):
        head += ["**Batch-coupled model: a clip's output depends on the other clips of its batch** (batch statistics "
                 "at test time); these numbers hold for this evaluation's batch size and order only.", ""]
    rows = [["clean", "-", pct(clean["clip_acc"], 2), pct(clean.get("video_acc"), 2), "-", "-", "-", "-"]]
    for key, a in results["attacks"].items():
        rows.append([key, a["threat"], pct(a["clip_acc"], 2), pct(a.get("video_acc"), 2), pct(a.get("success_rate"), 2),
                     _num(a.get("mean_linf"), 4), _num(a.get("mean_l2"), 3), _num(a.get("seconds"), 1)])
    table = markdown_table(["attack", "threat", "clip acc %", "video acc %", "success %", "mean Linf", "mean L2",
                            "seconds"], rows)
    lines = [*head, table, "", f"Acc_adv ({summary['threat']}, clip): {pct(summary.get('acc_adv'), 2)}; "
             f"Acc_all: {pct(summary.get('acc_all'), 2)}; video: {pct(summary.get('acc_adv_video'), 2)} / "
             f"{pct(summary.get('acc_all_video'), 2)}"]
    for th, acc in summary["worst_case"].items():
        count = len((summary.get("worst_case_attacks") or {}).get(th, []))
        lines.append(f"Worst case over {count} {th}-box attacks (per clip, clean included): {pct(acc, 2)}")
        for label, entry in ((summary.get("worst_case_budget") or {}).get(th) or {}).items():
            lines.append(f"  within {label}: {pct(entry['clip_acc'], 2)} ({', '.join(entry['attacks'])})")
    if results.get("audit"):
        lines.append(f"Gradient-masking audit: {audit_verdict(results['audit'])}")
    return "\n".join(lines) + "\n"


def _num(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def audit_markdown(audit: Mapping) -> str:
    """One gradient-masking audit (``AuditReport.to_dict()`` / schema ``AuditResult``) as Markdown."""
    status = {True: "pass", False: "**FAIL**", None: "skipped"}
    eps = (audit.get("settings") or {}).get("eps")
    robust = audit.get("robust_accuracy")
    lines = [f"### Gradient-masking audit: {audit_verdict(audit)}", "",
             f"Worst-case robust accuracy at eps {'?' if eps is None else f'{eps * 255:.1f}'}/255: "
             f"{'-' if robust is None else f'{robust:.4f}'}", ""]
    rows = [[c["name"], "not applicable" if c["passed"] is None and str(c["reason"]).startswith("not applicable")
             else status[c["passed"]], _num(c.get("value"), 4), _num(c.get("threshold"), 4), c["reason"]]
            for c in audit["checks"]]
    return "\n".join(lines) + markdown_table(["check", "result", "value", "threshold", "reason"], rows,
                                             ["l", "l", "r", "r", "l"]) + "\n"
