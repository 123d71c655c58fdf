"""Per-file frame index: the true frame count and verified seek points, so a reader can start near a clip.

The exact readers of :mod:`videoabnn.data.decode` number frames by decoding from the first packet
(frame i = the i-th frame the decoder emits). Without help, a clip near the end of a file costs the
whole file. An index, built once per file, records

- ``frames``: the number of decodable frames (so ``len(reader)`` is exact at open);
- ``pts``: every frame's presentation timestamp in display order (a position check, never a frame
  number: frames are still counted);
- ``keyframes``: for each keyframe packet that a seek lands on exactly, the display index of the
  first frame decoding from it yields and how to seek to it (by its pts or its dts).

**Built** on a file's first open (or by ``videoabnn-verify``): a demux pass, one sequential decode
of the whole file (each frame's timestamp and a SHA-1 of its decoded planes), then one check decode
per keyframe, from the last back: seek to it, skip non-reference frames (FFmpeg ``skip_frame=NONREF``)
up to the middle of its group of pictures, decode every frame from there to a few frames past the
next keyframe kept, and compare every frame's timestamp and digest with the sequential decode; where
that fails (or the group is short), the same again without skipping. Only keyframes that reproduce
the sequential decode exactly are kept, and ``skip`` says whether skipping was checked from there;
decoding from the first packet with skipping is checked the same way (``skip_from_start``). Measured
cost: 3 to 5 times one decode of the file, once. A file whose timestamps are missing or repeated, or
none of whose keyframes pass, is recorded as not seekable (``seekable: false`` and the reason): its
readers decode from the first packet (skipping non-reference frames before a clip only where that was
checked) and still know their length at open. A read that finds anything else than the index says
falls back to the first packet and records the file as not seekable.

**Stored** as JSON in the index folder (:func:`resolve_index_dir`: ``data.index_dir``, the
``VIDEOABNN_INDEX_DIR`` environment variable, else ``$XDG_CACHE_HOME/videoabnn/index`` or
``~/.cache/videoabnn/index``), one file per video path, written atomically, holding the video's
identity (resolved path, size, mtime in ns) and the PyAV/FFmpeg versions that built it. An index
whose identity or versions differ, or that is not a well-formed index (corrupt, truncated, foreign),
is ignored and rebuilt.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

log = logging.getLogger("videoabnn.data")

FORMAT = "videoabnn-frame-index"
VERSION = 1
ENV_VAR = "VIDEOABNN_INDEX_DIR"
VERIFY_MARGIN = 8  # frames checked past the next keyframe's first frame (reference frames of an open GOP)
_OFF = ("", "off", "none", "null", "false", "0")
_MEMORY_ENTRIES = 512  # indexes kept in memory per process (a data loader reopens the same files)


class IndexBuildError(RuntimeError):
    """The file cannot be opened to build its index (the reader then has none)."""


def file_identity(path: str | os.PathLike) -> tuple[str, int, int]:
    """(absolute path, size, mtime in ns): changes whenever the file does."""
    path = Path(path).resolve()
    stat = path.stat()
    return str(path), stat.st_size, stat.st_mtime_ns


def _short(err: BaseException, limit: int = 300) -> str:
    text = f"{type(err).__name__}: {err}".strip()
    return text if len(text) <= limit else text[:limit] + "..."


class SeekMismatch(Exception):
    """A seek did not land where the index says (internal: the reader falls back to sequential decoding)."""


@dataclass(frozen=True)
class Keyframe:
    """A verified seek point: seeking to the packet (``pts``, ``dts``) by ``seek`` yields frame ``display`` first."""

    display: int
    pts: int
    dts: int | None
    seek: str  # "pts" or "dts": the timestamp that av_seek_frame lands on exactly this packet with
    skip: bool = False  # decoding from here may skip non-reference frames before a clip (checked)


@dataclass(frozen=True)
class VideoIndex:
    """What one decode of a file found (see the module docstring)."""

    path: str
    size: int
    mtime_ns: int
    decoder: str
    header_frames: int
    frames: int | None  # None: the sequential decode failed (``reason`` says where)
    seekable: bool
    reason: str = ""
    pts: tuple[int, ...] = ()
    keyframes: tuple[Keyframe, ...] = ()
    candidates: int = 0  # keyframe packets after the first that were tried
    skip_from_start: bool = False  # decoding from the first packet may skip non-reference frames (checked)
    _displays: list[int] = field(default_factory=list, repr=False, compare=False)
    _pts_map: dict[int, int] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_displays", [k.display for k in self.keyframes])

    @property
    def identity(self) -> tuple[str, int, int]:
        return self.path, self.size, self.mtime_ns

    def keyframe_for(self, frame: int) -> Keyframe | None:
        """The verified keyframe with the largest display index at or before ``frame`` (None: the first packet)."""
        if not self.seekable:
            return None
        k = bisect.bisect_right(self._displays, int(frame)) - 1
        return self.keyframes[k] if k >= 0 else None

    def display_of(self, pts: int | None) -> int | None:
        """Display index of the frame with timestamp ``pts`` (None when no frame has it)."""
        if self._pts_map is None:
            object.__setattr__(self, "_pts_map", {p: i for i, p in enumerate(self.pts)})
        return self._pts_map.get(pts)

    def to_json(self) -> dict:
        return {"format": FORMAT, "version": VERSION, "path": self.path, "size": self.size,
                "mtime_ns": self.mtime_ns, "decoder": self.decoder, "header_frames": self.header_frames,
                "frames": self.frames, "seekable": self.seekable, "reason": self.reason,
                "candidates": self.candidates, "skip_from_start": self.skip_from_start,
                "keyframes": [[k.display, k.pts, k.dts, k.seek, k.skip] for k in self.keyframes],
                "pts": list(self.pts)}

    @classmethod
    def from_json(cls, data) -> VideoIndex:
        """Parse and check an index; ValueError when it is not a well-formed index of this version."""
        if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("version") != VERSION:
            raise ValueError("not a frame index of this version")
        try:
            frames = data["frames"]
            index = cls(path=_typed(data["path"], str), size=_typed(data["size"], int),
                        mtime_ns=_typed(data["mtime_ns"], int), decoder=_typed(data["decoder"], str),
                        header_frames=_typed(data["header_frames"], int),
                        frames=None if frames is None else _typed(frames, int),
                        seekable=_typed(data["seekable"], bool), reason=_typed(data["reason"], str),
                        candidates=_typed(data["candidates"], int),
                        skip_from_start=_typed(data["skip_from_start"], bool),
                        pts=tuple(_typed(p, int) for p in data["pts"]),
                        keyframes=tuple(Keyframe(_typed(d, int), _typed(p, int), None if q is None else _typed(q, int),
                                                 _typed(s, str), _typed(k, bool))
                                        for d, p, q, s, k in data["keyframes"]))
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"malformed frame index: {err}") from None
        index._check()
        return index

    def _check(self) -> None:
        """Internal consistency: what a reader relies on must hold, or the index is not used."""
        if self.frames is not None and self.frames <= 0:
            raise ValueError("frame count must be positive")
        if self.pts and (self.frames is None or len(self.pts) != self.frames or len(set(self.pts)) != len(self.pts)):
            raise ValueError("timestamps do not match the frame count or repeat")
        if self.skip_from_start and not self.pts:
            raise ValueError("skipping frames needs timestamps")
        if self.seekable:
            if not self.pts or not self.keyframes:
                raise ValueError("a seekable index needs timestamps and keyframes")
            displays = [k.display for k in self.keyframes]
            if displays != sorted(set(displays)) or displays[0] <= 0 or displays[-1] >= self.frames:
                raise ValueError("keyframe display indices out of order or range")
            for k in self.keyframes:
                if k.seek not in ("pts", "dts") or (k.seek == "dts" and k.dts is None) or self.pts[k.display] != k.pts:
                    raise ValueError("keyframe does not match the timestamps")


def _typed(value, kind):
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise TypeError(f"expected an integer, got {value!r}")
    if kind is not int and not isinstance(value, kind):
        raise TypeError(f"expected {kind.__name__}, got {value!r}")
    return value


# ---- where indexes live ------------------------------------------------------------------------

_SETTING: str | os.PathLike | None = "auto"


def user_cache_index_dir() -> Path:
    """The user cache folder for indexes (``$XDG_CACHE_HOME/videoabnn/index``, else ``~/.cache/...``)."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path("~/.cache").expanduser())
    return Path(cache) / "videoabnn" / "index"


