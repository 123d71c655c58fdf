"""The ABNN fidelity table and its reading, from ``results/fidelity.json`` (``videoabnn.study.fidelity``).

Rows: model x pipeline; columns: clean, each attack, the per-clip worst case over the row's attacks
and the finite-difference gradient check of the gradient the row's attacks followed. The reading
splits the robustness the authors' pipeline reports beyond the full protocol into its ingredients,
each a difference of two numbers of the table: the gradient cut (the same attack with the cut and the
full gradient), attack strength (that attack vs the full protocol's worst case), batch coupling (the
same attacks with one video's clips per batch vs another batch) and the formulation (the prototype vs
our layer under the full protocol).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from videoabnn.report.document import Document, optional_section, standalone_markdown
from videoabnn.report.reading import compare
from videoabnn.report.tables import markdown_table, pct
from videoabnn.threats import GRAY, WHITE, title

TITLE = "ABNN fidelity: our layer and the authors' prototype, under their pipeline and the full protocol"
FORMULATIONS = {"modulate": "ours, modulate", "replace": "ours, replace", "prototype": "pooled prototype",
                "prototype_exact": "authors' prototype"}


def model_label(name: str, info: Mapping) -> str:
    """``name (formulation[, statistics])`` for a fidelity model."""
    what = FORMULATIONS.get(str(info.get("mode")), str(info.get("mode")))
    if info.get("prototype_statistics"):
        what += f", {info['prototype_statistics']} statistics"
    return f"{name} ({what})"


def attack_columns(data: Mapping) -> list[str]:
    """Attack ids in the order the pipelines first name them."""
    cols: list[str] = []
    for row in data["rows"]:
        cols += [a for a in row["attacks"] if a not in cols]
    return cols


def gradcheck_cell(row: Mapping) -> str:
    """'passed (err)', '**failed** (err)' or a dash (gray-box rows: the attacker skips the substitute by design)."""
    check = row.get("gradcheck")
    if check is None:
        return f"– ({title(GRAY)})" if row.get("threat") == GRAY else "–"
    verdict = "passed" if check["passed"] else "**failed**"
    return f"{verdict} ({float(check['max_rel_error']):.1e})"


def fidelity_table(data: Mapping) -> str:
    """Markdown table: one row per (model, pipeline)."""
    cols = attack_columns(data)
    header = ["model", "pipeline", "gradient", "threat", "test batch", "clean", *cols, "worst case", "gradient check"]
    rows = []
    for row in data["rows"]:
        info = data["models"].get(row["model"], {})
        rows.append([model_label(row["model"], info), row["pipeline"], row["gradient"], row["threat"],
                     str(row["batch"]), pct(row["clean"]), *(pct(row["attacks"].get(c)) for c in cols),
                     pct(row.get("worst_case")), gradcheck_cell(row)])
    return markdown_table(header, rows, ["l", "l", "l", "l", "r", "r", *(["r"] * len(cols)), "r", "l"])


# --------------------------------------------------------------------------- which row plays which part
def _rows(data: Mapping, model: str) -> list[Mapping]:
    return [r for r in data["rows"] if r["model"] == model]


def authors_row(rows: Sequence[Mapping]) -> Mapping | None:
    """The authors' pipeline: the first white-box row with the cut gradient."""
    return next((r for r in rows if r["threat"] == WHITE and r["gradient"] == "cut"), None)


def full_row(rows: Sequence[Mapping], batch: int | None = None) -> Mapping | None:
    """The full protocol: the white-box, full-gradient row with the most attacks (same batch as ``batch`` first)."""
    found = [r for r in rows if r["threat"] == WHITE and r["gradient"] == "full"]
    found.sort(key=lambda r: (r["batch"] != batch, -len(r["attacks"])))
    return found[0] if found else None


def gray_row(rows: Sequence[Mapping]) -> Mapping | None:
    return next((r for r in rows if r["threat"] == GRAY), None)


