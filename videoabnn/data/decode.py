"""One small video-reader interface over two backends, both exact: PyAV (the default) and decord.

``open_video(path, backend)`` returns a reader with ``len(reader)`` frames, ``reader.fps`` and
``reader.get_frames(indices) -> uint8 (T, H, W, 3)`` (any indices, RGB).

**Frame i is the i-th frame the decoder emits from the start of the stream** (display order), for
every backend, by construction: readers decode sequentially from the first packet and count the
frames they get, never turning a timestamp into an index. Timestamps are unreliable exactly on the
files of this field (Xvid AVIs with B-frames carry no presentation times; some MP4s have them out of
display order), and seeking lands on keyframes whose display index is not known without decoding.
A reader keeps its position, so increasing requests (the frames of one clip, the clips of one test
video) continue where the last stopped; an earlier frame restarts from the first packet. Measured
on the real files of ``benchmarks/bench_data.py``, decoding a UCF101-sized Xvid video (320x240) from
the start costs about a tenth of a millisecond per frame.

**Index.** With a frame index (:mod:`videoabnn.data.index`, opt-in: ``data.index_dir`` a folder or ``cache``, or ``$VIDEOABNN_INDEX_DIR``;
``data.index_dir``), built on a file's first open (a demux pass, one sequential decode, and a check
decode from each keyframe), ``len(reader)`` is exact at open and the PyAV reader seeks to the
checked keyframe at or before the first frame asked for, then decodes forward, checking every
frame's timestamp against the index (the first must be that keyframe's frame, each next one the next
in display order); where the index checked it, non-reference frames before the first frame asked
for are not decoded at all (FFmpeg ``skip_frame``; never a frame asked for). Any surprise falls back
to decoding from the first packet and is recorded in the index; a file the index marks not seekable
decodes from the first packet (skipping non-reference frames before a clip only where checked). The
decord reader uses the index for its length only (decord's own seeking is not exact).
``index_dir=None``: no index, the readers behave as described above.

**Length.** ``len(reader)`` is the number of decodable frames as far as known: the smaller of the
header's count and the packets present (no decoding), corrected downward, for this reader and for
every later reader of the same file in this process, by the first decode that reaches the end of
the stream early (:func:`known_frame_count`). A request for frames that do not exist raises
:class:`FrameCountError`, which names the file and the true count; a valid frame never raises. The
decord reader never returns a frame past the last decodable one (decord repeats an earlier frame
there): without an index or a known count, its first request counts the frames with PyAV.

Every failure (missing, empty, corrupt or truncated file) raises :class:`VideoDecodeError` naming
the file and the cause; a reader that met a decode error raises the same cause for every later
request that reaches that frame or beyond (and for ``read_all``/``count_frames``).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from videoabnn.data.index import (
    IndexBuildError,
    SeekMismatch,
    VideoIndex,
    file_identity,
    get_index,
    mark_unseekable,
    resolve_index_dir,
    verified_frames,
)
from videoabnn.errors import UserError

BACKENDS = ("auto", "decord", "pyav")
log = logging.getLogger("videoabnn.data")


class VideoDecodeError(UserError, RuntimeError):
    """A video cannot be opened or decoded; ``path`` and ``cause`` say which and why."""

    def __init__(self, path: str | os.PathLike, cause: str):
        self.path = Path(path)
        self.cause = cause
        super().__init__(f"{self.path}: {cause}")


class FrameCountError(VideoDecodeError):
    """Frames were asked for that the video does not have; ``available`` is its true frame count."""

    def __init__(self, path: str | os.PathLike, requested: int, available: int, announced: int | None = None):
        self.requested, self.available, self.announced = int(requested), int(available), announced
        header = f" (its header announces {announced})" if announced and announced != available else ""
        super().__init__(path, f"frame index {requested} out of range for a video of {available} decodable "
                               f"frames{header}")


_DECODER_THREADS = 0  # 0: the decoder's own choice (all cores)
SKIP_NONREF = True  # with an index: skip non-reference frames before a clip where the index checked that it may


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
    """Map ``auto`` to ``pyav`` (exact on every file, installed everywhere); validate explicit names."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown video backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    if backend == "decord" and not decord_available():
        raise ImportError("video backend 'decord' requested but decord is not installed (pip install decord)")
    return "pyav" if backend == "auto" else backend


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


# ---- true frame counts, learnt by decoding -------------------------------------------------------

_KNOWN_COUNTS: dict[tuple[str, int, int], int] = {}
_PACKET_BOUNDS: dict[tuple[str, int, int], int] = {}  # min(header, non-empty packets): no decoding
_KNOWN_LOCK = threading.Lock()


