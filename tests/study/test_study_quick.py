"""The CI smoke test: the quick study end to end, then a rerun that skips every finished stage."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from PIL import Image

from videoabnn.study import load_study_config, run_study, stage_names

_spec = importlib.util.spec_from_file_location("study_numbers", Path(__file__).parents[1] / "golden" / "study_numbers.py")
study_numbers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(study_numbers)

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "synthetic" / "study.yaml"


@pytest.mark.slow
def test_quick_study_end_to_end_and_resume(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # data/ and work_dirs/ of the quick profile land in tmp_path
    cfg = load_study_config(CONFIG, "quick")
    lines: list[str] = []
    paths = run_study(cfg, log=lines.append)
    work = Path(cfg["work_dir"])
    md = paths["markdown"].read_text()
    assert paths["html"].is_file() and "<table>" in paths["html"].read_text()
    header = next(ln for ln in md.splitlines() if ln.startswith("| model | clean |"))
    assert "Acc_adv" in header and "time / abnn" in header
    for name in ("standard", "abnn", "pgd_at", "at"):
        result = json.loads((work / "results" / f"{name}.json").read_text())
        clean = f"{100 * result['clean']['clip_acc']:.1f}"
        assert any(ln.startswith(f"| {name} | {clean} |") for ln in md.splitlines()), name
        assert result["audit"] is not None and "checks" in result["audit"]
    abnn = json.loads((work / "results" / "abnn.json").read_text())
    assert abnn["summary"]["worst_case_budget"]["white"]["linf 4/255"]["attacks"] == ["fgsm_4", "pgd_linf_4"]
    assert "worst linf 4/255" in header
    assert "all share one training schedule (settings below; the learning rate was chosen once on the validation" in md
    assert list((work / "seeds" / "0" / "evals" / "abnn" / "audits").glob("*.json"))  # reused by a rerun
    threats = {a["threat"] for a in abnn["attacks"].values()}
    assert {"white", "gray", "transfer", "physical"} <= threats
    assert all(t in ("white", "gray", "transfer") or t.startswith("physical") for t in threats)
    assert "roa_30@physical:worst" in abnn["attacks"] and "Digital vs physical" in md
    for plot in ("acc_vs_eps.png", "acc_vs_size.png", "acc_by_attack.png"):
        assert f"plots/{plot}" in md
        with Image.open(work / "plots" / plot) as img:
            assert img.format == "PNG" and img.size[0] > 100
    assert list((work / "seeds" / "0" / "frames").glob("*.gif")) and "## Reading" in md
    assert "seeds/0/frames/" in md  # example frames of the first seed, linked from the report
    # like for like: transfer rows for every defended model, crafted on the undefended one
    for name in ("abnn", "pgd_at", "at"):
        rows = json.loads((work / "results" / f"{name}.json").read_text())["attacks"]
        assert any(a["threat"] == "transfer" for a in rows.values()), name
    # every model starts from the substitute's pretraining run
    cfg_at = json.loads((work / "results" / "at.json").read_text())["config"]
    assert cfg_at["model"]["pretrained"].endswith(".pt") and "/runs/substitute-" in cfg_at["model"]["pretrained"]
    # golden: every number equals the one the code computed before the one-home refactor (issue 26)
    golden = json.loads((Path(__file__).parents[1] / "golden" / "study_quick.json").read_text())
    assert study_numbers.differences(study_numbers.numbers(work), golden) == []
    # resumable: a rerun skips every stage and rebuilds the same report
    lines.clear()
    run_study(cfg, log=lines.append)
    skipped = [ln for ln in lines if "already done" in ln]
    assert len(skipped) == len(stage_names(cfg))
    assert paths["markdown"].read_text().split("## Reading")[1] == md.split("## Reading")[1]
