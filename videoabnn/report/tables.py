"""Markdown tables built from results JSON files (the schema in docs/design.md).

Only numbers read from the files appear in a table; nothing is computed that the file does
not hold, apart from the training-time ratio to the ABNN run and means over columns.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

WHITE = "white"
THREAT_TITLES = {"white": "white-box", "gray": "gray-box", "transfer": "transfer"}


def load_results(paths: Iterable[str | os.PathLike]) -> list[dict]:
    """Read results JSON files, checking the keys every table needs; errors name the file."""
    out = []
    for path in paths:
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError as err:
            raise FileNotFoundError(f"results file not found: {path}") from err
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: not valid JSON: {err}") from err
        check_results(data, source=str(path))
        out.append(data)
    return out


def check_results(data: Any, source: str = "results") -> None:
    """Raise ValueError naming the missing key when ``data`` does not follow the results schema."""
    if not isinstance(data, Mapping):
        raise ValueError(f"{source}: expected a JSON object, got {type(data).__name__}")
    for key in ("run", "clean", "attacks"):
        if key not in data:
            raise ValueError(f"{source}: missing key {key!r} (expected run, clean, attacks, summary)")
    if "clip_acc" not in data["clean"]:
        raise ValueError(f"{source}: missing key 'clean.clip_acc'")
    if not isinstance(data["attacks"], Mapping):
        raise ValueError(f"{source}: 'attacks' must be an object keyed by attack id")
    for attack_id, entry in data["attacks"].items():
        if not isinstance(entry, Mapping) or "clip_acc" not in entry:
            raise ValueError(f"{source}: attack {attack_id!r} has no 'clip_acc'")


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
    if threat == WHITE or threat in attack_id:
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


def acc_adv(result: Mapping, threat: str | None = WHITE) -> float | None:
    """Acc_adv as the file states it (white-box), else the mean over the attacks of ``threat``."""
    summary = result.get("summary") or {}
    if threat == WHITE and summary.get("acc_adv") is not None:
        return float(summary["acc_adv"])
    accs = [e["clip_acc"] for k, e in result["attacks"].items() if threat is None or attack_threat(k, e) == threat]
    return _mean(accs)


def acc_all(result: Mapping, threat: str | None = WHITE) -> float | None:
    """Acc_all as the file states it (white-box), else the mean over clean plus the attacks."""
    summary = result.get("summary") or {}
    if threat == WHITE and summary.get("acc_all") is not None:
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


def results_rows(results: Sequence[Mapping], threat: str = WHITE, reference_method: str = "abnn") -> tuple[list[str], list[list[str]]]:
    """Header and rows of the main table: model x attack accuracy (%) plus summaries and cost."""
    cols = attack_columns(results, threat)
    ref = find_reference(results, reference_method)
    header = ["model", "clean", *cols, "Acc_adv", "Acc_all", "worst case", "train s", f"time / {reference_method}"]
    rows = []
    for res in results:
        accs = [pct(res["attacks"][c]["clip_acc"]) if c in res["attacks"] else "–" for c in cols]
        rows.append([
            model_name(res),
            pct(res["clean"]["clip_acc"]),
            *accs,
            pct(acc_adv(res, threat)),
            pct(acc_all(res, threat)),
            pct(worst_case(res, threat)),
            _seconds(train_seconds(res)),
            _ratio(time_ratio(res, ref)),
        ])
    return header, rows


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
    return markdown_table(["model", "attack", f"{THREAT_TITLES.get(threat, threat)} acc", "white-box acc", "source"], rows,
                          ["l", "l", "r", "r", "l"])


def _white_counterpart(result: Mapping, attack_id: str, entry: Mapping) -> float | None:
    """The white-box accuracy of the same attack (same name and params), if present."""
    for k, e in result["attacks"].items():
        if k == attack_id or attack_threat(k, e) != WHITE:
            continue
        if k in attack_id or (e.get("name") == entry.get("name") and _core(e.get("params")) == _core(entry.get("params"))):
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
    """(check name, passed, detail) rows from a result's gradient-masking audit, whatever its form."""
    audit = result.get("audit")
    if not audit:
        return []
    checks = audit.get("checks") if isinstance(audit, Mapping) else audit
    rows: list[tuple[str, bool | None, str]] = []
    if isinstance(checks, Mapping):
        checks = [{"name": k, **(v if isinstance(v, Mapping) else {"passed": v})} for k, v in checks.items()]
    for check in checks or []:
        if not isinstance(check, Mapping):
            continue
        detail = check.get("reason") or check.get("detail") or check.get("message") or ""
        if isinstance(detail, (dict, list)):
            detail = json.dumps(detail)
        if check.get("value") is not None:
            limit = f" (threshold {_fmt_param(check['threshold'])})" if check.get("threshold") is not None else ""
            detail = f"value {_fmt_param(check['value'])}{limit}" + (f"; {detail}" if detail else "")
        passed = check.get("passed")
        rows.append((str(check.get("name", "?")), None if passed is None else bool(passed), str(detail)))
    return rows


def audit_passed(result: Mapping) -> bool | None:
    """Whether every gradient-masking check passed (None when the file has no audit)."""
    audit = result.get("audit")
    if not audit:
        return None
    if isinstance(audit, Mapping) and audit.get("passed") is not None:
        return bool(audit["passed"])
    rows = audit_rows(result)
    return all(p is not False for _, p, _ in rows) if rows else None


def audit_table(results: Sequence[Mapping]) -> str:
    """Per model: overall audit verdict and the checks that failed."""
    rows = []
    for res in results:
        verdict = audit_passed(res)
        failed = [f"{n}: {d}" if d else n for n, p, d in audit_rows(res) if p is False]
        n_checks = len(audit_rows(res))
        status = "not run" if verdict is None else ("passed" if verdict else "FAILED")
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
