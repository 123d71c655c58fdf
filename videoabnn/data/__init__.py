"""Video data: exact decoding (PyAV/decord), UCF101/HMDB51/list-file datasets, clip sampling, frame cache,
and the built-in synthetic action videos. Clips are float (C, T, H, W) in [0, 1]."""

from videoabnn.data.builder import DATASETS, build_dataset, ensure_synthetic
from videoabnn.data.cache import FrameCache
from videoabnn.data.dataset import SplitFileError, UnreadableVideosError, VideoDataset, probe_video, read_clip
from videoabnn.data.decode import (
    DecordReader,
    FrameCountError,
    PyAVReader,
    VideoDecodeError,
    VideoReader,
    decord_available,
    known_frame_count,
    open_video,
    resolve_backend,
)
from videoabnn.data.hmdb51 import HMDB51
from videoabnn.data.listfile import ListFileDataset
from videoabnn.data.sampling import SHORT_VIDEO_POLICIES, clip_span, random_clip_indices, uniform_clip_indices
from videoabnn.data.synthetic import (
    MOTIONS,
    PRESETS,
    class_names,
    encode_video,
    generate_synthetic,
    render_video,
    synthetic_params,
)
from videoabnn.data.ucf101 import UCF101

__all__ = [
    "DATASETS",
    "HMDB51",
    "MOTIONS",
    "PRESETS",
    "SHORT_VIDEO_POLICIES",
    "UCF101",
    "DecordReader",
    "FrameCountError",
    "FrameCache",
    "ListFileDataset",
    "PyAVReader",
    "SplitFileError",
    "UnreadableVideosError",
    "VideoDataset",
    "VideoDecodeError",
    "VideoReader",
    "build_dataset",
    "class_names",
    "clip_span",
    "decord_available",
    "encode_video",
    "ensure_synthetic",
    "generate_synthetic",
    "known_frame_count",
    "open_video",
    "probe_video",
    "read_clip",
    "render_video",
    "resolve_backend",
    "synthetic_params",
    "uniform_clip_indices",
    "random_clip_indices",
]
