"""One small video-reader interface over two backends: decord (fast path) and PyAV (works everywhere).

``open_video(path, backend)`` returns a reader with ``len(reader)`` frames, ``reader.fps`` and
``reader.get_frames(indices) -> uint8 (T, H, W, 3)`` (random access by frame index, RGB).
Every failure (missing, empty, corrupt or truncated file) raises :class:`VideoDecodeError`
naming the file and the cause.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np

BACKENDS = ("auto", "decord", "pyav")
log = logging.getLogger("videoabnn.data")


class VideoDecodeError(RuntimeError):
    """A video cannot be opened or decoded; ``path`` and ``cause`` say which and why."""

    def __init__(self, path: str | os.PathLike, cause: str):
        self.path = Path(path)
        self.cause = cause
        super().__init__(f"{self.path}: {cause}")


_DECODER_THREADS = 0  # 0: the decoder's own choice (all cores)


def set_decoder_threads(threads: int) -> None:
    """Threads every reader opened from now on decodes with (0: the decoder's default, all cores)."""
    global _DECODER_THREADS
    _DECODER_THREADS = max(0, int(threads))


def decoder_threads() -> int:
    """The thread count new readers use (see :func:`set_decoder_threads`)."""
    return _DECODER_THREADS


def decord_available() -> bool:
    """True when the decord package can be imported."""
    return importlib.util.find_spec("decord") is not None


def resolve_backend(backend: str = "auto") -> str:
    """Map ``auto`` to ``decord`` when importable (else ``pyav``); validate explicit names."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown video backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    if backend == "auto":
        return "decord" if decord_available() else "pyav"
    if backend == "decord" and not decord_available():
        raise ImportError("video backend 'decord' requested but decord is not installed (pip install decord)")
    return backend


def check_video_file(path: str | os.PathLike) -> None:
    """Raise VideoDecodeError when ``path`` is missing, not a file, or empty (cheap: one stat)."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise VideoDecodeError(path, "file not found") from None
    except OSError as err:
        raise VideoDecodeError(path, f"cannot stat file: {err}") from err
    if not path.is_file():
        raise VideoDecodeError(path, "not a regular file")
    if size == 0:
        raise VideoDecodeError(path, "file is empty (0 bytes)")


def _as_index_array(indices: Sequence[int] | np.ndarray, length: int, path: Path) -> np.ndarray:
    idx = np.asarray(indices, dtype=np.int64).reshape(-1)
    if idx.size and (idx.min() < 0 or idx.max() >= length):
        bad = int(idx[(idx < 0) | (idx >= length)][0])
        raise VideoDecodeError(path, f"frame index {bad} out of range for a video of {length} frames")
    return idx


class VideoReader(ABC):
    """Common base: ``len()``, ``fps``, ``get_frames(indices)``; usable as a context manager."""

    path: Path
    fps: float

    @abstractmethod
    def __len__(self) -> int:
        """Number of frames."""

    def get_frames(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Frames at ``indices`` (any order, repeats allowed) as uint8 (T, H, W, 3) RGB."""
        idx = _as_index_array(indices, len(self), self.path)
        if idx.size == 0:
            raise VideoDecodeError(self.path, "no frame indices requested")
        unique, inverse = np.unique(idx, return_inverse=True)
        frames = self._read_sorted(unique)
        return frames[inverse]

    def read_all(self) -> np.ndarray:
        """Every frame of the video as uint8 (N, H, W, 3)."""
        return self.get_frames(np.arange(len(self)))

    @abstractmethod
    def _read_sorted(self, indices: np.ndarray) -> np.ndarray:
        """Frames at sorted unique ``indices`` as uint8 (T, H, W, 3)."""

    @abstractmethod
    def close(self) -> None:
        """Release the file handle."""

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class DecordReader(VideoReader):
    """decord-backed reader: fast seeking and batched decoding.

    decord indexes the packets actually present, so it reads a truncated file as a shorter video;
    ``open_video(path, "auto")`` checks the header's frame count and hands such files to PyAV.
    """

    def __init__(self, path: str | os.PathLike, num_threads: int | None = None):
        import decord

        num_threads = decoder_threads() if num_threads is None else num_threads
        quiet_libav()
        self.path = Path(path)
        check_video_file(self.path)
        try:
            self._vr = decord.VideoReader(str(self.path), ctx=decord.cpu(0), num_threads=num_threads)
            self._len = len(self._vr)
            self.fps = float(self._vr.get_avg_fps())
        except Exception as err:  # decord raises its own DECORDError (and others) on bad input
            raise VideoDecodeError(self.path, f"decord cannot open the video: {_short(err)}") from err
        if self._len <= 0:
            raise VideoDecodeError(self.path, "video has no frames")

    def __len__(self) -> int:
        return self._len

    def _read_sorted(self, indices: np.ndarray) -> np.ndarray:
        try:
            frames = self._vr.get_batch(indices.tolist()).asnumpy()
        except Exception as err:
            raise VideoDecodeError(
                self.path, f"decord failed to decode frames {indices[0]}..{indices[-1]}: {_short(err)}"
            ) from err
        if frames.shape[0] != len(indices) or frames.ndim != 4:
            raise VideoDecodeError(self.path, f"decord returned {frames.shape[0]} of {len(indices)} frames")
        return np.ascontiguousarray(frames, dtype=np.uint8)

    def close(self) -> None:
        self._vr = None


class PyAVReader(VideoReader):
    """PyAV-backed reader: seeks to the keyframe before the first wanted frame and decodes forward.

    Frame ``i`` is the one whose presentation time is ``i / fps`` after the stream start, the same
    numbering decord uses, so both backends return the same frames for the same indices.
    """

    def __init__(self, path: str | os.PathLike, threads: int | None = None):
        import av

        threads = decoder_threads() if threads is None else threads
        quiet_libav()
        self.path = Path(path)
        check_video_file(self.path)
        try:
            self._container = av.open(str(self.path))
        except Exception as err:  # av.error.* subclasses; message names the ffmpeg cause
            raise VideoDecodeError(self.path, f"PyAV cannot open the file: {_short(err)}") from err
        if not self._container.streams.video:
            self.close()
            raise VideoDecodeError(self.path, "file has no video stream")
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"
        self._stream.codec_context.thread_count = threads
        rate = self._stream.average_rate or self._stream.guessed_rate or self._stream.base_rate
        if not rate:
            self.close()
            raise VideoDecodeError(self.path, "video stream has no frame rate")
        self._rate = Fraction(rate)
        self.fps = float(self._rate)
        self._time_base = Fraction(self._stream.time_base)
        self._start = self._stream.start_time or 0
        self._len = int(self._stream.frames) or self._count_packets()
        if self._len <= 0:
            self.close()
            raise VideoDecodeError(self.path, "video has no frames")

    def __len__(self) -> int:
        return self._len

    def _count_packets(self) -> int:
        """Frame count for containers whose header lacks it: count video packets (no decoding)."""
        try:
            count = sum(1 for p in self._container.demux(self._stream) if p.size)
            self._container.seek(0)
        except Exception as err:
            raise VideoDecodeError(self.path, f"cannot read packets: {_short(err)}") from err
        return count

    def _index_of(self, pts: int) -> int:
        return int(round((pts - self._start) * self._time_base * self._rate))

    def _pts_of(self, index: int) -> int:
        return int(self._start + round(Fraction(index) / self._rate / self._time_base))

    def _decode_from(self, first: int):
        """Yield (index, frame) from the keyframe at or before ``first``."""
        self._container.seek(self._pts_of(first), stream=self._stream, backward=True, any_frame=False)
        last = -1
        for frame in self._container.decode(self._stream):
            index = self._index_of(frame.pts) if frame.pts is not None else last + 1
            last = index
            yield index, frame

    def _read_sorted(self, indices: np.ndarray) -> np.ndarray:
        wanted = {int(i): k for k, i in enumerate(indices)}
        first, final = int(indices[0]), int(indices[-1])
        out: list[np.ndarray | None] = [None] * len(indices)
        last_seen = -1
        try:
            for attempt_start in (first, 0):
                for index, frame in self._decode_from(attempt_start):
                    if last_seen < 0 and index > first and attempt_start != 0:
                        break  # the seek overshot: decode again from the start
                    last_seen = index
                    if index in wanted:
                        out[wanted[index]] = frame.to_ndarray(format="rgb24")
                    if index >= final:
                        break
                if last_seen >= 0:
                    break
        except VideoDecodeError:
            raise
        except Exception as err:
            raise VideoDecodeError(self.path, f"PyAV failed while decoding: {_short(err)}") from err
        missing = [int(indices[k]) for k, f in enumerate(out) if f is None]
        if missing:
            raise VideoDecodeError(
                self.path,
                f"frames {missing[:5]}{'...' if len(missing) > 5 else ''} could not be decoded (the stream "
                f"ended after frame {last_seen} of {self._len} announced: truncated or corrupt file?)",
            )
        return np.stack(out).astype(np.uint8, copy=False)

    def close(self) -> None:
        container = getattr(self, "_container", None)
        if container is not None:
            container.close()
            self._container = None


def _short(err: BaseException, limit: int = 300) -> str:
    text = f"{type(err).__name__}: {err}".strip()
    return text if len(text) <= limit else text[:limit] + "..."


def header_frame_count(path: str | os.PathLike) -> int:
    """Frame count the container header announces (0 when unknown); no decoding. A file ffmpeg cannot
    open at all raises VideoDecodeError with ffmpeg's own complaint."""
    import av

    quiet_libav()
    try:
        with av.open(str(path)) as container:
            return int(container.streams.video[0].frames) if container.streams.video else 0
    except Exception as err:  # av.error.*: the message names ffmpeg's cause
        raise VideoDecodeError(Path(path), f"PyAV cannot open the file: {_short(err)}") from err


_QUIET = False


def quiet_libav() -> None:
    """Keep ffmpeg's own messages off the console (our errors carry its complaint instead); once per process."""
    global _QUIET
    if _QUIET:
        return
    _QUIET = True
    import av

    av.logging.set_level(av.logging.PANIC)
    if decord_available():
        import decord

        decord.logging.set_level(decord.logging.QUIET)


class AutoReader(VideoReader):
    """decord first; PyAV for files decord cannot open or decode (e.g. some odd frame widths), and for
    files whose header announces more frames than decord finds (truncated: PyAV then names the
    missing frames instead of silently returning a shorter video)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        check_video_file(self.path)
        announced = header_frame_count(self.path)  # first: a file ffmpeg cannot open never reaches decord,
        try:                                       # whose C++ logger would print to the console
            self._reader: VideoReader = DecordReader(self.path)
        except VideoDecodeError as err:
            self._use_pyav(err)
        else:
            if announced > len(self._reader):
                self._reader.close()
                self._use_pyav(VideoDecodeError(self.path, f"header announces {announced} frames, decord "
                                                           f"finds {len(self._reader)}"))
        self.fps = self._reader.fps

    @property
    def backend(self) -> str:
        """The backend in use for this file."""
        return "decord" if isinstance(self._reader, DecordReader) else "pyav"

    def _use_pyav(self, err: VideoDecodeError) -> None:
        log.debug("decord failed on %s (%s); using PyAV", self.path, err.cause)
        self._reader = PyAVReader(self.path)

    def __len__(self) -> int:
        return len(self._reader)

    def _read_sorted(self, indices: np.ndarray) -> np.ndarray:
        try:
            return self._reader._read_sorted(indices)
        except VideoDecodeError as err:
            if not isinstance(self._reader, DecordReader):
                raise
            self._reader.close()
            self._use_pyav(err)
            if len(self._reader) <= int(indices[-1]):
                raise
            return self._reader._read_sorted(indices)

    def close(self) -> None:
        self._reader.close()


def open_video(path: str | os.PathLike, backend: str = "auto") -> VideoReader:
    """Open ``path`` with ``backend``: ``decord``, ``pyav``, or ``auto`` (decord when importable, PyAV
    for the files decord fails on)."""
    name = resolve_backend(backend)
    if name == "pyav":
        return PyAVReader(path)
    return AutoReader(path) if backend == "auto" else DecordReader(path)