def coupling_row(rows: Sequence[Mapping], full: Mapping | None) -> Mapping | None:
    """A white-box, full-gradient row with another test batch than ``full`` (isolates batch coupling)."""
    if full is None:
        return None
    return next((r for r in rows if r["threat"] == WHITE and r["gradient"] == "full"
                 and r["batch"] != full["batch"]), None)


def _pts(value: float) -> str:
    return f"{100 * value:+.1f} points"


def _versus(a: float, b: float, tol: float) -> str:
    """``a% vs b% (+x points, higher)``: two accuracies, their difference and its verdict at ``tol``."""
    word = {"higher than": "higher", "lower than": "lower", "on par with": "on par"}[compare(a, b, tol)]
    return f"{pct(a)}% vs {pct(b)}% ({_pts(a - b)}, {word})"


# --------------------------------------------------------------------------- reading
def ingredients(data: Mapping, model: str) -> dict[str, float | None]:
    """The parts of the robustness the authors' pipeline reports for ``model`` beyond the full protocol.

    ``removed``: authors' number minus the full protocol's worst case; ``gradient cut``: the authors'
    attack with the cut minus with the full gradient; ``attack strength``: that attack (full gradient)
    minus the worst case; ``batch coupling``: the authors' attack (full gradient) on the full protocol's
    batches minus on another batch; ``formulation``: the full-protocol worst case minus the base model's."""
    rows = _rows(data, model)
    auth = authors_row(rows)
    full = full_row(rows, auth["batch"] if auth else None)
    out: dict[str, float | None] = dict.fromkeys(("removed", "gradient cut", "attack strength", "batch coupling",
                                                  "formulation"))
    if auth is None or full is None:
        return out
    attack = next(iter(auth["attacks"]))
    reported, worst, same = auth["attacks"][attack], full.get("worst_case"), full["attacks"].get(attack)
    if worst is not None:
        out["removed"] = reported - worst
    if same is not None:
        out["gradient cut"] = reported - same
        if worst is not None:
            out["attack strength"] = same - worst
    other = coupling_row(rows, full)
    if other is not None and same is not None and other["attacks"].get(attack) is not None:
        out["batch coupling"] = same - other["attacks"][attack]
    base_full = full_row(_rows(data, data["base"]), full["batch"])
    if model != data["base"] and base_full is not None and worst is not None and base_full.get("worst_case") is not None:
        out["formulation"] = worst - base_full["worst_case"]
    return out


def fidelity_reading(data: Mapping, tolerance: float = 0.02) -> list[str]:
    """Sentences, each comparing numbers of the fidelity table, ending with which ingredient accounts for
    the robustness the authors' pipeline reports and the full protocol removes."""
    out: list[str] = []
    for model, info in data["models"].items():
        out += _model_sentences(data, model, info, tolerance)
    out += _formulation_sentences(data, tolerance)
    out += _conclusion(data, tolerance)
    return out


def _model_sentences(data: Mapping, model: str, info: Mapping, tol: float) -> list[str]:
    rows = _rows(data, model)
    label = model_label(model, info)
    auth = authors_row(rows)
    full = full_row(rows, auth["batch"] if auth else None)
    out = []
    if auth is not None and full is not None:
        attack = next(iter(auth["attacks"]))
        reported, worst, same = auth["attacks"][attack], full.get("worst_case"), full["attacks"].get(attack)
        text = (f"{label}: the authors' pipeline (cut gradient, `{attack}`, test batch {auth['batch']}) reports "
                f"{pct(reported)}%; the full protocol leaves {pct(worst)}% (per-clip worst case over "
                f"{', '.join(f'`{a}`' for a in full['attacks'])}, correct gradient)")
        if worst is not None and same is not None:
            text += (f": {_pts(reported - worst)} of apparent robustness, of which the gradient cut accounts for "
                     f"{_pts(reported - same)} (`{attack}` with the cut vs the full gradient: {pct(reported)}% vs "
                     f"{pct(same)}%) and attack strength for {_pts(same - worst)} (`{attack}` vs the worst case)")
        out.append(text + ".")
    out += _check_sentences(label, auth, full)
    gray = gray_row(rows)
    if gray is not None and full is not None and gray.get("worst_case") is not None and full.get("worst_case") is not None:
        out.append(f"{label}, gray-box (the attacker skips the substitute): {pct(gray['worst_case'])}%, "
                   f"{compare(gray['worst_case'], full['worst_case'], tol)} the full white-box protocol "
                   f"({_pts(gray['worst_case'] - full['worst_case'])}).")
    out += _coupling_sentences(label, info, rows, full, auth, tol)
    return out


