"""Publish a study's results into the project's Markdown files, between marker comments.

Written by the study itself (``study.readme`` in the config), from the same result files as the report,
so every number shown there comes from a real run: the full tables, claims and physical rows go into the
results page (``study.readme.results``, ``docs/results.md``), a short headline table into the README.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path

from videoabnn.report.reading import HOLDS, claims
from videoabnn.report.study_report import build_document, find_results
from videoabnn.report.tables import (
    acc_cell,
    attack_threat,
    budget_cell,
    budgets,
    find_reference,
    flops_ratio,
    headline_budget,
    markdown_table,
    model_name,
    physical_table,
    results_table,
    worst_case,
)
from videoabnn.threats import GRAY, TRANSFER, WHITE, ResultKey, title
from videoabnn.utils.io import atomic_write_text

MARKER = "STUDY-RESULTS"
HEADLINE_MARKER = "STUDY-HEADLINE"


def _block(marker: str) -> re.Pattern:
    return re.compile(rf"<!-- {marker} -->.*?(<!-- /{marker} -->|$)", re.S)


def _run_line(meta: Mapping, with_time: bool = True) -> str:
    """Which run wrote the numbers: profile, seeds, machine (and its stage time: the results page only)."""
    seeds = meta.get("seeds") or [meta.get("seed", 0)]
    line = (f"Written by the last run of `make demo-full` (profile `{meta.get('profile', 'full')}`, seeds "
            f"{', '.join(map(str, seeds))}) on {meta.get('machine') or 'unknown machine'}")
    minutes = float(meta.get("total_seconds") or 0) / 60
    return f"{line}, whose stages took {minutes:.1f} min in all" if with_time else line


def headline_table(results: list[dict]) -> str:
    """A handful of columns: clean, the worst case within the protocol's Linf ball per threat model, cost."""
    ball = headline_budget(results)
    ref = find_reference(results)
    threats = [t for t in (WHITE, TRANSFER, GRAY) if any(ball in budgets(r, t) for r in results)] if ball else []
    header = ["model", "clean", *[f"{title(t)}, worst {ball}" for t in threats], "train FLOPs / abnn"]
    rows = []
    for res in results:
        cells = [budget_cell(res, t, ball) for t in threats]
        ratio = flops_ratio(res, ref)
        rows.append([model_name(res), acc_cell(res, "clean.clip_acc", res["clean"]["clip_acc"]), *cells,
                     "–" if ratio is None else f"{ratio:.2f}x"])
    return markdown_table(header, rows, ["l"] + ["r"] * (len(header) - 1))


def headline_section(study_dir: Path, results_link: str, meta: Mapping) -> str:
    """Markdown for the README: one short table and a link to the full results."""
    results = find_results(study_dir, meta.get("models"))
    return "\n".join([
        f"{_run_line(meta, with_time=False)}. Clip accuracy in % on the synthetic test split, mean ± std over the seeds; every "
        "model starts from the same pretrained weights; white-box attacks differentiate through everything the "
        f"model computes. Every table, the paper's claims and the physical rows: [results]({results_link}).",
        "",
        headline_table(results),
        "",
    ])


def readme_section(study_dir: Path, image_rel: str, meta: Mapping) -> str:
    """Markdown for the results page: machine and duration, results table, claims table, one plot."""
    results = find_results(study_dir, meta.get("models"))
    lines = [
        "## The robustness study (`make demo-full`)",
        "",
        f"{_run_line(meta)}; the complete "
        "report with every threat model, the audit, example frames and settings is `work_dirs/study/report.md`. "
        "Clip accuracy in % on a class-stratified subset of the synthetic test split, mean ± standard "
        "deviation over the seeds; every model starts from the same pretrained weights and its checkpoint "
        "is chosen on a validation split; white-box attacks differentiate through everything the model "
        "computes (for ABNN: substitute and target); training cost in FLOPs (passes counted by the trainer) "
        "and in seconds of the training loop.",
        "",
        results_table(results),
        "",
    ]
    rows = [[c["claim"], c["measured"], HOLDS[c["holds"]]]
            for c in claims(results, float((meta.get("study") or {}).get("report", {}).get("tolerance", 0.02)))]
    if rows:
        lines += ["The ABNN paper's claims, checked on equal threat models (a difference inside the spread over "
                  "seeds is not distinguishable):", "",
                  markdown_table(["claim", "measured", "holds"], rows, ["l", "l", "l"]), ""]
    lines += gray_box_lines(results)
    physical = physical_table(results)
    if physical:
        lines += ["Physical attacks, digital protocol vs the physical threat model (one pattern per clip, fitted "
                  "under real-world changes and scored under fresh draws of them; 'no pattern, same draws' is the "
                  "control: the clean clips through the same camera draws; see the report for the conditions):",
                  "", physical, ""]
    lines += [f"![Accuracy vs eps (PGD-Linf, white-box)]({image_rel})", ""]
    return "\n".join(lines)


