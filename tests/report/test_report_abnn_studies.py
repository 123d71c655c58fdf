"""The fidelity and clean-accuracy trade-off tables and readings, on hand-made stage results."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from videoabnn.report import build_report
from videoabnn.report.clean_gap import best_on_validation, clean_gap_reading, clean_gap_table, keeps_gray_box
from videoabnn.report.fidelity import fidelity_reading, fidelity_table, ingredients
from videoabnn.study.clean_gap import aggregate_clean_gap


def _fixtures(name: str):
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fx = _fixtures("abnn_study_fixtures")
clean_gap_data, clean_gap_seed, fidelity_data = fx.clean_gap_data, fx.clean_gap_seed, fx.fidelity_data
make_study_dir = _fixtures("report_fixtures").make_study_dir


def _line(table: str, start: str) -> list[str]:
    row = next(ln for ln in table.splitlines() if ln.startswith(start))
    return [c.strip() for c in row.strip("|").split("|")]


def test_fidelity_table_rows_columns_and_gradient_check():
    table = fidelity_table(fidelity_data())
    header = [c.strip() for c in table.splitlines()[0].strip("|").split("|")]
    assert header[5:] == ["clean", "pgd_linf_4", "pgd_linf_4_20", "autoattack_4", "abnn_adaptive_4", "worst case",
                          "gradient check"]
    cut = _line(table, "| proto (authors' prototype, batch statistics) | authors |")
    assert cut[2:7] == ["cut", "white", "2", "80.0", "50.0"] and cut[7] == "–" and cut[-1] == "**failed** (1.1e+00)"
    full = _line(table, "| abnn (ours, modulate) | full |")
    assert full[-2:] == ["5.0", "passed (2.0e-08)"]
    assert _line(table, "| abnn (ours, modulate) | gray |")[-1] == "– (gray-box)"
    assert _line(table, "| proto (authors' prototype, batch statistics) | single_clip |")[4] == "1"


def test_fidelity_ingredients_are_differences_of_table_numbers():
    data = fidelity_data()
    ours, proto = ingredients(data, "abnn"), ingredients(data, "proto")
    assert ours["removed"] == pytest.approx(0.25) and ours["gradient cut"] == pytest.approx(0.05)
    assert ours["attack strength"] == pytest.approx(0.20) and ours["formulation"] is None
    assert ours["batch coupling"] is None  # no other batch evaluated for ours
    assert proto["gradient cut"] == pytest.approx(0.25) and proto["attack strength"] == pytest.approx(0.15)
    assert proto["batch coupling"] == pytest.approx(0.03) and proto["formulation"] == pytest.approx(0.05)


def test_fidelity_reading_names_the_ingredient_from_the_numbers():
    data = fidelity_data()
    text = " ".join(fidelity_reading(data))
    assert "In short, abnn (ours, modulate): of the +25.0 points" in text
    assert "the attack strength accounts for most (+20.0 points; gradient cut +5.0 points)" in text
    assert "the gradient cut accounts for most (+25.0 points; attack strength +15.0 points)" in text
    assert "batch coupling (the full protocol's test batch vs another, same attack, full gradient) accounts for +3.0" in text
    assert "fails the cut gradient (largest relative error 1.1e+00" in text and "passes the full gradient" in text
    assert "gray-box worst case 55.0% vs 66.0% (-11.0 points, lower)" in text
    # when the cut gives nothing (same number with the full gradient), the reading says so
    for row in data["rows"]:
        if row["pipeline"] == "authors":
            row["attacks"]["pgd_linf_4"] = row["worst_case"] = 0.05 if row["model"] == "abnn" else 0.10
    text = " ".join(fidelity_reading(data))
    assert "abnn (ours, modulate): the authors' pipeline reports no robustness beyond the full protocol" in text


def test_clean_gap_choice_uses_validation_and_the_gray_box_rule():
    data = clean_gap_data()
    best = best_on_validation(data)
    base = data["rows"][0]
    assert best["model"] == "abnn_drop" and keeps_gray_box(best, base, 0.02) is False
    text = " ".join(clean_gap_reading(data))
    assert "clean gap of +12.5 points" in text and "Best on validation: abnn_drop" in text
    assert "does not keep ABNN's gray-box robustness" in text and "does not qualify" in text
    assert "Also better on validation and keeping the gray-box robustness: abnn_wd." in text
    assert "tied on validation" not in text
    data["rows"][1]["values"]["gray_budget"] = 0.56
    assert "abnn_drop qualifies" in " ".join(clean_gap_reading(data))
    data["rows"][2]["values"]["val"] = 0.92
    assert "(tied on validation with abnn_wd; the first listed is taken)" in " ".join(clean_gap_reading(data))
    table = clean_gap_table(data)
    assert _line(table, "| abnn_drop |")[1:4] == ["abnn.stats_dropout: 0.5", "92.0", "90.0"]
    assert _line(table, "| standard |")[-1] == "–"


def test_clean_gap_seeds_aggregate_and_spread_widens_the_noise():
    one = clean_gap_data()
    agg = aggregate_clean_gap([one, clean_gap_seed(one, 0.04), clean_gap_seed(one, -0.04)], [0, 1, 2])
    drop = next(r for r in agg["rows"] if r["model"] == "abnn_drop")
    assert drop["values"]["val"] == pytest.approx(0.92) and drop["std"]["val"] == pytest.approx(0.04)
    assert drop["per_seed"]["val"] == pytest.approx([0.92, 0.96, 0.88]) and agg["seeds"] == [0, 1, 2]
    assert "92.0 ± 4.0" in clean_gap_table(agg)
    # a 6-point gain inside a summed spread of 8 points is not a gain
    text = " ".join(clean_gap_reading(agg))
    assert "within the noise, the summed standard deviation over seeds" in text and "nothing qualifies" in text


def test_report_has_both_sections_and_standalone_files(tmp_path):
    study = make_study_dir(tmp_path)
    (study / "results" / "fidelity.json").write_text(json.dumps(fidelity_data()))
    (study / "results" / "clean_gap.json").write_text(json.dumps(clean_gap_data()))
    paths = build_report(study)
    md = paths["markdown"].read_text()
    assert "## ABNN fidelity" in md and "## ABNN clean-accuracy trade-off" in md
    assert "**proto (authors' prototype, batch statistics) couples the clips of a batch**" in md
    fid = paths["fidelity"].read_text()
    assert fid.startswith("# ABNN fidelity") and fidelity_table(fidelity_data()) in fid
    assert clean_gap_table(clean_gap_data()) in paths["clean_gap"].read_text()
    assert {"standard", "abnn"} <= {p.stem for p in (study / "results").glob("*.json")}  # model files untouched