def default_index_dir() -> Path | None:
    """``$VIDEOABNN_INDEX_DIR`` (``cache``: :func:`user_cache_index_dir`; empty, ``off``, ``none``: no index);
    unset: no index. Opt-in for this version: the index is new, and without it the readers decode exactly
    as 0.1.0 did (``data.index_dir: <folder>`` or ``cache`` turns it on for a run)."""
    env = os.environ.get(ENV_VAR)
    if env is None or env.strip().lower() in _OFF:
        return None
    return user_cache_index_dir() if env.strip().lower() == "cache" else Path(env).expanduser()


def set_index_dir(value: str | os.PathLike | None) -> None:
    """Index folder every reader opened from now on uses when given ``index_dir="auto"`` (the default):
    a path, ``"auto"`` (:func:`default_index_dir`) or None (no index: sequential decoding, as before)."""
    global _SETTING
    _SETTING = value


def resolve_index_dir(value: str | os.PathLike | None = "auto") -> Path | None:
    """The folder ``value`` means: ``"auto"`` -> :func:`set_index_dir`'s setting (itself ``"auto"`` by default:
    :func:`default_index_dir`); None, ``""``, ``"off"``, ``"none"`` -> no index; else the path."""
    if isinstance(value, str) and value == "auto":
        value = _SETTING
        if isinstance(value, str) and value == "auto":
            return default_index_dir()
    if value is None or value is False or (isinstance(value, str) and value.strip().lower() in _OFF):
        return None
    if isinstance(value, str) and value == "cache":
        return user_cache_index_dir()
    return Path(value).expanduser()


