"""Input-transformation defenses for video: NCTHW clips in [0, 1] in, the same shape and range out.

Each transform says whether autograd can differentiate it (``differentiable``) and whether it draws
randomness (``random``). Randomness is drawn per clip from ``(seed, the clip's pixels, draw)``, so a
transform is deterministic under a seed and independent of the batch a clip is in, and a changed
(adversarial) clip gets fresh randomness, as a deployed randomized defense would. ``draw`` 0 is the
one the defended model uses; an EOT attacker averages over draws 1..k.

- ``jpeg``: per-frame JPEG at a quality (Das et al. 2017); not differentiable.
- ``codec``: the clip re-encoded with a video codec through PyAV (H.264 when available, MPEG-4
  otherwise) in memory, as every video pipeline does; not differentiable.
- ``resize_pad``: random rescale and random zero padding back to size (Xie et al. 2018); random.
- ``temporal_shuffle``: random frame order, optionally only within windows (Hwang et al.); random.
- ``bit_depth``: keep ``bits`` bits per channel (Xu et al.); its gradient is zero almost everywhere.
- ``median``: spatial median filter per frame; differentiable (through the selected pixel).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from videoabnn.attacks.base import clip_seed

_TRANSFORMS: dict[str, type[InputTransform]] = {}


def register_transform(name: str) -> Callable[[type], type]:
    """Class decorator: make a transform buildable by name from a config mapping."""

    def add(cls: type) -> type:
        cls.name = name
        _TRANSFORMS[name] = cls
        return cls

    return add


def list_transforms() -> list[str]:
    return sorted(_TRANSFORMS)


def build_transform(spec: str | Mapping[str, Any]) -> InputTransform:
    """A transform from ``"jpeg"`` or ``{"name": "jpeg", "quality": 50}``; unknown names or arguments
    raise a ValueError naming the valid ones."""
    spec = {"name": spec} if isinstance(spec, str) else dict(spec)
    name = spec.pop("name", None)
    if name not in _TRANSFORMS:
        raise ValueError(f"input transform: expected one of {', '.join(list_transforms())}, got {name!r}")
    try:
        return _TRANSFORMS[name](**spec)
    except TypeError as err:
        raise ValueError(f"input transform {name}: {err}") from err


class InputTransform(nn.Module):
    """Base class: ``forward(x, draw=0)``; subclasses implement ``apply(clip, generator)`` per clip or
    ``apply_batch`` for the whole batch."""

    name = "transform"
    differentiable = True
    random = False

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        self.seed = int(seed)

    def spec(self) -> dict[str, Any]:
        """The config mapping that rebuilds this transform."""
        return {"name": self.name, **self.params()}

    def params(self) -> dict[str, Any]:
        return {"seed": self.seed}

    def generator(self, clip: Tensor, draw: int) -> torch.Generator:
        gen = torch.Generator(device="cpu")
        gen.manual_seed(clip_seed(clip, self.seed * 1_000_003 + int(draw)))
        return gen

    def forward(self, x: Tensor, draw: int = 0) -> Tensor:
        if x.dim() != 5:
            raise ValueError(f"{self.name}: expected NCTHW clips, got shape {tuple(x.shape)}")
        if not self.random:
            return self.apply_batch(x)
        return torch.stack([self.apply(clip, self.generator(clip, draw)) for clip in x])

    def apply_batch(self, x: Tensor) -> Tensor:
        return torch.stack([self.apply(clip, None) for clip in x])

    def apply(self, clip: Tensor, gen: torch.Generator | None) -> Tensor:
        raise NotImplementedError

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.params().items())


def _to_uint8(clip: Tensor) -> Tensor:
    return (clip.detach().clamp(0, 1) * 255).round().to(torch.uint8).cpu()


@register_transform("jpeg")
class JPEGFrames(InputTransform):
    """Every frame through JPEG at ``quality`` (Pillow's libjpeg, 4:2:0 chroma as most encoders)."""

    differentiable = False

    def __init__(self, quality: int = 75, seed: int = 0) -> None:
        super().__init__(seed)
        if not 1 <= int(quality) <= 100:
            raise ValueError(f"jpeg: quality must be in 1..100, got {quality}")
        self.quality = int(quality)

    def params(self) -> dict[str, Any]:
        return {"quality": self.quality}

    def standin(self, x: Tensor) -> Tensor:
        """A differentiable approximation of this transform (BPDA ``standin``): :func:`diff_jpeg` per frame."""
        from videoabnn.defenses.diff_codec import diff_clip_codec

        return diff_clip_codec(x, "jpeg", self.quality)

    def apply(self, clip: Tensor, gen: torch.Generator | None) -> Tensor:
        from PIL import Image

        coded = []
        for frame in _to_uint8(clip).permute(1, 2, 3, 0).numpy():  # T x (H, W, C)
            buf = io.BytesIO()
            Image.fromarray(frame).save(buf, format="JPEG", quality=self.quality)
            coded.append(np.asarray(Image.open(buf).convert("RGB")))
        return torch.from_numpy(np.stack(coded)).permute(3, 0, 1, 2).to(clip.device, clip.dtype) / 255


@register_transform("codec")
class CodecReencode(InputTransform):
    """The clip encoded and decoded in memory with ``codec`` (h264 when PyAV has it, else mpeg4) at ``crf``
    (h264) or ``qscale`` (mpeg4) quality."""

    differentiable = False

    def __init__(self, codec: str = "auto", crf: int = 28, qscale: int = 8, seed: int = 0) -> None:
        super().__init__(seed)
        self.codec = _pick_codec(codec)
        self.crf, self.qscale = int(crf), int(qscale)

    def params(self) -> dict[str, Any]:
        return {"codec": self.codec, "crf": self.crf, "qscale": self.qscale}

    def standin(self, x: Tensor) -> Tensor:
        """A differentiable approximation (BPDA ``standin``): :func:`diff_h264` at ``crf`` per frame (h264 only)."""
        from videoabnn.defenses.diff_codec import diff_clip_codec

        if self.codec != "h264":
            raise ValueError(f"bpda standin: no stand-in is calibrated for codec {self.codec!r} (only h264)")
        return diff_clip_codec(x, "h264", self.crf)

    def apply(self, clip: Tensor, gen: torch.Generator | None) -> Tensor:
        import av

        frames = _to_uint8(clip).permute(1, 2, 3, 0).numpy()  # T, H, W, C
        t, h, w, _ = frames.shape
        pad_h, pad_w = h % 2, w % 2  # yuv420p needs even sides
        if pad_h or pad_w:
            frames = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
        buf = io.BytesIO()
        with av.open(buf, mode="w", format="avi" if self.codec == "mpeg4" else "matroska") as out:
            stream = out.add_stream("libx264" if self.codec == "h264" else "mpeg4", rate=25)
            stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
            stream.options = {"crf": str(self.crf), "preset": "ultrafast", "tune": "zerolatency"} \
                if self.codec == "h264" else {"qscale": str(self.qscale)}
            if self.codec == "mpeg4":
                stream.codec_context.qscale = self.qscale
            for frame in frames:
                out.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")))
            out.mux(stream.encode())
        buf.seek(0)
        with av.open(buf) as inp:
            decoded = [f.to_ndarray(format="rgb24") for f in inp.decode(video=0)]
        if len(decoded) != t:
            raise RuntimeError(f"codec {self.codec}: {len(decoded)} frames came back for {t}")
        out_frames = torch.from_numpy(np.stack(decoded)[:, :h, :w]).permute(3, 0, 1, 2)
        return out_frames.to(clip.device, clip.dtype) / 255


def _pick_codec(codec: str) -> str:
    import av

    if codec not in ("auto", "h264", "mpeg4"):
        raise ValueError(f"codec: expected auto, h264 or mpeg4, got {codec!r}")
    if codec != "mpeg4" and "libx264" in av.codecs_available:
        return "h264"
    if codec == "h264":
        raise ValueError("codec h264: this PyAV build has no libx264 encoder (use codec: mpeg4)")
    return "mpeg4"


@register_transform("resize_pad")
class RandomResizePad(InputTransform):
    """Rescale each clip's frames to a random side in [min_scale * S, S] (bilinear), then zero-pad at a
    random offset back to S x S (Xie et al.'s randomization, per clip, same for all its frames)."""

    random = True

    def __init__(self, min_scale: float = 0.8, seed: int = 0) -> None:
        super().__init__(seed)
        if not 0 < float(min_scale) <= 1:
            raise ValueError(f"resize_pad: min_scale must be in (0, 1], got {min_scale}")
        self.min_scale = float(min_scale)

    def params(self) -> dict[str, Any]:
        return {"min_scale": self.min_scale, "seed": self.seed}

    def apply(self, clip: Tensor, gen: torch.Generator | None) -> Tensor:
        c, t, h, w = clip.shape
        low = max(1, round(self.min_scale * min(h, w)))
        side = int(torch.randint(low, min(h, w) + 1, (1,), generator=gen))
        top = int(torch.randint(0, h - side + 1, (1,), generator=gen))
        left = int(torch.randint(0, w - side + 1, (1,), generator=gen))
        small = F.interpolate(clip.transpose(0, 1), size=(side, side), mode="bilinear", align_corners=False)
        return F.pad(small, (left, w - side - left, top, h - side - top)).transpose(0, 1)


@register_transform("temporal_shuffle")
class TemporalShuffle(InputTransform):
    """A random permutation of the frames; with ``window`` w, frames are shuffled only within
    consecutive windows of w frames (local order of the action kept)."""

    random = True

    def __init__(self, window: int | None = None, seed: int = 0) -> None:
        super().__init__(seed)
        if window is not None and int(window) < 2:
            raise ValueError(f"temporal_shuffle: window must be >= 2 or null, got {window}")
        self.window = None if window is None else int(window)

    def params(self) -> dict[str, Any]:
        return {"window": self.window, "seed": self.seed}

    def apply(self, clip: Tensor, gen: torch.Generator | None) -> Tensor:
        t = clip.shape[1]
        size = t if self.window is None else self.window
        order = torch.cat([start + torch.randperm(min(size, t - start), generator=gen) for start in range(0, t, size)])
        return clip[:, order.to(clip.device)]


@register_transform("bit_depth")
class BitDepth(InputTransform):
    """Quantize each value to ``bits`` bits (2**bits levels)."""

    differentiable = False  # autograd's gradient of rounding is zero almost everywhere

    def __init__(self, bits: int = 4, seed: int = 0) -> None:
        super().__init__(seed)
        if not 1 <= int(bits) <= 8:
            raise ValueError(f"bit_depth: bits must be in 1..8, got {bits}")
        self.bits = int(bits)

    def params(self) -> dict[str, Any]:
        return {"bits": self.bits}

    def apply_batch(self, x: Tensor) -> Tensor:
        levels = 2 ** self.bits - 1
        return torch.round(x * levels) / levels


@register_transform("median")
class MedianSmoothing(InputTransform):
    """A ``size`` x ``size`` spatial median filter on every frame (reflect padding)."""

    def __init__(self, size: int = 3, seed: int = 0) -> None:
        super().__init__(seed)
        if int(size) < 2:
            raise ValueError(f"median: size must be >= 2, got {size}")
        self.size = int(size)

    def params(self) -> dict[str, Any]:
        return {"size": self.size}

    def apply_batch(self, x: Tensor) -> Tensor:
        n, c, t, h, w = x.shape
        k = self.size
        frames = x.permute(0, 2, 1, 3, 4).reshape(n * t, c, h, w)
        padded = F.pad(frames, ((k - 1) // 2, k // 2, (k - 1) // 2, k // 2), mode="reflect")
        patches = padded.unfold(2, k, 1).unfold(3, k, 1)  # N*T, C, H, W, k, k
        med = patches.reshape(n * t, c, h, w, k * k).median(dim=-1).values
        return med.reshape(n, t, c, h, w).permute(0, 2, 1, 3, 4)
