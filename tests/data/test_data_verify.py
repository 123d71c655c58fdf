"""datasets/verify.py logic: missing, unreadable and extra videos against the split files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from videoabnn.cli.verify import main
from videoabnn.data.verify import format_report, verify_root

from .conftest import REAL_VIDEOS, real_video_files


def test_verify_clean_roots(synthetic_ucf_root, synthetic_hmdb_root):
    ucf = verify_root("ucf101", synthetic_ucf_root, probe=False)
    assert ucf["ok"] and ucf["listed"] == ucf["on_disk"] == 100 and ucf["classes"] == 4
    assert ucf["splits"][1] == {"train": 72, "test": 28, "groups_in_both": []}
    hmdb = verify_root("hmdb51", synthetic_hmdb_root, probe=False)
    assert hmdb["ok"] and hmdb["splits"][2]["unused"] == 4
    assert "OK" in format_report(hmdb)


def test_verify_finds_missing_unreadable_and_extra(synthetic_ucf_root, tmp_path):
    root = tmp_path / "ucf"
    shutil.copytree(synthetic_ucf_root, root)
    videos = root / "UCF-101" / "MoveUp"
    (videos / "v_MoveUp_g03_c01.avi").unlink()
    (videos / "v_MoveUp_g04_c01.avi").write_bytes(b"not a video at all" * 10)
    shutil.copy(videos / "v_MoveUp_g05_c01.avi", videos / "v_MoveUp_g26_c01.avi")
    report = verify_root("ucf101", root, probe=True, backend="pyav", workers=2)
    assert not report["ok"]
    assert report["missing"] == [("MoveUp/v_MoveUp_g03_c01.avi", "file not found")]
    assert [rel for rel, _ in report["unreadable"]] == ["MoveUp/v_MoveUp_g04_c01.avi"]
    assert report["extra"] == ["MoveUp/v_MoveUp_g26_c01.avi"]
    text = format_report(report)
    assert "missing: 1" in text and "unreadable: 1" in text and "PROBLEMS FOUND" in text


def test_verify_takes_the_splits_present_and_refuses_a_missing_one(synthetic_ucf_root, tmp_path):
    root = tmp_path / "ucf"
    shutil.copytree(synthetic_ucf_root, root)
    for split in (2, 3):
        (root / "ucfTrainTestlist" / f"trainlist0{split}.txt").unlink()
    report = verify_root("ucf101", root, probe=False)
    assert list(report["splits"]) == [1] and report["ok"]
    with pytest.raises(FileNotFoundError, match=r"split 2: its list files are not in .* \(found splits: 1\)"):
        verify_root("ucf101", root, probe=False, splits=[2])
    assert main(["ucf101", str(root), "--split", "1", "--no-probe", "--threads", "1"]) == 0
    assert main(["ucf101", str(root), "--split", "3", "--no-probe"]) == 2


def real_clip_tree(tmp_path: Path) -> Path:
    """A UCF101-layout tree holding the shared real clips under their own names."""
    videos = tmp_path / "real" / "UCF-101" / "RealClips"
    videos.mkdir(parents=True)
    for clip in real_video_files():
        shutil.copy(clip, videos / clip.name)
    lists = tmp_path / "real" / "ucfTrainTestlist"
    lists.mkdir()
    names = sorted(p.name for p in videos.iterdir())
    (lists / "classInd.txt").write_text("1 RealClips\n")
    (lists / "trainlist01.txt").write_text("".join(f"RealClips/{n} 1\n" for n in names[1:]))
    (lists / "testlist01.txt").write_text(f"RealClips/{names[0]}\n")
    return tmp_path / "real"


@pytest.mark.skipif(not real_video_files(), reason=f"the shared real clips are absent ({REAL_VIDEOS})")
@pytest.mark.parametrize("full", [False, True])
def test_verify_names_the_real_file_whose_header_overstates(tmp_path, capsys, full):
    root = real_clip_tree(tmp_path)
    report = verify_root("ucf101", root, backend="pyav", workers=2, full=full)
    assert report["ok"] and not report["unreadable"]
    assert report["frame_count_mismatch"] == [("RealClips/opencv-box.mp4", "header announces 456 frames, 455 decodable")]
    assert main(["ucf101", str(root), "--threads", "2"] + (["--full"] if full else [])) == 0
    out = capsys.readouterr().out
    assert "RealClips/opencv-box.mp4: header announces 456 frames, 455 decodable" in out and "OK" in out


def test_verify_reports_a_file_cut_short_in_both_modes(tmp_path, synthetic_ucf_root):
    root = tmp_path / "ucf"
    shutil.copytree(synthetic_ucf_root, root)
    video = root / "UCF-101" / "MoveUp" / "v_MoveUp_g04_c01.avi"
    data = bytearray(video.read_bytes())
    video.write_bytes(bytes(data[: len(data) // 2]))  # cut short: fewer frames than announced
    quick = verify_root("ucf101", root, backend="pyav", splits=[1])
    full = verify_root("ucf101", root, backend="pyav", splits=[1], full=True)
    for report in (quick, full):
        assert report["frame_count_mismatch"] == [("MoveUp/v_MoveUp_g04_c01.avi", "header announces 12 frames, "
                                                                                 "3 decodable")]
