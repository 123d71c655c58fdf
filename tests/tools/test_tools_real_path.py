"""The UCF101 path as a user walks it: a model switched on top of a UCF101 config, wrong inputs as one
``error:`` line (exit 2), decode errors raised inside DataLoader workers, and ``videoabnn-test`` on a
run's checkpoint reusing that run's config and writing below the run directory."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from videoabnn.cli import test as test_cli
from videoabnn.cli import train as train_cli
from videoabnn.cli.common import is_user_error, run_tool
from videoabnn.config import ConfigError, load_config
from videoabnn.data import encode_video
from videoabnn.data.decode import VideoDecodeError

REPO = Path(__file__).resolve().parents[2]
UCF_CONFIG = str(REPO / "configs" / "ucf101" / "standard_resnext101.yaml")
CLASSES = ("ApplyEyeMakeup", "HandstandPushups")
# the laptop variant of the recipe, shrunk further for a test: tiny clips, one epoch, no validation split
SMALL = ["model.name=tiny_r3d", "model.kwargs.width=4", "data.frames=4", "data.short_side=20", "data.crop=16",
         "data.clips_per_video=2", "data.batch_size=4", "data.val_fraction=0", "train.epochs=1", "device=cpu",
         "threads=1", "data.num_workers=0"]


def _ucf_tree(root: Path) -> Path:
    """Two classes (the HandstandPushups file-name quirk, CRLF lists), groups 1-2 test and 8-9 train."""
    lists = root / "ucfTrainTestlist"
    lists.mkdir(parents=True)
    (lists / "classInd.txt").write_bytes(b"1 ApplyEyeMakeup\r\n2 HandstandPushups\r\n")
    train, test = [], []
    rng = np.random.default_rng(0)
    for label, name in enumerate(CLASSES, start=1):
        stem = "HandStandPushups" if name == "HandstandPushups" else name
        for group in (1, 2, 8, 9):
            rel = f"{name}/v_{stem}_g{group:02d}_c01.avi"
            frames = np.clip(rng.integers(0, 200, (1, 24, 32, 3)) + np.arange(8)[:, None, None, None] * 6, 0, 255)
            encode_video(root / "UCF-101" / rel, frames.astype(np.uint8))
            (test if group <= 7 else train).append(rel if group <= 7 else f"{rel} {label}")
    (lists / "trainlist01.txt").write_bytes(("\r\n".join(train) + "\r\n").encode())
    (lists / "testlist01.txt").write_bytes(("\r\n".join(test) + "\r\n").encode())
    return root


@pytest.fixture(scope="module")
def ucf_root(tmp_path_factory) -> Path:
    return _ucf_tree(tmp_path_factory.mktemp("ucf"))


@pytest.fixture(scope="module")
def run_dir(ucf_root, tmp_path_factory) -> Path:
    """One tiny training run of the small recipe on the tree."""
    out = tmp_path_factory.mktemp("runs") / "small"
    torch.set_num_threads(1)
    argv = [UCF_CONFIG, f"data.root={ucf_root}", "data.num_classes=2", f"work_dir={out}", *SMALL]
    assert train_cli.main(argv) == 0
    return out


def _error_line(capsys) -> str:
    """The single ``error:`` line on stderr (progress bars may share its terminal line via carriage returns)."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [part for line in err.splitlines() for part in line.split("\r") if part.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]


# --------------------------------------------------------------------------- model switch
def test_model_name_over_a_config_drops_inherited_arguments_it_does_not_take(caplog):
    with caplog.at_level(logging.WARNING, logger="videoabnn"):
        cfg = load_config(UCF_CONFIG, ["model.name=tiny_r3d"])
    assert cfg.model.name == "tiny_r3d" and cfg.model.pretrained is None
    assert dict(cfg.model.kwargs) == {}  # the ResNeXt's cardinality and shortcut: chosen for another network
    warning = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert "model.kwargs.cardinality=32" in warning and "model.kwargs.shortcut='B'" in warning
    assert "model.pretrained=kinetics400_2018:" in warning
    kept = load_config(UCF_CONFIG, ["model.name=tiny_r3d", "model.kwargs.shortcut=A"])
    assert dict(kept.model.kwargs) == {"shortcut": "A"}  # set beside the new name: kept
    same = load_config(UCF_CONFIG, ["model.name=resnext3d_101"])  # not a change: nothing dropped
    assert same.model.kwargs.cardinality == 32 and same.model.pretrained.startswith("kinetics400_2018:")


