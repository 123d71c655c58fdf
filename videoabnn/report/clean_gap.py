"""The ABNN clean-accuracy trade-off table and its reading, from ``results/clean_gap.json``
(``videoabnn.study.clean_gap``; aggregated over seeds by ``aggregate_clean_gap``).

The reading picks the option that is best on the *validation* split (never on test numbers), and
applies the adoption rule of issue 20: an option qualifies only if it beats the default on
validation beyond the noise and keeps ABNN's gray-box robustness (its gray-box worst case within the
budget no lower than the default's beyond the noise). It reports; it changes no default.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from videoabnn.report.document import Document, optional_section, standalone_markdown
from videoabnn.report.tables import markdown_table, pct

TITLE = "ABNN clean-accuracy trade-off: one option at a time"


def value(row: Mapping, key: str) -> float | None:
    v = (row.get("values") or {}).get(key)
    return None if v is None else float(v)


def std(row: Mapping, key: str) -> float | None:
    v = (row.get("std") or {}).get(key)
    return None if v is None else float(v)


def cell(row: Mapping, key: str) -> str:
    """A percentage, with ``± std`` over seeds when there are several."""
    v, s = value(row, key), std(row, key)
    return pct(v) + ("" if v is None or s is None else f" ± {100 * s:.1f}")


def changes(row: Mapping) -> str:
    """What a row changes against the base model, as dotted keys."""
    if row.get("role") == "base":
        return "default"
    if row.get("role") == "reference":
        return "undefended (for the gap)"
    return "; ".join(f"{k}: {json.dumps(v)}" for k, v in (row.get("overrides") or {}).items()) or "–"


def clean_gap_table(data: Mapping) -> str:
    """Markdown: model, what it changes, validation, clean, white- and gray-box headline and budget worst case."""
    head, budget = data.get("headline", "pgd_linf_4_20"), data.get("budget", "linf 4/255")
    header = ["model", "changes", "validation", "clean", f"white-box {head}", f"white-box worst {budget}",
              f"gray-box {head}", f"gray-box worst {budget}"]
    keys = ("val", "clean", "white_headline", "white_budget", "gray_headline", "gray_budget")
    rows = [[r["model"], changes(r), *(cell(r, k) for k in keys)] for r in data["rows"]]
    return markdown_table(header, rows, ["l", "l", "r", "r", "r", "r", "r", "r"])


def noise(a: Mapping, b: Mapping, key: str, tolerance: float) -> float:
    """The difference two rows' ``key`` must exceed to count: their summed std over seeds, else the tolerance."""
    sa, sb = std(a, key), std(b, key)
    return tolerance if sa is None and sb is None else max((sa or 0.0) + (sb or 0.0), 1e-9)


def _pts(a: float, b: float) -> str:
    return f"{100 * (a - b):+.1f} points"


def best_on_validation(data: Mapping) -> Mapping | None:
    """The variant with the highest validation accuracy (the base and the reference are not candidates)."""
    found = [r for r in data["rows"] if r.get("role") == "variant" and value(r, "val") is not None]
    return max(found, key=lambda r: value(r, "val")) if found else None


def keeps_gray_box(row: Mapping, base: Mapping, tolerance: float) -> bool | None:
    """Whether ``row``'s gray-box worst case is not below the base's beyond the noise (None: not measured)."""
    a, b = value(row, "gray_budget"), value(base, "gray_budget")
    if a is None or b is None:
        return None
    return a >= b - noise(row, base, "gray_budget", tolerance)


def clean_gap_reading(data: Mapping, tolerance: float = 0.02) -> list[str]:
    """Sentences: the gap to the undefended model, the best option on validation, its gray-box robustness,
    and what the adoption rule concludes."""
    base = next((r for r in data["rows"] if r.get("role") == "base"), None)
    if base is None:
        return []
    out = [_gap_sentence(base, next((r for r in data["rows"] if r.get("role") == "reference"), None))]
    best = best_on_validation(data)
    if best is None or value(base, "val") is None:
        return out + ["No variant has a validation accuracy, so none can be chosen."]
    gain = value(best, "val") - value(base, "val")
    better = gain > noise(best, base, "val", tolerance)
    out.append(f"Best on validation: {best['model']} ({changes(best)}), {cell(best, 'val')}% vs the default's "
               f"{cell(base, 'val')}% ({_pts(value(best, 'val'), value(base, 'val'))}, "
               f"{'beyond' if better else 'within'} the noise{_noise_source(best, base, tolerance)}); on the test "
               f"clips it reaches {cell(best, 'clean')}% clean vs {cell(base, 'clean')}%{_ties(data, best)}.")
    keeps = keeps_gray_box(best, base, tolerance)
    budget = data.get("budget", "linf 4/255")
    if keeps is not None:
        out.append(f"Its gray-box worst case within {budget} is {cell(best, 'gray_budget')}% vs the default's "
                   f"{cell(base, 'gray_budget')}%: it {'keeps' if keeps else 'does not keep'} ABNN's gray-box "
                   f"robustness; white-box worst case {cell(best, 'white_budget')}% vs {cell(base, 'white_budget')}%.")
    out.append(_adoption(best, better, keeps))
    others = [r["model"] for r in data["rows"] if r.get("role") == "variant" and r is not best
              and value(r, "val") is not None
              and value(r, "val") - value(base, "val") > noise(r, base, "val", tolerance)
              and keeps_gray_box(r, base, tolerance)]
    if others:
        out.append(f"Also better on validation and keeping the gray-box robustness: {', '.join(others)}.")
    return out


