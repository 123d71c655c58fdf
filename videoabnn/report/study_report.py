"""Build the study report (report.md + report.html + plots) from result files only.

Layout of a study directory (written by ``videoabnn.study``; any tool may write the same files):

- ``results/<model>.json``: one results file per model (schema in docs/design.md);
- ``results/sweeps/<kind>.json``: sweeps (``eps``, ``size``, ``frames``, ``training``; ``position``
  for the sticker-position heat map), see :mod:`videoabnn.report.plots`;
- ``study.json`` (optional): settings, seeds, stage timings, data sizes and example clips;
- ``frames/*.png``/``*.gif``: example clips.

``build_report(study_dir)`` reads only these files, so it can be rerun without rerunning anything.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from videoabnn.methods import ADVERSARIAL_METHODS
from videoabnn.report import plots
from videoabnn.report.clean_gap import clean_gap_section, write_clean_gap_markdown
from videoabnn.report.document import Document
from videoabnn.report.fidelity import fidelity_section, write_fidelity_markdown
from videoabnn.report.reading import HOLDS, claims, reading
from videoabnn.report.tables import (
    attack_settings_table,
    audit_rows,
    audit_table,
    check_results,
    extra_threat_table,
    markdown_table,
    model_name,
    pct,
    physical_table,
    results_table,
    sweep_table,
    threat_models,
)
from videoabnn.threats import NAIVE, threat_of_view, title
from videoabnn.utils.io import atomic_write_text

log = logging.getLogger(__name__)

SWEEP_PLOTS = {
    "eps": ("acc_vs_eps.png", "Accuracy vs eps (PGD-Linf, white-box)"),
    "size": ("acc_vs_size.png", "Accuracy vs sticker/patch size (white-box)"),
    "frames": ("acc_vs_frames.png", "Accuracy vs number of attacked frames (white-box)"),
    "training": ("training_curves.png", "Clean validation accuracy per training epoch"),
}



PHYSICAL_NOTE = ("digital: the white-box row (the field's protocol: the pattern re-optimised for every frame of "
                 "every clip, seen exactly as computed). The other columns are the physical threat model: one "
                 "pattern for the whole clip, fitted through draws of the physical distribution (light, colour, "
                 "blur, noise, small affine/perspective changes, JPEG/H.264 stand-ins), then scored under fresh, "
                 "independent draws; the same draws without the pattern (the control: the drop from clean accuracy "
                 "to it is what the camera alone costs, the drop from it to the fresh-draw column is the "
                 "pattern's); under the worst of the fixed conditions (dark, bright, blurred, compressed), per "
                 "clip; and as an ideal capture of the same pattern. Higher is more robust.")

def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON: {err}") from err


def find_results(study_dir: str | os.PathLike, order: Sequence[str] | None = None) -> list[dict]:
    """The model results files under ``<study_dir>/results`` (files of another schema are ignored)."""
    results_dir = Path(study_dir) / "results"
    found: dict[str, dict] = {}
    for path in sorted(results_dir.glob("*.json")):
        data = _read(path)
        if not (isinstance(data, Mapping) and {"run", "clean", "attacks"} <= set(data)):
            continue
        found[path.stem] = check_results(data, str(path))
    if order:
        ranked = [found[n] for n in order if n in found]
        return ranked + [v for k, v in found.items() if k not in order]
    return list(found.values())


def find_sweeps(study_dir: str | os.PathLike) -> dict[str, dict]:
    """Sweep files under ``<study_dir>/results/sweeps``, keyed by their stem."""
    sweeps_dir = Path(study_dir) / "results" / "sweeps"
    return {p.stem: _read(p) for p in sorted(sweeps_dir.glob("*.json"))}


def make_plots(study_dir: Path, results: Sequence[Mapping], sweeps: Mapping[str, Mapping],
               chance: float | None) -> list[tuple[str, str]]:
    """Draw every plot the data allows; returns (relative path, caption) pairs."""
    out = []
    if results:
        path = plots.plot_accuracy_bars(results, study_dir / "plots" / "acc_by_attack.png")
        out.append((path.relative_to(study_dir).as_posix(), "Clip accuracy per model and attack (white-box)"))
    for kind, (name, caption) in SWEEP_PLOTS.items():
        if sweeps.get(kind, {}).get("models"):
            sweep = {"title": caption, **sweeps[kind]}
            path = plots.plot_curves(sweep, study_dir / "plots" / name, chance=chance)
            out.append((path.relative_to(study_dir).as_posix(), caption))
    if sweeps.get("position", {}).get("models"):
        sweep = {"title": "Accuracy by patch/sticker position (white-box)", **sweeps["position"]}
        path = plots.plot_position_heatmap(sweep, study_dir / "plots" / "acc_by_position.png")
        out.append((path.relative_to(study_dir).as_posix(), "Accuracy by patch/sticker position (top-left pixel)"))
    return out


def _examples(study_dir: Path, meta: Mapping) -> list[dict]:
    examples = list(meta.get("examples") or [])
    if examples:
        return [e for e in examples if (study_dir / e["png"]).is_file()]
    return [{"title": p.stem, "png": p.relative_to(study_dir).as_posix(),
             "gif": p.with_suffix(".gif").relative_to(study_dir).as_posix() if p.with_suffix(".gif").is_file() else None}
            for p in sorted((study_dir / "frames").glob("*.png"))]


def _training_table(results: Sequence[Mapping]) -> str:
    rows = []
    for res in results:
        cfg = res.get("config") or {}
        train, model, data = cfg.get("train") or {}, cfg.get("model") or {}, cfg.get("data") or {}
        run = res.get("run") or {}
        method = str(run.get("method", train.get("method", "?")))
        extra = dict(train.get("attack") or {}) if method in ADVERSARIAL_METHODS else {}
        extra.update(train.get("method_args") or {})
        rows.append([model_name(res), method, str(model.get("name", "?")),
                     str(run.get("epochs", train.get("epochs", "?"))), str(train.get("lr", "?")),
                     str(data.get("batch_size", "?")), str(res.get("seed", cfg.get("seed", "?"))),
                     json.dumps(extra) if extra else "–"])
    return markdown_table(["model", "method", "backbone", "epochs", "lr", "batch", "seed", "method settings"], rows,
                          ["l", "l", "l", "r", "r", "r", "r", "l"])


def _data_table(data: Mapping) -> str:
    rows = []
    for role, d in data.items():
        splits = "; ".join(f"split {k}: {v.get('train')} train / {v.get('test')} test"
                           for k, v in (d.get("splits") or {}).items() if isinstance(v, Mapping))
        rows.append([role, str(d.get("variant", "")), str(len(d.get("classes") or [])), str(d.get("videos", "")),
                     str(d.get("frames", "")), str(d.get("size", "")), splits, str(d.get("seed", "")),
                     f"`{d.get('root', '')}`"])
    return markdown_table(["data set", "variant", "classes", "videos", "frames", "size", "splits", "seed", "root"],
                          rows, ["l", "l", "r", "r", "r", "l", "l", "r", "l"])


def _environment_lines(results: Sequence[Mapping], meta: Mapping) -> list[str]:
    env = meta.get("environment") or next((r.get("environment") for r in results if r.get("environment")), None)
    if not env:
        return []
    lines = [f"{k}: {env[k]}" for k in ("python", "platform", "processor", "cpu_count", "torch_threads", "cuda") if k in env]
    packages = env.get("packages") or {}
    if packages:
        lines.append("packages: " + ", ".join(f"{k} {v}" for k, v in packages.items() if v))
    return lines


def build_document(study_dir: str | os.PathLike, *, tolerance: float | None = None,
                   clean_target: float | None = None) -> tuple[Document, list[dict]]:
    """The report as a :class:`Document` (plots are drawn into ``<study_dir>/plots``) and its results."""
    study_dir = Path(study_dir)
    meta = _read(study_dir / "study.json") if (study_dir / "study.json").is_file() else {}
    report_cfg = (meta.get("study") or {}).get("report") or {}
    tolerance = float(tolerance if tolerance is not None else report_cfg.get("tolerance", 0.02))
    clean_target = clean_target if clean_target is not None else report_cfg.get("clean_target", 0.9)
    results = find_results(study_dir, meta.get("models"))
    if not results:
        raise FileNotFoundError(f"no results files (*.json with run/clean/attacks) under {study_dir / 'results'}")
    sweeps = find_sweeps(study_dir)
    doc = Document(str(meta.get("title") or "videoabnn robustness study"))
    machine = meta.get("machine") or _machine(results, meta)
    total = meta.get("total_seconds")
    intro = f"Profile `{meta.get('profile', 'default')}`; machine: {machine}."
    if total is not None:
        intro += f" The whole study took {float(total) / 60:.1f} min."
    doc.para(intro)
    doc.para("Numbers are clip accuracy in %, on the study's test split. Attacks run with the model in eval "
             "mode; white-box attacks differentiate through everything the defense computes (for ABNN: the "
             "substitute and the target).")
    doc.para(_protocol(meta))
    sequential = _sequential_attacks(results)
    if sequential:
        doc.para(sequential)

    doc.heading("Reading")
    doc.bullets(reading(results, tolerance, clean_target, sweeps, meta.get("pretraining")))
    rows = [[c["claim"], c["measured"], HOLDS[c["holds"]]]
            for c in claims(results, tolerance)]
    if rows:
        doc.para(f"The ABNN paper's claims, checked on these numbers (tolerance {100 * tolerance:.0f} points):")
        doc.table(markdown_table(["claim", "measured", "holds"], rows, ["l", "l", "l"]))

    _results_section(doc, results)
    _figures_section(doc, study_dir, results, sweeps, meta)
    transforms_section(doc, study_dir)
    fidelity_section(doc, study_dir, tolerance)
    clean_gap_section(doc, study_dir, tolerance)
    _patches_and_audit_section(doc, study_dir, results)
    _settings_section(doc, results, meta)
    doc.para(f"Rebuild this report from the result files alone: `python -m videoabnn.report {study_dir}`.")
    return doc, results


def _results_section(doc: Document, results: list[dict]) -> None:
    """The main table, the digital-vs-physical table and one table per other threat model."""
    doc.heading("Results")
    doc.table(results_table(results))
    doc.para("Acc_adv: mean over the white-box attacks; Acc_all: mean over clean plus those attacks; worst <budget>: "
             "per-clip worst case over the white-box attacks within that norm ball (an attack at 4/255 also counts "
             "at 8/255), the robust accuracy the claims compare; worst case: per-clip worst case over every "
             "white-box attack, stickers and patches included; time / abnn: training wall time relative to ABNN's.")
    physical = physical_table(results)
    if physical:
        doc.heading("Digital vs physical (one printed pattern under real-world changes)", 3)
        doc.para(PHYSICAL_NOTE)
        doc.table(physical)
    for threat in threat_models(results)[1:]:
        entry = threat_of_view(threat)
        table = extra_threat_table(results, threat) if entry is None or entry.table else None
        if table:
            doc.heading(f"{title(threat).capitalize()} threat model", 3)
            doc.table(table)


def _figures_section(doc: Document, study_dir: Path, results: list[dict], sweeps: Mapping, meta: Mapping) -> None:
    """Plots, sweep tables and example frames."""
    plot_list = make_plots(study_dir, results, sweeps, meta.get("chance"))
    if plot_list:
        doc.heading("Plots")
        for path, caption in plot_list:
            doc.image(path, caption)
    for kind in ("eps", "size", "frames"):
        if sweeps.get(kind, {}).get("models"):
            about = sweeps[kind].get("description") or sweeps[kind].get("x_label") or kind
            doc.para(f"Sweep `{kind}` ({about}), clip accuracy in %:")
            doc.table(sweep_table(sweeps[kind]))

    examples = _examples(study_dir, meta)
    if examples:
        doc.heading("Example frames")
        doc.para("Each image: a clean clip (top), its adversarial version and the perturbation amplified to full "
                 "range (grey = no change). Click for the animated GIF.")
        for ex in examples:
            doc.image(ex["png"], str(ex.get("title", ex["png"])), ex.get("gif"))


def _patches_and_audit_section(doc: Document, study_dir: Path, results: list[dict]) -> None:
    """The fitted universal patches and every model's gradient-masking checks."""
    patches = sorted((study_dir / "patches").glob("*/*.png"))
    if patches:
        doc.heading("Universal patches")
        for path in patches:
            doc.image(path.relative_to(study_dir).as_posix(), f"{path.parent.name}: {path.stem}")

    doc.heading("Gradient-masking checks")
    doc.table(audit_table(results))
    for res in results:
        checks = audit_rows(res)
        if checks:
            doc.para(f"**{model_name(res)}**")
            doc.table(markdown_table(["check", "passed", "detail"],
                                     [[n, {True: "yes", False: "**no**", None: "–"}[p], d] for n, p, d in checks],
                                     ["l", "l", "l"]))


