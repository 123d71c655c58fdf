"""The ABNN fidelity and clean-accuracy stages' pieces: configs, pipelines, the cut checkpoint, config errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from videoabnn.attacks import check_gradient
from videoabnn.config import ConfigError
from videoabnn.models import create_model, load_model, save_model
from videoabnn.study import load_study_config, stage_names
from videoabnn.study.fidelity import cut_checkpoint, pipeline_config
from videoabnn.study.steps import model_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "synthetic"


def test_stage_plans_reuse_the_main_study_and_add_their_own():
    fid = load_study_config(CONFIGS / "abnn_fidelity.yaml")
    gap = load_study_config(CONFIGS / "abnn_clean_gap.yaml")
    main = stage_names(load_study_config(CONFIGS / "study.yaml"))
    assert fid["work_dir"] == gap["work_dir"] == "work_dirs/study"  # the stages of `make demo` are reused
    assert stage_names(fid) == main + ["train_abnn_prototype_exact", "fidelity"]
    assert stage_names(gap)[: len(main)] == main and stage_names(gap)[-1] == "clean_gap"
    assert len(stage_names(gap)) == len(main) + 8  # seven options, one at a time, then the evaluations


def test_pipelines_keep_the_study_clips_and_set_gradient_batch_and_threat():
    cfg = load_study_config(CONFIGS / "abnn_fidelity.yaml")
    run_cfg = model_config(cfg, "abnn", "sub.pt")
    pipes = cfg["study"]["fidelity"]["pipelines"]
    authors = pipeline_config(cfg, run_cfg, pipes["authors"], 2, "test")
    assert authors["abnn"]["substitute"]["shortcut_gradient"] == "cut" and authors["data"]["test_batch_size"] == 2
    assert authors["eval"]["max_batches"] * 2 == cfg["eval"]["max_batches"] * cfg["data"]["batch_size"]  # 192 clips
    single = pipeline_config(cfg, run_cfg, pipes["single_clip"], 2, "test")
    assert single["data"]["test_batch_size"] == 1 and single["eval"]["max_batches"] == 192
    gray = pipeline_config(cfg, run_cfg, pipes["gray"], 2, "test")
    assert gray["eval"]["threat_models"] == ["gray"] and gray["abnn"]["substitute"]["shortcut_gradient"] == "full"
    assert run_cfg["abnn"]["substitute"]["shortcut_gradient"] == "full"  # the trained model's config is untouched


def test_cut_checkpoint_same_predictions_wrong_gradient(tmp_path):
    torch.manual_seed(0)
    model = create_model("abnn", num_classes=4, substitute_kwargs={"width": 4}, target_kwargs={"width": 4})
    with torch.no_grad():  # move W off 0 so the statistics pathway carries gradient
        for p in model.adaptive.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    path = save_model(model.eval(), tmp_path / "run" / "best.pt")
    cut_path = cut_checkpoint(path, tmp_path / "cut")
    assert cut_checkpoint(path, tmp_path / "cut") == cut_path  # made once per checkpoint digest
    intact, cut = load_model(path), load_model(cut_path)
    x = torch.rand(2, 3, 4, 16, 16)
    with torch.no_grad():
        assert torch.equal(intact(x), cut(x))
    assert check_gradient(intact, x).passed and not check_gradient(cut, x).passed


@pytest.mark.parametrize("config, override, message", [
    ("abnn_fidelity", "study.fidelity.pipelines.single_clip.models=[nobody]", "not among the fidelity models"),
    ("abnn_fidelity", "study.fidelity.models={standard: {abnn.mode: prototype}}", "already name models of"),
    ("abnn_fidelity", "study.fidelity.pipelines.full.attacks=[pgd_linf_3]", "not the id of an attack"),
    ("abnn_clean_gap", "study.clean_gap.headline=fgsm_8", "study.clean_gap.headline: 'fgsm_8' is not one of"),
    ("abnn_clean_gap", "study.clean_gap.base=resnet", "study.clean_gap.base: 'resnet' is not a model"),
])
def test_bad_stage_settings_are_named(config, override, message):
    with pytest.raises(ConfigError, match=message):
        stage_names(load_study_config(CONFIGS / f"{config}.yaml", overrides=[override]))


def test_schema_checks_pipeline_values():
    with pytest.raises(ConfigError, match="gradient"):
        load_study_config(CONFIGS / "abnn_fidelity.yaml", overrides=["study.fidelity.pipelines.authors.gradient=half"])
