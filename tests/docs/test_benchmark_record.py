"""Benchmark figures reach benchmarks/README.md only through a run: record.py writes a script's output."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("bench_record", ROOT / "benchmarks" / "record.py")
record = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(record)


def test_record_writes_the_output_of_the_run_into_its_block(tmp_path):
    (tmp_path / "bench_fake.py").write_text("print('ratio 1.23x')\n")
    readme = tmp_path / "README.md"
    readme.write_text("# B\n\n<!-- BENCH:bench_fake -->\nnot recorded\n<!-- /BENCH:bench_fake -->\n")
    record.record("bench_fake.py", ["--x", "1"], readme=readme, folder=tmp_path)
    text = readme.read_text()
    assert "not recorded" not in text and "ratio 1.23x" in text
    assert "`python benchmarks/bench_fake.py --x 1`" in text and "videoabnn " in text


def test_a_failing_script_leaves_the_readme_unchanged(tmp_path):
    (tmp_path / "bench_bad.py").write_text("raise SystemExit(3)\n")
    readme = tmp_path / "README.md"
    readme.write_text("<!-- BENCH:bench_bad -->\nold\n<!-- /BENCH:bench_bad -->\n")
    with pytest.raises(SystemExit, match="status 3"):
        record.record("bench_bad.py", [], readme=readme, folder=tmp_path)
    assert "old" in readme.read_text()


def test_every_benchmark_script_has_a_block():
    text = (ROOT / "benchmarks" / "README.md").read_text()
    blocks = set(re.findall(r"<!-- BENCH:(\S+) -->", text))
    listed = set(re.findall(r"\| `(bench_\w+)\.py` \|", text))
    assert listed <= blocks and blocks <= {p.stem for p in (ROOT / "benchmarks").glob("bench_*.py")}


def test_benchmarks_readme_has_no_number_outside_the_recorded_blocks():
    text = re.sub(r"<!-- (BENCH:\S+) -->.*?<!-- /\1 -->", "", (ROOT / "benchmarks" / "README.md").read_text(), flags=re.S)
    assert re.findall(r"\b\d+\.\d+\s?(?:%|s\b|ms\b|x\b)|\d+\s?%", text) == []
