"""Universal attacks trained over a data loader: an adversarial patch (Brown et al., 2017) with
expectation over transformations, and a universal adversarial frame (Zajac et al., 2019).

A patch is placed per clip with a random position, scale and rotation, identical on every
attacked frame of that clip. ``fit(loader)`` trains, ``save(path)`` writes ``path`` (tensor and
settings) plus a PNG image next to it (and, with ``print_size`` cm, ``<stem>_print.png`` at ``dpi``),
``load(path)`` restores; calling the attack applies it. The physical options (as for ROA and
framing) are documented on each class.
"""

from __future__ import annotations

import math
import os
from abc import abstractmethod
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn
from tqdm.auto import tqdm

from videoabnn.attacks.base import Attack, attack_mode, clip_generators, resolve_length
from videoabnn.attacks.frames import frame_mask
from videoabnn.attacks.pattern import PATTERNS, check_choice, identity, parse_jitter, similarity, translation
from videoabnn.attacks.physical import border_region
from videoabnn.attacks.physical_eot import (
    CONDITIONS,
    PhysicalDistribution,
    capture_scene,
    parse_physical,
    render_pattern,
    stream_seed,
)
from videoabnn.attacks.printability import PrintPenalty, save_print_png
from videoabnn.attacks.registry import register_attack
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


