"""Study config profiles, dotted overrides and the resumable stage runner."""

from __future__ import annotations

from pathlib import Path

import pytest

from videoabnn.config import ConfigError, flatten_overrides
from videoabnn.study import StageRunner, load_study_config, stage_names
from videoabnn.study.steps import model_config, substitute_config, sweep_points

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "synthetic" / "study.yaml"


def test_profiles_and_derived_configs():
    full = load_study_config(CONFIG)
    quick = load_study_config(CONFIG, "quick", ["train.epochs=1"])
    assert quick["study"]["profile"] == "quick" and quick["train"]["epochs"] == 1
    assert quick["data"]["crop"] < full["data"]["crop"] and quick["work_dir"] != full["work_dir"]
    at = model_config(full, "at", substitute="sub.pt")
    assert at["train"]["method"] == "at" and at["train"]["attack"] == {"name": "fgsm", "eps": 0.0156862745}
    assert at["abnn"]["substitute"]["checkpoint"] == "sub.pt" and "/runs/at-" in at["work_dir"]
    sub = substitute_config(full)
    assert sub["data"]["synthetic"]["variant"] == "pretrain" and sub["data"]["root"] != full["data"]["root"]
    assert sub["train"]["method"] == "standard"
    assert stage_names(full)[:3] == ["data", "pretrain_substitute", "train_standard"]


def test_overrides_nested_merge_dotted_replace():
    flat = flatten_overrides({"data.root": "a", "data": {"root": "b", "synthetic": {"variant": "p"}},
                              "train.attack": {"name": "fgsm"}})
    assert flat == {"data.root": "b", "data.synthetic.variant": "p", "train.attack": {"name": "fgsm"}}


def test_bad_profile_and_sweep_errors():
    with pytest.raises(ConfigError, match="unknown study profile 'fast'"):
        load_study_config(CONFIG, "fast")
    with pytest.raises(ConfigError, match="needs a 'name'"):
        sweep_points({"values": [1]})
    points = sweep_points({"attack": {"name": "pgd"}, "values": [0, 4], "scale": 255, "alpha_ratio": 0.25})
    assert [x for x, _ in points] == [4] and points[0][1]["eps"] == pytest.approx(4 / 255)
    assert points[0][1]["alpha"] == pytest.approx(1 / 255)


def test_stage_runner_skips_finished_and_reruns_interrupted(tmp_path):
    calls: list[str] = []

    def ok(name):
        def fn():
            calls.append(name)
            (tmp_path / f"{name}.out").write_text("x")
            return {"file": f"{name}.out"}
        return fn

    def boom():
        calls.append("b")
        raise KeyboardInterrupt

    runner = StageRunner(tmp_path, log=lambda s: None)
    runner.run("a", ok("a"), files=lambda o: [o["file"]])
    with pytest.raises(KeyboardInterrupt):
        runner.run("b", boom)
    runner = StageRunner(tmp_path, log=lambda s: None)
    assert runner.run("a", ok("a"), files=lambda o: [o["file"]]) == {"file": "a.out"}
    runner.run("b", ok("b"))
    assert calls == ["a", "b", "b"]
    (tmp_path / "a.out").unlink()  # a recorded output that vanished makes the stage run again
    StageRunner(tmp_path, log=lambda s: None).run("a", ok("a"), files=lambda o: [o["file"]])
    assert calls[-1] == "a"


@pytest.mark.parametrize("profile", ["default", "full", "quick"])
def test_published_profiles_pin_their_thread_count(profile):
    """The numbers must not depend on the machine's load at start: `auto` would follow it, a count does not,
    and every training run (and so every cached result) is keyed by it."""
    cfg = load_study_config(CONFIG, profile)
    assert isinstance(cfg["threads"], int) and cfg["threads"] >= 1
    assert substitute_config(cfg)["threads"] == cfg["threads"] == model_config(cfg, "abnn")["threads"]


def test_a_pinned_count_ignores_the_load(monkeypatch):
    from videoabnn.utils import threads

    monkeypatch.setattr(threads, "idle_cores", lambda: 1)   # a busy machine: auto would take 1
    assert threads.resolve_threads("auto") == 1 and threads.resolve_threads(2) == 2