def known_frame_count(path: str | os.PathLike) -> int | None:
    """The decodable frame count a decode to the end of ``path`` found in this process, or None."""
    with _KNOWN_LOCK:
        return _KNOWN_COUNTS.get(file_identity(path))


def _learn_frame_count(path: Path, count: int) -> None:
    with _KNOWN_LOCK:
        _KNOWN_COUNTS[file_identity(path)] = int(count)


def _as_index_array(indices: Sequence[int] | np.ndarray, length: int, path: Path, announced: int) -> np.ndarray:
    idx = np.asarray(indices, dtype=np.int64).reshape(-1)
    if idx.size and idx.min() < 0:
        raise VideoDecodeError(path, f"frame index {int(idx.min())} is negative")
    if idx.size and idx.max() >= length:
        raise FrameCountError(path, int(idx.max()), length, announced or None)
    return idx


class VideoReader(ABC):
    """Common base: ``len()``, ``fps``, ``get_frames(indices)``, sequential decoding with a cursor."""

    path: Path
    fps: float
    header_frames: int  # what the container announces (0: unknown)

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        check_video_file(self.path)
        self._frames_iter: Iterator | None = None
        self._next = 0  # display index of the frame the cursor yields next
        self._stale = False  # the cursor died with an error: the next request starts afresh
        self._failure: tuple[int, VideoDecodeError] | None = None  # (frame index, error) of a decode failure
        self.index: VideoIndex | None = None

    def _load_index(self, index_dir, threads: int) -> None:
        """The file's frame index from ``index_dir`` (built now when missing); None when indexing is off."""
        self._index_dir = resolve_index_dir(index_dir)
        if self._index_dir is None:
            return
        try:
            self.index = get_index(self.path, self._index_dir, threads)
        except IndexBuildError as err:
            log.debug("%s: no frame index (%s)", self.path, err)
            return
        if self.index.frames:
            _learn_frame_count(self.path, self.index.frames)

    def _raise_failure(self, highest: int | None = None) -> None:
        """Repeat the cause of an earlier decode failure when a request reaches it (``highest`` None: any)."""
        if self._failure is not None and (highest is None or highest >= self._failure[0]):
            err = self._failure[1]
            raise VideoDecodeError(self.path, err.cause) from err

    def __len__(self) -> int:
        return self._len

    def get_frames(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Frames at ``indices`` (any order, repeats allowed) as uint8 (T, H, W, 3) RGB."""
        idx = _as_index_array(indices, len(self), self.path, self.header_frames)
        if idx.size == 0:
            raise VideoDecodeError(self.path, "no frame indices requested")
        self._raise_failure(int(idx.max()))
        unique, inverse = np.unique(idx, return_inverse=True)
        return self._read_sorted(unique)[inverse]

    def read_all(self) -> np.ndarray:
        """Every frame of the video as uint8 (N, H, W, 3); the count read is the true length from then on."""
        self._raise_failure()
        self._rewind()
        frames = [self._convert(frame) for frame in self._cursor()]
        if not frames:
            raise VideoDecodeError(self.path, "video has no decodable frames")
        self._end_of_stream(len(frames))
        return np.stack(frames)

    def count_frames(self) -> int:
        """The true number of decodable frames: from the file's index when it has one (its build decoded the
        file to the end), else by decoding to the end without converting a frame."""
        self._raise_failure()
        if self.index is not None and self.index.frames:
            self._len = self.index.frames
            return self._len
        self._rewind()
        count = sum(1 for _ in self._cursor())
        self._end_of_stream(count)
        return count

    def _read_sorted(self, indices: np.ndarray) -> np.ndarray:
        """Frames at sorted unique ``indices``: continue from the cursor, or restart before it."""
        self._position(int(indices[0]))
        wanted = iter(indices.tolist())
        target = next(wanted)
        out: list[np.ndarray] = []
        for frame in self._cursor():
            if self._next - 1 == target:
                out.append(self._convert(frame))
                target = next(wanted, None)
                if target is None:
                    return np.stack(out)
        count = self._next
        self._end_of_stream(count)
        raise FrameCountError(self.path, int(indices[-1]), count, self.header_frames or None)

    def _position(self, first: int) -> None:
        """Get the cursor to at most ``first``: keep it, or restart from the first packet when it is past."""
        if self._stale or first < self._next:
            self._restart()

    def _cursor(self) -> Iterator:
        """Decoded frames from the cursor on; advances ``_next`` per frame; ends at the end of the stream."""
        if self._frames_iter is None:
            self._frames_iter = self._decode()
        try:
            for frame in self._frames_iter:
                self._next += 1
                yield frame
        except VideoDecodeError as err:
            self._frames_iter, self._stale = None, True
            if self._failure is None or self._next < self._failure[0]:
                self._failure = (self._next, err)
            raise
        except SeekMismatch:
            self._frames_iter, self._stale = None, True
            raise
        self._frames_iter = None

    def _restart(self) -> None:
        self._reopen()
        self._frames_iter, self._next, self._stale = None, 0, False

    def _rewind(self) -> None:
        """Back to the first packet, reopening only when the cursor has moved (a fresh reader is there)."""
        if self._next or self._frames_iter is not None or self._stale:
            self._restart()

    def _end_of_stream(self, count: int) -> None:
        if count <= 0:
            raise VideoDecodeError(self.path, "video has no decodable frames")
        if count != self._len:
            log.debug("%s: %d decodable frames (%d assumed before decoding)", self.path, count, self._len)
        self._len = count
        _learn_frame_count(self.path, count)
        self._frames_iter = None  # the stream is spent: the next request (any index < _next) reopens it

    @abstractmethod
    def _decode(self) -> Iterator:
        """Decoded frames in display order from the first packet (backend objects)."""

    @abstractmethod
    def _convert(self, frame) -> np.ndarray:
        """One decoded frame as uint8 (H, W, 3) RGB."""

    @abstractmethod
    def _reopen(self) -> None:
        """Position the decoder at the first packet again."""

    @abstractmethod
    def close(self) -> None:
        """Release the file handle."""

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class PyAVReader(VideoReader):
    """PyAV-backed reader (the default): decoding from the first packet, frames counted; with the file's
    index, from the checked keyframe before a request, every frame's position checked."""

    def __init__(self, path: str | os.PathLike, threads: int | None = None, index_dir: str | os.PathLike | None = "auto"):
        super().__init__(path)
        self._threads = decoder_threads() if threads is None else int(threads)
        quiet_libav()
        self._container = None
        self._open()
        stream = self._container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        self.fps = float(rate) if rate else 0.0
        self.header_frames = int(stream.frames or 0)
        self._load_index(index_dir, self._threads)
        known = known_frame_count(self.path)
        self._len = known if known is not None else self._packet_bound()
        if self._len <= 0:
            self.close()
            raise VideoDecodeError(self.path, "video has no frames")

    def _open(self) -> None:
        import av

        try:
            self._container = av.open(str(self.path))
        except Exception as err:  # av.error.* subclasses; message names the ffmpeg cause
            raise VideoDecodeError(self.path, f"PyAV cannot open the file: {_short(err)}") from err
        if not self._container.streams.video:
            self.close()
            raise VideoDecodeError(self.path, "file has no video stream")
        stream = self._container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = self._threads

    def _packet_bound(self) -> int:
        """:meth:`_count_packets`, demuxed once per file (identity) in this process: every training clip opens
        its video again, and the demux pass would otherwise read the whole file each time."""
        ident = file_identity(self.path)
        with _KNOWN_LOCK:
            bound = _PACKET_BOUNDS.get(ident)
        if bound is None:
            bound = self._count_packets()
            with _KNOWN_LOCK:
                _PACKET_BOUNDS[ident] = bound
        return bound

    def _count_packets(self) -> int:
        """Upper bound on the decodable frames without decoding: min(header count, non-empty packets)."""
        import av

        try:
            with av.open(str(self.path)) as container:
                packets = sum(1 for p in container.demux(container.streams.video[0]) if p.size)
        except Exception as err:
            raise VideoDecodeError(self.path, f"cannot read packets: {_short(err)}") from err
        return min(self.header_frames, packets) if self.header_frames else packets

    def _decode(self) -> Iterator:
        try:
            yield from self._container.decode(self._container.streams.video[0])
        except Exception as err:
            raise VideoDecodeError(self.path, f"PyAV failed while decoding frame {self._next}: "
                                              f"{_short(err)}") from err

    @property
    def seekable(self) -> bool:
        """True when this reader seeks with its file's index (else it decodes from the first packet)."""
        return self.index is not None and self.index.seekable

    def _checked(self) -> bool:
        """Whether requests go through :meth:`_decode_checked` (seeks, skipped frames, positions checked)."""
        return self.index is not None and (self.index.seekable or self.index.skip_from_start)

    def _read_sorted(self, indices: np.ndarray) -> np.ndarray:
        if not self._checked():
            return super()._read_sorted(indices)
        try:
            return super()._read_sorted(indices)
        except SeekMismatch as err:  # the index did not hold here: never trust it for this file again
            log.warning("%s: %s; decoding from the first packet from now on", self.path, err)
            self.index = mark_unseekable(self.index, f"a checked decode did not find what the index says: {err}",
                                         self._index_dir)
            self._restart()
            return super()._read_sorted(indices)

    def _position(self, first: int) -> None:
        """Start a checked decode at the verified keyframe at or before ``first`` (or at the first packet,
        skipping non-reference frames before ``first``) when that saves decoding, else as the base class."""
        if not self._checked() or not first:
            return super()._position(first)
        index = self.index
        key = index.keyframe_for(first)
        start = key.display if key is not None else 0
        skip = (key.skip if key is not None else index.skip_from_start) and SKIP_NONREF
        if key is None and not skip:
            return super()._position(first)
        fresh = self._frames_iter is None and self._next == 0 and not self._stale
        back = self._stale or first < self._next
        if back or start > self._next or (fresh and skip):
            if key is None and not fresh:
                self._reopen()
            elif self._container is None:
                self._open()
            self._frames_iter = self._decode_checked(key, first, skip)
            self._next, self._stale = start, False
            return
        super()._position(first)

    def _decode_checked(self, key, target: int, skip: bool) -> Iterator:
        """Frames from ``key`` (None: the first packet), positions checked (:func:`~videoabnn.data.index.verified_frames`)."""
        stream = self._container.streams.video[0]
        index = self.index
        try:
            for display, frame in verified_frames(self._container, stream, index.display_of, index.frames, key,
                                                  target, skip):
                self._next = display  # frames before ``target`` may have been skipped
                yield frame
        except SeekMismatch:
            raise
        except Exception as err:
            raise VideoDecodeError(self.path, f"PyAV failed while decoding frame {self._next}: "
                                              f"{_short(err)}") from err

    def _convert(self, frame) -> np.ndarray:
        return frame.to_ndarray(format="rgb24")

    def _reopen(self) -> None:
        self.close()
        self._open()

    def close(self) -> None:
        self._frames_iter = None
        container = getattr(self, "_container", None)
        if container is not None:
            container.close()
            self._container = None


