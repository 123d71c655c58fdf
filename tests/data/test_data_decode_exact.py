"""Frame i is the i-th decoded frame: every backend, every sampler pattern, real files and dataset-like fixtures.

The reference is the definition itself: PyAV's ``container.decode(video=0)`` from the first packet,
frames counted in the order they come out.
"""

from __future__ import annotations

import functools
import hashlib
import subprocess
import sys
import textwrap

import av
import numpy as np
import pytest

from videoabnn.data import (
    FrameCountError,
    decord_available,
    open_video,
    random_clip_indices,
    resolve_backend,
    uniform_clip_indices,
)

from .conftest import REAL_VIDEOS, real_video_files

BACKENDS = ["pyav"] + (["decord"] if decord_available() else [])
REAL = real_video_files()
needs_real = pytest.mark.skipif(not REAL, reason=f"the shared real clips are absent ({REAL_VIDEOS})")


@functools.cache
def sequential_decode(path) -> tuple[str, ...]:
    """A digest of every frame in the order the decoder emits it: the ground truth for 'frame i'."""
    with av.open(str(path)) as container:
        return tuple(frame_digest(f.to_ndarray(format="rgb24")) for f in container.decode(video=0))


def frame_digest(frame: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(frame).tobytes()).hexdigest() + str(frame.shape)


def sampler_patterns(n: int) -> list[np.ndarray]:
    """Index sets the samplers produce: training clips at random starts and strides, test clips, first and
    last frames, clips longer than the video (loop / repeat_last), any order; some continue where the
    previous request stopped, others start before it."""
    rng = np.random.default_rng(0)
    out = [np.array([0]), np.array([n - 1]), np.array([0, n - 1]), np.array([n - 2, n - 1])]
    out += [random_clip_indices(n, frames, stride, rng) for frames, stride in ((8, 1), (16, 2), (8, 4))]
    out += [uniform_clip_indices(n, 16, 1, 10, c) for c in (0, 5, 9)]
    out += [random_clip_indices(n, n // 2 + 1, 2, rng, policy) for policy in ("loop", "repeat_last")]
    out.append(rng.permutation(n)[:12])
    return out


def check_exact(path, backend: str) -> None:
    truth = sequential_decode(path)
    with open_video(path, backend) as reader:
        for idx in sampler_patterns(len(truth)):
            got = reader.get_frames(idx)
            bad = [int(i) for i, a in zip(idx, got) if frame_digest(a) != truth[i]]
            assert not bad, f"{path.name} ({backend}): wrong frames at {bad[:8]} for request {idx.tolist()}"
        with pytest.raises(FrameCountError, match=f"{len(truth)} decodable frames"):
            reader.get_frames([len(truth)])
        assert len(reader) == len(truth)


def test_auto_means_the_exact_pyav_reader():
    assert resolve_backend("auto") == "pyav"


@needs_real
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", [p.name for p in REAL])
def test_real_files_decode_exactly(name, backend):
    check_exact(REAL_VIDEOS / name, backend)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["ucf_xvid_bframes.avi", "hmdb_divx_bframes.avi", "h264_bframes.mp4", "h264_vfr.mp4",
                                  "header_overstates.avi"])
def test_dataset_like_fixtures_decode_exactly(dataset_like_videos, name, backend):
    check_exact(dataset_like_videos[name], backend)


def test_fixtures_have_the_properties_that_broke_decoders(dataset_like_videos):
    with av.open(str(dataset_like_videos["ucf_xvid_bframes.avi"])) as c:
        stream = c.streams.video[0]
        assert stream.codec_context.codec_tag == "XVID"
        packets = [p for p in c.demux(stream) if p.size]
        keys = sum(p.is_keyframe for p in packets)
        assert keys >= 4 and [p.pts for p in packets[:6]] != sorted(p.pts for p in packets[:6])  # B-frames reorder
    with av.open(str(dataset_like_videos["h264_vfr.mp4"])) as c:
        pts = [f.pts for f in c.decode(video=0)]
        assert len(set(np.diff(pts))) > 1  # the frame rate really varies
    with av.open(str(dataset_like_videos["header_overstates.avi"])) as c:
        assert c.streams.video[0].frames == 60
        assert sum(1 for _ in c.decode(video=0)) < 60


@needs_real
def test_header_overstating_real_file_is_corrected_by_the_first_decode_that_finds_out():
    path = REAL_VIDEOS / "opencv-box.mp4"
    with open_video(path, "pyav") as reader:
        assert reader.header_frames == 456
        frames = reader.get_frames([454])  # the last frame there is: valid, never raises
        assert frames.shape[0] == 1
        with pytest.raises(FrameCountError, match="455 decodable frames \\(its header announces 456\\)"):
            reader.get_frames([455])
        assert len(reader) == 455
    with open_video(path, "pyav") as again:  # later readers of the same file know it
        assert len(again) == 455


def test_no_reader_hangs_when_opened_and_closed_thousands_of_times(tmp_path):
    # FFmpeg's log messages once went through a Python callback that needs the GIL while frame-threaded
    # decoders closed: the loop below hung within seconds. It must finish well inside the timeout.
    from videoabnn.data import encode_video

    from .conftest import moving_frames

    clip = encode_video(tmp_path / "small.mp4", moving_frames(24, 176, 144), codec="libx264", fourcc=None,
                        max_b_frames=3, gop_size=8)
    files = [clip] + [p for p in REAL if p.suffix == ".mp4"][:2]
    script = textwrap.dedent(f"""
        import sys
        from videoabnn.data import open_video
        from videoabnn.data.decode import set_decoder_threads
        set_decoder_threads(4)
        files = {[str(f) for f in files]!r}
        start, k = time.monotonic(), 0
        while k < 3000 and time.monotonic() - start < 20:
            with open_video(files[k % len(files)] if k % 10 == 0 else files[0], "pyav") as r:
                r.get_frames([0, 1, 2, 5])
            k += 1
        print("opened", k)
    """)
    done = subprocess.run([sys.executable, "-c", "import time\n" + script], capture_output=True, text=True,
                          timeout=90)  # a hang ends here, as a failure, instead of stalling the suite
    assert done.returncode == 0 and "opened" in done.stdout, done.stderr[-2000:]
    assert int(done.stdout.split()[-1]) >= 300