class UniversalAttack(Attack):
    """Shared training loop (sign-gradient ascent over a loader), physical options and persistence; the
    arguments are documented on :class:`UniversalPatch` and :class:`UniversalFraming`."""

    kind = "universal"

    def __init__(self, model: nn.Module, *, alpha: float = 2 / 255, epochs: int = 5, pattern: str = "shared",
                 placement: str = "fixed", jitter: Mapping[str, Any] | None = None, physical: Any = None,
                 nps_weight: float = 0.0, tv_weight: float = 0.0, palette: str | None = None,
                 print_size: float | None = None, dpi: int = 300, **kwargs) -> None:
        super().__init__(model, **kwargs)
        if self.frames.kind in ("random", "salient"):
            raise ValueError(f"{self.name}: frames must be 'all', 'first:k' or 'every:n' (one tensor for all clips)")
        self.alpha, self.epochs = float(alpha), int(epochs)
        self.pattern = check_choice(pattern, PATTERNS, f"{self.name}: pattern")
        self.placement, self.jitter = placement, parse_jitter(placement, jitter)
        self.physical, self.draws = parse_physical(physical)
        self.penalty = PrintPenalty(nps_weight, tv_weight, palette)
        if print_size is not None and (float(print_size) <= 0 or int(dpi) < 1):
            raise ValueError(f"{self.name}: print_size must be > 0 (cm) and dpi >= 1; got {print_size}, {dpi}")
        self.print_size, self.dpi = print_size, int(dpi)
        self.param: Tensor | None = None

    # --- subclass hooks
    @abstractmethod
    def _new_param(self, x: Tensor) -> Tensor:
        """Fresh trainable tensor for the first batch."""

    @abstractmethod
    def render(self, x: Tensor, param: Tensor, gens: Any, placement: Any = None,
               physical: PhysicalDistribution | None = None, streams: tuple | None = None) -> Tensor:
        """Apply ``param`` to ``x`` (differentiable in ``param``); ``physical`` draws and jitter come from
        ``streams`` (jitter generators, physical generators)."""

    @abstractmethod
    def print_view(self, param: Tensor) -> tuple[Tensor, Tensor | None]:
        """(pattern (1, C, ...), mask or None): what is printed, for the printability terms."""

    def _settings(self) -> dict:
        return {"alpha": self.alpha, "epochs": self.epochs, "frames": str(self.frames), "loss": self.loss,
                "targeted": self.targeted, **self.physical_settings()}

    def settings(self) -> dict:
        """The physical options as run (what the results' details record)."""
        return self.physical_settings()

    def physical_settings(self) -> dict:
        """The physical options as run."""
        return {"pattern": self.pattern, "placement": self.placement,
                "jitter": None if self.jitter is None else vars(self.jitter).copy(),
                "physical": None if self.physical is None else {**self.physical.to_dict(), "draws": self.draws},
                **self.penalty.settings()}

    def _plain(self) -> bool:
        return self.pattern == "shared" and self.jitter is None

    def _rendered(self, x: Tensor, texture: Tensor, mask: Tensor, forward: Tensor, centre: Tensor, half: Tensor,
                  physical: PhysicalDistribution | None, streams: tuple | None) -> Tensor:
        jit_gens, phys_gens = streams if streams is not None else (None, None)
        return render_pattern(x, texture, mask, forward, centre, half, physical, phys_gens, self.jitter, jit_gens)

    # --- training
    def fit(self, loader: Iterable, epochs: int | None = None, max_batches: int | None = None,
            show_progress: bool = True) -> UniversalAttack:
        """Train over ``loader`` (targeted attacks need target labels in it) and return self."""
        device = next((p.device for p in self.model.parameters()), torch.device("cpu"))
        gen = torch.Generator(device=device)
        gen.manual_seed(0 if self.seed is None else int(self.seed))
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
                    param = self.param.detach().requires_grad_(True)
                    g = self._step_grad(x, y, param, gen)
                    self.param = (param.detach() + self.alpha * g.sign()).clamp_(0, 1)
        if self.param is None:
            raise ValueError(f"{type(self).__name__}.fit: the loader yielded no batches")
        return self

    def _step_grad(self, x: Tensor, y: Tensor, param: Tensor, gen: torch.Generator) -> Tensor:
        """Gradient of the batch objective (mean over ``draws`` physical draws, minus the print terms)."""
        grad = None
        streams = ([gen] * len(x), [gen] * len(x))
        placement = self.draw_placement(x, param, gen)  # one placement per step, the same for every draw
        for _ in range(self.draws):
            loss = self.loss_fn(self.model(self.render(x, param, gen, placement, self.physical, streams)), y).mean()
            if self.penalty.active:
                loss = loss - self.penalty(*self.print_view(param)).sum()
            (g,) = torch.autograd.grad(loss, param)
            grad = g if grad is None else grad + g
        return grad

    def draw_placement(self, x: Tensor, param: Tensor, gen: torch.Generator) -> Any:
        """The random placement of one training step (None: the attack has none)."""
        return None

    def _require(self) -> Tensor:
        if self.param is None:
            raise RuntimeError(f"{type(self).__name__} has no trained tensor: call fit(loader) or load(path) first")
        return self.param

    def perturb(self, x: Tensor, y: Tensor, seed: int) -> Tensor:
        return self.apply(x, seed=seed)

    def apply(self, x: Tensor, placement: Any = None, seed: int | None = None,
              physical: PhysicalDistribution | None = None, stream: str = "show") -> Tensor:
        """Apply the trained tensor; random placements come from per-clip generators seeded by ``seed``, the
        jitter and ``physical`` draws from the named seed ``stream``."""
        param = self._require().to(device=x.device, dtype=x.dtype)
        seed = (self.seed if self.seed is not None else 0) if seed is None else seed
        streams = (clip_generators(x, stream_seed(seed, f"{stream}-jitter")), clip_generators(x, stream_seed(seed, stream)))
        with torch.no_grad():
            return self.render(x, param, clip_generators(x, seed), placement, physical, streams).clamp(0, 1)

    def physical_views(self, x: Tensor, y: Tensor, dist: Any = None,
                       conditions: Mapping[str, PhysicalDistribution] | None = None) -> dict[str, Tensor]:
        """The fitted pattern rendered ``digital`` (ideal capture), ``fresh`` (one draw per clip of ``dist``,
        default this attack's own distribution or the ``default`` preset, from a seed stream independent of
        the fit's), ``no_pattern`` (the clips through the camera of the same fresh draws, no pattern) and
        under each fixed condition (default :data:`CONDITIONS`); same placements in all."""
        x, _ = self._check_inputs(x, y)
        dist = self.physical if dist is None else dist
        dist = dist if isinstance(dist, PhysicalDistribution) else parse_physical(dist or "default")[0]
        seed = self.seed if self.seed is not None else 0
        views = {"digital": self.apply(x, seed=seed), "fresh": self.apply(x, seed=seed, physical=dist, stream="eval"),
                 "no_pattern": capture_scene(x, dist, clip_generators(x, stream_seed(seed, "eval")))}
        for name, cond in (CONDITIONS if conditions is None else conditions).items():
            views[name] = self.apply(x, seed=seed, physical=cond, stream=f"eval-{name}")
        return views

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

    def _new_param(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        side = resolve_length(self.size, min(h, w), "universal_patch size")
        gen = torch.Generator(device=x.device)
        gen.manual_seed(0 if self.seed is None else int(self.seed))
        frames = (x.shape[2],) if self.pattern == "per_frame" else ()
        return torch.rand(x.shape[1], *frames, side, side, generator=gen, device=x.device, dtype=x.dtype)

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
            rad = math.radians(abs(ang))
            half = 0.5 * side * s * (math.cos(rad) + math.sin(rad))
            lo_y, hi_y = min(half, hw[0] / 2), max(hw[0] - half, hw[0] / 2)
            lo_x, hi_x = min(half, hw[1] / 2), max(hw[1] - half, hw[1] / 2)
            out.append({"cy": lo_y + u[2] * (hi_y - lo_y), "cx": lo_x + u[3] * (hi_x - lo_x), "scale": s, "angle": ang})
        return out

    def render(self, x: Tensor, param: Tensor, gens: Any, placement: Any = None,
               physical: PhysicalDistribution | None = None, streams: tuple | None = None) -> Tensor:
        """Paste the patch at ``placement`` (None or ``"random"``: drawn from ``gens``; a dict: the same for
        every clip; a list: one per clip)."""
        n, (h, w) = x.shape[0], x.shape[-2:]
        side = param.shape[-1]
        if placement is None or placement == "random":
            placement = self.sample_placements(n, (h, w), side, gens)
        elif isinstance(placement, dict):
            placement = [placement] * n
        if len(placement) != n:
            raise ValueError(f"universal_patch: need one placement per clip ({n}), got {len(placement)}")
        physical = None if physical is None or physical.is_neutral() else physical  # the identity: today's path
        if physical is not None or not self._plain():
            return self._render_frames(x, param, placement, physical, streams)
        theta = torch.tensor([self._theta(p, side, h, w) for p in placement], device=x.device, dtype=x.dtype)
        grid = F.affine_grid(theta, [n, 1, h, w], align_corners=False)
        patch = F.grid_sample(param.expand(n, -1, -1, -1), grid, align_corners=False)
        cover = F.grid_sample(torch.ones_like(param[:1]).expand(n, 1, -1, -1), grid, align_corners=False)
        mask = frame_mask(self.frames, x)
        if x.dim() == 5:
            patch, cover = patch.unsqueeze(2), cover.unsqueeze(2)
        cover = cover * mask
        return x * (1 - cover) + patch * mask

    def _render_frames(self, x: Tensor, param: Tensor, placement: list[dict], physical: PhysicalDistribution | None,
                       streams: tuple | None) -> Tensor:
        """Per-frame rendering (per-frame patterns, jitter, physical draws) of NCTHW clips."""
        if x.dim() != 5:
            raise ValueError("universal_patch: pattern, placement and physical options need NCTHW clips")
        n, c, t = x.shape[:3]
        side = param.shape[-1]
        tex = (param if param.dim() == 4 else param.unsqueeze(1).expand(-1, t, -1, -1)).unsqueeze(0).expand(n, -1, -1, -1, -1)
        mask = frame_mask(self.frames, x).expand(n, 1, t, side, side)
        ref = torch.full((n, t, 2), (side - 1) / 2, dtype=x.dtype, device=x.device)
        where = torch.tensor([[p["cx"] - 0.5, p["cy"] - 0.5] for p in placement], dtype=x.dtype, device=x.device)
        scale = torch.tensor([float(p.get("scale", 1.0)) for p in placement], dtype=x.dtype, device=x.device)
        angle = torch.deg2rad(torch.tensor([float(p.get("angle", 0.0)) for p in placement], dtype=x.dtype, device=x.device))
        forward = (translation(where) @ similarity(scale, angle))[:, None] @ translation(-ref)
        half = torch.full((n, t), side / 2, dtype=x.dtype, device=x.device)
        return self._rendered(x, tex, mask, forward, ref, half, physical, streams)

    @staticmethod
    def _theta(p: dict, side: int, h: int, w: int) -> list[list[float]]:
        """Affine map from output grid coords to patch coords (rotation in pixel units)."""
        s, a = float(p.get("scale", 1.0)) * side, math.radians(float(p.get("angle", 0.0)))
        cu, cv = 2 * float(p["cx"]) / w - 1, 2 * float(p["cy"]) / h - 1
        ax, bx = math.cos(a) * w / s, math.sin(a) * h / s
        ay, by = -math.sin(a) * w / s, math.cos(a) * h / s
        return [[ax, bx, -(ax * cu + bx * cv)], [ay, by, -(ay * cu + by * cv)]]


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

    def _new_param(self, x: Tensor) -> Tensor:
        gen = torch.Generator(device=x.device)
        gen.manual_seed(0 if self.seed is None else int(self.seed))
        frames = (x.shape[2],) if self.pattern == "per_frame" else ()
        return torch.rand(x.shape[1], *frames, *x.shape[-2:], generator=gen, device=x.device, dtype=x.dtype)

    def _image(self, param: Tensor) -> Tensor:
        border = border_region(param[None], self.width)[0].to(param.dtype)
        return super()._image(param * (border.unsqueeze(1) if param.dim() == 4 else border))

    def print_view(self, param: Tensor) -> tuple[Tensor, Tensor | None]:
        """The frame with the border as its mask."""
        border = border_region(param[None], self.width).to(param.dtype)
        return param.unsqueeze(0), border.unsqueeze(2) if param.dim() == 4 else border

    def render(self, x: Tensor, param: Tensor, gens: Any, placement: Any = None,
               physical: PhysicalDistribution | None = None, streams: tuple | None = None) -> Tensor:
        """The clips with the trained border over them (``placement`` is not used)."""
        if tuple(param.shape[-2:]) != tuple(x.shape[-2:]) or param.shape[0] != x.shape[1]:
            raise ValueError(f"universal_framing was trained for frames {tuple(param.shape)}, got clips {tuple(x.shape)}")
        physical = None if physical is None or physical.is_neutral() else physical
        if physical is not None or not self._plain():
            if x.dim() != 5:
                raise ValueError("universal_framing: pattern, placement and physical options need NCTHW clips")
            n, t, (h, w) = x.shape[0], x.shape[2], x.shape[-2:]
            tex = (param if param.dim() == 4 else param.unsqueeze(1).expand(-1, t, -1, -1)).unsqueeze(0).expand(n, -1, -1, -1, -1)
            mask = (border_region(x, self.width).to(x.dtype).unsqueeze(2) * frame_mask(self.frames, x)).expand(n, 1, t, h, w)
            centre = torch.tensor([(w - 1) / 2, (h - 1) / 2], dtype=x.dtype, device=x.device).expand(n, t, 2)
            half = torch.full((n, t), min(h, w) / 2, dtype=x.dtype, device=x.device)
            return self._rendered(x, tex, mask, identity(n, t, x), centre, half, physical, streams)
        region = border_region(x, self.width).to(x.dtype)
        mask = frame_mask(self.frames, x)
        content = param.unsqueeze(1) if x.dim() == 5 else param
        region = region.unsqueeze(1) * mask if x.dim() == 5 else region * mask
        return x + region * (content - x)