class DecordReader(VideoReader):
    """decord-backed reader, made exact: sequential ``next()`` reads from frame 0 only.

    decord's random access (``get_batch``, ``seek``, ``skip_frames``) returns wrong frames on Xvid
    AVIs with B-frames and on H.264 files with out-of-order timestamps (dmlc/decord #195, #365), so
    it is never used; sequential reading was exact on every real file and fixture we test. It converts
    every frame it passes to RGB, so it is slower than PyAV here and not the default.
    """

    def __init__(self, path: str | os.PathLike, num_threads: int | None = None,
                 index_dir: str | os.PathLike | None = "auto"):
        super().__init__(path)
        import decord

        self._decord = decord
        self._threads = decoder_threads() if num_threads is None else num_threads
        quiet_libav()
        self.header_frames, self._shape = _header(self.path)  # first: a file ffmpeg cannot open never reaches
        self._vr = None                                       # decord, whose C++ logger prints to the console
        self._reopen()
        self.fps = float(self._vr.get_avg_fps())
        self._load_index(index_dir, self._threads)
        known = known_frame_count(self.path)
        counts = [n for n in (len(self._vr), self.header_frames) if n > 0]
        self._counted = known is not None  # the true count is known: no frame past it is ever read
        self._len = known if known is not None else (min(counts) if counts else 0)
        if self._len <= 0:
            raise VideoDecodeError(self.path, "video has no frames")

    def _ensure_counted(self) -> None:
        """decord returns a copy of an earlier frame for frames the decoder never produced (the end of
        ``opencv-box.mp4``); before any frame is returned, the true count comes from PyAV (once per file)."""
        if self._counted is not False:
            return
        known = known_frame_count(self.path)
        if known is None:
            try:
                with PyAVReader(self.path, threads=self._threads, index_dir=None) as counter:
                    known = counter.count_frames()
            except VideoDecodeError as err:  # a file PyAV cannot decode to its end: frames before that still read
                log.debug("%s: frames not counted (%s)", self.path, err.cause)
                self._counted = None  # tried: not again for this reader
                return
        self._len, self._counted = known, True

    def get_frames(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        self._ensure_counted()
        return super().get_frames(indices)

    def read_all(self) -> np.ndarray:
        self._ensure_counted()
        return super().read_all()

    def count_frames(self) -> int:
        self._ensure_counted()
        return super().count_frames()

    def _reopen(self) -> None:
        try:
            self._vr = self._decord.VideoReader(str(self.path), ctx=self._decord.cpu(0), num_threads=self._threads)
        except Exception as err:  # decord raises its own DECORDError (and others) on bad input
            raise VideoDecodeError(self.path, f"decord cannot open the video: {_short(err)}") from err

    def _decode(self) -> Iterator:
        for _ in range(min(len(self._vr), self._len) if self._counted is True else len(self._vr)):
            try:
                frame = self._vr.next()
            except StopIteration:
                return
            except Exception as err:
                raise VideoDecodeError(self.path, f"decord failed to decode frame {self._next}: "
                                                  f"{_short(err)}") from err
            yield frame

    def _convert(self, frame) -> np.ndarray:
        array = frame.asnumpy()
        if array.shape != self._shape:  # decord 0.6 garbles some widths (row padding) instead of failing
            raise VideoDecodeError(self.path, f"decord returned a frame of shape {array.shape}, expected "
                                              f"{self._shape}: use the pyav backend for this file")
        return np.ascontiguousarray(array, dtype=np.uint8)

    def close(self) -> None:
        self._frames_iter = None
        self._vr = None


def _short(err: BaseException, limit: int = 300) -> str:
    text = f"{type(err).__name__}: {err}".strip()
    return text if len(text) <= limit else text[:limit] + "..."


def _header(path: str | os.PathLike) -> tuple[int, tuple[int, int, int]]:
    """(frame count the header announces or 0, frame shape (H, W, 3)); no decoding."""
    import av

    quiet_libav()
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoDecodeError(Path(path), "file has no video stream")
            stream = container.streams.video[0]
            return int(stream.frames or 0), (stream.height, stream.width, 3)
    except VideoDecodeError:
        raise
    except Exception as err:  # av.error.*: the message names ffmpeg's cause
        raise VideoDecodeError(Path(path), f"PyAV cannot open the file: {_short(err)}") from err


def header_frame_count(path: str | os.PathLike) -> int:
    """Frame count the container header announces (0 when unknown); no decoding. A file ffmpeg cannot
    open at all raises VideoDecodeError with ffmpeg's own complaint."""
    return _header(path)[0]


_QUIET = False


def quiet_libav() -> None:
    """Keep ffmpeg's messages off the console without a Python log callback; once per process.

    ``av.logging.set_level(None)`` installs PyAV's no-op C callback (it never takes the GIL). Any
    integer level would install PyAV's Python callback instead, which takes the GIL for every FFmpeg
    message: with frame-threaded decoding, closing a reader then waits on a decoder thread that waits
    on the GIL, and the process hangs (PyAV issues #751, #909). Our errors carry ffmpeg's cause anyway.
    """
    global _QUIET
    if _QUIET:
        return
    _QUIET = True
    import av

    av.logging.set_level(None)
    if decord_available():
        import decord

        decord.logging.set_level(decord.logging.QUIET)


def open_video(path: str | os.PathLike, backend: str = "auto",
               index_dir: str | os.PathLike | None = "auto") -> VideoReader:
    """Open ``path`` with ``backend``: ``pyav`` (also what ``auto`` means) or ``decord``; both exact.

    Exact: frame i is the i-th decoded frame (counted from the first packet, or from a keyframe of the
    file's index whose display index was verified; never derived from a timestamp).

    Args:
        path: the video file; missing or empty files raise `VideoDecodeError`.
        backend: ``"auto"`` (= ``"pyav"``), ``"pyav"`` or ``"decord"`` (ImportError when not installed).
            Default: "auto".
        index_dir: folder of frame indexes (built there on a file's first open): ``"auto"`` (the
            :func:`~videoabnn.data.index.set_index_dir` setting, by default ``$VIDEOABNN_INDEX_DIR`` or the
            user cache), a path, or None (no index: sequential decoding from the first packet). Default: "auto".

    Returns:
        A `VideoReader` (a context manager): ``len()``, ``fps``, ``get_frames(indices)`` -> uint8
        (T, H, W, 3) RGB, ``read_all()``.

    Examples:
        >>> with open_video("v_ApplyEyeMakeup_g01_c01.avi") as reader:
        ...     frames = reader.get_frames([0, 1, 2])
    """
    if resolve_backend(backend) == "decord":
        return DecordReader(path, index_dir=index_dir)
    return PyAVReader(path, index_dir=index_dir)
