"""The digital-vs-physical table: one row per model and attack, the white-box row beside the physical views."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from videoabnn.report.aggregate import aggregate_results
from videoabnn.report.tables import physical_attack_ids, physical_table

_spec = importlib.util.spec_from_file_location("report_fixtures", Path(__file__).with_name("report_fixtures.py"))
fx = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fx)
make_result = fx.make_result


def _physical(method: str, digital: float, fresh: float, worst: float, ideal: float, plain: float = 0.8) -> dict:
    return make_result(method, 0.9, {"fgsm": 0.2, "roa": digital}, 10.0,
                       {"roa@physical": ("physical", fresh), "roa@physical:worst": ("physical", worst),
                        "roa@physical:digital": ("physical", ideal), "roa@physical:no_pattern": ("physical", plain),
                        "fgsm@gray": ("gray", 0.5)})


def test_physical_table_sets_each_view_beside_the_digital_row():
    results = [_physical("standard", 0.10, 0.60, 0.30, 0.20), _physical("abnn", 0.05, 0.70, 0.40, 0.25)]
    assert physical_attack_ids(results) == ["roa"]
    lines = physical_table(results).splitlines()
    assert lines[0] == ("| model | attack | digital | fresh draws | no pattern, same draws | worst fixed condition "
                        "| ideal capture |")
    assert lines[2] == "| standard | roa | 10.0 | 60.0 | 80.0 | 30.0 | 20.0 |"
    assert lines[3] == "| abnn | roa | 5.0 | 70.0 | 80.0 | 40.0 | 25.0 |"


def test_physical_table_shows_the_spread_over_seeds_and_is_absent_without_rows():
    seeds = [_physical("abnn", 0.05, 0.70, 0.40, 0.25), _physical("abnn", 0.15, 0.50, 0.20, 0.35)]
    table = physical_table([aggregate_results(seeds, [0, 1])])
    assert "| abnn | roa | 10.0 ± 7.1 | 60.0 ± 14.1 | 80.0 ± 0.0 | 30.0 ± 14.1 | 30.0 ± 7.1 |" in table
    assert physical_table([make_result("standard", 0.9, {"fgsm": 0.2}, 10.0)]) is None
