"""datasets/verify.py logic: missing, unreadable and extra videos against the split files."""

from __future__ import annotations

import shutil

from videoabnn.data.verify import format_report, verify_root


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
