"""Command lines: overrides anywhere, console scripts, --threads, one error line, resume that extends."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from videoabnn.cli.common import split_overrides
from videoabnn.cli.patch_study import build_parser as patch_parser
from videoabnn.cli.test import build_parser as eval_parser

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = ["videoabnn-train", "videoabnn-test", "videoabnn-study", "videoabnn-patch-study",
           "videoabnn-make-synthetic", "videoabnn-verify", "videoabnn-weights", "videoabnn-attack-video"]


def test_overrides_anywhere_on_the_line():
    words = ["cfg.yaml", "ckpt.pt", "--attacks", "quick", "fgsm", "eval.max_batches=1", "--out-dir", "a=b", "seed=2"]
    rest, overrides = split_overrides(words, eval_parser())
    assert overrides == ["eval.max_batches=1", "seed=2"]  # --out-dir's single value stays its value
    assert rest == ["cfg.yaml", "ckpt.pt", "--attacks", "quick", "fgsm", "--out-dir", "a=b"]
    rest, overrides = split_overrides(["c.yaml", "--checkpoints", "std=a.pt", "abnn=b.pt", "--debug", "seed=1"],
                                      patch_parser())
    assert overrides == ["seed=1"] and rest == ["c.yaml", "--checkpoints", "std=a.pt", "abnn=b.pt", "--debug"]


@pytest.mark.parametrize("script", SCRIPTS)
def test_console_scripts_are_installed_and_answer_help(script):
    path = shutil.which(script) or str(Path(sys.executable).parent / script)
    proc = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "usage: " + script in proc.stdout, proc.stderr[-2000:]


def test_tools_run_from_a_clone_without_installing(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "PYTHONNOUSERSITE": "1"}
    proc = subprocess.run([sys.executable, "-S", str(REPO / "tools" / "train.py"), "--help"], capture_output=True,
                          text=True, timeout=120, env=env, cwd=tmp_path)
    # -S drops site-packages, so only the repository root the wrapper adds can provide videoabnn; the
    # import then fails on torch (not on videoabnn), which proves the wrapper found the package
    assert "No module named 'videoabnn'" not in proc.stderr and "No module named" in proc.stderr


def test_user_error_is_one_line_exit_2_and_debug_shows_the_traceback(tmp_path, capsys):
    from videoabnn.cli import train

    cfg = str(REPO / "configs" / "synthetic" / "standard.yaml")
    assert train.main([cfg, "train.lr=abc", f"work_dir={tmp_path}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: command line: train.lr: expected a number, got 'abc'"]
    from videoabnn.config import ConfigError

    with pytest.raises(ConfigError):
        train.main([cfg, "train.lr=abc", "--debug"])


def test_a_synthetic_set_with_other_parameters_is_a_one_line_error(tmp_path, capsys):
    """make-synthetic into a root that holds another set: exit 2, the values that differ, the remedies."""
    from videoabnn.cli import make_synthetic

    root = str(tmp_path / "syn")
    assert make_synthetic.main(["--root", root, "--preset", "quick"]) == 0
    capsys.readouterr()
    assert make_synthetic.main(["--root", root, "--preset", "quick", "--frames", "16"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "frames 12 there, 16 wanted" in err[0]
    assert "--overwrite" in err[0]


def test_threads_option_reaches_torch_and_the_decoder(tmp_path, monkeypatch):
    from videoabnn.cli import train
    from videoabnn.data import decode

    seen = {}
    monkeypatch.setattr("videoabnn.engine.train", lambda cfg, resume: seen.update(
        torch=torch.get_num_threads(), decoder=decode.decoder_threads(), cfg=cfg["threads"]) or tmp_path)
    before = torch.get_num_threads()
    try:
        assert train.main([str(REPO / "configs" / "synthetic" / "standard.yaml"), "--threads", "3",
                           f"work_dir={tmp_path}"]) == 0
    finally:
        torch.set_num_threads(before)
        decode.set_decoder_threads(0)
    assert seen == {"torch": 3, "decoder": 3, "cfg": 3}


def test_auto_threads_use_the_idle_cores(monkeypatch):
    from videoabnn.utils import threads

    monkeypatch.setattr(threads, "_TORCH_DEFAULT", 4)
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    monkeypatch.setattr(threads, "_cpu_counters", lambda: None)  # no /proc/stat: the load average decides
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (2.6, 0.0, 0.0))
    assert threads.resolve_threads("auto") == 1  # 4 usable cores (physical), 2.6 busy -> 1 idle
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (0.2, 0.0, 0.0))
    assert threads.resolve_threads("auto") == 4 and threads.resolve_threads(2) == 2
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (9.0, 0.0, 0.0))
    assert threads.resolve_threads(None) == 1


def test_auto_threads_sample_the_cpu_counters_not_the_lagging_load_average(monkeypatch, tmp_path):
    """Right after another job ended the load average still says busy; the counters say idle now."""
    from videoabnn.utils import threads

    monkeypatch.setattr(threads, "_TORCH_DEFAULT", 2)
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (2.0, 2.0, 2.0))
    monkeypatch.setattr(threads.time, "sleep", lambda s: None)
    stat = tmp_path / "stat"
    read = threads._cpu_counters

    def counters(samples):
        it = iter(samples)

        def fake():
            user, idle = next(it)
            stat.write_text(f"cpu  {user} 0 0 {idle} 0 0 0 0 0 0\ncpu0 0 0 0 0\ncpu1 0 0 0 0\n")
            return read(str(stat))
        return fake

    monkeypatch.setattr(threads, "_cpu_counters", counters([(100, 100), (105, 295)] * 2))  # 5 of 200 busy
    assert threads.busy_cores() == 0.05 and threads.resolve_threads("auto") == 2
    monkeypatch.setattr(threads, "_cpu_counters", counters([(100, 100), (200, 200)]))  # one core busy
    assert threads.resolve_threads("auto") == 1


def test_resume_extends_a_finished_run_with_a_recomputed_schedule(tmp_path, capsys):
    """A finished 2-epoch run resumed with train.epochs=4 trains epochs 3-4 at the lr of a 4-epoch cosine."""
    from videoabnn.cli import train
    from videoabnn.engine.trainer import lr_factor

    data = _toy_root(tmp_path)
    cfg = str(REPO / "configs" / "synthetic" / "standard.yaml")
    over = [f"data.root={data}", "data.synthetic.preset=quick", "data.frames=4", "data.short_side=20", "data.crop=16",
            "data.batch_size=8", "model.kwargs.width=4", f"work_dir={tmp_path / 'run'}", "train.max_batches=1",
            "train.eval_every=0", "train.warmup_epochs=0", "threads=1", "train.log_interval=1"]
    assert train.main([cfg, *over, "train.epochs=2"]) == 0
    assert train.main([cfg, "--resume", "train.epochs=4", *over]) == 0
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [0, 1, 2, 3]
    t = {"warmup_epochs": 0, "scheduler": "cosine", "epochs": 4}
    assert log[2]["lr"] == pytest.approx(0.003 * lr_factor(2, t))  # not the finished 2-epoch schedule's ~0
    text = (tmp_path / "run" / "train.log").read_text()
    assert "schedule recomputed for 4 epochs" in text and "epoch 4/4" in text


def _toy_root(tmp_path: Path) -> Path:
    from videoabnn.data.synthetic import generate_synthetic

    root = tmp_path / "synthetic"
    generate_synthetic(root, "study", "ucf101", "quick", workers=1)
    return root


def test_skipped_videos_reach_results_json_and_the_console(synthetic_ucf_root, tmp_path, capsys):
    """A corrupt test video with data.skip_unreadable=true: named (with ffmpeg's complaint) on the console
    at INFO/WARNING and recorded in results.json; ffmpeg's own stderr chatter stays out."""
    from videoabnn.cli import test as test_tool
    from videoabnn.models import create_model, save_model

    root = tmp_path / "ucf"
    shutil.copytree(synthetic_ucf_root, root)
    listed = (root / "ucfTrainTestlist" / "testlist01.txt").read_text().split()[0]
    (root / "UCF-101" / listed).write_bytes(b"RIFF\0\0\0\0AVI LIST garbage")
    save_model(create_model("tiny_r3d", 4, width=4), tmp_path / "m.pt")
    cfg = str(REPO / "configs" / "synthetic" / "standard.yaml")
    rc = test_tool.main([cfg, str(tmp_path / "m.pt"), "--attacks", "none", f"data.root={root}",
                         "data.synthetic.preset=quick", "data.synthetic.generate=false", "data.skip_unreadable=true",
                         "data.frames=4", "data.short_side=20", "data.crop=16", "model.kwargs.width=4",
                         f"work_dir={tmp_path / 'w'}", "eval.audit=false", "threads=1", "--out-dir",
                         str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 0, err
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    skipped = results["skipped_videos"]
    assert len(skipped) == 1 and skipped[0]["path"].endswith(Path(listed).name)
    assert "Invalid data" in skipped[0]["cause"]  # the decoder's own complaint, not a PermissionError
    assert "1 of 28 videos (3.6%) are unreadable and skipped" in err and "INFO videoabnn.engine.evaluator: evaluating" in err
    assert "ERROR opening" not in err  # decord's C++ logger never sees the file
