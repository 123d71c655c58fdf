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
    """Class decorator: make a transform buildable by name from a config mapping.

    Args:
        name: the transform's name in `build_transform` specs and configs (``model.input_transform``).

    Examples:
        >>> @register_transform("invert")
        ... class Invert(InputTransform):
        ...     def apply_batch(self, x):
        ...         return 1 - x
    """

    def add(cls: type) -> type:
        cls.name = name
        _TRANSFORMS[name] = cls
        return cls

    return add


def list_transforms() -> list[str]:
    """Sorted names of the registered input transforms."""
    return sorted(_TRANSFORMS)


def build_transform(spec: str | Mapping[str, Any]) -> InputTransform:
    """A transform from ``"jpeg"`` or ``{"name": "jpeg", "quality": 50}``; unknown names or arguments
    raise a ValueError naming the valid ones.

    Args:
        spec: a registered name (`list_transforms`), or a mapping with ``name`` and the transform's
            constructor arguments (what `InputTransform.spec` returns).

    Returns:
        The transform module.

    Examples:
        >>> t = build_transform({"name": "resize_pad", "min_scale": 0.8, "seed": 0})
    """
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
    ``apply_batch`` for the whole batch.

    A subclass sets ``differentiable`` (autograd may differentiate it) and ``random`` (it draws randomness)
    and registers itself with `register_transform`. A random transform's generator is seeded per clip from
    ``(seed, the clip's pixels, draw)``: deterministic under a seed, independent of the batch, fresh for a
    changed clip. ``draw`` 0 is the defended model's; EOT attackers average over draws 1..k.

    Args:
        seed: seed of the transform's randomness (unused by deterministic transforms). Default: 0.

    Shape:
        - input: (N, C, T, H, W) float clips in [0, 1] (NCTHW; any other rank raises ValueError).
        - output: the same shape, dtype and device, values in [0, 1].
    """

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
    """Every frame through JPEG at ``quality`` (Pillow's libjpeg, 4:2:0 chroma as most encoders).

    Paper: Dziugaite et al., "A study of the effect of JPG compression on adversarial images", 2016; Das et al.,
    "Keeping the Bad Guys Out: Protecting and Vaccinating Deep Learning with JPEG Compression", 2017; Guo et al.,
    "Countering Adversarial Images using Input Transformations", ICLR 2018.

    Threat model: non-differentiable and deterministic: autograd through it gives a zero gradient (what a
    naive evaluation gets fooled by); white-box attacks use BPDA (``attack_view(bpda="auto")``: identity
    backward) or the differentiable JPEG ``standin`` (`diff_jpeg`); EOT is not needed.

    Args:
        quality: JPEG quality, 1..100 (higher keeps more detail). Default: 75.
        seed: unused (the transform is deterministic; kept for the common interface). Default: 0.

    Shape:
        - input: (N, C, T, H, W) float clips in [0, 1] (NCTHW; any other rank raises ValueError).
        - output: the same shape, dtype and device, values in [0, 1].

    Examples:
        >>> jpeg = build_transform({"name": "jpeg", "quality": 50})
        >>> out = jpeg(torch.rand(2, 3, 8, 32, 32))
    """

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
    (h264) or ``qscale`` (mpeg4) quality.

    Encoded with PyAV (libx264 ``preset=ultrafast, tune=zerolatency`` in Matroska, or MPEG-4 Part 2 in AVI) at
    25 fps, yuv420p; odd frame sides are edge-padded for the encoder and cropped back.

    Paper: none of its own: the video counterpart of the JPEG defense (Das et al. 2017; Guo et al., ICLR 2018),
    the re-encoding every video pipeline applies.

    Threat model: non-differentiable and deterministic: autograd through it gives a zero gradient; white-box
    attacks use BPDA (``attack_view(bpda="auto")``: identity backward) or, for h264, the ``standin``
    (`diff_h264` at ``crf``: per-frame DCT quantization, not a model of the codec); EOT is not needed.

    Args:
        codec: ``"auto"`` (h264 when this PyAV build has libx264, else mpeg4), ``"h264"`` (ValueError without
            libx264) or ``"mpeg4"``. Default: "auto".
        crf: h264 constant rate factor, 0..51 (lower keeps more detail). Default: 28.
        qscale: mpeg4 quantizer scale, 1..31 (lower keeps more detail). Default: 8.
        seed: unused (the transform is deterministic; kept for the common interface). Default: 0.

    Shape:
        - input: (N, C, T, H, W) float clips in [0, 1] (NCTHW; any other rank raises ValueError).
        - output: the same shape, dtype and device, values in [0, 1].

    Examples:
        >>> codec = build_transform({"name": "codec", "codec": "h264", "crf": 23})
        >>> out = codec(torch.rand(1, 3, 16, 112, 112))
    """

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
    random offset back to S x S (Xie et al.'s randomization, per clip, same for all its frames).

    S is the clip's shorter side, min(H, W); the frames are resized to side x side (a non-square clip is also
    squeezed) and padded back to H x W.

    Paper: Xie et al., "Mitigating Adversarial Effects Through Randomization", ICLR 2018.

    Threat model: random but differentiable (bilinear resize and padding): white-box attacks differentiate
    through it and use EOT over its randomness (``attack_view``: 8 draws by default); the draw depends on
    the clip's pixels, so a perturbed clip gets fresh randomness, as a deployed defense would.

    Args:
        min_scale: smallest side as a fraction of S, in (0, 1]. Default: 0.8.
        seed: seed of the per-clip randomness. Default: 0.

    Shape:
        - input: (N, C, T, H, W) float clips in [0, 1] (NCTHW; any other rank raises ValueError).
        - output: the same shape, dtype and device, values in [0, 1].

    Examples:
        >>> rp = build_transform({"name": "resize_pad", "min_scale": 0.9, "seed": 1})
        >>> out = rp(torch.rand(2, 3, 8, 32, 32))
    """

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
    consecutive windows of w frames (local order of the action kept).

    Paper: Hwang et al., "Temporal Shuffling for Defending Deep Action Recognition Models against Adversarial
    Attacks", arXiv 2021.

    Threat model: random but differentiable (a permutation: the gradient is permuted back): white-box attacks
    differentiate through it and use EOT over its randomness (``attack_view``: 8 draws by default); the
    draw depends on the clip's pixels.

    Args:
        window: frames per shuffling window, >= 2 (the last window may be shorter), or None to permute all the
            frames of the clip. Default: None.
        seed: seed of the per-clip randomness. Default: 0.

    Shape:
        - input: (N, C, T, H, W) float clips in [0, 1] (NCTHW; any other rank raises ValueError).
        - output: the same shape, dtype and device, values in [0, 1].

    Examples:
        >>> shuffle = build_transform({"name": "temporal_shuffle", "window": 4})
        >>> out = shuffle(torch.rand(2, 3, 16, 32, 32))
    """

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
    """Quantize each value to ``bits`` bits (2**bits levels).

    ``round(x * (2**bits - 1)) / (2**bits - 1)``, per value.

    Paper: Xu, Evans & Qi, "Feature Squeezing: Detecting Adversarial Examples in Deep Neural Networks", NDSS 2018.

    Threat model: deterministic; its autograd gradient is zero almost everywhere, so it is marked
    non-differentiable (a naive attack sees a zero gradient) and white-box attacks use BPDA with the identity
    backward (``attack_view(bpda="auto")``); EOT is not needed.

    Args:
        bits: bits kept per value, 1..8. Default: 4.
        seed: unused (the transform is deterministic; kept for the common interface). Default: 0.

    Shape:
        - input: (N, C, T, H, W) float clips in [0, 1] (NCTHW; any other rank raises ValueError).
        - output: the same shape, dtype and device, values in [0, 1].

    Examples:
        >>> squeeze = build_transform({"name": "bit_depth", "bits": 3})
        >>> out = squeeze(torch.rand(2, 3, 8, 32, 32))
    """

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
    """A ``size`` x ``size`` spatial median filter on every frame (reflect padding).

    Each channel of each frame separately; an even ``size`` pads one pixel more after than before.

    Paper: Xu, Evans & Qi, "Feature Squeezing: Detecting Adversarial Examples in Deep Neural Networks", NDSS 2018.

    Threat model: deterministic and differentiable (the gradient flows to the pixel each window selects), so
    white-box attacks differentiate through it as it is (``attack_view(bpda="auto")`` uses no BPDA); EOT is not
    needed.

    Args:
        size: side of the square window in pixels, >= 2 (``size // 2`` must be below H and W for the reflect
            padding). Default: 3.
        seed: unused (the transform is deterministic; kept for the common interface). Default: 0.

    Shape:
        - input: (N, C, T, H, W) float clips in [0, 1] (NCTHW; any other rank raises ValueError).
        - output: the same shape, dtype and device, values in [0, 1].

    Examples:
        >>> median = build_transform({"name": "median", "size": 3})
        >>> out = median(torch.rand(2, 3, 8, 32, 32))
    """

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
