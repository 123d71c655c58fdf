"""The frame index: exact random access (seek to a checked keyframe, positions checked on every frame),
exact length at open, invalidation, untrusted index files, fallbacks, decord's end, repeated decode errors."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from videoabnn.data import FrameCountError, VideoDecodeError, decord_available, encode_video, open_video
from videoabnn.data import decode as decode_module
from videoabnn.data import index as index_module
from videoabnn.data.index import (
    build_index,
    forget_indexes,
    get_index,
    index_path,
    load_index,
    mark_unseekable,
    resolve_index_dir,
)

from .conftest import REAL_VIDEOS, moving_frames, real_video_files
from .test_data_decode_exact import frame_digest, sampler_patterns, sequential_decode

BACKENDS = ["pyav"] + (["decord"] if decord_available() else [])
REAL = real_video_files()
needs_real = pytest.mark.skipif(not REAL, reason=f"the shared real clips are absent ({REAL_VIDEOS})")
FIXTURES = ["ucf_xvid_bframes.avi", "hmdb_divx_bframes.avi", "h264_bframes.mp4", "h264_vfr.mp4", "header_overstates.avi"]


def smooth_frames(frames: int, width: int, height: int) -> np.ndarray:
    """Slowly drifting gradients: the MPEG-4 encoder puts no keyframe after the first (a UCF101-like file)."""
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([np.stack([(x * 3 + 2 * k) % 256, (y * 2 + k) % 256, (x + y + 3 * k) % 256], -1)
                     for k in range(frames)]).astype(np.uint8)


@pytest.fixture(scope="module")
def long_videos(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("index_long")
    return {
        "h264_long.mp4": encode_video(folder / "h264_long.mp4", moving_frames(240, 96, 64), codec="libx264",
                                      fourcc=None, max_b_frames=3, gop_size=48),
        "xvid_one_keyframe.avi": encode_video(folder / "xvid_one_keyframe.avi", smooth_frames(120, 96, 64),
                                              max_b_frames=2, gop_size=300, bit_rate=400_000),
    }


def positions(n: int, frames: int = 16, stride: int = 2) -> list[np.ndarray]:
    span = (frames - 1) * stride + 1
    starts = [0, max(0, (n - span) // 2), max(0, n - span)]
    return [np.arange(s, min(n, s + span), stride) for s in starts]


def check_indexed(path, backend: str, index_dir) -> None:
    """With an index: exact length at open, and every frame asked for (clips at the start, middle and end
    with a fresh reader each, then every sampler pattern on one reader) equals the sequential decode."""
    truth = sequential_decode(path)
    for idx in positions(len(truth)):
        with open_video(path, backend, index_dir=index_dir) as reader:
            assert len(reader) == len(truth)
            got = reader.get_frames(idx)
            bad = [int(i) for i, a in zip(idx, got) if frame_digest(a) != truth[i]]
            assert not bad, f"{path.name} ({backend}): wrong frames {bad[:8]} for {idx.tolist()}"
    with open_video(path, backend, index_dir=index_dir) as reader:
        assert reader.index is not None and reader.index.frames == len(truth)
        for idx in sampler_patterns(len(truth)) + positions(len(truth))[::-1]:
            got = reader.get_frames(idx)
            bad = [int(i) for i, a in zip(idx, got) if frame_digest(a) != truth[i]]
            assert not bad, f"{path.name} ({backend}): wrong frames {bad[:8]} for {idx.tolist()}"
        with pytest.raises(FrameCountError, match=f"{len(truth)} decodable frames"):
            reader.get_frames([len(truth)])


@needs_real
@pytest.mark.parametrize("name", [p.name for p in REAL])
def test_real_files_with_an_index_decode_exactly(name, tmp_path):
    check_indexed(REAL_VIDEOS / name, "pyav", tmp_path)


@pytest.mark.parametrize("name", FIXTURES)
def test_dataset_like_fixtures_with_an_index_decode_exactly(dataset_like_videos, name, tmp_path):
    check_indexed(dataset_like_videos[name], "pyav", tmp_path)


@pytest.mark.parametrize("name", ["h264_long.mp4", "xvid_one_keyframe.avi"])
def test_long_files_with_an_index_decode_exactly(long_videos, name, tmp_path):
    for backend in BACKENDS:
        check_indexed(long_videos[name], backend, tmp_path)


def counting_checked_decodes(monkeypatch) -> list:
    """Frames the indexed path gets from the decoder, one list entry per frame (skipped frames never come)."""
    seen: list[int] = []
    original = decode_module.verified_frames

    def counting(*args, **kwargs):
        for display, frame in original(*args, **kwargs):
            seen.append(display)
            yield display, frame

    monkeypatch.setattr(decode_module, "verified_frames", counting)
    return seen


@pytest.mark.parametrize("name", ["h264_long.mp4", "xvid_one_keyframe.avi"])
def test_a_clip_at_the_end_decodes_far_fewer_frames_than_the_file(long_videos, name, tmp_path, monkeypatch):
    path = long_videos[name]
    truth = sequential_decode(path)
    n = len(truth)
    get_index(path, tmp_path)  # built first: the build decodes the whole file, by design
    seen = counting_checked_decodes(monkeypatch)
    end = positions(n)[-1]
    with open_video(path, "pyav", index_dir=tmp_path) as reader:
        got = reader.get_frames(end)
    assert [frame_digest(a) for a in got] == [truth[i] for i in end]
    index = load_index(path, tmp_path)
    if name == "h264_long.mp4":  # keyframes every 48 frames: the clip starts after the last one at or before it
        assert index.seekable and seen[0] == index.keyframe_for(end[0]).display
        assert len(seen) < n / 4, f"{len(seen)} frames decoded for a clip at the end of {n}"
    else:  # one keyframe: decoded from the first packet, non-reference frames before the clip skipped (checked)
        assert not index.seekable and index.skip_from_start and index.reason == "no keyframe after the first"
        assert len(seen) < 0.6 * n, f"{len(seen)} frames decoded for a clip at the end of {n}"
    with open_video(path, "pyav", index_dir=None) as plain:  # without an index: every frame up to the clip
        calls = []
        original = plain._decode

        def counted():
            for frame in original():
                calls.append(1)
                yield frame

        plain._decode = counted
        assert [frame_digest(a) for a in plain.get_frames(end)] == [truth[i] for i in end]
        assert len(calls) == end[-1] + 1


@needs_real
@pytest.mark.parametrize("backend", BACKENDS)
def test_length_is_exact_at_open_with_an_index_and_no_backend_returns_a_456th_frame(backend, tmp_path, monkeypatch):
    path = REAL_VIDEOS / "opencv-box.mp4"
    with open_video(path, backend, index_dir=tmp_path) as reader:
        assert len(reader) == 455 and reader.header_frames == 456
        with pytest.raises(FrameCountError, match="455 decodable frames \\(its header announces 456\\)"):
            reader.get_frames([455])
        assert reader.get_frames([454]).shape[0] == 1
    monkeypatch.setattr(decode_module, "_KNOWN_COUNTS", {})  # a process that never decoded this file
    with open_video(path, backend, index_dir=None) as reader:  # no index: the end is found by decoding
        with pytest.raises(FrameCountError, match="455 decodable frames"):
            reader.get_frames([452, 453, 454, 455])
        assert len(reader) == 455
    monkeypatch.setattr(decode_module, "_KNOWN_COUNTS", {})
    with open_video(path, backend, index_dir=None) as reader:
        assert len(reader.read_all()) == 455


def test_index_is_rebuilt_when_the_file_changes(tmp_path):
    video = encode_video(tmp_path / "v.mp4", moving_frames(40, 64, 48), codec="libx264", fourcc=None,
                         max_b_frames=2, gop_size=10)
    index_dir = tmp_path / "index"
    with open_video(video, "pyav", index_dir=index_dir) as reader:
        assert len(reader) == 40 and reader.seekable
    stored = index_path(video, index_dir)
    assert json.loads(stored.read_text())["frames"] == 40
    encode_video(video, moving_frames(30, 64, 48, seed=1), codec="libx264", fourcc=None, max_b_frames=2,
                 gop_size=10)  # same path, new content, size and mtime
    assert load_index(video, index_dir) is None  # stale: not trusted
    with open_video(video, "pyav", index_dir=index_dir) as reader:
        assert len(reader) == 30
        assert [frame_digest(a) for a in reader.get_frames(range(30))] == list(sequential_decode(video))
    assert json.loads(stored.read_text())["frames"] == 30
    stat = video.stat()  # same bytes, another mtime: rebuilt as well
    os.utime(video, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    assert load_index(video, index_dir) is None
    assert get_index(video, index_dir).mtime_ns == video.stat().st_mtime_ns


@pytest.mark.parametrize("damage", ["garbage", "truncated", "foreign", "wrong_count", "wrong_keyframe", "version"])
def test_a_corrupt_or_foreign_index_is_ignored_and_rebuilt(dataset_like_videos, tmp_path, damage):
    video = dataset_like_videos["h264_bframes.mp4"]
    other = dataset_like_videos["h264_vfr.mp4"]
    good = build_index(video).to_json()
    stored = index_path(video, tmp_path)
    stored.parent.mkdir(parents=True)
    data = dict(good)
    if damage == "garbage":
        stored.write_bytes(b"\x00\xffnot json")
    elif damage == "truncated":
        stored.write_text(json.dumps(good)[: 200])
    else:
        if damage == "foreign":
            data = build_index(other).to_json()
        elif damage == "wrong_count":
            data["frames"] = good["frames"] + 1
        elif damage == "wrong_keyframe":
            data["keyframes"] = [[k[0] + 1, *k[1:]] for k in good["keyframes"]]
        else:
            data["version"] = 999
        stored.write_text(json.dumps(data))
    assert load_index(video, tmp_path) is None
    forget_indexes()
    truth = sequential_decode(video)
    with open_video(video, "pyav", index_dir=tmp_path) as reader:
        assert len(reader) == len(truth) and reader.seekable
        idx = np.arange(len(truth))[::-3]
        assert [frame_digest(a) for a in reader.get_frames(idx)] == [truth[i] for i in idx]
    assert json.loads(stored.read_text()) == good  # rebuilt in place


def test_a_file_marked_unseekable_decodes_from_the_first_packet(dataset_like_videos, tmp_path, monkeypatch):
    video = dataset_like_videos["h264_bframes.mp4"]
    truth = sequential_decode(video)
    index = get_index(video, tmp_path)
    assert index.seekable
    mark_unseekable(index, "marked by the test", tmp_path)
    forget_indexes()
    stored = load_index(video, tmp_path)
    assert not stored.seekable and not stored.skip_from_start and stored.reason == "marked by the test"

    def no_checked_decode(*args, **kwargs):
        raise AssertionError("the index path was taken for a file marked unseekable")

    monkeypatch.setattr(decode_module, "verified_frames", no_checked_decode)
    with open_video(video, "pyav", index_dir=tmp_path) as reader:
        assert len(reader) == len(truth) and not reader.seekable  # the length still comes from the index
        for idx in sampler_patterns(len(truth)):
            assert [frame_digest(a) for a in reader.get_frames(idx)] == [truth[i] for i in idx]


def test_a_seek_that_does_not_land_where_the_index_says_falls_back_and_is_recorded(dataset_like_videos, tmp_path,
                                                                                  monkeypatch):
    video = dataset_like_videos["ucf_xvid_bframes.avi"]
    truth = sequential_decode(video)
    assert get_index(video, tmp_path).seekable
    original = index_module.verified_frames

    def off_by_one(container, stream, display_of, frames, start, *args, **kwargs):
        # an index whose display indices are one off: the first frame after the seek must not pass
        return original(container, stream, lambda pts: None if display_of(pts) is None else display_of(pts) + 1,
                        frames, start, *args, **kwargs)

    monkeypatch.setattr(decode_module, "verified_frames", off_by_one)
    idx = np.arange(40, 50)
    with open_video(video, "pyav", index_dir=tmp_path) as reader:
        assert [frame_digest(a) for a in reader.get_frames(idx)] == [truth[i] for i in idx]
        assert not reader.seekable
    forget_indexes()
    assert not load_index(video, tmp_path).seekable  # recorded: later readers decode from the first packet


def test_files_that_cannot_seek_say_why(dataset_like_videos, long_videos):
    truncated = build_index(dataset_like_videos["header_overstates.avi"])  # no AVI index left: seeks land at 0
    assert truncated.frames == 17 and not truncated.seekable and "none of 4 keyframes" in truncated.reason
    one = build_index(long_videos["xvid_one_keyframe.avi"])
    assert not one.seekable and one.reason == "no keyframe after the first"
    vfr = build_index(dataset_like_videos["h264_vfr.mp4"])  # one keyframe no seek lands on, the others kept
    assert vfr.seekable and "1 of 4 keyframes not used" in vfr.reason


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("index", ["none", "index"])
def test_a_decode_error_is_reported_again_on_later_requests(dataset_like_videos, tmp_path, backend, index):
    video = dataset_like_videos["h264_bframes.mp4"]
    truth = sequential_decode(video)
    with open_video(video, backend, index_dir=None if index == "none" else tmp_path) as reader:
        def failing(original=reader._decode):
            for k, frame in enumerate(original()):
                if k == 30:
                    raise VideoDecodeError(reader.path, "simulated corruption at frame 30")
                yield frame

        reader._decode = failing
        reader._checked = lambda: False  # the sequential path, the one that can fail here
        with pytest.raises(VideoDecodeError, match="simulated corruption at frame 30"):
            reader.get_frames([35])
        for request in ([36], [30, 31], [59]):
            with pytest.raises(VideoDecodeError, match="simulated corruption at frame 30") as err:
                reader.get_frames(request)
            assert not isinstance(err.value, FrameCountError)
        with pytest.raises(VideoDecodeError, match="simulated corruption at frame 30"):
            reader.read_all()
        assert [frame_digest(a) for a in reader.get_frames([0, 29])] == [truth[0], truth[29]]  # before it: fine
        assert len(reader) == len(truth)


def test_without_an_index_the_reader_decodes_from_the_first_packet(dataset_like_videos, tmp_path, monkeypatch):
    video = dataset_like_videos["h264_bframes.mp4"]
    truth = sequential_decode(video)
    monkeypatch.setattr(decode_module, "verified_frames", lambda *a, **k: pytest.fail("index path without an index"))
    with open_video(video, "pyav", index_dir=None) as reader:
        assert reader.index is None and not reader.seekable
        for idx in sampler_patterns(len(truth)):
            assert [frame_digest(a) for a in reader.get_frames(idx)] == [truth[i] for i in idx]


def test_index_folder_setting(tmp_path, monkeypatch):
    monkeypatch.setenv(index_module.ENV_VAR, str(tmp_path / "env"))
    assert resolve_index_dir("auto") == tmp_path / "env"
    assert resolve_index_dir(tmp_path / "given") == tmp_path / "given"
    assert resolve_index_dir(None) is None and resolve_index_dir("off") is None
    monkeypatch.setenv(index_module.ENV_VAR, "off")
    assert resolve_index_dir("auto") is None
    monkeypatch.delenv(index_module.ENV_VAR)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert resolve_index_dir("auto") is None                       # opt-in: unset means decode as before
    assert resolve_index_dir("cache") == tmp_path / "xdg" / "videoabnn" / "index"
    monkeypatch.setenv(index_module.ENV_VAR, "cache")
    assert resolve_index_dir("auto") == tmp_path / "xdg" / "videoabnn" / "index"
    monkeypatch.setattr(index_module, "_SETTING", None)  # set_index_dir(None): no index for "auto"
    assert resolve_index_dir("auto") is None


def test_datasets_pass_the_index_folder_through(synthetic_ucf_root, tmp_path):
    from videoabnn.data import build_dataset

    cfg = {"name": "synthetic", "root": str(synthetic_ucf_root), "synthetic": {"preset": "quick"},
           "frames": 4, "short_side": 20, "crop": 16, "max_videos": 2, "val_fraction": 0.0,
           "index_dir": str(tmp_path / "idx")}
    ds = build_dataset(cfg, split="test")
    ds[0]
    assert list((tmp_path / "idx").rglob("*.json"))
    off = build_dataset({**cfg, "index_dir": None, "max_videos": 3}, split="test")
    assert off.index_dir is None
    off[len(off) - 1]
    assert len(list((tmp_path / "idx").rglob("*.json"))) == 1  # only the video read with the index


def test_frame_threaded_decoding_with_an_index_built_single_threaded_is_exact(long_videos, tmp_path, monkeypatch):
    path = long_videos["h264_long.mp4"]
    build = get_index(path, tmp_path, threads=1)
    assert build.seekable
    monkeypatch.setattr(decode_module, "_DECODER_THREADS", 2)
    check_indexed(path, "pyav", tmp_path)
