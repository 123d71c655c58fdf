"""Map-style video dataset shared by UCF101, HMDB51 and list files: index -> decoded, cropped clip.

Building a dataset reads only the split/list files and stats each video (no decoding), so an index
of thousands of videos builds in milliseconds. Item ``i`` is ``{"clip": float (C, T, H, W) in
[0, 1], "label": int, "video": int}``. Training: one random clip per video and index. Testing:
``clips_per_video = num_clips x num_crops`` items per video, ``video = i // clips_per_video``.
Clip indices are drawn on the video's decodable length; where its header announced more frames
than it holds, the decode that finds out corrects the length and the clip is drawn again on it.

Unreadable videos: missing or empty files are found when the dataset is built; by default that is
an error listing them. With ``skip_unreadable=True`` every video is also probed (decoded to the
end, a few frames converted) and the bad ones are left out, recorded in ``dataset.skipped`` as
``(path, cause)`` and summarised in the log; more than ``max_unreadable`` (a fraction) of the list
unreadable is an error, since a run on what is left would not be the experiment asked for. A decode
error during training is never swallowed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from videoabnn.data.cache import FrameCache
from videoabnn.data.decode import (
    FrameCountError,
    VideoDecodeError,
    VideoReader,
    check_video_file,
    open_video,
    resolve_backend,
)
from videoabnn.data.sampling import check_sampling, random_clip_indices, uniform_clip_indices
from videoabnn.data.transforms import (
    random_crop_flip,
    resize_short_side,
    spatial_crop,
    to_clip_tensor,
)
from videoabnn.errors import UserError

log = logging.getLogger("videoabnn.data")


class SplitFileError(UserError, ValueError):
    """A split or list file is malformed; the message starts with ``file:line``."""


class UnreadableVideosError(UserError, ValueError):
    """More of a dataset's videos are unreadable than ``max_unreadable`` allows."""


def _open(path: Path, backend: str, index_dir) -> VideoReader:
    """``open_video``, passing ``index_dir`` only when it is not the default (callers may wrap open_video)."""
    if isinstance(index_dir, str) and index_dir == "auto":
        return open_video(path, backend)
    return open_video(path, backend, index_dir=index_dir)


