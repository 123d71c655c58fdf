"""bench_reproducible's comparison: timings and machine facts are left out, every number is compared."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("bench_reproducible", ROOT / "benchmarks" / "bench_reproducible.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def test_timings_are_ignored_and_numbers_are_not(tmp_path):
    a = {"clean": {"clip_acc": 0.5}, "attacks": {"pgd": {"clip_acc": 0.25, "seconds": 1.0}}, "environment": {"x": 1}}
    b = {"clean": {"clip_acc": 0.5}, "attacks": {"pgd": {"clip_acc": 0.25, "seconds": 9.0}}, "environment": {"x": 2}}
    assert bench.differences(bench._strip(a), bench._strip(b)) == []
    c = {**b, "attacks": {"pgd": {"clip_acc": 0.3125, "seconds": 9.0}}}
    assert bench.differences(bench._strip(a), bench._strip(c)) == ["attacks.pgd.clip_acc"]


def test_result_files_reads_the_aggregate_and_every_seed(tmp_path):
    for rel in ("results/abnn.json", "seeds/0/results/abnn.json"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text('{"clean": {"clip_acc": 1.0}, "seconds": 3}')
    files = bench.result_files(tmp_path)
    assert sorted(files) == ["results/abnn.json", "seeds/0/results/abnn.json"]
    assert files["results/abnn.json"] == {"clean": {"clip_acc": 1.0}}
