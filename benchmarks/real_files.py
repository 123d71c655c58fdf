"""The real-file part of ``bench_data.py``: each decoding path on the shared real clips, exact or not, and how fast.

Paths: the project's readers (PyAV and decord, both sequential and exact) and, for comparison, the
two previous paths they replaced: PyAV seeking to a keyframe and numbering frames by timestamp and
average rate, and decord's random access (``get_batch``). Every request is checked against the
sequential decode (frame i = the i-th frame out of the decoder) and timed with the training sampling
(random 16-frame clips, stride 2) and the test sampling (10 uniform clips per video, one decode).
"""

from __future__ import annotations

import hashlib
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

from videoabnn.data import FrameCountError, VideoDecodeError, decord_available, open_video
from videoabnn.data.sampling import random_clip_indices, uniform_clip_indices

FRAMES, STRIDE, TEST_CLIPS = 16, 2, 10


class PreviousPyAV:
    """The PyAV path before exact decoding: seek by timestamp, index = (pts - start) x time base x rate."""

    def __init__(self, path: Path):
        self.container = av.open(str(path))
        self.stream = self.container.streams.video[0]
        self.rate = Fraction(self.stream.average_rate)
        self.tb = Fraction(self.stream.time_base)
        self.start = self.stream.start_time or 0
        self.n = int(self.stream.frames)

    def __len__(self) -> int:
        return self.n

    def get_frames(self, indices) -> np.ndarray:
        wanted = sorted(set(int(i) for i in indices))
        pts = int(self.start + round(Fraction(wanted[0]) / self.rate / self.tb))
        self.container.seek(pts, stream=self.stream, backward=True, any_frame=False)
        got = {}
        for frame in self.container.decode(self.stream):
            index = int(round((frame.pts - self.start) * self.tb * self.rate))
            if index in wanted:
                got[index] = frame.to_ndarray(format="rgb24")
            if index >= wanted[-1]:
                break
        missing = [i for i in wanted if i not in got]
        if missing:
            raise VideoDecodeError(Path(self.container.name), f"frames {missing[:5]} could not be decoded")
        return np.stack([got[int(i)] for i in indices])

    def close(self) -> None:
        self.container.close()


class PreviousDecord:
    """decord's random access, as the previous default used it."""

    def __init__(self, path: Path):
        import decord

        self.vr = decord.VideoReader(str(path), num_threads=1)

    def __len__(self) -> int:
        return len(self.vr)

    def get_frames(self, indices) -> np.ndarray:
        return self.vr.get_batch([int(i) for i in indices]).asnumpy()

    def close(self) -> None:
        self.vr = None


def readers() -> dict:
    """name -> open(path): the exact readers and the previous paths."""
    out = {"pyav (exact, default)": lambda p: open_video(p, "pyav"), "pyav previous (seek + pts)": PreviousPyAV}
    if decord_available():
        out["decord (exact, sequential)"] = lambda p: open_video(p, "decord")
        out["decord previous (get_batch)"] = PreviousDecord
    return out


def truth(path: Path) -> list[bytes]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24").tobytes() for f in c.decode(video=0)]


