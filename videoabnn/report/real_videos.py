"""The README's real-video table: per clip, the clean top-1 and the top-1 after each attack.

Built from the ``results.json`` records ``videoabnn-attack-video`` writes (one per clip), and put
between ``<!-- REAL-VIDEOS -->`` markers by the run itself, so the table always comes from a real run.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from videoabnn.report.readme import replace_marker_block
from videoabnn.report.tables import markdown_table

MARKER = "REAL-VIDEOS"


def _cell(top5: Sequence, label: str) -> str:
    """``class (p)``, in bold when the top-1 is no longer the label."""
    name, prob = top5[0]
    text = f"{name} ({prob:.2f})"
    return text if name == label else f"**{text}**"


def real_table(records: Sequence[Mapping]) -> str:
    """Markdown: clip, clean top-1 (probability), then the top-1 after each attack (bold: label lost)."""
    ids = list(records[0]["attacks"]) if records else []
    header = ["clip", "clean top-1"] + [f"`{i}`" for i in ids]
    rows = []
    for rec in records:
        subset, label = rec["data_subset"], rec["data_subset"]["label"]
        row = [Path(subset["video"]).name, _cell(subset["clean_top5"], label)]
        row += [_cell(rec["attacks"][i]["details"]["top5"], label) if i in rec["attacks"] else "–" for i in ids]
        rows.append(row)
    return markdown_table(header, rows, ["l"] * len(header))


def attack_legend(records: Sequence[Mapping]) -> str:
    """One line per attack: its exact settings, mean perturbation and seconds per clip."""
    if not records:
        return ""
    lines = []
    for key, row in records[0]["attacks"].items():
        params = ", ".join(f"{k}={_short(v)}" for k, v in row["params"].items())
        linf = sum(r["attacks"][key]["mean_linf"] for r in records) / len(records)
        secs = sum(r["attacks"][key]["seconds"] for r in records) / len(records)
        lines.append(f"- `{key}`: {row['name']}({params}); mean Linf {255 * linf:.1f}/255, {secs:.1f} s per clip")
    return "\n".join(lines)


def _short(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def real_section(records: Sequence[Mapping], meta: Mapping) -> str:
    """The README section: what ran, on which machine, how long, the table and the attack settings."""
    lines = [
        "## Real videos: the released I3D under attack (`make real`)",
        "",
        f"Written by the last run of `make real`: `{meta['command']}` on {meta['machine']}; "
        f"{len(records)} clips of {meta['frames']} frames (the centre of each video) at {meta['size']}x{meta['size']} "
        f"(short side {meta['short_side']}, centre crop), model `{meta['model']}` with weights `{meta['pretrained']}`; "
        f"attacks took {meta['attack_seconds']:.0f} s and the whole run {meta['total_seconds']:.0f} s. "
        "Each attack is untargeted against the clean top-1; a cell is the top-1 after the attack with its "
        "probability, in bold where the attack changed it.",
        "",
        real_table(records),
        "",
        attack_legend(records),
        "",
    ]
    return "\n".join(lines)


def update_real_readme(readme: str | os.PathLike, records: Sequence[Mapping], meta: Mapping) -> Path:
    """Replace the ``<!-- REAL-VIDEOS -->`` block of ``readme`` with this run's table."""
    return replace_marker_block(readme, MARKER, real_section(records, meta))