def index_path(video: str | os.PathLike, index_dir: str | os.PathLike) -> Path:
    """The index file of ``video`` (by its resolved path) in ``index_dir``."""
    key = hashlib.sha256(str(Path(video).resolve()).encode()).hexdigest()[:40]
    return Path(index_dir) / key[:2] / f"{key}.json"


def decoder_version() -> str:
    import av

    libs = av.library_versions
    return (f"pyav {av.__version__} libavcodec {'.'.join(map(str, libs['libavcodec']))} "
            f"libavformat {'.'.join(map(str, libs['libavformat']))}")


# ---- loading, caching, saving ------------------------------------------------------------------

_MEMORY: OrderedDict[tuple[str, tuple[str, int, int]], VideoIndex] = OrderedDict()  # (index folder, identity)
_LOCK = threading.Lock()
_BUILDING: dict[tuple[str, int, int], threading.Lock] = {}


def load_index(video: str | os.PathLike, index_dir: str | os.PathLike) -> VideoIndex | None:
    """The stored index of ``video`` when it is well formed and matches the file and this decoder, else None."""
    path = index_path(video, index_dir)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        log.debug("%s: unreadable frame index %s ignored (%s)", video, path, err)
        return None
    try:
        index = VideoIndex.from_json(data)
    except ValueError as err:
        log.debug("%s: frame index %s ignored: %s", video, path, err)
        return None
    if index.identity != file_identity(video) or index.decoder != decoder_version():
        log.debug("%s: frame index %s is stale (file or decoder changed)", video, path)
        return None
    return index


