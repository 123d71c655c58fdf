"""The README is a short guide: at most 200 lines, the set-up commands and a Python example near the top,
no measured number outside the blocks a run writes, links that resolve, and an example that runs."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
GENERATED = re.compile(r"<!-- ([A-Z-]+) -->.*?<!-- /\1 -->", re.S)
# a measured figure: a decimal with a unit or a percentage (durations, ratios, accuracies)
MEASURED = re.compile(r"\b\d+\.\d+\s?(%|s\b|ms\b|min\b|x\b)|\b\d+(\.\d+)?\s?%")


def _text() -> str:
    return README.read_text()


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, re.S)


def test_readme_is_short_and_starts_with_the_set_up_commands():
    lines = _text().splitlines()
    assert len(lines) <= 200
    head = "\n".join(lines[:60])
    assert "make demo" in head and "make test" in head and "```python" in head


def test_readme_has_no_hand_written_measured_number():
    prose = GENERATED.sub("", _text())
    found = [m.group(0) for m in MEASURED.finditer(prose)]
    assert found == [], f"measured numbers outside generated blocks: {found}"


def test_readme_links_resolve():
    targets = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", _text())
    missing = [t for t in targets if not t.startswith("http") and not (ROOT / t).exists()]
    assert missing == []


def test_readme_headline_block_is_written_by_the_study():
    assert "<!-- STUDY-HEADLINE -->" in _text()
    results = (ROOT / "docs" / "results.md").read_text()
    for marker in ("STUDY-RESULTS", "REAL-VIDEOS", "FIDELITY-RESULTS", "CLEAN-GAP-RESULTS"):
        assert f"<!-- {marker} -->" in results and f"<!-- /{marker} -->" in results


def test_readme_python_example_runs(monkeypatch, tmp_path):
    """The attack half runs as written; the evaluation half calls real functions with valid arguments."""
    code = _python_blocks(_text())[0]
    attack_part, eval_part = code.split("# an ABNN checkpoint", 1)
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    scope: dict = {}
    exec(compile(attack_part, "README.md", "exec"), scope)
    x, x_adv = scope["x"], scope["x_adv"]
    assert x_adv.shape == x.shape and float((x_adv - x).abs().max()) <= 4 / 255 + 1e-6
    assert 0 <= float(scope["x_roa"].min()) and float(scope["x_roa"].max()) <= 1
    import videoabnn.engine
    from videoabnn.engine.evaluator import evaluate as real_evaluate

    calls = []

    def recorded(*args, **kwargs):
        inspect.signature(real_evaluate).bind(*args, **kwargs)   # the README's call fits the real signature
        calls.append((args, kwargs))
        return {"clean": {"clip_acc": 1.0}, "summary": {"worst_case": {"white": 0.0, "gray": 0.0}}}

    monkeypatch.setattr(videoabnn.engine, "evaluate", recorded)
    monkeypatch.chdir(ROOT)                                        # the config path is relative to the clone
    exec(compile("#" + eval_part, "README.md", "exec"), scope)
    assert len(calls) == 1 and calls[0][1]["threat_models"] == ["white", "gray"]


@pytest.mark.parametrize("path", ["LICENSE", "CHANGELOG.md", "CITATION.cff"])
def test_project_files_exist(path):
    text = (ROOT / path).read_text()
    assert len(text) > 200
    if path == "LICENSE":
        assert "Apache License" in text and "Version 2.0" in text
    if path == "CITATION.cff":
        import videoabnn

        assert f"version: {videoabnn.__version__}" in text and "cff-version" in text
    if path == "CHANGELOG.md":
        import videoabnn

        assert f"## {videoabnn.__version__}" in text
