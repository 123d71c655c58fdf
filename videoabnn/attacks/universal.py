"""Universal attacks trained over a data loader: an adversarial patch (Brown et al., 2017) with
expectation over transformations, and a universal adversarial frame (Zajac et al., 2019).

A patch is placed per clip with a random position, scale and rotation, identical on every
attacked frame of that clip. ``fit(loader)`` trains, ``save(path)`` writes ``path`` (tensor and
settings) plus a PNG image next to it (and, with ``print_size`` cm, ``<stem>_print.png`` at ``dpi``),
``load(path)`` restores; calling the attack applies it. Both are members of the pattern-attack family
(:mod:`videoabnn.attacks.pattern_family`); its options (as for ROA and framing) are documented on each class.
"""

from __future__ import annotations

import os
from abc import abstractmethod
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, ClassVar

import torch
from einops import rearrange
from torch import Tensor, nn
from tqdm.auto import tqdm

from videoabnn.attacks.base import attack_mode, clip_generators, resolve_length
from videoabnn.attacks.frames import frame_mask
from videoabnn.attacks.pattern import placement_forward, placement_theta, rotation_extent
from videoabnn.attacks.pattern_family import (
    Layout,
    PatternAttack,
    check_rank,
    drawn,
    frame_layout,
    placed_layout,
    render_layout,
    texture_centre,
)
from videoabnn.attacks.physical import border_region
from videoabnn.attacks.physical_eot import PhysicalDistribution
from videoabnn.attacks.printability import save_print_png
from videoabnn.attacks.registry import register_attack
from videoabnn.capabilities import Capability
from videoabnn.utils.io import atomic_save_image, atomic_torch_save


def _batch_xy(batch: Any) -> tuple[Tensor, Tensor]:
    """Accept loader items as {"clip", "label"} dicts or (x, y) pairs."""
    if isinstance(batch, dict):
        if "clip" not in batch or "label" not in batch:
            raise ValueError(f"loader batch dict must have 'clip' and 'label' keys, got {sorted(batch)}")
        return batch["clip"], torch.as_tensor(batch["label"])
    if isinstance(batch, (tuple, list)) and len(batch) >= 2:
        return batch[0], torch.as_tensor(batch[1])
    raise ValueError("loader must yield {'clip', 'label'} dicts or (x, y) pairs")


def _save_png(image: Tensor, path: Path) -> None:
    """Write a (C, H, W) image in [0, 1] (the first channel when C is not 1 or 3) as an 8-bit PNG."""
    from PIL import Image

    image = image if image.shape[0] in (1, 3) else image[:1]
    pixels = rearrange((image.detach().cpu().clamp(0, 1) * 255).round().to(torch.uint8), "c h w -> h w c").numpy()
    atomic_save_image(Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels), path, "PNG")


