"""``videoabnn-attack-video`` (issue 19): any registry model or checkpoint (ABNN too) on a video file:
clean top-5, each attack's top-5, results.json in the results schema, an MP4 and a PNG per attack,
one ``error:`` line for a bad path, model or label, and the README table written from the run."""

from __future__ import annotations

import json

import numpy as np
import pytest

from videoabnn.data.synthetic import encode_video
from videoabnn.models import create_model, save_model
from videoabnn.results import load_results

ATTACKS = ["fgsm", "roa_30_q"]
pytestmark = pytest.mark.filterwarnings("ignore:tiny_r3d. no --pretrained")


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    folder = tmp_path_factory.mktemp("videos")
    rng = np.random.default_rng(0)
    frames = (rng.random((20, 40, 48, 3)) * 255).astype(np.uint8)
    return encode_video(folder / "clip.avi", frames, fps=10)


def run(tool, argv, capsys):
    code = tool("attack_video").main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_registry_model_on_a_video(tool, video, tmp_path, capsys):
    out = tmp_path / "out"
    code, stdout, _ = run(tool, [str(video.parent), "--model", "tiny_r3d", "--num-classes", "5", "--frames", "8",
                                 "--size", "32", "--attacks", *ATTACKS, "--out", str(out), "--threads", "1"], capsys)
    assert code == 0
    assert "clean:" in stdout and "fgsm:" in stdout and "roa_30_q:" in stdout and "class " in stdout
    folder = out / "clip"
    results = load_results(folder / "results.json")  # validates against the schema
    assert list(results.attacks) == ["fgsm", "roa_30_q"] and results.num_clips == 1
    fgsm = results.attacks["fgsm"]
    assert 0 < fgsm.mean_linf <= 8 / 255 + 1e-6 and fgsm.seconds >= 0 and len(fgsm.details["top5"]) == 5
    assert results.data_subset["frame_indices"] == list(range(6, 14))  # the centre clip of 20 frames
    for attack in ATTACKS:
        assert (folder / f"{attack}.mp4").stat().st_size > 0 and (folder / f"{attack}.png").stat().st_size > 0
    from videoabnn.data.decode import open_video

    assert len(open_video(folder / "fgsm.mp4", "pyav")) == 8


def test_abnn_checkpoint_gray_box_and_label(tool, video, tmp_path, capsys):
    ckpt = tmp_path / "abnn.pt"
    save_model(create_model("abnn", 4, target="tiny_r3d", substitute="tiny_r3d"), ckpt)
    out = tmp_path / "out"
    code, stdout, _ = run(tool, [str(video), "--pretrained", str(ckpt), "--threat", "gray", "--label", "2",
                                 "--frames", "8", "--size", "32", "--attacks", "fgsm", "--out", str(out)], capsys)
    assert code == 0 and "gray-box view" in stdout and "attacking label 'class 2'" in stdout
    data = json.loads((out / "clip" / "results.json").read_text())
    assert data["run"]["name"] == "abnn" and list(data["attacks"]) == ["fgsm@gray"]
    assert data["data_subset"]["label"] == "class 2"


@pytest.mark.parametrize("argv, expected", [
    (["missing.mp4", "--model", "tiny_r3d"], "video not found: missing.mp4"),
    (["{video}", "--model", "no_such_net"], "unknown model 'no_such_net'"),
    (["{video}", "--model", "tiny_r3d", "--num-classes", "3", "--label", "jumping", "--frames", "8", "--size", "32"],
     "--label: 'jumping' is not a class"),
    (["{video}", "--model", "tiny_r3d", "--attacks", "pgdd"], "unknown attack 'pgdd'"),
    (["{video}", "--model", "i3d", "--pretrained", "{tmp}/nothing.ckpt"], "not found"),
])
def test_bad_input_is_one_error_line(tool, video, tmp_path, capsys, argv, expected):
    argv = [a.format(video=video, tmp=tmp_path) for a in argv]
    code, _, err = run(tool, argv + ["--out", str(tmp_path / "o")], capsys)
    lines = [line for line in err.strip().splitlines() if not line.startswith(("INFO", "WARNING"))]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], err


def test_readme_table_comes_from_the_run(tool, video, tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text("# x\n\n<!-- REAL-VIDEOS -->\nstale table\n<!-- /REAL-VIDEOS -->\n\nafter\n")
    code, _, _ = run(tool, [str(video), "--model", "tiny_r3d", "--num-classes", "5", "--frames", "8", "--size", "32",
                            "--attacks", "fgsm", "--out", str(tmp_path / "o"), "--readme", str(readme)], capsys)
    text = readme.read_text()
    assert code == 0 and "stale table" not in text and text.endswith("after\n")
    assert "| clip | clean top-1 | `fgsm` |" in text and "| clip.avi | " in text
    assert "--frames 8 --size 32" in text and "8 frames" in text