def _ties(data: Mapping, best: Mapping) -> str:
    """The other variants with the same validation accuracy (the first listed is taken)."""
    tied = [r["model"] for r in data["rows"] if r.get("role") == "variant" and r is not best
            and value(r, "val") is not None and abs(value(r, "val") - value(best, "val")) < 1e-9]
    return f" (tied on validation with {', '.join(tied)}; the first listed is taken)" if tied else ""


def _noise_source(a: Mapping, b: Mapping, tolerance: float) -> str:
    """Where the noise level comes from: the seeds' spread, or (one seed) the report's tolerance."""
    if std(a, "val") is None and std(b, "val") is None:
        return f" of {100 * tolerance:.0f} points, the report's tolerance: one seed gives no measured spread"
    return ", the summed standard deviation over seeds"


def _gap_sentence(base: Mapping, reference: Mapping | None) -> str:
    text = f"Default ABNN ({base['model']}): validation {cell(base, 'val')}%, clean {cell(base, 'clean')}%"
    if reference is not None and value(reference, "clean") is not None and value(base, "clean") is not None:
        text += (f"; the undefended model ({reference['model']}): validation {cell(reference, 'val')}%, clean "
                 f"{cell(reference, 'clean')}%, a clean gap of {_pts(value(reference, 'clean'), value(base, 'clean'))}")
    return text + "."


def _adoption(best: Mapping, better: bool, keeps: bool | None) -> str:
    rule = ("Adoption rule (adopt an option only if it beats the default on validation and keeps ABNN's gray-box "
            "robustness): ")
    if not better:
        return rule + "no option beats the default on validation beyond the noise; nothing qualifies."
    if keeps is None:
        return rule + f"{best['model']} beats the default on validation, but its gray-box robustness was not measured."
    if not keeps:
        return rule + f"{best['model']} beats the default on validation but loses gray-box robustness; it does not qualify."
    return rule + (f"{best['model']} qualifies. The study reports this; the default is not changed by it.")


# --------------------------------------------------------------------------- report section, standalone file
def read_clean_gap(study_dir: str | Path) -> dict | None:
    path = Path(study_dir) / "results" / "clean_gap.json"
    return json.loads(path.read_text()) if path.is_file() else None


def add_clean_gap(doc: Document, data: Mapping, tolerance: float = 0.02, level: int = 2) -> None:
    """The trade-off section: what was run, the table and the reading."""
    doc.heading(TITLE, level)
    seeds = data.get("seeds") or [data.get("seed", 0)]
    spread = f"mean ± standard deviation over seeds {', '.join(map(str, seeds))}" if len(seeds) > 1 else \
        f"seed {seeds[0]}"
    doc.para(f"Each variant is the default ABNN ({data.get('base')}) retrained with one change, from the same "
             f"pretrained start, seed and schedule; its checkpoint is the best epoch on the validation split. Clip "
             f"accuracy in % ({spread}); validation: the checkpoint's validation accuracy; white-box attacks "
             f"{', '.join(f'`{a}`' for a in data.get('attacks') or [])}; gray-box attacks "
             f"{', '.join(f'`{a}`' for a in data.get('gray_attacks') or []) or 'none'}; worst: per clip, over "
             f"the attacks within {data.get('budget')}.")
    doc.table(clean_gap_table(data))
    doc.para("Reading (computed from the table; the choice uses the validation column only):")
    doc.bullets(clean_gap_reading(data, tolerance))


def clean_gap_section(doc: Document, study_dir: str | Path, tolerance: float = 0.02) -> bool:
    """Add the section when the study has ``results/clean_gap.json``; whether it did."""
    return optional_section(doc, read_clean_gap(study_dir), add_clean_gap, tolerance)


def write_clean_gap_markdown(study_dir: str | Path, tolerance: float = 0.02) -> Path | None:
    """``<study_dir>/clean_gap.md``: the section as a document of its own (None without results)."""
    return standalone_markdown(Path(study_dir) / "clean_gap.md", TITLE, read_clean_gap(study_dir), add_clean_gap, tolerance)