def save_index(index: VideoIndex, index_dir: str | os.PathLike) -> Path | None:
    """Write ``index`` atomically; None (logged) when the folder is not writable."""
    from videoabnn.utils.io import atomic_write_text

    path = index_path(index.path, index_dir)
    try:
        return atomic_write_text(path, json.dumps(index.to_json(), separators=(",", ":")) + "\n")
    except OSError as err:
        log.warning("cannot write the frame index of %s to %s: %s (kept in memory only)", index.path, path, err)
        return None


def _remember(index: VideoIndex, index_dir: str | os.PathLike | None) -> None:
    key = (str(index_dir), index.identity)
    with _LOCK:
        _MEMORY[key] = index
        _MEMORY.move_to_end(key)
        while len(_MEMORY) > _MEMORY_ENTRIES:
            _MEMORY.popitem(last=False)


def forget_indexes() -> None:
    """Drop the indexes held in memory (the files stay)."""
    with _LOCK:
        _MEMORY.clear()


def get_index(video: str | os.PathLike, index_dir: str | os.PathLike, threads: int = 0) -> VideoIndex:
    """The index of ``video``: from memory, else from ``index_dir``, else built now and saved there."""
    ident = file_identity(video)
    key = (str(index_dir), ident)
    with _LOCK:
        index = _MEMORY.get(key)
        building = _BUILDING.setdefault(key, threading.Lock())
    if index is not None:
        return index
    with building:  # one build per file at a time (threads of one process)
        with _LOCK:
            index = _MEMORY.get(key)
        if index is None:
            index = load_index(video, index_dir)
            if index is None:
                index = build_index(video, threads)
                if file_identity(video) == ident:  # not changed while it was read
                    save_index(index, index_dir)
            _remember(index, index_dir)
    with _LOCK:
        _BUILDING.pop(key, None)
    return index


def mark_unseekable(index: VideoIndex, reason: str, index_dir: str | os.PathLike | None) -> VideoIndex:
    """Record that seeking (and skipping) in this file is not to be trusted (in memory, and in ``index_dir``)."""
    marked = replace(index, seekable=False, reason=reason, keyframes=(), skip_from_start=False)
    _remember(marked, index_dir)
    if index_dir is not None:
        save_index(marked, index_dir)
    return marked


# ---- decoding from a start point, every frame's position checked ---------------------------------


def _packets_after_seek(container, stream, pts: int, dts: int | None, by: str) -> Iterator:
    """Packets after seeking ``container`` to the keyframe packet (``pts``, ``dts``) by its ``by`` timestamp;
    raises :class:`SeekMismatch` (before any packet) when the first packet read is another one."""
    target = pts if by == "pts" else dts
    try:
        container.seek(int(target), stream=stream, backward=True, any_frame=False)
    except Exception as err:  # av.error.*: the demuxer cannot seek this file
        raise SeekMismatch(f"seek to {by} {target} failed: {type(err).__name__}: {err}") from err
    first = True
    for packet in container.demux(stream):
        if first and packet.size:
            if packet.pts != pts or packet.dts != dts:
                raise SeekMismatch(f"seek to {by} {target} landed on packet pts {packet.pts} dts {packet.dts}, "
                                   f"not on the keyframe (pts {pts}, dts {dts})")
            first = False
        yield packet


def _set_skip(stream, mode: str) -> None:
    try:
        stream.codec_context.skip_frame = mode
    except Exception:  # a closed context: nothing left to decode
        pass