def _settings_section(doc: Document, results: list[dict], meta: Mapping) -> None:
    """Attack and training settings, data, stage times and the environment."""
    doc.heading("Threat model, settings, seeds and versions")
    doc.table(attack_settings_table(results))
    doc.table(_training_table(results))
    data = meta.get("data")
    if data:
        doc.table(_data_table(data))
    stages = meta.get("stages")
    if stages:
        doc.table(markdown_table(["stage", "seconds"], [[k, f"{float(v.get('seconds', 0)):.1f}"]
                                                        for k, v in stages.items()]))
    env = _environment_lines(results, meta)
    if env:
        doc.bullets(env)


def _protocol(meta: Mapping) -> str:
    """How the models were made comparable: initialisation, schedule, model selection, seeds."""
    seeds = meta.get("seeds") or [meta.get("seed", 0)]
    init = meta.get("init", "pretrained")
    start = ("every model starts from the same weights, the substitute's pretraining run on the distinct "
             "pretraining set (its cost is counted for none of them)" if init == "pretrained"
             else "every model starts from the same random initialisation (the run seed)")
    spread = (f"{len(seeds)} seeds ({', '.join(map(str, seeds))}): numbers are mean ± standard deviation over "
              "seeds, each seed's worst case taken per clip" if len(seeds) > 1 else f"one seed ({seeds[0]})")
    choice = ((meta.get("study") or {}).get("report") or {}).get("schedule_choice")
    schedule = "all share one training schedule (settings below" + (f"; {choice})" if choice else ")")
    return (f"Protocol: {start}; {schedule}; each model's checkpoint is "
            f"the best on a validation split carved out of the training groups (the test split is used only "
            f"here); {spread}.")


