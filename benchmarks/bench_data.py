#!/usr/bin/env python
"""Data-loading throughput: videoabnn (decord / PyAV, frame cache on / off, 0 / 2 workers) against
pytorchvideo's ``Ucf101`` (``LabeledVideoDataset`` + its PyAV decoder) on the same files.

Training-style clips: 16 frames, short side resized to 128, random 112x112 crop, float in [0, 1],
from generated UCF101-layout videos at 320x240, 25 fps. Also times building the index of a
1,000-video UCF101 layout (split files + stat of each video, no decoding).

    python benchmarks/bench_data.py                       # default: about 1 minute on 2 cores
    python benchmarks/bench_data.py --real-only           # only the shared real clips (benchmarks/real_files.py)
    python benchmarks/bench_data.py --clips 256 --videos 24 --video-frames 150
    python benchmarks/bench_data.py --positions           # clip cost at the start/middle/end, with and without
                                                          # the frame index, and pytorchvideo's EncodedVideo
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import real_files  # benchmarks/real_files.py, beside this script
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, IterableDataset, RandomSampler

from videoabnn.data import MOTIONS, UCF101, class_names, decord_available, render_video
from videoabnn.data.decode import resolve_backend
from videoabnn.data.synthetic import encode_video, ucf101_path, write_ucf101_lists

FRAMES, SHORT_SIDE, CROP, FPS = 16, 128, 112, 25
REAL_VIDEOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "real-videos"


def make_videos(root: Path, videos: int, frames: int) -> Path:
    """A UCF101-layout set of 320x240, 25 fps videos (synthetic motion rendered at 160x120, upscaled)."""
    classes, groups = 4, max(4, -(-videos // 4))
    names = class_names("study", "ucf101", classes)
    done = root / "bench_videos.txt"
    spec = f"{classes} {groups} {frames}"
    if done.is_file() and done.read_text() == spec:
        return root
    for i, name in enumerate(names):
        for g in range(1, groups + 1):
            small = render_video(MOTIONS["study"][i], np.random.default_rng([i, g]), frames, 160, 120, supersample=1)
            x = torch.from_numpy(small).permute(0, 3, 1, 2)
            big = F.interpolate(x, size=(240, 320), mode="bilinear", align_corners=False).permute(0, 2, 3, 1)
            encode_video(root / "UCF-101" / ucf101_path(name, g, 1), big.contiguous().numpy(), fps=FPS)
    write_ucf101_lists(root, names, groups, 1)
    done.write_text(spec)
    return root


def _loader(dataset, workers: int, clips: int, batch: int):
    sampler = None if isinstance(dataset, IterableDataset) else RandomSampler(
        dataset, replacement=True, num_samples=clips + batch)
    return DataLoader(dataset, batch_size=batch, num_workers=workers, sampler=sampler,
                      persistent_workers=False)


def time_loader(loader, clips: int, batch: int) -> float:
    """Clips per second after one warm-up batch (worker start-up and first file opens excluded)."""
    it = iter(loader)
    next(it)
    done, start = 0, time.perf_counter()
    while done < clips:
        b = next(it)
        clip = b["clip"] if isinstance(b, dict) and "clip" in b else b["video"]
        assert clip.shape[1:] == (3, FRAMES, CROP, CROP), clip.shape
        done += clip.shape[0]
    return done / (time.perf_counter() - start)


def ours(root: Path, backend: str, cache_dir: Path | None) -> UCF101:
    ds = UCF101(root, split=1, train=True, frames=FRAMES, short_side=SHORT_SIDE, crop=CROP, backend=backend,
                cache_dir=cache_dir)
    if cache_dir is not None:  # fill the cache first: the figure is for epoch 2 onwards
        for i in range(len(ds)):
            ds[i]
    return ds


class _PTVTransform:
    """The same work on pytorchvideo's clip: 16 frames, short side 128, random 112 crop + flip, [0, 1]."""

    def __call__(self, sample: dict) -> dict:
        video = sample["video"]  # (C, T, H, W) float 0-255
        t = video.shape[1]
        video = video[:, torch.linspace(0, t - 1, FRAMES).round().long()]
        c, t, h, w = video.shape
        size = (SHORT_SIDE, round(w * SHORT_SIDE / h)) if h <= w else (round(h * SHORT_SIDE / w), SHORT_SIDE)
        video = F.interpolate(video.permute(1, 0, 2, 3), size=size, mode="bilinear", align_corners=False,
                              antialias=True).permute(1, 0, 2, 3)
        y = int(torch.randint(0, size[0] - CROP + 1, ()))
        x = int(torch.randint(0, size[1] - CROP + 1, ()))
        video = video[:, :, y : y + CROP, x : x + CROP]
        if torch.rand(()) < 0.5:
            video = video.flip(-1)
        return {"video": (video / 255.0).clamp_(0, 1), "label": sample["label"]}