def verified_frames(container, stream, display_of, frames: int, start: Keyframe | None, target: int = 0,
                    skip: bool = False, by: str | None = None) -> Iterator[tuple[int, object]]:
    """``(display index, frame)`` decoded from ``start`` (a keyframe to seek to; None: the container's first
    packet, which it must be at) on, each frame's position checked by its timestamp (``display_of``).

    With ``skip``, non-reference frames whose packets display before ``target`` are not decoded
    (FFmpeg ``skip_frame=NONREF``), up to the first packet at or after ``target`` (or of unknown position),
    from where every packet is decoded. Checks, any failing raising :class:`SeekMismatch`: the first
    packet after a seek is the keyframe's; each frame's timestamp is known and its display index is the
    next one, or (only skipped frames missing) a later one no further than ``target``; the stream ends
    after frame ``frames - 1``. Frames before ``target`` may thus be missing, never those from ``target`` on.
    """
    expected = start.display if start is not None else 0
    skipping = bool(skip) and target > expected
    packets = (container.demux(stream) if start is None
               else _packets_after_seek(container, stream, start.pts, start.dts, by or start.seek))
    _set_skip(stream, "NONREF" if skipping else "DEFAULT")
    try:
        for packet in packets:
            if skipping and (not packet.size or (d := display_of(packet.pts)) is None or d >= target):
                _set_skip(stream, "DEFAULT")
                skipping = False
            for frame in packet.decode():
                d = display_of(frame.pts)
                if d is None or d < expected or (d > expected and (not skip or d > target)):
                    where = f"after the seek to frame {start.display}" if start is not None else "from the first packet"
                    raise SeekMismatch(f"{where}, frame {expected} was expected, the decoder gave timestamp "
                                       f"{frame.pts} (frame {d})")
                yield d, frame
                expected = d + 1
    finally:
        if skipping:
            _set_skip(stream, "DEFAULT")
    if expected != frames:
        raise SeekMismatch(f"the stream ended after frame {expected - 1}, the index counts {frames}")


# ---- building ----------------------------------------------------------------------------------


def _open_stream(path: Path, threads: int):
    import av

    container = av.open(str(path))
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    stream.codec_context.thread_count = threads
    return container, stream


def _digest(frame) -> bytes:
    """The decoded picture in its own pixel format (RGB where PyAV has no layout for it), hashed."""
    try:
        planes = frame.to_ndarray()
    except Exception:  # a pixel format without a native ndarray layout
        planes = frame.to_ndarray(format="rgb24")
    return hashlib.sha1(np.ascontiguousarray(planes).data).digest()


def _check_run(path: Path, threads: int, display_of, digests: list[bytes], start: Keyframe | None, end: int,
               target: int = 0, skip: bool = False, by: str | None = None) -> str | None:
    """Decode from ``start`` as a reader would and compare frames up to ``end`` (exclusive; the whole rest
    when ``end`` is the frame count) with the sequential decode; None when identical, else what differed."""
    n = len(digests)
    try:
        container, stream = _open_stream(path, threads)
    except Exception as err:
        return f"cannot open: {type(err).__name__}: {err}"
    try:
        for d, frame in verified_frames(container, stream, display_of, n, start, target, skip, by):
            if _digest(frame) != digests[d]:
                return f"frame {d}: pixels differ from the sequential decode"
            if d + 1 >= end and end < n:
                return None
        return None
    except SeekMismatch as err:
        return str(err)
    except Exception as err:
        return f"decoding failed: {type(err).__name__}: {err}"
    finally:
        container.close()


def _decode_pass(path: Path, threads: int) -> tuple[list[int], list[bytes], bool, str | None]:
    """One sequential decode: every frame's pts, their digests, whether timestamps are present and unique (a
    position after a seek can then be checked; digests are dropped otherwise) and why decoding failed (or None)."""
    container, stream = _open_stream(path, threads)
    pts_list: list[int] = []
    digests: list[bytes] = []
    usable = True
    seen: set[int] = set()
    try:
        for frame in container.decode(stream):
            if usable and (frame.pts is None or frame.pts in seen):
                usable, digests = False, []
            if usable:
                seen.add(frame.pts)
                digests.append(_digest(frame))
            pts_list.append(frame.pts)
    except Exception as err:
        return pts_list, digests, usable, f"decoding failed at frame {len(pts_list)}: {_short(err)}"
    finally:
        container.close()
    return pts_list, digests, usable, None


