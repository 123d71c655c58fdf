"""UCF101/HMDB51/list-file indexing: split membership, labels, file-format quirks, malformed lines."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from videoabnn.data import HMDB51, UCF101, ListFileDataset, SplitFileError

GROUP = re.compile(r"_g(\d\d)_c\d\d\.avi$")


@pytest.mark.parametrize("split", [1, 2, 3])
def test_ucf101_split_membership_by_group(synthetic_ucf_root, split):
    train = UCF101(synthetic_ucf_root, split=split, train=True)
    test = UCF101(synthetic_ucf_root, split=split, train=False)
    test_groups = set(range(7 * (split - 1) + 1, 7 * split + 1))
    groups_train = {int(GROUP.search(p.name)[1]) for p, _ in train.videos}
    groups_test = {int(GROUP.search(p.name)[1]) for p, _ in test.videos}
    assert groups_test == test_groups
    assert groups_train == set(range(1, 26)) - test_groups
    assert len(train) == 4 * 18 and len(test) == 4 * 7


def test_ucf101_labels_follow_classind_zero_based(synthetic_ucf_root):
    ds = UCF101(synthetic_ucf_root, split=1, train=True)
    assert ds.classes == ["MoveRight", "MoveLeft", "MoveUp", "MoveDown"] and ds.num_classes == 4
    for path, label in ds.videos:
        assert ds.classes[label] == path.parent.name
    first_line = (synthetic_ucf_root / "ucfTrainTestlist" / "trainlist01.txt").read_text().split("\n")[0]
    assert first_line.endswith(" 1") and ds.videos[0][1] == 0  # 1-based in the file, 0-based here
    assert ds[0]["label"] == ds.videos[0][1]


def test_ucf101_handstand_quirk_and_crlf(quirk_ucf_root):
    for split in (1, 2, 3):
        train = UCF101(quirk_ucf_root, split=split, train=True, frames=4)
        test = UCF101(quirk_ucf_root, split=split, train=False, frames=4)
        assert train.classes == ["ApplyEyeMakeup", "HandstandPushups"]
        assert all("\r" not in str(p) for p, _ in train.videos + test.videos)
        quirky = [(p, y) for p, y in train.videos + test.videos if "HandStand" in p.name]
        assert len(quirky) == 4 and all(y == 1 for _, y in quirky)  # labelled by folder, not file name
        assert len(test) == 2 and len(train) == 6


def _copy_lists(root: Path, dst: Path) -> Path:
    shutil.copytree(root / "ucfTrainTestlist", dst / "ucfTrainTestlist")
    (dst / "UCF-101").symlink_to(root / "UCF-101")
    return dst / "ucfTrainTestlist"


@pytest.mark.parametrize(
    ("file", "line", "match"),
    [
        ("trainlist01.txt", "ApplyEyeMakeup/v_x.avi", "expected '<Class>/<file>.avi <label>'"),
        ("trainlist01.txt", "ApplyEyeMakeup/v_x.avi one", "expected a 1-based class index"),
        ("trainlist01.txt", "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 2", "disagrees with folder"),
        ("trainlist01.txt", "Nope/v_Nope_g08_c01.avi 1", "not inside a class folder"),
        ("testlist01.txt", "a b c", "expected '<Class>/<file>.avi'"),
        ("classInd.txt", "3", "expected '<index> <ClassName>'"),
    ],
)
def test_ucf101_malformed_line_reports_file_and_line(quirk_ucf_root, tmp_path, file, line, match):
    lists = _copy_lists(quirk_ucf_root, tmp_path)
    text = (lists / file).read_text()
    (lists / file).write_text(text + line + "\n")
    number = len(text.splitlines()) + 1
    with pytest.raises(SplitFileError, match=match) as err:
        UCF101(tmp_path, split=1, train=file != "testlist01.txt")
    assert f"{lists / file}:{number}:" in str(err.value)


def test_ucf101_missing_folder_and_bad_split(tmp_path, synthetic_ucf_root):
    with pytest.raises(FileNotFoundError, match="UCF-101"):
        UCF101(tmp_path)
    with pytest.raises(ValueError, match="split must be 1, 2 or 3"):
        UCF101(synthetic_ucf_root, split=4)


@pytest.mark.parametrize("split", [1, 2, 3])
def test_hmdb51_split_membership_by_tag(synthetic_hmdb_root, split):
    lists = synthetic_hmdb_root / "testTrainMulti_7030_splits"
    tags = {}
    for f in lists.glob(f"*_test_split{split}.txt"):
        for line in f.read_text().splitlines():
            clip, tag = line.split()
            tags[clip] = int(tag)
    train = HMDB51(synthetic_hmdb_root, split=split, train=True)
    test = HMDB51(synthetic_hmdb_root, split=split, train=False)
    assert {p.name for p, _ in train.videos} == {c for c, t in tags.items() if t == 1}
    assert {p.name for p, _ in test.videos} == {c for c, t in tags.items() if t == 2}
    assert any(t == 0 for t in tags.values())  # unused clips exist and are in neither
    assert train.classes == sorted(train.classes) == ["move_down", "move_left", "move_right", "move_up"]
    assert all(train.classes[y] == p.parent.name for p, y in train.videos + test.videos)


def test_hmdb51_splits_differ(synthetic_hmdb_root):
    tests = [{p.name for p, _ in HMDB51(synthetic_hmdb_root, split=s, train=False).videos} for s in (1, 2, 3)]
    assert tests[0] != tests[1] != tests[2]


def test_hmdb51_malformed_tag(synthetic_hmdb_root, tmp_path):
    shutil.copytree(synthetic_hmdb_root / "testTrainMulti_7030_splits", tmp_path / "testTrainMulti_7030_splits")
    (tmp_path / "hmdb51_org").symlink_to(synthetic_hmdb_root / "hmdb51_org")
    f = tmp_path / "testTrainMulti_7030_splits" / "move_up_test_split2.txt"
    n = len(f.read_text().splitlines())
    f.write_text(f.read_text() + "clip.avi 3\r\n")
    with pytest.raises(SplitFileError, match=rf"move_up_test_split2.txt:{n + 1}: tag must be 0 .* got 3"):
        HMDB51(tmp_path, split=2)
    HMDB51(tmp_path, split=1)  # other splits are unaffected


def test_list_file_dataset(synthetic_ucf_root, tmp_path):
    videos = sorted((synthetic_ucf_root / "UCF-101").rglob("*_g0[1-3]_c01.avi"))
    names = sorted({p.parent.name for p in videos})
    lines = [f"{p.relative_to(synthetic_ucf_root)} {names.index(p.parent.name)}" for p in videos]
    (tmp_path / "train.txt").write_text("\r\n".join(lines) + "\r\n\r\n")
    ds = ListFileDataset(synthetic_ucf_root, tmp_path / "train.txt", train=True, classes=names, frames=4)
    assert ds.classes == names and len(ds) == len(videos)
    assert [y for _, y in ds.videos] == [names.index(p.parent.name) for p in videos]
    ds_default = ListFileDataset(synthetic_ucf_root, tmp_path / "train.txt", num_classes=6)
    assert ds_default.classes == ["0", "1", "2", "3", "4", "5"]
    (tmp_path / "bad.txt").write_text(lines[0] + "\n" + "only_a_path.avi\n")
    with pytest.raises(SplitFileError, match=r"bad.txt:2: expected 'relative/path label'"):
        ListFileDataset(synthetic_ucf_root, tmp_path / "bad.txt")