def pytorchvideo_dataset(root: Path, list_file: Path):
    from pytorchvideo.data import Ucf101, make_clip_sampler

    return Ucf101(
        data_path=str(list_file), clip_sampler=make_clip_sampler("random", FRAMES / FPS),
        video_sampler=lambda src: RandomSampler(src, replacement=True, num_samples=10**7),
        transform=_PTVTransform(), video_path_prefix=str(root / "UCF-101"), decode_audio=False, decoder="pyav",
    )


def ptv_list(root: Path, out: Path) -> Path:
    """pytorchvideo's csv format ("path label") for the same training videos."""
    ds = UCF101(root, split=1, train=True)
    out.write_text("".join(f"{p.relative_to(root / 'UCF-101')} {y}\n" for p, y in ds.videos))
    return out


def index_timing(tmp: Path, n: int = 1000) -> dict:
    """Seconds to build a UCF101 train index of ``n`` videos (ours and pytorchvideo's), files on disk."""
    root = tmp / "index_ucf"
    if root.exists():
        shutil.rmtree(root)
    src = encode_video(tmp / "tiny.avi", np.zeros((2, 16, 16, 3), np.uint8))
    classes = [f"Class{k:02d}" for k in range(10)]
    lines = []
    for k, name in enumerate(classes):
        (root / "UCF-101" / name).mkdir(parents=True)
        for i in range(n // len(classes)):
            rel = f"{name}/v_{name}_g{8 + i // 4:02d}_c{i % 4 + 1:02d}.avi"
            (root / "UCF-101" / rel).hardlink_to(src)
            lines.append(f"{rel} {k + 1}\n")
    lists = root / "ucfTrainTestlist"
    lists.mkdir()
    (lists / "classInd.txt").write_text("".join(f"{k + 1} {c}\n" for k, c in enumerate(classes)))
    (lists / "trainlist01.txt").write_text("".join(lines))
    (lists / "testlist01.txt").write_text("".join(lines[:1]))
    csv = ptv_list(root, tmp / "index_list.txt")
    from pytorchvideo.data import Ucf101, make_clip_sampler

    builders = {
        "videoabnn UCF101": lambda: UCF101(root, split=1, train=True),
        "pytorchvideo Ucf101": lambda: Ucf101(data_path=str(csv), clip_sampler=make_clip_sampler("random", 1.0),
                                              video_path_prefix=str(root / "UCF-101"), decode_audio=False),
    }
    timings = {}
    for name, build in builders.items():  # best of 3: the machine is shared
        runs = []
        for _ in range(3):
            start = time.perf_counter()
            build()
            runs.append(time.perf_counter() - start)
        timings[name] = min(runs) * 1000 / n
    return timings


def test_time_decoding(root: Path, clips_per_video: int = 10, three_crop: bool = True) -> dict:
    """Multi-clip test evaluation (10 clips x 3 crops per video): decoder opens per video and clips/s,
    our dataset (one decode per video) vs decoding every clip and crop separately (the old path)."""
    from unittest import mock

    from videoabnn.data import dataset as dataset_module
    from videoabnn.data.decode import open_video

    ds = UCF101(root, split=1, train=False, frames=FRAMES, short_side=SHORT_SIDE, crop=CROP,
                clips_per_video=clips_per_video, three_crop=three_crop)
    videos = min(len(ds.videos), 4)
    items = videos * ds.clips_per_video
    opens = []

    def counting(path, backend="auto"):
        opens.append(path)
        return open_video(path, backend)

    with mock.patch.object(dataset_module, "open_video", counting):
        start = time.perf_counter()
        once = [ds[i]["clip"] for i in range(items)]
        once_s = time.perf_counter() - start
    per_video = len(opens) / videos
    def per_clip(video: int, path: Path, clip: int):  # the old path: decode this clip's frames, every time
        return ds._frames(path, lambda n: dataset_module.uniform_clip_indices(
            n, ds.frames, ds.stride, ds.num_clips, clip, ds.short_video, str(path)))

    with mock.patch.object(ds, "_test_frames", per_clip):
        start = time.perf_counter()
        for i in range(items):
            assert torch.equal(ds[i]["clip"], once[i])  # the same clips
        each_s = time.perf_counter() - start
    return {"decodes_per_video": per_video, "items_per_video": ds.clips_per_video,
            "once_cps": items / once_s, "each_cps": items / each_s}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--videos", type=int, default=16, help="generated 320x240 videos")
    p.add_argument("--video-frames", type=int, default=100, help="frames per generated video (25 fps)")
    p.add_argument("--clips", type=int, default=160, help="clips timed per configuration")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    p.add_argument("--rounds", type=int, default=2,
                   help="interleaved rounds over all configurations; the best round counts (cold caches and "
                        "clock ramp-up otherwise penalise whichever configuration runs first)")
    p.add_argument("--work-dir", default=None, help="where videos and cache go (default: a temp folder)")
    p.add_argument("--real", default=str(REAL_VIDEOS), help="folder of real clips to check and time (every path)")
    p.add_argument("--real-only", action="store_true", help="only the real-file table")
    p.add_argument("--positions", action="store_true",
                   help="only the clip cost at the start, middle and end of each file (real clips and generated "
                        "long files), with and without the frame index, against pytorchvideo's EncodedVideo")
    p.add_argument("--reps", type=int, default=7, help="--positions: rounds per clip (the best counts)")
    p.add_argument("--no-long", action="store_true", help="--positions: skip the generated long files")
    a = p.parse_args()
    torch.set_num_threads(1)
    from videoabnn.data.decode import set_decoder_threads

    set_decoder_threads(1)
    tmp = Path(a.work_dir or tempfile.mkdtemp(prefix="bench_data_"))
    if a.positions:
        real = Path(a.real)
        files = sorted(p for p in real.glob("*") if p.suffix in (".mp4", ".avi")) if real.is_dir() else []
        if not a.no_long:
            start = time.perf_counter()
            files += real_files.write_long_files(tmp / "long")
            print(f"generated long files in {time.perf_counter() - start:.0f} s")
        real_files.run_positions(files, tmp / "index", a.reps)
        if a.work_dir is None:
            shutil.rmtree(tmp, ignore_errors=True)
        return
    (tmp / "ucf_like").mkdir(parents=True, exist_ok=True)
    real_files.run(Path(a.real), tmp / "ucf_like")
    if a.real_only:
        return
    start = time.perf_counter()
    root = make_videos(tmp / "ucf", a.videos, a.video_frames)
    print(f"videos: {root} ({a.videos}+ videos, {a.video_frames} frames, 320x240 @ {FPS} fps), "
          f"ready in {time.perf_counter() - start:.1f} s")
    print(f"clips: {FRAMES} frames, short side {SHORT_SIDE}, random {CROP}x{CROP} crop + flip, float [0, 1]; "
          f"batch {a.batch}; {a.clips} clips timed per row; torch threads 1 per process\n")
    backends = ["pyav"] + (["decord"] if decord_available() else [])
    assert resolve_backend("auto") == backends[0]
    configs = [(f"videoabnn {b}" + (" (default: auto)" if b == backends[0] else ""),
                lambda b=b: ours(root, "auto" if b == backends[0] else b, None)) for b in backends]
    configs.append(("videoabnn auto + frame cache", lambda: ours(root, "auto", tmp / "cache")))
    configs.append(("pytorchvideo Ucf101 (PyAV)", lambda: pytorchvideo_dataset(root, ptv_list(root, tmp / "l.txt"))))
    results: dict[tuple[str, int], float] = {}
    datasets = {name: make() for name, make in configs}
    for _ in range(max(1, a.rounds)):
        for name, ds in datasets.items():
            for w in a.workers:
                rate = time_loader(_loader(ds, w, a.clips, a.batch), a.clips, a.batch)
                results[(name, w)] = max(rate, results.get((name, w), 0.0))
    print(f"{'configuration (best of ' + str(max(1, a.rounds)) + ' rounds)':34s}"
          + "".join(f"{f'{w} workers':>14s}" for w in a.workers))
    for name in datasets:
        print(f"{name:34s}" + "".join(f"{results[(name, w)]:10.1f} c/s" for w in a.workers), flush=True)
    ref = "pytorchvideo Ucf101 (PyAV)"
    default = configs[0][0]
    print("\nratios to pytorchvideo (same workers):")
    for name, _ in configs[:-1]:
        print(f"  {name:32s}" + "".join(f"{results[(name, w)] / results[(ref, w)]:>10.2f}x" for w in a.workers))
    print(f"default path (backend auto -> {backends[0]}, no cache): "
          + ", ".join(f"{results[(default, w)] / results[(ref, w)]:.2f}x at {w} workers" for w in a.workers))
    tt = test_time_decoding(root)
    print(f"\ntest time, {tt['items_per_video']} clips x crops per video (10 clips x 3 crops): "
          f"{tt['decodes_per_video']:.0f} decode per video; {tt['once_cps']:.1f} clips/s decoding each video once "
          f"vs {tt['each_cps']:.1f} clips/s decoding every clip and crop ({tt['once_cps'] / tt['each_cps']:.1f}x)")
    idx = index_timing(tmp)
    print("\nindex building, best of 3, per 1,000 videos (ours reads the split files and stats every video;")
    print("pytorchvideo reads its csv without touching the videos):")
    for k, v in idx.items():
        print(f"  {k:32s} {v * 1000:8.1f} ms")
    print(f"\ntotal {time.perf_counter() - start:.0f} s; files in {tmp}")
    if a.work_dir is None:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