def requests(n: int, seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(training clips, test clips) as the samplers draw them for a video of ``n`` frames."""
    rng = np.random.default_rng(seed)
    train = [random_clip_indices(n, FRAMES, STRIDE, rng) for _ in range(8)]
    test = [uniform_clip_indices(n, FRAMES, STRIDE, TEST_CLIPS, c) for c in range(TEST_CLIPS)]
    return train, test


def check_file(path: Path, open_reader, ref: list[bytes]) -> dict:
    """Exactness (wrong frames, raised requests) and clips/s of one path on one file."""
    train, test = requests(len(ref))
    wrong = raised = 0
    start = time.perf_counter()
    for idx in train:  # one open per training clip, as a data loader does
        try:
            reader = open_reader(path)
            frames = reader.get_frames(idx)
            wrong += sum(f.tobytes() != ref[i] for i, f in zip(idx, frames))
            reader.close()
        except (VideoDecodeError, FrameCountError, Exception):  # previous paths raise anything
            raised += 1
    train_cps = len(train) / (time.perf_counter() - start)
    start = time.perf_counter()
    try:  # test time: one open and one decode of everything the 10 clips need
        reader = open_reader(path)
        needed = np.unique(np.concatenate(test))
        frames = reader.get_frames(needed)
        wrong += sum(f.tobytes() != ref[i] for i, f in zip(needed, frames))
        reader.close()
    except Exception:
        raised += 1
    test_cps = len(test) / (time.perf_counter() - start)
    return {"wrong": int(wrong), "raised": raised, "requests": len(train) + 1, "train_cps": train_cps,
            "test_cps": test_cps}


def write_ucf_like(folder: Path, count: int = 3, frames: int = 150) -> list[Path]:
    """UCF101-format files: 320x240 Xvid AVIs at 25 fps with B-frames and scene-cut keyframes."""
    from videoabnn.data import encode_video

    rng = np.random.default_rng(0)
    out = []
    for k in range(count):
        base = rng.integers(0, 256, (240, 320, 3)).astype(np.uint8)
        video = np.stack([np.roll(base, 2 * t, axis=1 - k % 2) for t in range(frames)])
        cuts = sorted(int(c) for c in rng.choice(np.arange(5, frames - 5), 3, replace=False))
        out.append(encode_video(folder / f"ucf_like_{k}.avi", video, max_b_frames=2, keyframes=cuts,
                                gop_size=60, bit_rate=1_500_000))
    return out


def run(folder: Path, generated: Path | None = None) -> None:
    """Print the per-file table: verdict and clips/s of every path (real clips, plus UCF101-format files
    written to ``generated`` when given)."""
    files = sorted(p for p in folder.glob("*") if p.suffix in (".mp4", ".avi"))
    if generated is not None:
        files += write_ucf_like(generated)
    if not files:
        print(f"real files: none in {folder} (skipped)")
        return
    paths = readers()
    print(f"real files in {folder}: training = 8 random {FRAMES}-frame clips at stride {STRIDE}, one open each; "
          f"test = {TEST_CLIPS} uniform clips, one decode")
    print(f"{'file':22s} {'path':30s} {'verdict':>22s} {'train c/s':>10s} {'test c/s':>9s}")
    for path in files:
        ref = truth(path)
        base = None
        for name, make in paths.items():
            r = check_file(path, make, ref)
            verdict = ("exact" if not r["wrong"] and not r["raised"] else
                       f"{r['wrong']} wrong, {r['raised']}/{r['requests']} raised")
            base = base or r
            print(f"{path.name:22s} {name:30s} {verdict:>22s} {r['train_cps']:10.1f} {r['test_cps']:9.1f}"
                  + ("" if r is base else f"  ({r['train_cps'] / base['train_cps']:.2f}x / "
                                           f"{r['test_cps'] / base['test_cps']:.2f}x the default)"), flush=True)


# ---- clip cost by position: start, middle, end ---------------------------------------------------


def long_frames(n: int, width: int = 320, height: int = 240, seed: int = 0) -> np.ndarray:
    """A smooth textured scene panning slowly with a moving block: no scene cut, so the encoder puts
    keyframes only where its GOP length says (a UCF101/Kinetics-like file)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (height // 8 + 2, width // 8 + 2, 3)).astype(np.float32)
    base = np.kron(small, np.ones((8, 8, 1), np.float32))
    kernel = np.ones(9, np.float32) / 9
    for axis in (0, 1):
        base = np.apply_along_axis(lambda v: np.convolve(v, kernel, "same"), axis, base)
    base = np.clip(base, 0, 255).astype(np.uint8)
    out = np.empty((n, height, width, 3), np.uint8)
    for t in range(n):
        dx, dy = int(round(20 * np.sin(t / 40))), int(round(10 * np.cos(t / 55)))
        img = np.roll(base, (dy, dx), (0, 1))[:height, :width].copy()
        x = (2 * t) % (width - 40)
        img[height // 2 - 20: height // 2 + 20, x: x + 40] = (5 * t) % 256
        out[t] = img
    return out


LONG_FILES = {  # name: (seconds at 25 fps, encode_video arguments)
    "h264_60s_gop50.mp4": (60, dict(codec="libx264", fourcc=None, max_b_frames=3, gop_size=50)),
    "h264_60s_gop250.mp4": (60, dict(codec="libx264", fourcc=None, max_b_frames=3, gop_size=250)),
    "xvid_30s_gop25.avi": (30, dict(max_b_frames=2, gop_size=25, bit_rate=1_500_000)),
    "xvid_30s_gop300.avi": (30, dict(max_b_frames=2, gop_size=300, bit_rate=1_500_000)),
}


def write_long_files(folder: Path) -> list[Path]:
    """60 s H.264 with B-frames and 30 s Xvid AVIs with B-frames, 320x240 at 25 fps, each with a short GOP
    (2 s / 1 s) and its encoder's default one (x264 keyint 250, Xvid max keyframe interval 300)."""
    from videoabnn.data import encode_video

    folder.mkdir(parents=True, exist_ok=True)
    frames = long_frames(60 * 25)
    out = []
    for name, (seconds, kwargs) in LONG_FILES.items():
        path = folder / name
        if not path.is_file():
            encode_video(path, frames[: seconds * 25], fps=25, **kwargs)
        out.append(path)
    return out


class PTVClip:
    """pytorchvideo's ``EncodedVideo`` (PyAV decoder, one thread): the clip's time span, then every STRIDE-th frame."""

    def __init__(self, path: Path):
        from pytorchvideo.data.encoded_video import EncodedVideo

        self.video = EncodedVideo.from_path(str(path), decode_audio=False, decoder="pyav")
        stream = self.video._container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = 1
        self.fps = Fraction(stream.average_rate)

    def get_frames(self, indices) -> np.ndarray:
        first, last = int(indices[0]), int(indices[-1])
        clip = self.video.get_clip(Fraction(first) / self.fps, Fraction(last + 1) / self.fps)["video"]
        if clip is None:
            return np.zeros((0, 1, 1, 3), np.uint8)
        frames = clip.permute(1, 2, 3, 0).round().to(dtype=torch.uint8).numpy()
        return frames[:: STRIDE][: len(indices)]

    def close(self) -> None:
        self.video.close()


def position_paths(index_dir: Path) -> dict:
    """name -> open(path): the exact reader without and with the index, and pytorchvideo."""
    return {"exact, no index": lambda p: open_video(p, "pyav", index_dir=None),
            "exact + index": lambda p: open_video(p, "pyav", index_dir=index_dir),
            "pytorchvideo EncodedVideo": PTVClip}


def clip_at(n: int, where: str) -> np.ndarray:
    span = (FRAMES - 1) * STRIDE + 1
    start = {"start": 0, "mid": max(0, (n - span) // 2), "end": max(0, n - span)}[where]
    return np.arange(start, min(n, start + span), STRIDE)


def time_positions(path: Path, paths: dict, ref: list[bytes], reps: int) -> dict:
    """Per path: best-of-``reps`` ms per clip (a fresh reader each, as a data loader does) at the start, middle
    and end, the rounds interleaved over paths and positions (a busy machine slows them alike), and the
    wrong frames (frames that differ from the sequential decode, or are missing) over the first round."""
    out = {name: {"wrong": 0, "raised": 0, "start": float("inf"), "mid": float("inf"), "end": float("inf")}
           for name in paths}
    for rnd in range(reps):
        for name, make in paths.items():
            for where in ("start", "mid", "end"):
                idx = clip_at(len(ref), where)
                start = time.perf_counter()
                try:
                    reader = make(path)
                    frames = reader.get_frames(idx)
                    reader.close()
                except Exception:
                    out[name]["raised"] += rnd == 0
                    frames = np.zeros((0,), np.uint8)
                out[name][where] = min(out[name][where], (time.perf_counter() - start) * 1000)
                if rnd == 0:
                    out[name]["wrong"] += sum(i >= len(frames) or _sha(frames[i]) != ref[j] for i, j in enumerate(idx))
    return out


def _sha(frame: np.ndarray) -> bytes:
    return hashlib.sha1(np.ascontiguousarray(frame, dtype=np.uint8).data).digest()


def truth_digests(path: Path) -> list[bytes]:
    """A digest of every frame of the sequential decode (frame i = the i-th frame out of the decoder)."""
    with av.open(str(path)) as c:
        return [_sha(f.to_ndarray(format="rgb24")) for f in c.decode(video=0)]


def run_positions(files: list[Path], index_dir: Path, reps: int = 3) -> list[dict]:
    """Print the per-file position table and the end/start ratios side by side; returns the rows."""
    from videoabnn.data.index import get_index

    print(f"clip cost by position: {FRAMES} frames at stride {STRIDE}, a fresh reader per clip, one decoder "
          f"thread, best of {reps} interleaved rounds; index: usable keyframes, skip = non-reference frames before "
          f"a clip skipped (checked), build time; wrong = frames differing from the sequential decode (or missing)")
    print(f"{'file':22s} {'frames':>6s} {'index':>28s} {'path':27s} {'start ms':>9s} {'mid ms':>8s} {'end ms':>8s} "
          f"{'end/start':>9s} {'wrong':>6s}")
    rows = []
    for path in files:
        ref = truth_digests(path)
        start = time.perf_counter()
        index = get_index(path, index_dir)
        build_ms = (time.perf_counter() - start) * 1000
        keys = len(index.keyframes)
        note = (f"{keys} keys" if index.seekable else "no seek") + (", skip" if index.skip_from_start or any(
            k.skip for k in index.keyframes) else "") + f", {build_ms:.0f} ms"
        timed = time_positions(path, position_paths(index_dir), ref, reps)
        for name, r in timed.items():
            r.update(file=path.name, path=name, frames=len(ref), index=note, reason=index.reason,
                     ratio=r["end"] / r["start"])
            rows.append(r)
            print(f"{path.name:22s} {len(ref):6d} {note:>28s} {name:27s} {r['start']:9.1f} {r['mid']:8.1f} "
                  f"{r['end']:8.1f} {r['ratio']:9.2f} {r['wrong']:6d}" + (f" ({r['raised']} raised)" if r["raised"]
                                                                        else ""), flush=True)
    names = list(position_paths(index_dir))
    print("\nend/start ratio side by side (wrong frames in brackets):")
    print(f"{'file':22s}" + "".join(f"{n:>28s}" for n in names))
    for path in files:
        cells = {r["path"]: r for r in rows if r["file"] == path.name}
        print(f"{path.name:22s}" + "".join(f"{cells[n]['ratio']:>20.2f} [{cells[n]['wrong']:>4d}]" for n in names))
    unseekable = [(r["file"], r["reason"]) for r in rows if r["path"] == names[1] and "no seek" in r["index"]]
    for name, reason in unseekable:
        print(f"  {name}: decodes from the first packet: {reason}")
    return rows
