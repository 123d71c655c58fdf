"""tools/train.py and tools/test.py on generated videos: single process and torchrun with 2 gloo processes
(distributed evaluation must give exactly the single-process numbers), plus bad-input errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _overrides(root, work_dir):
    return [f"data.root={root}", "data.synthetic.preset=quick", "data.frames=4", "data.short_side=20",
            "data.crop=16", "data.batch_size=6", "data.clips_per_video=2", "model.kwargs.width=4",
            f"work_dir={work_dir}", "train.epochs=2", "train.max_batches=2", "train.eval_every=2", "seed=5",
            "eval.max_batches=3", "eval.audit=false", "eval.attacks=[fgsm]", "train.lr=0.02"]


def _torchrun(tool, args, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(REPO / "tools" / f"{tool}.py"), *args]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def trained_run(synthetic_ucf_root, tmp_path_factory):
    """A tiny model trained by tools/train.py under torchrun (2 gloo processes)."""
    tmp = tmp_path_factory.mktemp("ddp_train")
    config = str(REPO / "configs" / "synthetic" / "standard.yaml")
    _torchrun("train", [config, *_overrides(synthetic_ucf_root, tmp / "run")], tmp)
    return config, synthetic_ucf_root, tmp / "run"


def test_distributed_training_writes_one_run(trained_run):
    _, _, run = trained_run
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [0, 1] and "val_clip_acc" in log[1]
    assert (run / "last.pt").is_file() and (run / "best.pt").is_file() and (run / "config.yaml").is_file()


def test_distributed_evaluation_equals_single_process(trained_run, tool, tmp_path):
    config, root, run = trained_run
    over = _overrides(root, run)
    single = tmp_path / "single"
    assert tool("test").main([config, str(run / "last.pt"), *over, "--out-dir", str(single)]) == 0
    dist = tmp_path / "dist"
    _torchrun("test", [config, str(run / "last.pt"), *over, "--out-dir", str(dist)], tmp_path)
    a = json.loads((single / "results.json").read_text())
    b = json.loads((dist / "results.json").read_text())
    assert a["num_clips"] == b["num_clips"] == 18  # 3 batches of 6 clips, split 2/1 over the ranks
    assert a["clean"] == b["clean"]
    for key in ("clip_acc", "video_acc", "success_rate", "mean_linf", "mean_l2"):
        assert a["attacks"]["fgsm"][key] == b["attacks"]["fgsm"][key], key
    assert a["summary"]["worst_case"] == b["summary"]["worst_case"]


def test_resume_through_the_tool(trained_run, tool, tmp_path, capsys):
    config, root, run = trained_run
    train = tool("train")
    over = _overrides(root, run)
    assert train.main([config, *over]) == 2
    assert "--resume" in capsys.readouterr().err
    # resuming a finished run is a no-op that says so and keeps the checkpoint
    before = (run / "last.pt").read_bytes()
    assert train.main([config, "--resume", *over]) == 0
    assert "already finished: 2 of 2 epochs" in (run / "train.log").read_text()
    assert (run / "last.pt").read_bytes() == before
    # another optimizer is a different run: refused, naming the key
    assert train.main([config, "--resume", *over, "train.optimizer=sgd"]) == 2
    assert "train.optimizer: 'adamw' -> 'sgd'" in capsys.readouterr().err


def test_test_tool_bad_inputs(trained_run, tool, tmp_path, capsys):
    config, root, run = trained_run
    test = tool("test")
    over = _overrides(root, tmp_path / "w")
    assert test.main([config, str(tmp_path / "missing.pt"), *over]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
    assert test.main([config, str(run / "last.pt"), *over, "--attacks", "pgdd"]) == 2
    assert "unknown attack 'pgdd'" in capsys.readouterr().err
    from videoabnn.models import create_model, save_model

    save_model(create_model("tiny_r3d", 7, width=4), tmp_path / "seven.pt")
    assert test.main([config, str(tmp_path / "seven.pt"), *over]) == 2
    assert "has 7 classes but the data set has 4" in capsys.readouterr().err
    save_model(create_model("resnet3d_10", 4, width=4), tmp_path / "r10.pt")
    assert test.main([config, str(tmp_path / "r10.pt"), *over]) == 2
    assert "holds a 'resnet3d_10' model but the config builds 'tiny_r3d'" in capsys.readouterr().err
    assert test.main([config, str(run / "last.pt"), *over, "eval.atacks=[fgsm]"]) == 2
    assert "did you mean 'eval.attacks'" in capsys.readouterr().err