def transforms_section(doc: Document, study_dir: Path) -> None:
    """The input-transformation table (``results/transforms.json``): naive vs adaptive per transform."""
    path = study_dir / "results" / "transforms.json"
    if not path.is_file():
        return
    data = json.loads(path.read_text())
    doc.heading("Input transformations")
    undefended = ", ".join(f"{k} {pct(v)}" for k, v in data.get("undefended", {}).items())
    doc.para(f"The `{data['model']}` model (clean {pct(data['clean_without_transform'])} without a transform"
             f"{'; ' + undefended if undefended else ''}) behind each transform. *Naive*: white-box through the "
             "transform as autograd sees it; *adaptive*: BPDA (identity backward) for non-differentiable transforms "
             "and EOT over random draws. A naive number far above the adaptive one is gradient masking, not "
             "robustness. Seconds per clip on this machine.")
    rows = [[r["transform"], r["attack"], pct(r["clean"]), pct(r[NAIVE]), pct(r["adaptive"]),
             f"{r.get('bpda')}, eot {r.get('eot')}", f"{1000 * r['seconds_per_clip']['forward']:.1f} ms",
             f"{r['seconds_per_clip'][NAIVE]:.3f}", f"{r['seconds_per_clip']['adaptive']:.3f}"]
            for r in data["rows"]]
    doc.table(markdown_table(["transform", "attack", "clean", NAIVE, "adaptive", "adaptive attack",
                              "forward / clip", "naive s / clip", "adaptive s / clip"], rows,
                             ["l", "l", "r", "r", "r", "l", "r", "r", "r"]))