def test_model_name_in_a_file_over_its_base_drops_the_same(tmp_path):
    own = tmp_path / "mine.yaml"
    own.write_text(f"_base_: {UCF_CONFIG}\nmodel:\n  name: r3d_18\n")
    cfg = load_config(own)
    assert cfg.model.name == "r3d_18" and dict(cfg.model.kwargs) == {} and cfg.model.pretrained is None


@pytest.mark.parametrize("extra, expected", [
    ("model.kwargs.cardinality=8", "model.kwargs.cardinality: tiny_r3d takes no argument 'cardinality'"),
    ("model.pretrained=kinetics400_2018", "model.pretrained: expected weights for tiny_r3d"),
    ("model.pretrained=kinetics400_2018:weights/resnext-101-kinetics.pth", "got 'kinetics400_2018:weights/resnext"),
])
def test_arguments_given_with_the_new_name_are_kept_and_checked(extra, expected):
    with pytest.raises(ConfigError) as err:
        load_config(UCF_CONFIG, ["model.name=tiny_r3d", extra])
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_weights_of_another_release_file_are_refused_for_the_substitute():
    with pytest.raises(ConfigError, match="abnn.substitute.checkpoint: expected weights for resnet3d_34"):
        load_config(REPO / "configs/ucf101/abnn_resnext101_r18.yaml", [
            "abnn.substitute.name=resnet3d_34", "abnn.substitute.checkpoint=weights/resnet-18-kinetics.pth"])


# --------------------------------------------------------------------------- one error line, exit 2
def test_the_issue_command_line_runs_with_only_the_class_count_to_fix(ucf_root, tmp_path, capsys):
    argv = [UCF_CONFIG, f"data.root={ucf_root}", f"work_dir={tmp_path / 'run'}", *SMALL]
    assert train_cli.main(argv) == 2
    line = _error_line(capsys)
    assert line.startswith("error: data.num_classes:") and "2 classes" in line and "data.num_classes=2" in line
    assert not (tmp_path / "run" / "last.pt").exists()


def test_bad_data_root_names_the_key_the_value_and_the_layout(tmp_path, capsys):
    argv = [UCF_CONFIG, f"data.root={tmp_path / 'nowhere'}", f"work_dir={tmp_path / 'run'}", *SMALL]
    assert train_cli.main(argv) == 2
    line = _error_line(capsys)
    assert "data.root" in line and str(tmp_path / "nowhere") in line and "UCF-101/ and ucfTrainTestlist/" in line


def test_a_missing_weights_file_names_its_key(ucf_root, tmp_path, capsys):
    argv = [UCF_CONFIG, f"data.root={ucf_root}", "data.num_classes=2", f"work_dir={tmp_path / 'run'}", *SMALL,
            f"model.pretrained={tmp_path / 'missing.pth'}"]
    assert train_cli.main(argv) == 2
    line = _error_line(capsys)
    assert line.startswith("error: model.pretrained:") and "missing.pth" in line


class _Broken(Dataset):
    def __init__(self, error: Exception) -> None:
        self.error = error

    def __len__(self) -> int:
        return 2

    def __getitem__(self, index: int):
        raise self.error


@pytest.mark.parametrize("error, user", [
    (VideoDecodeError("/data/v_X_g01_c01.avi", "truncated at frame 12"), True),  # two-argument: a RuntimeError
    (ConfigError("data.frames: expected an integer"), True),
    (ValueError("a bug"), False),
])
def test_errors_raised_inside_a_loader_worker_keep_their_meaning(error, user, capsys):
    def body(_args) -> int:
        list(DataLoader(_Broken(error), num_workers=1))
        return 0

    class Args:
        debug = False

    if not user:
        with pytest.raises(Exception, match="a bug"):
            run_tool(body, Args())
        return
    assert run_tool(body, Args()) == 2
    assert _error_line(capsys) == f"error: {error}"