class UniversalAttack(PatternAttack):
    """A pattern attack fitted once over a loader (sign-gradient ascent on one pattern for all clips, through
    :meth:`~videoabnn.attacks.pattern_family.PatternAttack.eot_step`), then applied to unseen clips, saved and
    loaded; the arguments are documented on :class:`UniversalPatch` and :class:`UniversalFraming`.
    Subclasses define the pattern's size and layout (and, for the patch, its random placement)."""

    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.FIT, Capability.PHYSICAL})
    clamp_control: ClassVar[bool] = False  # its no_pattern view was always returned as the camera left it

    kind = "universal"

    def __init__(self, model: nn.Module, *, alpha: float = 2 / 255, epochs: int = 5, print_size: float | None = None,
                 dpi: int = 300, **kwargs) -> None:
        super().__init__(model, **kwargs)
        if self.frames.kind in ("random", "salient"):
            raise ValueError(f"{self.name}: frames must be 'all', 'first:k' or 'every:n' (one tensor for all clips)")
        self.alpha, self.epochs = float(alpha), int(epochs)
        if print_size is not None and (float(print_size) <= 0 or int(dpi) < 1):
            raise ValueError(f"{self.name}: print_size must be > 0 (cm) and dpi >= 1; got {print_size}, {dpi}")
        self.print_size, self.dpi = print_size, int(dpi)
        self.param: Tensor | None = None

    # --- subclass hooks
    @abstractmethod
    def texture_size(self, x: Tensor) -> tuple[int, int]:
        """(height, width) of the pattern for clips like ``x``."""

    @abstractmethod
    def layout(self, x: Tensor, param: Tensor, placement: Any, gens: Any) -> Layout:
        """Where ``param`` goes on the clips ``x`` (``placement``: see :meth:`apply`; random ones from ``gens``)."""

    @abstractmethod
    def print_view(self, param: Tensor) -> tuple[Tensor, Tensor | None]:
        """(pattern (1, C, ...), mask or None): what is printed, for the printability terms."""

    def draw_placement(self, x: Tensor, param: Tensor, gen: torch.Generator) -> Any:
        """The random placement of one training step (None: the attack has none)."""
        return None

    def _new_param(self, x: Tensor) -> Tensor:
        """Fresh uniform pattern of the first batch, seeded by ``seed`` (None: 0): (C, [T,] h, w)."""
        gen = torch.Generator(device=x.device)
        gen.manual_seed(self.options.seed_for(self.seed))
        frames = (x.shape[2],) if self.pattern == "per_frame" else ()
        return torch.rand(x.shape[1], *frames, *self.texture_size(x), generator=gen, device=x.device, dtype=x.dtype)

    def _settings(self) -> dict:
        return {"alpha": self.alpha, "epochs": self.epochs, "frames": str(self.frames), "loss": self.loss,
                "targeted": self.targeted, **self.settings()}

    def plain(self, dist: PhysicalDistribution | None) -> bool:
        """Whether a render is the digital protocol of a universal pattern (one pattern for all frames, fixed
        place, no physical draw): then it uses the plain compositing and takes NCHW images too."""
        return self.pattern == "shared" and self.options.moves is None and drawn(dist) is None

    def render(self, x: Tensor, param: Tensor, gens: Any, placement: Any = None,
               physical: PhysicalDistribution | None = None, streams: tuple | None = None) -> Tensor:
        """Apply ``param`` to ``x`` (differentiable in ``param``); ``physical`` draws and jitter come from
        ``streams`` (jitter generators, physical generators)."""
        layout = self.layout(x, param, placement, gens)
        plain = self.plain(physical)
        check_rank(self.name, x, plain)
        return render_layout(x, layout, physical, streams or (None, None), self.options.moves, plain)

    # --- training
    def fit(self, loader: Iterable, epochs: int | None = None, max_batches: int | None = None,
            show_progress: bool = True) -> UniversalAttack:
        """Train over ``loader`` (targeted attacks need target labels in it) and return self."""
        device = next((p.device for p in self.model.parameters()), torch.device("cpu"))
        gen = torch.Generator(device=device)
        gen.manual_seed(self.options.seed_for(self.seed))
        epochs = self.epochs if epochs is None else int(epochs)
        with attack_mode(self.model), torch.enable_grad():
            for epoch in range(epochs):
                batches = tqdm(loader, desc=f"fitting {self.name} {epoch + 1}/{epochs}", leave=False,
                               dynamic_ncols=True, disable=not show_progress)
                for b, batch in enumerate(batches):
                    if max_batches is not None and b >= max_batches:
                        break
                    x, y = _batch_xy(batch)
                    x, y = self._check_inputs(x.to(device), y.to(device))
                    if self.param is None:
                        self.param = self._new_param(x)
                    self.param = self._fit_batch(x, y, gen)
        if self.param is None:
            raise ValueError(f"{type(self).__name__}.fit: the loader yielded no batches")
        return self

    def _fit_batch(self, x: Tensor, y: Tensor, gen: torch.Generator) -> Tensor:
        """One EOT step on a batch: the batch-mean loss under one random placement (the same for every draw),
        jitter and physical draws all from ``gen``."""
        streams = ([gen] * len(x), [gen] * len(x))
        placement = self.draw_placement(x, self.param, gen)

        def render(param: Tensor) -> Tensor:
            return self.render(x, param, gen, placement, self.options.distribution, streams)

        return self.eot_step(self.param, y, render, self.print_view, torch.mean)

    def _require(self) -> Tensor:
        if self.param is None:
            raise RuntimeError(f"{type(self).__name__} has no trained tensor: call fit(loader) or load(path) first")
        return self.param

    def perturb(self, x: Tensor, y: Tensor, seed: int) -> Tensor:
        return self.apply(x, seed=seed)

    def apply(self, x: Tensor, placement: Any = None, seed: int | None = None,
              physical: PhysicalDistribution | None = None, stream: str = "show") -> Tensor:
        """Apply the trained tensor; random placements come from per-clip generators seeded by ``seed`` (None:
        the attack's ``seed``, else 0), the jitter and ``physical`` draws from the named seed ``stream``."""
        param = self._require().to(device=x.device, dtype=x.dtype)
        seed = self.options.seed_for(self.seed) if seed is None else seed
        with torch.no_grad():
            return self.render(x, param, clip_generators(x, seed), placement, physical,
                               self.streams(x, seed, stream)).clamp(0, 1)

    def viewer(self, x: Tensor, y: Tensor, seed: int) -> Callable[[PhysicalDistribution | None, str], Tensor]:
        """The fitted pattern, placed by ``seed`` (the same places in every view)."""
        return lambda dist, stream: self.apply(x, seed=seed, physical=dist, stream=stream)

    # --- persistence
    def save(self, path: str | os.PathLike) -> Path:
        """Write the tensor and settings to ``path`` and an image to ``path`` with suffix .png."""
        path = Path(path)
        param = self._require().detach().cpu()
        atomic_torch_save({"kind": self.name, "tensor": param, "settings": self._settings()}, path)
        image = self._image(param)
        _save_png(image, path.with_suffix(".png"))
        if self.print_size is not None:
            save_print_png(image, path.with_name(f"{path.stem}_print.png"), float(self.print_size), self.dpi)
        return path

    def _image(self, param: Tensor) -> Tensor:
        """(C, H, W) image of the tensor; per-frame patterns side by side in frame order."""
        return torch.cat(list(param.unbind(1)), dim=-1) if param.dim() == 4 else param

    def load(self, path: str | os.PathLike) -> UniversalAttack:
        """Restore a tensor written by ``save``; the file must be of this attack's kind."""
        path = Path(path)
        state = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(state, dict) or state.get("kind") != self.name or "tensor" not in state:
            raise ValueError(f"{path}: not a saved {self.name} (kind={state.get('kind') if isinstance(state, dict) else None})")
        self.param = state["tensor"]
        return self


