"""The README's laptop UCF101 recipe, as written, on a UCF101-layout tree of Xvid AVIs with B-frames:
train (standard, then ABNN on it), test from the run directory alone, and the patch study."""

from __future__ import annotations

import json

from videoabnn.cli import patch_study, test, train


def test_laptop_recipe_runs_on_a_b_frame_xvid_tree(xvid_ucf_root, tmp_path, capsys):
    root, work = str(xvid_ucf_root), tmp_path / "work_dirs"
    small = ["model.name=tiny_r3d", "data.frames=8", "data.short_side=64", "data.crop=56", "train.epochs=1",
             "data.num_classes=3", "threads=1", "data.batch_size=4", "data.clips_per_video=2"]
    assert train.main(["configs/ucf101/standard_resnext101.yaml", f"data.root={root}", *small,
                       f"work_dir={work / 'ucf101_tiny'}"]) == 0
    assert train.main(["configs/ucf101/abnn_resnext101_r18.yaml", f"data.root={root}", *small,
                       "abnn.substitute.name=tiny_r3d", f"abnn.substitute.checkpoint={work / 'ucf101_tiny' / 'best.pt'}",
                       f"work_dir={work / 'ucf101_tiny_abnn'}"]) == 0
    err = capsys.readouterr().err
    assert "error:" not in err and "dropped" in err  # the inherited ResNeXt kwargs and Kinetics weights
    run = work / "ucf101_tiny_abnn"
    # with the (bounded) gradient-masking audit, as the README runs it
    assert test.main([str(run / "best.pt"), "--attacks", "fgsm", "--threat-models", "white", "gray"]) == 0
    results = list((run / "eval").rglob("results.json"))
    assert len(results) == 1
    data = json.loads(results[0].read_text())
    assert data["num_clips"] == 6 and {"fgsm", "fgsm@gray"} <= set(data["attacks"])  # 3 test videos x 2 clips
    audit = data["audit"]
    assert audit is not None and len(audit["settings"]["clip_ids"]) == 6
    # a one-epoch model is judged or "not applicable", never FAILED for being unable to classify
    assert audit["passed"] is True or (audit["passed"] is None and audit["not_applicable"]), audit
    assert "Gradient-masking audit: " in capsys.readouterr().out
    assert patch_study.main(["configs/patch_study/ucf101.yaml", f"data.root={root}", "data.frames=8",
                             "data.short_side=64", "data.crop=56", "data.num_classes=3", "data.batch_size=4",
                             "threads=1", f"work_dir={work / 'patch'}", "study.patch_study.sizes=[0.25]",
                             "study.patch_study.fit_batches=1", "study.patch_study.test_batches=1",
                             "study.patch_study.fit={alpha: 0.1, epochs: 1}", "study.patch_study.position_steps=2",
                             "study.patch_study.frame_counts=[1]", "study.patch_study.examples=1",
                             "study.patch_study.mp4=false", "study.patch_study.physical={preset: default, draws: 1}",
                             "--checkpoints", f"standard={work / 'ucf101_tiny' / 'best.pt'}",
                             f"abnn={run / 'best.pt'}"]) == 0
    patch = json.loads((work / "patch" / "results" / "abnn.json").read_text())
    assert "universal_patch_0.25" in patch["attacks"] and "universal_patch_0.25@physical" in patch["attacks"]
