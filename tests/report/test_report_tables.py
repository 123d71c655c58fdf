"""Tables and the computed reading from hand-made results files."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from videoabnn.report import claims, load_results, reading, results_table, sweep_table
from videoabnn.report.document import table_html
from videoabnn.report.tables import audit_table, extra_threat_table, time_ratio

_spec = importlib.util.spec_from_file_location("report_fixtures", Path(__file__).with_name("report_fixtures.py"))
fx = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fx)


@pytest.fixture()
def results(tmp_path):
    fx.make_study_dir(tmp_path)
    return load_results(sorted((tmp_path / "results").glob("*.json")))


def test_table_holds_the_numbers_in_the_files(results):
    table = results_table(results)
    lines = table.splitlines()
    assert lines[0].startswith("| model | clean | ")
    row = next(ln for ln in lines if ln.startswith("| pgd_at "))
    cells = [c.strip() for c in row.strip("|").split("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    by_col = dict(zip(header, cells))
    assert by_col["clean"] == "81.0" and by_col["pgd_linf_4"] == "47.0" and by_col["roa"] == "30.0"
    assert by_col["Acc_adv"] == "44.0" and by_col["worst case"] == "30.0"
    assert by_col["train s"] == "75.0" and by_col["time / abnn"] == "6.00x"
    # gray-box/transfer rows are not mixed into the white-box table
    assert "gray" not in lines[0]


def test_time_ratio_and_threat_tables(results):
    by = {r["run"]["method"]: r for r in results}
    assert time_ratio(by["at"], by["abnn"]) == pytest.approx(2.0)
    gray = extra_threat_table(results, "gray")
    assert "61.0" in gray and "4.0" in gray  # gray-box acc beside the white-box one
    assert extra_threat_table(results, "nonexistent") is None
    audit = audit_table(results)
    assert "FAILED" in audit.splitlines()[[i for i, ln in enumerate(audit.splitlines()) if "pgd_at" in ln][0]]


def test_reading_is_computed_from_the_numbers(results):
    text = " ".join(reading(results, tolerance=0.02))
    assert "Where ABNN does not hold up" in text  # 4% white-box worst case vs 5% undefended
    assert "95.0%" in text and "81.0%" in text
    assert "pgd_at needed 6.00x the training-loop time" in text
    assert "FAILED for pgd_at" in text
    verdicts = {c["claim"]: c["holds"] for c in claims(results)}
    assert verdicts["higher clean accuracy than adversarial training (pgd_at)"] is True
    assert not any("gray-box" in k for k in verdicts)  # claims compare equal threat models only
    # 4% vs 5%: a difference inside the 2-point tolerance is not distinguishable
    assert verdicts["more robust than the undefended model (white-box, worst case over every attack, both models)"] is None
    # flip the numbers: the reading follows them
    for r in results:
        if r["run"]["method"] == "abnn":
            r["summary"]["worst_case"]["white"] = 0.5
    text = " ".join(reading(results, tolerance=0.02))
    assert "Where ABNN does not hold up" not in text and "ABNN keeps 50.0%" in text


def test_sweep_table_and_html(tmp_path):
    fx.make_study_dir(tmp_path)
    sweep = json.loads((tmp_path / "results" / "sweeps" / "eps.json").read_text())
    table = sweep_table(sweep)
    assert "eps (/255)=4" in table.splitlines()[0]
    assert "| abnn | 90.0 | 70.0 | 50.0 | 10.0 |" in table
    html = table_html(table)
    assert html.count("<tr>") == 1 + 4 and "<td>90.0</td>" in html


def test_bad_results_file_names_the_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"run": {}, "clean": {}, "schema_version": 2}))
    with pytest.raises(ValueError, match="bad.json.*missing key 'attacks'"):
        load_results([bad])
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"run": {}, "clean": {}, "attacks": {}}))
    with pytest.raises(ValueError, match="old.json: missing key 'schema_version'"):
        load_results([old])
    entry = fx.make_result("standard", 0.9, {"fgsm": 0.2}, 1.0)
    entry["attacks"]["fgsm"]["clip_acc"] = 1.7
    (tmp_path / "range.json").write_text(json.dumps(entry))
    with pytest.raises(ValueError, match=r"range.json: attacks.fgsm: key 'clip_acc' must be a fraction in \[0, 1\], got 1.7"):
        load_results([tmp_path / "range.json"])


def test_claims_say_not_distinguishable_when_the_seed_spread_covers_the_difference(tmp_path):
    from videoabnn.report.aggregate import aggregate_results

    def seeds(method, cleans, worst):
        runs = [fx.make_result(method, c, {"pgd_linf_4": w}, 10.0) for c, w in zip(cleans, worst)]
        return aggregate_results(runs, seeds=[0, 1, 2])

    abnn = seeds("abnn", [0.90, 0.96, 0.93], [0.10, 0.30, 0.20])
    std = seeds("standard", [0.95, 0.95, 0.95], [0.15, 0.17, 0.16])
    pgd = seeds("pgd_at", [0.80, 0.81, 0.82], [0.50, 0.52, 0.51])
    verdicts = {c["claim"]: c["holds"] for c in claims([std, abnn, pgd])}
    # ABNN 20 +- 10 vs 16 +- 1 points: the difference is inside the spread
    assert verdicts["more robust than the undefended model (white-box, worst case over every attack, both models)"] is None
    # 93 +- 3 vs 81 +- 1: clearly higher
    assert verdicts["higher clean accuracy than adversarial training (pgd_at)"] is True
    table = results_table([std, abnn, pgd])
    assert "20.0 ± 10.0" in table and "93.0 ± 3.0" in table
    assert abnn["per_seed"]["summary.worst_case.white"] == [0.10, 0.30, 0.20]
    text = " ".join(reading([std, abnn, pgd]))  # the plain-language reading respects the spread too
    assert "is 20.0%, not distinguishable from the undefended model's 16.0%" in text
    assert "pgd_at keeps 51.0% white-box worst case over every attack, ABNN 20.0% (lower than it" in text


def test_reading_names_the_seeds_whose_training_failed():
    """A seed that never learnt the task is a failed run: the caveat names it even when the mean hides it."""
    from videoabnn.report.aggregate import aggregate_results

    per_seed = [fx.make_result("standard", c, {"fgsm": 0.2, "pgd_linf_4": 0.1}, 10.0) for c in (0.95, 0.04, 0.93)]
    std = aggregate_results(per_seed, [0, 1, 2])
    abnn = aggregate_results([fx.make_result("abnn", 0.9, {"fgsm": 0.3, "pgd_linf_4": 0.2}, 10.0)] * 3, [0, 1, 2])
    text = " ".join(reading([std, abnn], clean_target=0.9))
    assert "below the 90.0% clean-accuracy target in 1 of 3 seeds (seed 1: 4.0%)" in text
    healthy = aggregate_results([fx.make_result("standard", 0.95, {"fgsm": 0.2}, 10.0)] * 3, [0, 1, 2])
    assert not any(s.startswith("Caveat") for s in reading([healthy, abnn], clean_target=0.9))


def test_gray_rows_sit_beside_the_same_attack_not_a_prefix_of_its_id():
    """pgd_linf_4_20@gray is compared with pgd_linf_4_20, not with pgd_linf_4 (a prefix of its id)."""
    std = fx.make_result("standard", 0.95, {"pgd_linf_4": 0.2, "pgd_linf_4_20": 0.05}, 10.0)
    abnn = fx.make_result("abnn", 0.9, {"pgd_linf_4": 0.3, "pgd_linf_4_20": 0.1}, 10.0,
                          {"pgd_linf_4_20@gray": ("gray", 0.6), "pgd_linf_4@gray": ("gray", 0.7)})
    table = extra_threat_table([std, abnn], "gray")
    assert "| abnn | pgd_linf_4_20@gray | 60.0 | 10.0 |" in table and "| abnn | pgd_linf_4@gray | 70.0 | 30.0 |" in table
    text = " ".join(reading([std, abnn]))
    assert "pgd_linf_4_20@gray: 60.0% (white-box 10.0%), undefended model under the white-box attack 5.0%" in text