@register_attack("universal_patch")
class UniversalPatch(UniversalAttack):
    """Universal adversarial patch trained with EOT: per clip a random position, scale and rotation.

    Paper: Brown, Mane, Roy, Abadi & Gilmer, "Adversarial Patch", arXiv 2017 (NIPS 2017 workshop).
    Distance: none inside the patch (any value in [0, 1]); pixels outside it are unchanged.
    Threat model: white-box training over a loader (:meth:`fit`), then one patch for unseen clips; the
    pattern can also be scored under the ``physical`` threat model (:meth:`physical_views`).

    The placement of a clip is identical on all its attacked frames and keeps the patch inside the frame.

    Args:
        model: classifier on (N, C, T, H, W) clips in [0, 1] returning logits; run in eval mode, never modified.
        size: patch side: int pixels or float fraction of the frame's shorter side in (0, 1]. Default: 0.15.
        scale: (min, max) range of the random scale per clip, a factor on ``size``, 0 < min <= max.
            Default: (0.8, 1.2).
        rotation: largest rotation, in degrees (uniform in [-rotation, rotation]). Default: 22.5.
        alpha: sign-gradient step on the pattern per training batch, in [0, 1] pixel units. Default: 2/255.
        epochs: passes over the loader in :meth:`fit` (its ``epochs`` argument overrides). Default: 5.
        pattern: ``"shared"`` (one pattern for all frames and all clips) or ``"per_frame"`` (one per frame
            index, still one set for all clips; NCTHW only). Default: ``"shared"``.
        placement: ``"fixed"`` or ``"jitter"`` (a random offset, scale and rotation per frame: a moving
            camera; NCTHW only). Default: ``"fixed"``.
        jitter: with ``placement="jitter"``: ``{shift, scale, rotation}`` ranges (fraction of the frame side,
            relative scale, degrees); None: shift 0.03, scale 0.05, rotation 5.0. Default: None.
        physical: fit through the expectation over real-world changes (physical EOT, NCTHW only): None or
            ``"none"``, True or ``"default"``, a ``PhysicalDistribution`` or ``{preset, draws, <field>: [low,
            high]}`` (draws per step, default 4). Default: None.
        nps_weight: weight of the non-printability score (distance to a printer palette; RGB only) subtracted
            from the objective, >= 0. Default: 0.0.
        tv_weight: weight of the pattern's total variation subtracted from the objective, >= 0. Default: 0.0.
        palette: printer palette file for the NPS (one ``r g b`` line per colour, in [0, 1]); None: the
            shipped approximation. Default: None.
        print_size: longer side, in cm, of the ``<stem>_print.png`` that :meth:`save` also writes; None: no
            print file. Default: None.
        dpi: resolution of the print file, >= 1. Default: 300.
        loss: objective to maximise: ``"ce"``, ``"margin"`` (alias ``"cw"``) or ``"dlr"``. Default: ``"ce"``.
        targeted: ``y`` holds target labels (in the loader) and the attack pushes towards them. Default: False.
        frames: frames the pattern is applied to: ``"all"``, ``"first:k"`` or ``"every:n"`` (``random`` and
            ``salient`` raise: one tensor serves all clips). Default: ``"all"``.
        seed: seed of the initial pattern and the training draws (None: 0) and, when applied, of the
            per-clip draws (None: a fresh seed per call). Default: None.
        bpda: (``build_attack`` only) backward through a model's input transform: ``"auto"``, ``"none"``,
            ``"identity"``, ``"median"`` or ``"standin"``. Default: None (the model as is).
        eot: (``build_attack`` only) draws of a random input transform averaged per forward pass.
            Default: None (the model as is; 8 for a random transform when only ``bpda`` is set).

    Shape:
        - fit: a loader of ``{"clip", "label"}`` dicts or ``(x, y)`` pairs shaped as below.
        - x: (N, C, T, H, W) float in [0, 1]; NCHW images also accepted with a shared pattern, no jitter and
          no physical draws.
        - y: (N,) int64 labels (target labels when targeted; not used when applying).
        - output: same shape and dtype as x, in [0, 1]; pixels outside the patch are unchanged.

    Examples:
        >>> attack = UniversalPatch(model, size=0.15, epochs=2, seed=0).fit(loader)
        >>> x_adv = attack(x, y)
        >>> attack.save("patch.pt")  # patch.pt and patch.png
    """

    name = "universal_patch"
    threat = "patch"

    def __init__(
        self,
        model: nn.Module,
        *,
        size: int | float = 0.15,
        scale: tuple[float, float] = (0.8, 1.2),
        rotation: float = 22.5,
        **kwargs,
    ) -> None:
        super().__init__(model, **kwargs)
        if not (0 < scale[0] <= scale[1]):
            raise ValueError(f"universal_patch: scale must be a (min, max) range of positive numbers, got {scale}")
        self.size, self.scale, self.rotation = size, (float(scale[0]), float(scale[1])), float(rotation)

    def _settings(self) -> dict:
        return {**super()._settings(), "size": self.size, "scale": list(self.scale), "rotation": self.rotation}

    def texture_size(self, x: Tensor) -> tuple[int, int]:
        """The patch side (``size`` of the frame's shorter side), square."""
        side = resolve_length(self.size, min(x.shape[-2:]), "universal_patch size")
        return side, side

    def print_view(self, param: Tensor) -> tuple[Tensor, Tensor | None]:
        """The whole patch, unmasked."""
        return param.unsqueeze(0), None

    def draw_placement(self, x: Tensor, param: Tensor, gen: torch.Generator) -> Any:
        """One random placement per clip of the batch."""
        return self.sample_placements(x.shape[0], tuple(x.shape[-2:]), param.shape[-1], gen)

    def sample_placements(self, n: int, hw: tuple[int, int], side: int, gens: list | torch.Generator) -> list[dict]:
        """Random placements {cy, cx (pixel centre), scale, angle (degrees)} keeping the patch inside."""
        out = []
        for i in range(n):
            g = gens[i] if isinstance(gens, list) else gens
            u = torch.rand(4, generator=g, device=g.device).tolist()
            s = self.scale[0] + u[0] * (self.scale[1] - self.scale[0])
            ang = (2 * u[1] - 1) * self.rotation
            half = rotation_extent(side * s, ang)
            lo_y, hi_y = min(half, hw[0] / 2), max(hw[0] - half, hw[0] / 2)
            lo_x, hi_x = min(half, hw[1] / 2), max(hw[1] - half, hw[1] / 2)
            out.append({"cy": lo_y + u[2] * (hi_y - lo_y), "cx": lo_x + u[3] * (hi_x - lo_x), "scale": s, "angle": ang})
        return out

    def layout(self, x: Tensor, param: Tensor, placement: Any, gens: Any) -> Layout:
        """The patch at ``placement`` (None or ``"random"``: drawn from ``gens``; a dict: the same for every
        clip; a list: one per clip), on the attacked frames."""
        n, hw = x.shape[0], tuple(x.shape[-2:])
        if placement is None or placement == "random":
            placement = self.sample_placements(n, hw, param.shape[-1], gens)
        elif isinstance(placement, dict):
            placement = [placement] * n
        if len(placement) != n:
            raise ValueError(f"universal_patch: need one placement per clip ({n}), got {len(placement)}")
        video = x if x.dim() == 5 else x.unsqueeze(2)
        texture = (param if param.dim() == 4 else param.unsqueeze(1)).unsqueeze(0)
        forward = placement_forward(placement, texture_centre(texture, n, video.shape[2]))
        theta = placement_theta(placement, param.shape[-1], hw, x)
        return placed_layout(texture, frame_mask(self.frames, video), forward, theta)