def _check_sentences(label: str, auth: Mapping | None, full: Mapping | None) -> list[str]:
    parts = []
    for row, what in ((auth, "the cut gradient"), (full, "the full gradient")):
        check = (row or {}).get("gradcheck")
        if check is not None:
            parts.append(f"{'passes' if check['passed'] else 'fails'} {what} (largest relative error "
                         f"{float(check['max_rel_error']):.1e}, tolerance {float(check['tol']):.0e})")
    if not parts:
        return []
    return [f"{label}: the finite-difference gradient check " + " and ".join(parts) + "."]


def _coupling_sentences(label: str, info: Mapping, rows: Sequence[Mapping], full: Mapping | None,
                        auth: Mapping | None, tol: float) -> list[str]:
    other = coupling_row(rows, full)
    if other is None or full is None:
        return []
    shared = [a for a in full["attacks"] if a in other["attacks"]]
    diffs = "; ".join(f"`{a}` {_versus(full['attacks'][a], other['attacks'][a], tol)}" for a in shared
                      if full["attacks"][a] is not None and other["attacks"][a] is not None)
    coupled = "its clips are coupled through the batch" if info.get("batch_coupled") else \
        "its clips are independent of their batch, so any difference is the attacks' randomness"
    return [f"{label}, batch coupling ({coupled}): with test batch {full['batch']} instead of {other['batch']}, "
            f"clean {_versus(full['clean'], other['clean'], tol)}{'; ' + diffs if diffs else ''}."]


def _formulation_sentences(data: Mapping, tol: float) -> list[str]:
    base = data["base"]
    base_rows = _rows(data, base)
    out = []
    for model, info in data["models"].items():
        if model == base:
            continue
        rows = _rows(data, model)
        full, base_full = full_row(rows), full_row(base_rows)
        gray, base_gray = gray_row(rows), gray_row(base_rows)
        if full is None or base_full is None:
            continue
        parts = [f"clean {_versus(full['clean'], base_full['clean'], tol)}"]
        if full.get("worst_case") is not None and base_full.get("worst_case") is not None:
            parts.append(f"full-protocol worst case {_versus(full['worst_case'], base_full['worst_case'], tol)}")
        if gray is not None and base_gray is not None and gray.get("worst_case") is not None \
                and base_gray.get("worst_case") is not None:
            parts.append(f"gray-box worst case {_versus(gray['worst_case'], base_gray['worst_case'], tol)}")
        out.append(f"Formulation, {model_label(model, info)} vs {model_label(base, data['models'][base])} (same "
                   f"initialisation, seed and schedule): " + "; ".join(parts) + ".")
    return out


def _conclusion(data: Mapping, tol: float) -> list[str]:
    """Per model: the ingredient that accounts for most of what the full protocol removes."""
    out = []
    for model, info in data["models"].items():
        parts = ingredients(data, model)
        removed = parts["removed"]
        if removed is None:
            continue
        label = model_label(model, info)
        if removed <= tol:
            out.append(f"In short, {label}: the authors' pipeline reports no robustness beyond the full protocol "
                       f"({_pts(removed)}, tolerance {100 * tol:.0f} points).")
            continue
        named = {k: parts[k] for k in ("gradient cut", "attack strength") if parts[k] is not None}
        text = f"In short, {label}: of the {_pts(removed)} the authors' pipeline reports above the full protocol"
        if named:
            top = max(named, key=lambda k: named[k])
            text += f", the {top} accounts for most ({_pts(named[top])}"
            rest = [f"{k} {_pts(v)}" for k, v in named.items() if k != top]
            text += f"; {', '.join(rest)})" if rest else ")"
        coupling = parts["batch coupling"]
        if coupling is not None:
            text += (f"; batch coupling (the full protocol's test batch vs another, same attack, full gradient) "
                     f"{'accounts for ' + _pts(coupling) if abs(coupling) > tol else 'changes nothing beyond the tolerance'}")
        form = parts["formulation"]
        if form is not None:
            text += (f"; the formulation itself leaves {_pts(form)} against the base model under the full "
                     f"protocol ({'robustness that survives it' if form > tol else 'no robustness that survives it'})")
        out.append(text + ".")
    return out