def gray_box_lines(results: list[dict]) -> list[str]:
    """ABNN under the gray-box threat model, stated apart from the claims (it is not an equal threat model),
    attack by attack beside the same attack white-box, so both sides use the same attacks."""
    abnn = next((r for r in results if (r.get("run") or {}).get("method") == "abnn"), None)
    if abnn is None or worst_case(abnn, GRAY) is None:
        return []
    pairs = []
    for key, entry in abnn["attacks"].items():
        white = ResultKey.parse(key).attack
        if attack_threat(key, entry) != GRAY or white not in abnn["attacks"]:
            continue
        pairs.append(f"{white} {acc_cell(abnn, f'attacks.{key}.clip_acc', entry['clip_acc'])}% "
                     f"(white-box {acc_cell(abnn, f'attacks.{white}.clip_acc', abnn['attacks'][white]['clip_acc'])}%)")
    if not pairs:
        return []
    return ["Separately, ABNN against an attacker who skips the substitute (gray-box), attack by attack beside "
            "the same attack white-box: " + "; ".join(pairs) + ".", ""]


def replace_marker_block(readme: str | os.PathLike, marker: str, body: str) -> Path:
    """Replace the ``<!-- marker -->`` ... ``<!-- /marker -->`` block of ``readme`` with ``body`` (atomically)."""
    readme = Path(readme)
    text = readme.read_text()
    if f"<!-- {marker} -->" not in text:
        raise ValueError(f"{readme}: no '<!-- {marker} -->' marker to put the results at")
    section = f"<!-- {marker} -->\n{body}<!-- /{marker} -->"
    return atomic_write_text(readme, _block(marker).sub(lambda _: section, text, count=1))


def _relative(target: Path, start: Path) -> str:
    """``target`` relative to the folder of ``start``, with forward slashes (a Markdown link)."""
    return os.path.relpath(target, start.parent).replace(os.sep, "/")


def update_readme(study_dir: str | os.PathLike, readme: str | os.PathLike, image_dir: str | os.PathLike,
                  plot: str = "acc_vs_eps.png", marker: str = MARKER, results: str | os.PathLike | None = None) -> Path:
    """Publish the study: with ``results`` (a Markdown page), its ``<!-- STUDY-RESULTS -->`` block gets the full
    section and the README's ``<!-- STUDY-HEADLINE -->`` block the headline table; without, the README's
    ``<!-- marker -->`` block gets the full section. Returns the README's path."""
    from videoabnn.utils.io import read_json

    study_dir, readme, image_dir = Path(study_dir), Path(readme), Path(image_dir)
    page = Path(results) if results is not None else readme
    for path, mark in ((page, marker), (readme, HEADLINE_MARKER if results is not None else marker)):
        if f"<!-- {mark} -->" not in path.read_text():
            raise ValueError(f"{path}: no '<!-- {mark} -->' marker to put the study results at")
    build_document(study_dir)  # draws the plots from the result files
    source = study_dir / "plots" / plot
    if not source.is_file():
        raise FileNotFoundError(f"{source}: the study has no plot {plot!r} to show in the results")
    image_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, image_dir / plot)
    meta = read_json(study_dir / "study.json") if (study_dir / "study.json").is_file() else {}
    replace_marker_block(page, marker, readme_section(study_dir, _relative(image_dir / plot, page), meta))
    if results is not None:
        replace_marker_block(readme, HEADLINE_MARKER, headline_section(study_dir, _relative(page, readme), meta))
    return readme