@register_attack("universal_framing")
class UniversalFraming(UniversalAttack):
    """Universal adversarial framing: one border (C, H, W) for all clips and all attacked frames.

    Paper: Zajac, Zolna, Rostamzadeh & Pinheiro, "Adversarial Framing for Image and Video Classification",
    AAAI 2019.
    Distance: none inside the border (any value in [0, 1]); the pixels it encloses are unchanged.
    Threat model: white-box training over a loader (:meth:`fit`), then one frame for unseen clips; the
    pattern can also be scored under the ``physical`` threat model (:meth:`physical_views`).

    Args:
        model: classifier on (N, C, T, H, W) clips in [0, 1] returning logits; run in eval mode, never modified.
        width: border width: int pixels or float fraction of the frame's shorter side in (0, 1].
            Default: 5/112.
        alpha: sign-gradient step on the pattern per training batch, in [0, 1] pixel units. Default: 2/255.
        epochs: passes over the loader in :meth:`fit` (its ``epochs`` argument overrides). Default: 5.
        pattern: ``"shared"`` (one pattern for all frames and all clips) or ``"per_frame"`` (one per frame
            index, still one set for all clips; NCTHW only). Default: ``"shared"``.
        placement: ``"fixed"`` or ``"jitter"`` (a random offset, scale and rotation per frame: a moving
            camera; NCTHW only). Default: ``"fixed"``.
        jitter: with ``placement="jitter"``: ``{shift, scale, rotation}`` ranges (fraction of the frame side,
            relative scale, degrees); None: shift 0.03, scale 0.05, rotation 5.0. Default: None.
        physical: fit through the expectation over real-world changes (physical EOT, NCTHW only): None or
            ``"none"``, True or ``"default"``, a ``PhysicalDistribution`` or ``{preset, draws, <field>: [low,
            high]}`` (draws per step, default 4). Default: None.
        nps_weight: weight of the non-printability score (distance to a printer palette; RGB only) subtracted
            from the objective, >= 0. Default: 0.0.
        tv_weight: weight of the pattern's total variation subtracted from the objective, >= 0. Default: 0.0.
        palette: printer palette file for the NPS (one ``r g b`` line per colour, in [0, 1]); None: the
            shipped approximation. Default: None.
        print_size: longer side, in cm, of the ``<stem>_print.png`` that :meth:`save` also writes; None: no
            print file. Default: None.
        dpi: resolution of the print file, >= 1. Default: 300.
        loss: objective to maximise: ``"ce"``, ``"margin"`` (alias ``"cw"``) or ``"dlr"``. Default: ``"ce"``.
        targeted: ``y`` holds target labels (in the loader) and the attack pushes towards them. Default: False.
        frames: frames the pattern is applied to: ``"all"``, ``"first:k"`` or ``"every:n"`` (``random`` and
            ``salient`` raise: one tensor serves all clips). Default: ``"all"``.
        seed: seed of the initial pattern and the training draws (None: 0) and, when applied, of the
            per-clip draws (None: a fresh seed per call). Default: None.
        bpda: (``build_attack`` only) backward through a model's input transform: ``"auto"``, ``"none"``,
            ``"identity"``, ``"median"`` or ``"standin"``. Default: None (the model as is).
        eot: (``build_attack`` only) draws of a random input transform averaged per forward pass.
            Default: None (the model as is; 8 for a random transform when only ``bpda`` is set).

    Shape:
        - fit: a loader of ``{"clip", "label"}`` dicts or ``(x, y)`` pairs shaped as below.
        - x: (N, C, T, H, W) float in [0, 1] of the (C, H, W) it was trained on (others raise); NCHW images
          also accepted with a shared pattern, no jitter and no physical draws.
        - y: (N,) int64 labels (target labels when targeted; not used when applying).
        - output: same shape and dtype as x, in [0, 1]; only the border changes.

    Examples:
        >>> attack = UniversalFraming(model, width=5 / 112, epochs=2, seed=0).fit(loader)
        >>> x_adv = attack(x, y)
    """

    name = "universal_framing"
    threat = "framing"

    def __init__(self, model: nn.Module, *, width: int | float = 5 / 112, **kwargs) -> None:
        super().__init__(model, **kwargs)
        self.width = width

    def _settings(self) -> dict:
        return {**super()._settings(), "width": self.width}

    def texture_size(self, x: Tensor) -> tuple[int, int]:
        """The whole frame."""
        return tuple(x.shape[-2:])

    def _image(self, param: Tensor) -> Tensor:
        border = border_region(param[None], self.width)[0].to(param.dtype)
        return super()._image(param * (border.unsqueeze(1) if param.dim() == 4 else border))

    def print_view(self, param: Tensor) -> tuple[Tensor, Tensor | None]:
        """The frame with the border as its mask."""
        border = border_region(param[None], self.width).to(param.dtype)
        return param.unsqueeze(0), border.unsqueeze(2) if param.dim() == 4 else border

    def layout(self, x: Tensor, param: Tensor, placement: Any, gens: Any) -> Layout:
        """The trained border over the attacked frames (``placement`` is not used)."""
        if tuple(param.shape[-2:]) != tuple(x.shape[-2:]) or param.shape[0] != x.shape[1]:
            raise ValueError(f"universal_framing was trained for frames {tuple(param.shape)}, got clips {tuple(x.shape)}")
        video = x if x.dim() == 5 else x.unsqueeze(2)
        texture = (param if param.dim() == 4 else param.unsqueeze(1)).unsqueeze(0)
        sel = border_region(video, self.width) & (frame_mask(self.frames, video)[:, 0] > 0)
        half = torch.full(sel.shape[:2], min(x.shape[-2:]) / 2, dtype=x.dtype, device=x.device)
        return frame_layout(texture, sel, half)
