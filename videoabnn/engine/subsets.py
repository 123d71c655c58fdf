"""Which clips an evaluation uses: all of them, or a seeded, class-stratified subset of whole videos.

A subset (``eval.max_batches`` batches' worth of clips, the audit's clips) never takes the first
batches of a list (class-sorted in UCF101/HMDB51, so 2 batches would cover 2 classes): it draws
videos per class in turn, so every class is covered, and keeps all clips of a drawn video.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from torch.utils.data import Dataset


def item_labels(dataset: Dataset) -> tuple[list[int], list[int]]:
    """(label, video id) of every item, read without decoding where the dataset allows it."""
    n = len(dataset)
    per_video = int(getattr(dataset, "clips_per_video", 1) or 1)
    if hasattr(dataset, "videos") and len(dataset.videos) * per_video == n:
        return [int(dataset.videos[i // per_video][1]) for i in range(n)], [i // per_video for i in range(n)]
    if hasattr(dataset, "labels") and len(dataset.labels) == n:
        return [int(y) for y in dataset.labels], [i // per_video for i in range(n)]
    items = [dataset[i] for i in range(n)]
    return [int(it["label"]) for it in items], [int(it.get("video", i)) for i, it in enumerate(items)]


def stratified_videos(labels: Sequence[int], videos: Sequence[int], size: int, seed: int) -> list[int]:
    """Sorted item indices of whole videos drawn class by class in turn until ``size`` items are reached."""
    by_video: dict[int, list[int]] = {}
    video_label: dict[int, int] = {}
    for i, (y, v) in enumerate(zip(labels, videos)):
        by_video.setdefault(v, []).append(i)
        video_label[v] = y
    rng = np.random.default_rng(int(seed))
    queues = {}
    for y in sorted(set(video_label.values())):
        vids = [v for v in by_video if video_label[v] == y]
        queues[y] = [vids[j] for j in rng.permutation(len(vids))]
    chosen: list[int] = []
    while len(chosen) < size and any(queues.values()):
        for y in sorted(queues):
            if queues[y] and len(chosen) < size:
                chosen += by_video[queues[y].pop(0)]
    return sorted(chosen)


def evaluation_subset(dataset: Dataset, max_batches: int | None, batch_size: int, seed: int) -> list[int]:
    """All item indices, or ``max_batches * batch_size`` of them, class-stratified by whole videos."""
    n = len(dataset)
    if max_batches is None or int(max_batches) * batch_size >= n:
        return list(range(n))
    labels, videos = item_labels(dataset)
    return stratified_videos(labels, videos, int(max_batches) * batch_size, seed)


def stratified_clip_subset(dataset: Dataset, ids: Sequence[int], size: int, seed: int) -> list[int]:
    """A class-stratified subset of ``ids`` (single clips), at most ``size`` of them."""
    if size >= len(ids):
        return list(ids)
    labels, _ = item_labels(dataset)
    picked = stratified_videos([labels[i] for i in ids], list(range(len(ids))), size, seed)
    return sorted(ids[j] for j in picked)
