"""Decoding: both backends, same frames, random access, and clear errors for bad files."""

from __future__ import annotations

import numpy as np
import pytest

from videoabnn.data import FrameCountError, VideoDecodeError, decord_available, open_video

needs_decord = pytest.mark.skipif(not decord_available(), reason="decord is not installed on this platform")


def _first_video(root):
    return sorted((root / "UCF-101").rglob("*.avi"))[0]


@needs_decord
def test_decord_and_pyav_return_identical_frames(synthetic_ucf_root):
    # Exact equality: both backends run the same FFmpeg MPEG-4 decoder and convert yuv420p->rgb24
    # with the same swscale path, so the synthetic Xvid-style files decode bit-identically.
    for path in sorted((synthetic_ucf_root / "UCF-101").rglob("*_g0[12]_c01.avi")):
        with open_video(path, "decord") as a, open_video(path, "pyav") as b:
            assert len(a) == len(b) == 12
            assert a.fps == pytest.approx(b.fps) == 25
            idx = [11, 0, 5, 5, 3]
            fa, fb = a.get_frames(idx), b.get_frames(idx)
            assert fa.dtype == np.uint8 and fa.shape == (5, 40, 40, 3)
            np.testing.assert_array_equal(fa, fb)
            np.testing.assert_array_equal(a.read_all(), b.read_all())


@pytest.mark.parametrize("backend", ["pyav", "auto"])
def test_random_access_matches_sequential_decode(synthetic_ucf_root, backend):
    path = _first_video(synthetic_ucf_root)
    with open_video(path, backend) as reader:
        every = reader.read_all()
        for idx in ([7], [11, 2], [0, 0, 9], list(range(12))[::-1]):
            np.testing.assert_array_equal(reader.get_frames(idx), every[idx])
        assert not np.array_equal(every[0], every[-1])  # frames differ: indexing is really tested


@pytest.mark.parametrize("backend", ["pyav", "auto"])
def test_out_of_range_index_names_file(synthetic_ucf_root, backend):
    path = _first_video(synthetic_ucf_root)
    with open_video(path, backend) as reader, pytest.raises(VideoDecodeError, match="out of range") as err:
        reader.get_frames([12])
    assert str(path) in str(err.value)


@pytest.mark.parametrize("backend", ["pyav", "auto"])
def test_missing_and_empty_files(tmp_path, backend):
    with pytest.raises(VideoDecodeError, match="file not found") as err:
        open_video(tmp_path / "nope.avi", backend)
    assert "nope.avi" in str(err.value)
    (tmp_path / "empty.avi").write_bytes(b"")
    with pytest.raises(VideoDecodeError, match="empty") as err:
        open_video(tmp_path / "empty.avi", backend)
    assert err.value.path == tmp_path / "empty.avi"


@pytest.mark.parametrize("backend", ["pyav", "auto"])
def test_garbage_file_names_file_and_cause(tmp_path, backend):
    bad = tmp_path / "garbage.avi"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(VideoDecodeError) as err:
        with open_video(bad, backend) as reader:
            reader.read_all()
    assert str(bad) in str(err.value) and err.value.cause


@pytest.mark.parametrize("backend", ["pyav", "auto"])
def test_truncated_file_reports_its_decodable_frames(tmp_path, make_video, backend):
    path = make_video(tmp_path / "full.avi", frames=40, width=64, height=48)
    data = path.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    with open_video(cut, backend) as reader:
        assert reader.header_frames == 40 and 0 < len(reader) < 40  # what is present, not what is announced
        n = reader.count_frames()
        assert len(reader) == n and reader.get_frames([0, n - 1]).shape[0] == 2
        with pytest.raises(FrameCountError, match=f"{n} decodable frames") as err:
            reader.get_frames([39])
    assert "cut.avi" in str(err.value) and err.value.available == n


def test_unknown_backend():
    with pytest.raises(ValueError, match="unknown video backend 'ffmpeg'"):
        open_video("x.avi", "ffmpeg")


def test_auto_is_the_exact_pyav_reader(tmp_path, make_video):
    path = make_video(tmp_path / "w48.avi", frames=6, width=48, height=32)
    with open_video(path, "auto") as auto, open_video(path, "pyav") as ref:
        assert type(auto) is type(ref)
        np.testing.assert_array_equal(auto.get_frames([1, 4]), ref.get_frames([1, 4]))


@needs_decord
def test_decord_failure_names_the_file(tmp_path, make_video):
    # decord 0.6 cannot copy frames 48 pixels wide (row padding): an error naming the file, never wrong frames
    path = make_video(tmp_path / "w48.avi", frames=6, width=48, height=32)
    try:
        with open_video(path, "decord") as reader:
            frames = reader.get_frames([1, 4])
    except VideoDecodeError as err:
        assert "w48.avi" in str(err)
    else:
        with open_video(path, "pyav") as ref:
            np.testing.assert_array_equal(frames, ref.get_frames([1, 4]))