def probe_video(path: Path, backend: str, index_dir: str | os.PathLike | None = "auto") -> str | None:
    """None when ``path`` decodes to its end and its first, middle and last frames convert, else the cause."""
    try:
        with _open(path, backend, index_dir) as reader:
            n = reader.count_frames()
            reader.get_frames([0, n // 2, n - 1])
    except VideoDecodeError as err:
        return err.cause
    return None


def read_clip(reader: VideoReader, sample) -> np.ndarray:
    """Frames ``sample(len(reader))`` of ``reader``; drawn again on the true length where the header overstated it."""
    try:
        return reader.get_frames(sample(len(reader)))
    except FrameCountError as err:
        if len(reader) != err.available:
            raise
        log.info("%s: %d decodable frames, not %s: clip drawn again", reader.path, err.available,
                 err.announced or "as assumed")
        return reader.get_frames(sample(err.available))


def spread_subset(n: int, k: int | None) -> list[int]:
    """``k`` indices spread evenly over ``range(n)`` (all of them when ``k`` is None or >= n)."""
    if k is None or k >= n:
        return list(range(n))
    if k < 1:
        raise ValueError(f"max_videos must be >= 1, got {k}")
    return sorted({int(i) for i in np.linspace(0, n - 1, k).round()})


class VideoDataset(Dataset):
    """Videos with labels -> clips; subclasses only build ``videos`` and ``classes`` from their files.

    ``frames``/``stride``: clip length and temporal step; ``short_side``: resize before cropping
    (None keeps the size); ``crop``: square crop (None: whole frame); ``clips_per_video``: test-time
    uniformly spaced clips; ``three_crop``: test-time 3 spatial crops; ``short_video``: loop |
    repeat_last | error; ``backend``: auto | decord | pyav; ``cache_dir``: decoded-frame cache;
    ``index_dir``: per-video frame indexes (exact length, verified seeks; see `videoabnn.data.index`);
    ``max_videos``: keep N videos spread evenly over the list; ``flip``: random horizontal flip when
    training; ``seed``: fixed training clips per (seed, epoch, index), None follows torch's RNG.

    Training: one random clip per video and index (random crop, optional flip). Testing: ``clips_per_video``
    uniformly spaced clips x (3 crops along the long side, or the centre crop) per video, all decoded once.
    Building stats every file; missing or empty ones are an error unless ``skip_unreadable``.

    Args:
        videos: ``(path, label)`` pairs, labels 0-based indices into ``classes``.
        classes: class names, in label order.
        train: training sampling (random clip, crop and flip) or test sampling. Default: True.
        frames: frames per clip, >= 1. Default: 8.
        stride: temporal step between a clip's frames (in video frames), >= 1. Default: 1.
        short_side: resize every frame so its short side has this many pixels (bilinear, antialiased) before
            cropping; None keeps the decoded size. Default: 36.
        crop: side of the square crop in pixels, at most the resized short side; None: the whole frame.
            Default: 32.
        clips_per_video: test-time temporal clips per video, uniformly spaced, >= 1 (1 when training).
            Default: 1.
        three_crop: test time: 3 spatial crops per clip (start, centre, end of the long side) instead of the
            centre crop. Default: False.
        short_video: videos shorter than a clip: ``"loop"`` (indices wrap around), ``"repeat_last"`` (the last
            frame repeats) or ``"error"``. Default: "loop".
        backend: decoder, ``"auto"`` (= pyav), ``"pyav"`` or ``"decord"`` (both exact). Default: "auto".
        cache_dir: folder of a decoded-frame cache at the resized resolution (epoch 2+ skips decoding).
            Default: None (no cache).
        index_dir: folder of per-video frame indexes (built on a video's first open; a clip then decodes from
            the verified keyframe before it): ``"auto"`` (``$VIDEOABNN_INDEX_DIR`` or the user cache), a path, or
            None (no index: decoding from the first packet). Default: "auto".
        skip_unreadable: probe every video (decode to the end) and leave out the unreadable ones, recorded in
            ``skipped``; False: a missing or empty file is an error. Default: False.
        max_unreadable: with ``skip_unreadable``: the largest fraction of the list that may be unreadable
            before `UnreadableVideosError`. Default: 0.05.
        max_videos: keep only this many videos, spread evenly over the list (smoke tests). Default: None (all).
        flip: random horizontal flip when training (off for the synthetic set, whose left/right motions are
            classes). Default: True.
        seed: fixes training clips per (seed, epoch, index) (call `set_epoch` each epoch); None follows
            torch's RNG (seeded per DataLoader worker). Default: None.
        probe_workers: threads probing videos with ``skip_unreadable``. Default: 4.

    Shape:
        - item: ``{"clip": (C, T, H, W) float in [0, 1], "label": int, "video": int}``; C = 3, T = ``frames``,
          H = W = ``crop`` (None: the resized frame); ``video`` indexes ``videos`` (test items of one video
          share it: ``video = index // clips_per_video``).
        - length: videos x ``clips_per_video`` (temporal clips x 3 crops at test time, 1 when training).

    Examples:
        >>> ds = VideoDataset([("a.avi", 0), ("b.avi", 1)], ["run", "walk"], frames=16, short_side=128, crop=112)
        >>> item = ds[0]
        >>> item["clip"].shape
        torch.Size([3, 16, 112, 112])
    """

    def __init__(
        self,
        videos: Sequence[tuple[str | os.PathLike, int]],
        classes: Sequence[str],
        *,
        train: bool = True,
        frames: int = 8,
        stride: int = 1,
        short_side: int | None = 36,
        crop: int | None = 32,
        clips_per_video: int = 1,
        three_crop: bool = False,
        short_video: str = "loop",
        backend: str = "auto",
        cache_dir: str | os.PathLike | None = None,
        index_dir: str | os.PathLike | None = "auto",
        skip_unreadable: bool = False,
        max_unreadable: float = 0.05,
        max_videos: int | None = None,
        flip: bool = True,
        seed: int | None = None,
        probe_workers: int = 4,
        _checked: list[tuple[Path, int]] | None = None,
    ):
        check_sampling(frames, stride, clips_per_video, short_video)
        self._options = {"frames": frames, "stride": stride, "short_side": short_side, "crop": crop,
                         "clips_per_video": clips_per_video, "three_crop": three_crop, "short_video": short_video,
                         "backend": backend, "cache_dir": cache_dir, "index_dir": index_dir, "flip": flip,
                         "seed": seed}
        self.classes = list(classes)
        self.train = bool(train)
        self.frames, self.stride = int(frames), int(stride)
        self.short_side, self.crop = short_side, crop
        self.num_clips = 1 if self.train else int(clips_per_video)
        self.num_crops = 3 if (three_crop and not self.train) else 1
        self.short_video = short_video
        resolve_backend(backend)  # validates the name, fails early when decord is asked for but missing
        self.backend = backend
        self.cache = FrameCache(cache_dir) if cache_dir else None
        self.index_dir = index_dir
        self.flip = flip
        self.seed = seed
        self.epoch = 0
        self._last_video: tuple | None = None  # (video index, clip indices, frame position, frames) at test time
        if _checked is not None:  # a subset of a dataset that already checked its videos
            self.videos, self.skipped = list(_checked), []
            return
        all_videos = [(Path(p), int(label)) for p, label in videos]
        all_videos = [all_videos[i] for i in spread_subset(len(all_videos), max_videos)]
        self.max_unreadable = float(max_unreadable)
        self.videos, self.skipped = self._check_videos(all_videos, skip_unreadable, probe_workers)

    def subset(self, indices: list[int], train: bool) -> VideoDataset:
        """A dataset over ``videos[i]`` for ``i`` in ``indices`` (already checked), sampled for training or
        evaluation, with this dataset's classes and clip settings."""
        out = VideoDataset.__new__(VideoDataset)
        VideoDataset.__init__(out, [], self.classes, train=train, **self._options, _checked=[self.videos[i] for i in indices])
        return out

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def clips_per_video(self) -> int:
        """Items per video: temporal clips x spatial crops at test time, 1 when training."""
        return self.num_clips * self.num_crops

    def _check_videos(self, videos: list[tuple[Path, int]], skip: bool, workers: int):
        bad: dict[Path, str] = {}
        for path, _ in videos:
            try:
                check_video_file(path)
            except VideoDecodeError as err:
                bad[path] = err.cause
        if bad and not skip:
            listed = "\n  ".join(f"{p}: {c}" for p, c in list(bad.items())[:10])
            more = f"\n  ... and {len(bad) - 10} more" if len(bad) > 10 else ""
            raise FileNotFoundError(f"{len(bad)} of {len(videos)} videos cannot be read (set skip_unreadable "
                                    f"to skip them):\n  {listed}{more}")
        if skip:
            todo = [p for p, _ in videos if p not in bad]
            with ThreadPoolExecutor(max(1, workers)) as pool:
                for path, cause in zip(todo, pool.map(lambda p: probe_video(p, self.backend, self.index_dir), todo)):
                    if cause is not None:
                        bad[path] = cause
        skipped = [(p, bad[p]) for p, _ in videos if p in bad]
        for path, cause in skipped:
            log.debug("skipping unreadable video %s: %s", path, cause)
        if skipped:
            self._limit_skipped(skipped, len(videos))
        kept = [(p, y) for p, y in videos if p not in bad]
        return kept, skipped

    def _limit_skipped(self, skipped: list[tuple[Path, str]], total: int) -> None:
        """Summarise the skipped videos in the log; refuse when more than ``max_unreadable`` of them are."""
        fraction = len(skipped) / total
        first = "; ".join(f"{p.name} ({c})" for p, c in skipped[:3]) + (" ..." if len(skipped) > 3 else "")
        summary = (f"{len(skipped)} of {total} videos ({100 * fraction:.1f}%) are unreadable and skipped: {first} "
                   f"(all of them: the run's skipped_videos.txt, or `videoabnn-verify`)")
        if fraction > self.max_unreadable:
            raise UnreadableVideosError(f"{summary}; that is more than data.max_unreadable="
                                        f"{self.max_unreadable:g} of the list: fix or re-encode the files, or raise "
                                        f"data.max_unreadable to run on what is left")
        log.warning(summary)

    def __len__(self) -> int:
        return len(self.videos) * self.clips_per_video

    def set_epoch(self, epoch: int) -> None:
        """With a fixed ``seed``, training clips depend on (seed, epoch, index): call once per epoch."""
        self.epoch = int(epoch)

    def _rng(self, index: int) -> np.random.Generator:
        if self.seed is None:  # follows torch's RNG (seeded per DataLoader worker by torch)
            return np.random.default_rng(int(torch.randint(0, 2**62, ()).item()))
        return np.random.default_rng([int(self.seed), self.epoch, index])

    def fill_cache(self, workers: int = 0) -> int:
        """Decode every video missing from the frame cache, in ``workers`` loader processes (0: here), so the
        first epoch does not decode one video at a time; returns how many were decoded. Entries are the
        ones a later read would write (same key, same frames), so filling ahead changes no number."""
        if self.cache is None:
            return 0
        missing = sorted({str(p) for p, _ in self.videos if not self.cache.entry(p, self.short_side).is_file()})
        if missing:
            from torch.utils.data import DataLoader

            for _ in DataLoader(_CacheFill(self, missing), batch_size=None, num_workers=int(workers)):
                pass
        return len(missing)

    def _frames(self, path: Path, sample) -> np.ndarray:
        """Resized uint8 frames of the clip chosen by ``sample(num_frames) -> indices``."""
        if self.cache is not None:
            def load() -> np.ndarray:
                with _open(path, self.backend, self.index_dir) as reader:
                    return resize_short_side(reader.read_all(), self.short_side)

            video = self.cache.get(path, self.short_side, load)
            return np.asarray(video[sample(len(video))])
        with _open(path, self.backend, self.index_dir) as reader:
            return resize_short_side(read_clip(reader, sample), self.short_side)

    def _test_frames(self, video: int, path: Path, clip: int) -> np.ndarray:
        """Resized frames of test clip ``clip``: every clip and crop of a video comes from ONE decode of the
        frames all its clips need (kept until the next video), so an ordered evaluation decodes each video once."""
        if self.cache is not None:
            return self._frames(path, lambda n: uniform_clip_indices(
                n, self.frames, self.stride, self.num_clips, clip, self.short_video, str(path)))
        if self._last_video is None or self._last_video[0] != video:
            def clips_of(n: int) -> list[np.ndarray]:
                return [uniform_clip_indices(n, self.frames, self.stride, self.num_clips, c, self.short_video,
                                             str(path)) for c in range(self.num_clips)]

            with _open(path, self.backend, self.index_dir) as reader:
                clips = clips_of(len(reader))
                needed = np.unique(np.concatenate(clips))
                try:
                    decoded = reader.get_frames(needed)
                except FrameCountError as err:
                    if len(reader) != err.available:
                        raise
                    clips = clips_of(err.available)
                    needed = np.unique(np.concatenate(clips))
                    decoded = reader.get_frames(needed)
                frames = resize_short_side(decoded, self.short_side)
            self._last_video = (video, clips, {int(i): k for k, i in enumerate(needed)}, frames)
        _, clips, position, frames = self._last_video
        return frames[[position[int(i)] for i in clips[clip]]]

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        video, j = divmod(index, self.clips_per_video)
        clip, crop_pos = divmod(j, self.num_crops)
        path, label = self.videos[video]
        name = str(path)
        if self.train:
            rng = self._rng(index)
            frames = self._frames(path, lambda n: random_clip_indices(
                n, self.frames, self.stride, rng, self.short_video, name))
            if self.crop:
                frames = random_crop_flip(frames, self.crop, rng, self.flip)
        else:
            frames = self._test_frames(video, path, clip)
            if self.crop:
                frames = spatial_crop(frames, self.crop, crop_pos, self.num_crops)
        return {"clip": to_clip_tensor(frames), "label": label, "video": video}

    def __repr__(self) -> str:
        mode = "train" if self.train else f"test, {self.clips_per_video} clips/video"
        return (f"{type(self).__name__}({len(self.videos)} videos, {self.num_classes} classes, {mode}, "
                f"{self.frames}x{self.crop}px, backend={self.backend}, skipped={len(self.skipped)})")


class _CacheFill(Dataset):
    """Item ``i`` decodes ``paths[i]`` whole into ``dataset``'s frame cache (see :meth:`VideoDataset.fill_cache`)."""

    def __init__(self, dataset: VideoDataset, paths: Sequence[str]) -> None:
        self.dataset, self.paths = dataset, list(paths)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> int:
        self.dataset._frames(Path(self.paths[index]), lambda n: [0])
        return index
