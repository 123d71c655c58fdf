"""The ABNN fidelity and clean-accuracy stages end to end on the quick study's data, then a resumed rerun."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from videoabnn.study import load_study_config, run_study, stage_names

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "synthetic"
# only what the two stages need from the main study: the undefended model (the gap's reference) and ABNN
LEAN = ["study.methods={standard: {}, abnn: {}}", "study.sweeps={}", "study.examples.enabled=false"]
VARIANTS = "study.clean_gap.variants={abnn_gamma_only: {abnn.modulation: gamma}, abnn_drop: {abnn.stats_dropout: 0.5}}"


@pytest.mark.slow
def test_fidelity_and_clean_gap_stages_end_to_end(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # data/ and work_dirs/ of the quick profile land in tmp_path
    fid_cfg = load_study_config(CONFIGS / "abnn_fidelity.yaml", "quick", LEAN)
    lines: list[str] = []
    paths = run_study(fid_cfg, log=lines.append)
    work = Path(fid_cfg["work_dir"])
    fidelity = json.loads((work / "results" / "fidelity.json").read_text())
    rows = {(r["model"], r["pipeline"]): r for r in fidelity["rows"]}
    assert set(rows) == {(m, p) for m in ("abnn", "abnn_prototype_exact") for p in ("authors", "full", "gray")} | {
        ("abnn_prototype_exact", "single_clip")}
    for model in ("abnn", "abnn_prototype_exact"):
        cut, full = rows[(model, "authors")], rows[(model, "full")]
        assert cut["gradcheck"]["passed"] is False and full["gradcheck"]["passed"] is True  # the cut is caught
        assert cut["clean"] == full["clean"]  # the cut changes no prediction, only the gradient
        assert cut["batch"] == full["batch"] == 4 and rows[(model, "gray")]["gradcheck"] is None
    assert rows[("abnn_prototype_exact", "single_clip")]["batch"] == 1
    assert fidelity["models"]["abnn_prototype_exact"]["batch_coupled"] is True
    assert rows[("abnn_prototype_exact", "full")]["batch_coupled"] and not rows[("abnn", "full")]["batch_coupled"]
    # the prototype is derived from the study's ABNN: same pretrained start and schedule, its own layer
    proto = json.loads((work / "seeds" / "0" / "stages" / "train_abnn_prototype_exact.json").read_text())
    proto_cfg = (work / "seeds" / "0" / proto["outputs"]["run_dir"] / "config.yaml").read_text()
    assert "prototype_exact" in proto_cfg and "/runs/substitute-" in proto_cfg
    md = paths["markdown"].read_text()
    assert "ABNN fidelity" in md and "| abnn_prototype_exact (authors' prototype, batch statistics) | authors |" in md
    assert paths["fidelity"].is_file() and "In short" in paths["fidelity"].read_text()

    gap_cfg = load_study_config(CONFIGS / "abnn_clean_gap.yaml", "quick", [*LEAN, VARIANTS])
    lines.clear()
    paths = run_study(gap_cfg, log=lines.append)
    assert sum("already done" in ln for ln in lines) == len(stage_names(gap_cfg)) - 3  # 2 variants + clean_gap
    gap = json.loads((work / "results" / "clean_gap.json").read_text())
    assert [r["model"] for r in gap["rows"]] == ["abnn", "abnn_gamma_only", "abnn_drop", "standard"]
    for row in gap["rows"][:3]:
        assert all(row["values"][k] is not None for k in ("val", "clean", "white_budget", "gray_budget")), row
    assert gap["rows"][3]["values"]["gray_budget"] is None and gap["seeds"] == [0]
    md = paths["markdown"].read_text()
    assert "ABNN clean-accuracy trade-off" in md and "ABNN fidelity" in md  # both sections, one report
    assert "Best on validation" in paths["clean_gap"].read_text()
    # resumable: a rerun skips every stage
    lines.clear()
    run_study(gap_cfg, log=lines.append)
    assert sum("already done" in ln for ln in lines) == len(stage_names(gap_cfg))