def test_a_corrupt_video_decoded_in_a_worker_is_one_error_line(ucf_root, tmp_path, capsys):
    root = tmp_path / "ucf"
    _ucf_tree(root)
    bad = root / "UCF-101" / "ApplyEyeMakeup" / "v_ApplyEyeMakeup_g08_c01.avi"
    bad.write_bytes(bad.read_bytes()[:600])
    argv = [UCF_CONFIG, f"data.root={root}", "data.num_classes=2", f"work_dir={tmp_path / 'run'}", *SMALL,
            "data.num_workers=1"]
    assert train_cli.main(argv) == 2
    line = _error_line(capsys)
    assert str(bad) in line


def test_worker_wrapped_user_errors_are_recognised_by_type_name():
    err = RuntimeError("Caught VideoDecodeError in DataLoader worker process 3.\nOriginal Traceback (most recent "
                       "call last):\n  File \"x.py\", line 1, in f\nvideoabnn.data.decode.VideoDecodeError: /v.avi: "
                       "empty\n")
    assert is_user_error(err) and not is_user_error(RuntimeError("Caught VideoDecodeError elsewhere"))


# --------------------------------------------------------------------------- test follows the run
def test_checkpoint_alone_uses_the_runs_config_and_writes_below_the_run(run_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may land in the current directory's work_dirs/
    assert test_cli.main([str(run_dir / "best.pt"), "--attacks", "fgsm", "eval.audit=false"]) == 0
    found = list((run_dir / "eval").glob("best-*/*/results.json"))
    assert len(found) == 1 and not (tmp_path / "work_dirs").exists()
    used = json.loads(found[0].read_text())["config"]
    assert used["model"]["name"] == "tiny_r3d" and used["data"]["frames"] == 4 and used["data"]["num_classes"] == 2


def test_an_explicit_config_still_wins_with_a_note(run_dir, tmp_path, caplog):
    other = tmp_path / "other.yaml"
    other.write_text((run_dir / "config.yaml").read_text().replace("clips_per_video: 2", "clips_per_video: 1"))
    with caplog.at_level(logging.INFO, logger="videoabnn"):
        assert test_cli.main([str(other), str(run_dir / "best.pt"), "--attacks", "none", "eval.audit=false"]) == 0
    notes = [r.getMessage() for r in caplog.records if "differs from the run's own" in r.getMessage()]
    assert len(notes) == 1 and "data.clips_per_video (2 -> 1)" in notes[0]
    results = [json.loads(p.read_text()) for p in (run_dir / "eval").glob("best-*/*/results.json")]
    assert any(r["config"]["data"]["clips_per_video"] == 1 for r in results)


def test_a_checkpoint_outside_a_run_needs_a_config(run_dir, tmp_path, capsys):
    lone = tmp_path / "lone.pt"
    lone.write_bytes((run_dir / "best.pt").read_bytes())
    assert test_cli.main([str(lone)]) == 2
    line = _error_line(capsys)
    assert "config.yaml not found" in line and "CONFIG CHECKPOINT" in line


# --------------------------------------------------------------------------- workers follow the machine
@pytest.mark.parametrize("cores, threads, setting, expected", [
    (2, 2, "auto", 1), (2, 1, "auto", 0), (16, 16, "auto", 8), (16, 4, "auto", 3), (1, 1, "auto", 0),
    (2, 2, 3, 3), (16, 16, 0, 0),
])
def test_auto_workers_leave_a_core_and_stay_within_threads(monkeypatch, cores, threads, setting, expected):
    from videoabnn.utils import threads as th

    monkeypatch.setattr(th, "usable_cores", lambda: cores)
    monkeypatch.setattr(th, "_applied", threads)
    assert th.resolve_workers(setting) == expected


def test_real_data_configs_use_auto_workers_and_a_bad_value_is_one_line():
    for name in ("ucf101", "hmdb51"):
        assert load_config(REPO / f"configs/{name}/standard_resnext101.yaml").data.num_workers == "auto"
    with pytest.raises(ConfigError, match=r"data.num_workers: expected one of auto or an integer, got 'many'"):
        load_config(UCF_CONFIG, ["data.num_workers=many"])
