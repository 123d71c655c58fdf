"""ABNN's clean-accuracy gap: train one ABNN per option (and seed), pick each checkpoint on the validation
split, and report clean, white-box and gray-box accuracy side by side (the trade-off table of issue 20).

Usage:
  python benchmarks/bench_abnn_clean_gap.py CONFIG [--variants a,b] [--seeds 0,1,2] [--dry-run] [key=value ...]
CONFIG is an ABNN training config with a substitute checkpoint (e.g. configs/synthetic/abnn.yaml after
`tools/train.py configs/synthetic/substitute.yaml`); overrides apply to every variant. Runs go to
``<work_dir>/clean_gap/<variant>-s<seed>`` and are reused when finished; the table goes to stdout and
``<work_dir>/clean_gap/table.md``. ``--dry-run`` only checks and prints each variant's overrides. Every
option is a config key (abnn.* for the layer, train.method_args.* for the optimizer and the loss).
Cost: one ABNN training + one white/gray PGD evaluation per variant and seed (the synthetic study's
schedule: about a minute each on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

# Each option a variant changes (see docs/abnn.md). Baseline first.
VARIANTS: dict[str, dict[str, Any]] = {
    "baseline": {},
    "stats_lr_0.1": {"train.method_args": {"stats_lr_scale": 0.1}},
    "stats_wd_5e-3": {"train.method_args": {"stats_weight_decay": 5e-3}},
    "stats_dropout_0.5": {"abnn.stats_dropout": 0.5},
    "gamma_only": {"abnn.modulation": "gamma"},
    "no_last_stage": {"abnn.stats_stages": [0, 1, 2, 3]},
    "early_stages": {"abnn.stats_stages": [0, 1, 2]},
    "align_0.1": {"train.method_args": {"align_weight": 0.1}},
}
ATTACK = {"id": "pgd_linf_4_20", "name": "pgd", "eps": 4 / 255, "alpha": 1 / 255, "steps": 20}


def variant_config(path: str, name: str, seed: int, overrides: list[str]):
    """The run config of one variant and seed (its own work dir under ``clean_gap/``)."""
    from videoabnn.config import load_config
    from videoabnn.engine.build import run_dir_of

    base = load_config(path, overrides)
    extra = {**VARIANTS[name], "seed": seed, "name": f"{base['name']}_{name}",
             "work_dir": str(run_dir_of(base) / "clean_gap" / f"{name}-s{seed}")}
    method_args = {**dict(base["train"].get("method_args") or {}), **extra.pop("train.method_args", {})}
    return load_config(path, [*overrides, *(f"{k}={json.dumps(v)}" for k, v in extra.items()),
                              f"train.method_args={json.dumps(method_args)}"])


def run_variant(cfg) -> dict[str, float | None]:
    """Train (or reuse) and evaluate one variant: validation, clean, white- and gray-box accuracy."""
    from videoabnn.engine import evaluate, train

    run_dir = Path(cfg["work_dir"])
    summary_path = run_dir / "train_summary.json"
    done = summary_path.is_file() and json.loads(summary_path.read_text())["epochs"] >= int(cfg["train"]["epochs"])
    if not done:
        train(cfg, resume=(run_dir / "last.pt").is_file())
    summary = json.loads((run_dir / "train_summary.json").read_text())
    res = evaluate(cfg, run_dir / "best.pt", attacks=[ATTACK], threat_models=["white", "gray"])
    rows = {row["threat"]: row["clip_acc"] for row in res["attacks"].values()}
    return {"val": summary.get("best_metric"), "clean": res["clean"]["clip_acc"], "white": rows.get("white"),
            "gray": rows.get("gray")}


def table(results: dict[str, list[dict]]) -> str:
    """Markdown: per variant, mean (and std over seeds) of each accuracy in %."""
    lines = ["| variant | seeds | val | clean | white-box PGD-20 4/255 | gray-box PGD-20 4/255 |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, runs in results.items():
        cells = []
        for key in ("val", "clean", "white", "gray"):
            values = [100 * r[key] for r in runs if r.get(key) is not None]
            spread = f" +- {statistics.stdev(values):.1f}" if len(values) > 1 else ""
            cells.append(f"{statistics.mean(values):.1f}{spread}" if values else "-")
        lines.append(f"| {name} | {len(runs)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--dry-run", action="store_true")
    args, overrides = parser.parse_known_args()
    names = [v for v in args.variants.split(",") if v]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        parser.error(f"--variants: unknown {unknown}; expected some of {', '.join(VARIANTS)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    results: dict[str, list[dict]] = {}
    for name in names:
        for seed in seeds:
            cfg = variant_config(args.config, name, seed, overrides)
            if args.dry_run:
                print(f"{name} seed {seed}: {VARIANTS[name] or 'no change'} -> {cfg['work_dir']}")
                continue
            results.setdefault(name, []).append(run_variant(cfg))
    if results:
        text = table(results)
        print(text)
        out = Path(variant_config(args.config, names[0], seeds[0], overrides)["work_dir"]).parent / "table.md"
        out.write_text(text)


if __name__ == "__main__":
    main()
