"""Universal attacks trained over a data loader: an adversarial patch (Brown et al., 2017) with
expectation over transformations, and a universal adversarial frame (Zajac et al., 2019).

A patch is placed per clip with a random position, scale and rotation, identical on every
attacked frame of that clip. ``fit(loader)`` trains, ``save(path)`` writes ``path`` (tensor and
settings) plus a PNG image next to it, ``load(path)`` restores; calling the attack applies it.
"""

from __future__ import annotations

import math
import os
from abc import abstractmethod
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn
from tqdm.auto import tqdm

from videoabnn.attacks.base import Attack, attack_mode, clip_generators, resolve_length
from videoabnn.attacks.frames import frame_mask
from videoabnn.attacks.physical import border_region
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
    """Shared training loop (sign-gradient ascent over a loader) and persistence."""

    kind = "universal"

    def __init__(self, model: nn.Module, *, alpha: float = 2 / 255, epochs: int = 5, **kwargs) -> None:
        super().__init__(model, **kwargs)
        if self.frames.kind in ("random", "salient"):
            raise ValueError(f"{self.name}: frames must be 'all', 'first:k' or 'every:n' (one tensor for all clips)")
        self.alpha, self.epochs = float(alpha), int(epochs)
        self.param: Tensor | None = None

    # --- subclass hooks
    @abstractmethod
    def _new_param(self, x: Tensor) -> Tensor:
        """Fresh trainable tensor for the first batch."""

    @abstractmethod
    def render(self, x: Tensor, param: Tensor, gens: Any, placement: Any = None) -> Tensor:
        """Apply ``param`` to ``x`` (differentiable in ``param``)."""

    def _settings(self) -> dict:
        return {"alpha": self.alpha, "epochs": self.epochs, "frames": str(self.frames), "loss": self.loss,
                "targeted": self.targeted}

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
                    loss = self.loss_fn(self.model(self.render(x, param, gen)), y).mean()
                    (g,) = torch.autograd.grad(loss, param)
                    self.param = (param.detach() + self.alpha * g.sign()).clamp_(0, 1)
        if self.param is None:
            raise ValueError(f"{type(self).__name__}.fit: the loader yielded no batches")
        return self

    def _require(self) -> Tensor:
        if self.param is None:
            raise RuntimeError(f"{type(self).__name__} has no trained tensor: call fit(loader) or load(path) first")
        return self.param

    def perturb(self, x: Tensor, y: Tensor, seed: int) -> Tensor:
        return self.apply(x, seed=seed)

    def apply(self, x: Tensor, placement: Any = None, seed: int | None = None) -> Tensor:
        """Apply the trained tensor; random placements come from per-clip generators seeded by ``seed``."""
        param = self._require().to(device=x.device, dtype=x.dtype)
        seed = (self.seed if self.seed is not None else 0) if seed is None else seed
        with torch.no_grad():
            return self.render(x, param, clip_generators(x, seed), placement).clamp(0, 1)

    # --- persistence
    def save(self, path: str | os.PathLike) -> Path:
        """Write the tensor and settings to ``path`` and an image to ``path`` with suffix .png."""
        path = Path(path)
        param = self._require().detach().cpu()
        atomic_torch_save({"kind": self.name, "tensor": param, "settings": self._settings()}, path)
        _save_png(self._image(param), path.with_suffix(".png"))
        return path

    def _image(self, param: Tensor) -> Tensor:
        return param

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
    """Universal patch with EOT: per clip a random position, scale (times ``size``) and rotation."""

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
        return torch.rand(x.shape[1], side, side, generator=gen, device=x.device, dtype=x.dtype)

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

    def render(self, x: Tensor, param: Tensor, gens: Any, placement: Any = None) -> Tensor:
        n, (h, w) = x.shape[0], x.shape[-2:]
        side = param.shape[-1]
        if placement is None or placement == "random":
            placement = self.sample_placements(n, (h, w), side, gens)
        elif isinstance(placement, dict):
            placement = [placement] * n
        if len(placement) != n:
            raise ValueError(f"universal_patch: need one placement per clip ({n}), got {len(placement)}")
        theta = torch.tensor([self._theta(p, side, h, w) for p in placement], device=x.device, dtype=x.dtype)
        grid = F.affine_grid(theta, [n, 1, h, w], align_corners=False)
        patch = F.grid_sample(param.expand(n, -1, -1, -1), grid, align_corners=False)
        cover = F.grid_sample(torch.ones_like(param[:1]).expand(n, 1, -1, -1), grid, align_corners=False)
        mask = frame_mask(self.frames, x)
        if x.dim() == 5:
            patch, cover = patch.unsqueeze(2), cover.unsqueeze(2)
        cover = cover * mask
        return x * (1 - cover) + patch * mask

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
    """One adversarial border (C, H, W) for all clips and all attacked frames."""

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
        return torch.rand(x.shape[1], *x.shape[-2:], generator=gen, device=x.device, dtype=x.dtype)

    def _image(self, param: Tensor) -> Tensor:
        return param * border_region(param[None], self.width)[0].to(param.dtype)

    def render(self, x: Tensor, param: Tensor, gens: Any, placement: Any = None) -> Tensor:
        if tuple(param.shape[-2:]) != tuple(x.shape[-2:]) or param.shape[0] != x.shape[1]:
            raise ValueError(f"universal_framing was trained for frames {tuple(param.shape)}, got clips {tuple(x.shape)}")
        region = border_region(x, self.width).to(x.dtype)
        mask = frame_mask(self.frames, x)
        content = param.unsqueeze(1) if x.dim() == 5 else param
        region = region.unsqueeze(1) * mask if x.dim() == 5 else region * mask
        return x + region * (content - x)