def _sequential_attacks(results: Sequence[Mapping]) -> str:
    """Which rows attack only the clips an earlier attack left correct (so they include that attack)."""
    pairs = sorted({(key, str(row["details"]["after"])) for r in results for key, row in r.get("attacks", {}).items()
                    if (row.get("details") or {}).get("after")})
    if not pairs:
        return ""
    text = "; ".join(f"`{key}` attacks the clips `{after}` left correct, so its row is the per-clip worst case of both"
                     for key, after in pairs)
    return f"Sequential attacks (as inside AutoAttack): {text}."


def _machine(results: Sequence[Mapping], meta: Mapping) -> str:
    env = meta.get("environment") or next((r.get("environment") for r in results if r.get("environment")), {}) or {}
    parts = [env.get("cuda") or env.get("processor") or env.get("machine") or "unknown",
             f"{env.get('cpu_count', '?')} CPU cores visible, {env.get('torch_threads', '?')} torch threads"]
    return ", ".join(str(p) for p in parts)


def build_report(study_dir: str | os.PathLike, **kwargs) -> dict[str, Path]:
    """Write ``report.md``, ``report.html`` and ``plots/*.png`` under ``study_dir``; returns their paths."""
    study_dir = Path(study_dir)
    start = time.perf_counter()
    log.info("building the report of %s (tables, plots, reading)", study_dir)
    doc, _ = build_document(study_dir, **kwargs)
    md = atomic_write_text(study_dir / "report.md", doc.to_markdown())
    page = atomic_write_text(study_dir / "report.html", doc.to_html())
    paths = {"markdown": md, "html": page}
    tolerance = _tolerance(study_dir, kwargs.get("tolerance"))
    for part, write in (("fidelity", write_fidelity_markdown), ("clean_gap", write_clean_gap_markdown)):
        written = write(study_dir, tolerance)  # the ABNN stages' sections as files of their own
        if written is not None:
            paths[part] = written
    log.info("report written: %s (%.1f s)", md, time.perf_counter() - start)
    return paths


def _tolerance(study_dir: Path, given: float | None) -> float:
    """The report's tolerance: the given one, else ``study.report.tolerance`` of ``study.json``, else 0.02."""
    if given is not None:
        return float(given)
    meta = _read(study_dir / "study.json") if (study_dir / "study.json").is_file() else {}
    return float(((meta.get("study") or {}).get("report") or {}).get("tolerance", 0.02))


__all__ = ["build_document", "build_report", "find_results", "find_sweeps", "make_plots", "pct"]
