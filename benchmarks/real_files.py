"""The real-file part of ``bench_data.py``: each decoding path on the shared real clips, exact or not, and how fast.

Paths: the project's readers (PyAV and decord, both sequential and exact) and, for comparison, the
two previous paths they replaced: PyAV seeking to a keyframe and numbering frames by timestamp and
average rate, and decord's random access (``get_batch``). Every request is checked against the
sequential decode (frame i = the i-th frame out of the decoder) and timed with the training sampling
(random 16-frame clips, stride 2) and the test sampling (10 uniform clips per video, one decode).
"""

from __future__ import annotations

import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

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