def build_index(video: str | os.PathLike, threads: int = 0, skip: bool = True) -> VideoIndex:
    """Demux and decode ``video`` once, then check every keyframe (and skipping non-reference frames) by
    decoding from it and comparing with that decode; return the index (see the module docstring)."""
    import av

    path = Path(video)
    av.logging.set_level(None)  # as decode.quiet_libav: no Python log callback (see there)
    ident = file_identity(path)
    base = {"path": ident[0], "size": ident[1], "mtime_ns": ident[2], "decoder": decoder_version()}
    try:
        container, stream = _open_stream(path, threads)
    except Exception as err:
        raise IndexBuildError(f"{path}: PyAV cannot open the file: {_short(err)}") from err
    base["header_frames"] = int(stream.frames or 0)
    try:
        keys = [(p.pts, p.dts) for p in container.demux(stream) if p.size and p.is_keyframe]
    except Exception as err:
        container.close()
        return VideoIndex(**base, frames=None, seekable=False, reason=f"cannot read packets: {_short(err)}")
    container.close()
    pts_list, digests, usable, failure = _decode_pass(path, threads)
    if failure is not None:
        return VideoIndex(**base, frames=None, seekable=False, reason=failure)
    n = len(pts_list)
    if n == 0:
        return VideoIndex(**base, frames=None, seekable=False, reason="no decodable frames")
    if not usable:
        return VideoIndex(**base, frames=n, seekable=False,
                          reason="frame timestamps are missing or repeat: a position after a seek cannot be checked")
    display = {p: i for i, p in enumerate(pts_list)}
    candidates = sorted({display[p]: (p, q) for p, q in keys[1:] if display.get(p, 0) > 0}.items())

    def check(start: Keyframe | None, stop: int) -> tuple[bool, bool, str | None]:
        """(usable, skipping checked, why not) for decoding from ``start`` (None: the first packet) up to the
        next usable start point ``stop``: first skipping non-reference frames up to the middle of that span
        (then every frame to ``stop`` plus a margin); where that fails or the span is short, without skipping."""
        first = start.display if start is not None else 0
        end = min(n, stop + VERIFY_MARGIN) if stop < n else n
        if skip and stop - first >= 4:
            if _check_run(path, threads, display.get, digests, start, end, (first + stop) // 2, True) is None:
                return True, True, None
        if start is None:
            return True, False, None  # the sequential decode itself
        why = _check_run(path, threads, display.get, digests, start, end)
        return why is None, False, why

    verified: list[Keyframe] = []
    rejected: list[str] = []
    for d, (p, q) in reversed(candidates):  # from the end: a keyframe is checked up to the next one kept
        stop = verified[-1].display if verified else n
        why = None
        for by in ("pts", "dts"):
            if by == "dts" and q is None:
                continue
            ok, skipping, why = check(Keyframe(d, p, q, by), stop)
            if ok:
                verified.append(Keyframe(d, p, q, by, skipping))
                break
        if why is not None:
            rejected.append(f"keyframe at frame {d}: {why}")
    verified.reverse()
    skip_start = check(None, verified[0].display if verified else n)[1]
    if not verified:
        reason = ("no keyframe after the first" if not candidates else
                  f"none of {len(candidates)} keyframes reproduces the sequential decode after a seek"
                  + (f" ({rejected[-1]})" if rejected else ""))
        return VideoIndex(**base, frames=n, seekable=False, reason=reason, pts=tuple(pts_list),
                          candidates=len(candidates), skip_from_start=skip_start)
    reason = "" if not rejected else f"{len(rejected)} of {len(candidates)} keyframes not used ({rejected[-1]})"
    return VideoIndex(**base, frames=n, seekable=True, reason=reason, pts=tuple(pts_list), keyframes=tuple(verified),
                      candidates=len(candidates), skip_from_start=skip_start)
