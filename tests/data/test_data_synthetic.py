"""Synthetic action videos: layout, determinism, idempotence, and that only motion tells the class."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from videoabnn.data import MOTIONS, generate_synthetic, open_video, render_video

SMALL = {"preset": "quick", "num_classes": 2, "groups": 4, "clips_per_group": 1, "frames": 6, "width": 32,
         "height": 24}
REPO = Path(__file__).resolve().parents[2]


def _decoded(root: Path) -> dict[str, np.ndarray]:
    return {str(p.relative_to(root)): open_video(p, "pyav").read_all() for p in sorted(root.rglob("*.avi"))}


def test_same_seed_same_videos_other_seed_differs(tmp_path):
    a = generate_synthetic(tmp_path / "a", seed=5, **SMALL)
    generate_synthetic(tmp_path / "b", seed=5, workers=2, **SMALL)  # parallel rendering: same files
    generate_synthetic(tmp_path / "c", seed=6, **SMALL)
    assert a["generated"] and a["videos"] == 8 and a["classes"] == ["MoveRight", "MoveLeft"]
    da, db, dc = _decoded(tmp_path / "a"), _decoded(tmp_path / "b"), _decoded(tmp_path / "c")
    assert list(da) == list(db) == list(dc) and len(da) == 8
    assert all(np.array_equal(da[k], db[k]) for k in da)
    assert not any(np.array_equal(da[k], dc[k]) for k in da)
    assert next(iter(da.values())).shape == (6, 24, 32, 3)


def test_idempotent_and_parameter_change_is_an_error(tmp_path):
    first = generate_synthetic(tmp_path, **SMALL)
    video = next(tmp_path.rglob("*.avi"))
    stamp = video.stat().st_mtime_ns
    again = generate_synthetic(tmp_path, **SMALL)
    assert not again["generated"] and video.stat().st_mtime_ns == stamp
    assert again["splits"] == first["splits"] and 1 in again["splits"]   # same keys (ints) as when generated
    with pytest.raises(FileExistsError, match="frames"):
        generate_synthetic(tmp_path, **{**SMALL, "frames": 7})
    redone = generate_synthetic(tmp_path, overwrite=True, **{**SMALL, "frames": 7})
    assert redone["generated"] and len(open_video(video, "pyav")) == 7


def test_layout_files(synthetic_ucf_root, synthetic_hmdb_root):
    lists = synthetic_ucf_root / "ucfTrainTestlist"
    assert sorted(p.name for p in lists.iterdir()) == ["classInd.txt"] + [
        f"{k}list0{s}.txt" for k in ("test", "train") for s in (1, 2, 3)]
    assert (synthetic_ucf_root / "UCF-101" / "MoveUp" / "v_MoveUp_g25_c01.avi").is_file()
    assert len(list((synthetic_hmdb_root / "testTrainMulti_7030_splits").iterdir())) == 4 * 3
    assert len(list((synthetic_hmdb_root / "hmdb51_org" / "move_up").glob("*.avi"))) == 25


def test_variants_have_distinct_motions(tmp_path):
    study = {m.ucf_name for m in MOTIONS["study"]}
    pretrain = {m.ucf_name for m in MOTIONS["pretrain"]}
    assert not study & pretrain and len(study) >= 10 and len(pretrain) >= 10
    s = generate_synthetic(tmp_path, variant="pretrain", layout="hmdb51", **SMALL)
    assert s["classes"] == ["move_up_right", "move_up_left"]


def _block_features(frame: np.ndarray, block: int = 8) -> np.ndarray:
    h, w, c = frame.shape
    return frame.reshape(h // block, block, w // block, block, c).mean(axis=(1, 3)).ravel()


def _motion_features(video: np.ndarray) -> np.ndarray:
    """Mean displacement between consecutive frames, by circular cross-correlation of the foreground."""
    gray = video.astype(np.float64).mean(axis=3)
    fg = np.abs(gray - np.median(gray, axis=0))
    shifts = []
    for a, b in zip(fg[:-1], fg[1:]):
        corr = np.fft.ifft2(np.conj(np.fft.fft2(a)) * np.fft.fft2(b)).real
        dy, dx = np.unravel_index(np.argmax(corr), corr.shape)
        h, w = corr.shape
        shifts.append(((dx + w // 2) % w - w // 2, (dy + h // 2) % h - h // 2))
    return np.mean(shifts, axis=0)


def _nearest_centroid_loo(features: np.ndarray, labels: np.ndarray) -> float:
    """Leave-one-out accuracy of a nearest-class-mean classifier."""
    correct = 0
    for i in range(len(labels)):
        keep = np.arange(len(labels)) != i
        means = np.stack([features[keep & (labels == k)].mean(axis=0) for k in np.unique(labels)])
        correct += int(np.argmin(((means - features[i]) ** 2).sum(axis=1)) == labels[i])
    return correct / len(labels)


def test_single_frame_does_not_tell_the_class_but_motion_does(synthetic_ucf_root):
    # The quick set has 4 translation classes x 25 videos. The same simple classifier is at chance
    # on a frame's appearance (first frames: starting positions do not leak the direction), and
    # near-perfect on the displacement between frames: the class lives in time only.
    paths = sorted((synthetic_ucf_root / "UCF-101").rglob("*.avi"))
    classes = sorted({p.parent.name for p in paths})
    labels = np.array([classes.index(p.parent.name) for p in paths])
    videos = [open_video(p, "pyav").read_all() for p in paths]
    frame_acc = _nearest_centroid_loo(np.stack([_block_features(v[0]) for v in videos]), labels)
    mid_acc = _nearest_centroid_loo(np.stack([_block_features(v[len(v) // 2]) for v in videos]), labels)
    motion_acc = _nearest_centroid_loo(np.stack([_motion_features(v) for v in videos]), labels)
    print(f"nearest-centroid accuracy: first frame {frame_acc:.2f}, middle frame {mid_acc:.2f}, motion {motion_acc:.2f}")
    assert frame_acc < 0.45 and mid_acc < 0.45  # chance is 0.25; 0.45 is ~4.5 standard errors above
    assert motion_acc > 0.9


def test_every_motion_renders_and_changes_over_time():
    for variant, motions in MOTIONS.items():
        for i, motion in enumerate(motions):
            video = render_video(motion, np.random.default_rng([9, i]), 8, 32, 24)
            assert video.shape == (8, 24, 32, 3) and video.dtype == np.uint8, (variant, motion.ucf_name)
            changes = np.abs(np.diff(video.astype(int), axis=0)).sum(axis=(1, 2, 3))
            # every frame differs from the next, except blink, which holds each state 2-3 frames
            assert changes.min() > 0 or (motion.hmdb_name == "blink" and (changes > 0).sum() >= 2), motion.ucf_name


def test_bad_parameters_are_named(tmp_path):
    with pytest.raises(ValueError, match="num_classes must be in 2..12"):
        generate_synthetic(tmp_path, **{**SMALL, "num_classes": 40})
    with pytest.raises(ValueError, match="unknown synthetic variant 'big'"):
        generate_synthetic(tmp_path, variant="big")
    with pytest.raises(ValueError, match="must be even"):
        generate_synthetic(tmp_path, **{**SMALL, "width": 33})


def _load_tool():
    spec = importlib.util.spec_from_file_location("make_synthetic_tool", REPO / "tools" / "make_synthetic.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_make_synthetic_tool_prints_summary(tmp_path, capsys):
    tool = _load_tool()
    argv = ["--root", str(tmp_path), "--variant", "study", "--layout", "ucf101", "--preset", "quick", "--seed", "1",
            "--num-classes", "2", "--groups", "4", "--frames", "4", "--width", "32", "--height", "24"]
    assert tool.main(argv) == 0
    out = capsys.readouterr().out
    assert "2 classes: MoveRight, MoveLeft" in out and "8 videos of 4 frames, 32x24" in out
    assert "split 1: 6 train / 2 test" in out
    assert tool.main(argv) == 0
    assert "already present" in capsys.readouterr().out
