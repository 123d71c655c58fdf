"""benchmarks/bench_gpu.py runs end to end on CPU (``--tiny``): every measurement, the JSON, the table."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "bench_gpu.py"
EXPECTED = ["train/r3d_18", "train/resnext3d_101", "train/abnn", "infer/i3d",
            "fwdbwd/r3d_18", "pgd10/r3d_18", "fwdbwd/resnext3d_101", "pgd10/resnext3d_101",
            "fwdbwd/abnn", "pgd10/abnn"]
RATIOS = ["train: abnn / resnext3d_101", "pgd10: abnn / resnext3d_101", "pgd10 / 10 x fwdbwd: r3d_18",
          "pgd10 / 10 x fwdbwd: resnext3d_101", "pgd10 / 10 x fwdbwd: abnn"]


@pytest.fixture(autouse=True)
def _keep_cudnn_flags():
    """``main`` sets cudnn.benchmark as the trainer does; put the flags back for the rest of the suite."""
    flags = torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic
    yield
    torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = flags


def _module():
    """The script as a module (registered in sys.modules first, as its dataclasses need)."""
    if "bench_gpu_under_test" not in sys.modules:
        spec = importlib.util.spec_from_file_location("bench_gpu_under_test", SCRIPT)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return sys.modules["bench_gpu_under_test"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One ``--tiny --device cpu`` run as record.py starts it (a subprocess from the repository root)."""
    out = tmp_path_factory.mktemp("bench_gpu") / "bench_gpu.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, str(SCRIPT), "--tiny", "--device", "cpu", "--json", str(out)],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    return run, out


def test_tiny_run_exits_zero_and_writes_every_measurement(tiny_run):
    run, out = tiny_run
    assert run.returncode == 0, run.stderr[-3000:]
    data = json.loads(out.read_text())
    assert data["skipped"] == {} and data["failed"] == {}
    assert list(data["measurements"]) == EXPECTED
    for name, record in data["measurements"].items():
        assert record["clips_per_s"] > 0 and record["ms_per_batch"] > 0, name
        assert record["timed_steps"] >= 1 and record["batch"] == 2, name
        assert record["peak_mem_mib"] is None and "CUDA only" in record["peak_mem_skip"], name
    m = data["measurements"]
    assert m["train/r3d_18"]["precision"] == "bf16"  # CPU autocast ran in the training step
    assert m["pgd10/abnn"]["precision"] == "fp32" and "steps=10" in m["pgd10/abnn"]["attack"]
    assert m["infer/i3d"]["clip"] == "3x9x32x32"
    assert m["train/abnn"]["frozen_params"] > 0 and m["train/resnext3d_101"]["frozen_params"] == 0
    assert set(data["ratios"]) == set(RATIOS) and all(v > 0 for v in data["ratios"].values())
    assert data["settings"]["channels_last_3d"] and data["settings"]["cudnn_benchmark"]
    assert data["machine"]["line"].startswith("CPU ")
    assert data["total_seconds"] < 30


def test_tiny_run_prints_the_machine_line_table_and_ratios(tiny_run):
    run, _ = tiny_run
    lines = run.stdout.splitlines()
    assert lines[0].startswith("CPU ") and f"torch {torch.__version__}" in lines[0]
    for name in EXPECTED:
        assert re.search(rf"^{re.escape(name)}\s+\S.*\s\d+\.\d+\s", run.stdout, re.M), name
    for label in RATIOS:
        assert re.search(rf"^  {re.escape(label)}\s+\d+\.\d+$", run.stdout, re.M), label
    assert "peak memory: CUDA only" in run.stdout and re.search(r"^total \d+\.\d s$", run.stdout, re.M)


def test_the_benchmarks_readme_has_the_block_record_py_writes():
    text = (ROOT / "benchmarks" / "README.md").read_text()
    assert "<!-- BENCH:bench_gpu -->" in text and "<!-- /BENCH:bench_gpu -->" in text
    assert "python benchmarks/record.py bench_gpu.py" in _module().__doc__


def test_budget_skips_with_a_note_and_a_failure_is_reported_with_status_1(tmp_path, monkeypatch):
    bench = _module()
    out = tmp_path / "b.json"
    assert bench.main(["--tiny", "--device", "cpu", "--time-budget", "0", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["measurements"] == {} and set(data["skipped"]) == set(EXPECTED)
    assert all("time budget" in why for why in data["skipped"].values())

    def broken(*args, **kwargs):
        raise ValueError("boom")

    monkeypatch.setattr(bench, "measure_infer", broken)
    assert bench.main(["--tiny", "--device", "cpu", "--only", "infer", "--json", str(out)]) == 1
    assert json.loads(out.read_text())["failed"] == {"infer/i3d": "ValueError: boom"}


def test_out_of_memory_retries_at_half_the_batch(monkeypatch):
    bench = _module()
    seen = []

    def fake_train(spec, batch, s, deadline):
        seen.append(batch)
        if batch > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return {"times": [0.5, 0.5], "precision": "fp16+scaler", "warmup": 0}

    monkeypatch.setattr(bench, "measure_train", fake_train)
    s = bench.Settings(device=torch.device("cpu"), amp=False, dtype=None, scaler=False, channels_last=False,
                       steps=2, warmup=0, attack_repeats=1)
    record = bench.run_item("train", bench.FULL["r3d_18"], 8, s, float("inf"), ["train/r3d_18"])["train/r3d_18"]
    assert seen == [8, 4, 2]
    assert record["batch"] == 2 and record["batch_requested"] == 8 and record["clips_per_s"] == pytest.approx(4.0)


def test_batch_option_sets_all_or_some_models():
    bench = _module()
    assert set(bench.parse_batches("5", bench.FULL).values()) == {5}
    some = bench.parse_batches("abnn=3,i3d=1", bench.FULL)
    assert some == {"r3d_18": 64, "resnext3d_101": 32, "abnn": 3, "i3d": 1}
    with pytest.raises(SystemExit, match="unknown model"):
        bench.parse_batches("vit=2", bench.FULL)