# --------------------------------------------------------------------------- report section, standalone file
def read_fidelity(study_dir: str | Path) -> dict | None:
    path = Path(study_dir) / "results" / "fidelity.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _pipeline_text(name: str, pipe: Mapping) -> str:
    about = f" ({pipe['about']})" if pipe.get("about") else ""
    models = f"; models: {', '.join(pipe['models'])}" if pipe.get("models") else ""
    return (f"`{name}`{about}: {pipe.get('gradient', 'full')} gradient, {pipe.get('threat', WHITE)}-box, attacks "
            f"{', '.join(f'`{a}`' for a in pipe.get('attacks') or [])}, test batch {pipe.get('batch', 'video')}{models}")


def _attack_text(spec: Mapping) -> str:
    params = [f"{k} {v * 255:.3g}/255" if k in ("eps", "alpha") else f"{k} {v}" for k, v in spec.items()
              if k not in ("id", "name") and isinstance(v, (int, float, str)) and not isinstance(v, bool)]
    return f"`{spec['id']}`: {spec['name']}" + (f" ({', '.join(params)})" if params else "")


def add_fidelity(doc: Document, data: Mapping, tolerance: float = 0.02, level: int = 2) -> None:
    """The fidelity section: what was run, the table, the batch-coupling warning and the reading."""
    doc.heading(TITLE, level)
    doc.para(f"Seed {data.get('seed', 0)}; clip accuracy in % on the study's test clips, one video's "
             f"{data.get('clips_per_video')} clips per batch where the test batch says so. `gradient: cut` evaluates "
             "the same checkpoint with its substitute's downsampling shortcuts detached, as the authors' substitute "
             "does (same predictions, truncated input gradient). Worst case: per clip, over the row's attacks. "
             "Gradient check: directional finite differences against the gradient the row's attacks follow.")
    doc.bullets([_pipeline_text(n, p) for n, p in (data.get("pipelines") or {}).items()]
                + [_attack_text(s) for s in (data.get("attacks") or {}).values()])
    doc.table(fidelity_table(data))
    coupled = [model_label(n, i) for n, i in data["models"].items() if i.get("batch_coupled")]
    if coupled:
        doc.para(f"**{', '.join(coupled)} couples the clips of a batch** (scalar statistics over the whole batch "
                 "tensor, as the authors compute them): a clip's prediction depends on the clips it is evaluated "
                 "with, so its numbers hold for the test batch of their row only; sequential attacks (AutoAttack's "
                 "parts, an attack `after` another) attack the clips still correct as a smaller batch.")
    doc.para("Reading (computed from the table):")
    doc.bullets(fidelity_reading(data, tolerance))


def fidelity_section(doc: Document, study_dir: str | Path, tolerance: float = 0.02) -> bool:
    """Add the section when the study has ``results/fidelity.json``; whether it did."""
    return optional_section(doc, read_fidelity(study_dir), add_fidelity, tolerance)


def write_fidelity_markdown(study_dir: str | Path, tolerance: float = 0.02) -> Path | None:
    """``<study_dir>/fidelity.md``: the section as a document of its own (None without results)."""
    return standalone_markdown(Path(study_dir) / "fidelity.md", TITLE, read_fidelity(study_dir), add_fidelity, tolerance)
