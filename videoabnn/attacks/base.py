"""The attack contract: ``Attack(model, ...)(x, y) -> x_adv`` with the model in eval mode, no
parameter gradients, caller tensors untouched, output of the same shape/dtype in [0, 1].

Per-clip randomness (random starts, random frames, positions) comes from one generator per clip
seeded by ``(seed, fingerprint of the clip's pixels)``. The draws therefore do not depend on the
batch size or the clip's position in the batch (attacking a batch equals attacking each clip
alone under the same seed), while different clips still get different draws.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from videoabnn.attacks.frames import FrameSpec, frame_mask, frame_saliency, parse_frames
from videoabnn.attacks.losses import attack_loss, check_loss, is_adversarial


@contextmanager
def attack_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put every submodule in eval mode and freeze parameters; restore both exactly on exit."""
    modes = [(m, m.training) for m in model.modules()]
    flags = [(p, p.requires_grad) for p in model.parameters()]
    try:
        model.eval()
        for p, _ in flags:
            p.requires_grad_(False)
        yield model
    finally:
        for m, mode in modes:
            m.training = mode
        for p, flag in flags:
            p.requires_grad_(flag)


def clip_seed(clip: Tensor, seed: int) -> int:
    """A 63-bit seed from ``seed`` and a fingerprint of (a strided sample of) the clip's pixels."""
    flat = clip.detach().reshape(-1)
    step = max(1, flat.numel() // 8192)
    sample = flat[::step].float().cpu().numpy().tobytes()
    digest = hashlib.blake2b(int(seed).to_bytes(16, "little", signed=True) + sample, digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


def clip_generators(x: Tensor, seed: int) -> list[torch.Generator]:
    """One generator per clip on ``x``'s device, independent of batch composition."""
    gens = []
    for clip in x:
        gen = torch.Generator(device=x.device)
        gen.manual_seed(clip_seed(clip, seed))
        gens.append(gen)
    return gens


def per_clip_rand(gens: list[torch.Generator], shape: tuple[int, ...], like: Tensor, normal: bool = False) -> Tensor:
    """Stack of per-clip uniform [0, 1) (or standard normal) draws of ``shape``."""
    draw = torch.randn if normal else torch.rand
    return torch.stack([draw(shape, generator=g, device=like.device, dtype=like.dtype) for g in gens])


def per_clip_randint(gens: list[torch.Generator], high: int) -> list[int]:
    """One integer in [0, high) per clip."""
    return [int(torch.randint(high, (1,), generator=g, device=g.device)) for g in gens]


def flat_norm(t: Tensor) -> Tensor:
    """Per-clip L2 norm over all non-batch dims, shaped to broadcast against ``t``."""
    return t.reshape(t.shape[0], -1).norm(dim=1).reshape([-1] + [1] * (t.dim() - 1))


def resolve_length(value: int | float, full: int, what: str) -> int:
    """An int is pixels; a float in (0, 1] is a fraction of ``full`` (rounded, at least 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{what} must be an int (pixels) or a float fraction in (0, 1]; got {value!r}")
    if isinstance(value, float):
        if not 0.0 < value <= 1.0:
            raise ValueError(f"{what} as a fraction must be in (0, 1]; got {value}")
        return max(1, min(full, round(value * full)))
    if value < 1:
        raise ValueError(f"{what} in pixels must be >= 1; got {value}")
    return min(int(value), full)


class Attack(ABC):
    """Base class of every attack: ``attack(x, y) -> x_adv``, with the arguments all attacks share.

    It validates the inputs, guards the model (eval mode, frozen parameters, both restored afterwards),
    draws per-clip randomness from ``(seed, fingerprint of the clip)`` (a clip's result does not depend on
    its batch), builds the attacked-frame mask and the loss. Subclasses implement :meth:`perturb`.

    Args:
        model: classifier on (N, C, T, H, W) clips in [0, 1] returning (N, classes) logits; run in eval mode,
            never modified.
        loss: objective to maximise: ``"ce"``, ``"margin"`` (CW; alias ``"cw"``) or ``"dlr"`` (needs >= 3
            classes, >= 4 when targeted). Default: ``"ce"``.
        targeted: ``y`` holds target labels and the attack pushes the prediction towards them. Default: False.
        frames: frames the attack may change: ``"all"``, ``"first:k"``, ``"random:k"``, ``"every:n"``,
            ``"salient:k"`` (the k frames of largest input gradient) or a :class:`FrameSpec`. Default: ``"all"``.
        seed: seed of the per-clip random draws (combined with each clip's pixels); None draws a fresh seed on
            every call. Default: None.
        bpda: (``build_attack`` only, for a model behind an input transform) its backward: ``"auto"``,
            ``"none"``, ``"identity"``, ``"median"`` or ``"standin"``. Default: None (the model as is).
        eot: (``build_attack`` only) draws of a random input transform averaged per forward pass.
            Default: None (the model as is; 8 for a random transform when only ``bpda`` is set).

    Shape:
        - x: (N, C, T, H, W) float in [0, 1]; any rank >= 4 (an NCHW image counts as one frame).
        - y: (N,) integer labels (target labels when targeted).
        - output: same shape and dtype as x, in [0, 1]; ``x`` and ``y`` are not modified.

    Examples:
        >>> attack = build_attack("pgd", model, eps=4 / 255, steps=5, seed=0)
        >>> x_adv = attack(x, y)
    """

    name = "attack"
    threat = "none"

    def __init__(
        self,
        model: nn.Module,
        *,
        loss: str = "ce",
        targeted: bool = False,
        frames: str | FrameSpec = "all",
        seed: int | None = None,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"{type(self).__name__}: model must be a torch.nn.Module, got {type(model).__name__}")
        self.model = model
        self.loss = check_loss(loss)
        self.targeted = bool(targeted)
        self.frames = parse_frames(frames)
        self.seed = seed

    def __repr__(self) -> str:
        skip = {"model", "surrogate", "inner"}
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if k not in skip and not k.startswith("_"))
        return f"{type(self).__name__}({args})"

    def settings(self) -> dict:
        """Resolved settings a results row records in its ``details`` (none by default; ensembles, patterns)."""
        return {}

    # ----------------------------------------------------------------- public call
    def __call__(self, x: Tensor, y: Tensor) -> Tensor:
        """Return adversarial clips for ``x`` (true labels, or target labels when targeted)."""
        x, y = self._check_inputs(x, y)
        seed = self.seed if self.seed is not None else int(torch.randint(0, 2**62, (1,)))
        with attack_mode(self.model), torch.enable_grad():
            x_adv = self.perturb(x.detach(), y.detach(), seed)
        return x_adv.detach().clamp(0.0, 1.0).to(x.dtype)

    @abstractmethod
    def perturb(self, x: Tensor, y: Tensor, seed: int) -> Tensor:
        """Attack-specific work on detached inputs; called with the model guarded."""

    # ----------------------------------------------------------------- helpers
    def _check_inputs(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        name = type(self).__name__
        if not isinstance(x, Tensor) or not x.is_floating_point() or x.dim() < 4:
            raise ValueError(f"{name}: x must be a float tensor of rank >= 4 (NCTHW for video)")
        if not isinstance(y, Tensor) or y.dim() != 1 or y.shape[0] != x.shape[0]:
            raise ValueError(f"{name}: y must be a 1-D label tensor with one entry per clip ({x.shape[0]})")
        if x.numel() and (float(x.min()) < 0.0 or float(x.max()) > 1.0):
            raise ValueError(f"{name}: x must hold pixels in [0, 1]; got range [{float(x.min())}, {float(x.max())}]")
        return x, y.to(device=x.device, dtype=torch.long)

    def loss_fn(self, logits: Tensor, y: Tensor) -> Tensor:
        """Per-clip objective to maximise."""
        return attack_loss(self.loss, logits, y, self.targeted)

    def adversarial(self, logits: Tensor, y: Tensor) -> Tensor:
        """Per-clip success."""
        return is_adversarial(logits, y, self.targeted)

    def input_grad(self, x: Tensor, y: Tensor) -> Tensor:
        """Gradient of the summed objective with respect to the input."""
        x = x.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(self.loss_fn(self.model(x), y).sum(), x)
        return g

    def make_mask(self, x: Tensor, y: Tensor, gens: list[torch.Generator]) -> Tensor:
        """The attacked-frame mask of this attack's ``frames`` spec."""
        saliency = frame_saliency(self.input_grad(x, y)) if self.frames.kind == "salient" else None
        return frame_mask(self.frames, x, gens, saliency)

    def with_restarts(
        self,
        x: Tensor,
        y: Tensor,
        restarts: int,
        run: Callable[[Tensor, Tensor, Tensor], Tensor],
    ) -> Tensor:
        """Run ``run(x, y, idx)`` once, or ``restarts`` times keeping per clip the first success
        (else the highest loss); later restarts only revisit clips not yet fooled."""
        all_idx = torch.arange(x.shape[0], device=x.device)
        if restarts <= 1:
            return run(x, y, all_idx)
        best = x.clone()
        best_loss = torch.full((x.shape[0],), float("-inf"), device=x.device)
        fooled = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
        for _ in range(restarts):
            idx = all_idx[~fooled]
            if idx.numel() == 0:
                break
            adv = run(x[idx], y[idx], idx)
            with torch.no_grad():
                logits = self.model(adv)
                loss = self.loss_fn(logits, y[idx]).float()
                succ = self.adversarial(logits, y[idx])
            take = succ | (loss > best_loss[idx])
            best[idx[take]] = adv[take]
            best_loss[idx[take]] = loss[take]
            fooled[idx[succ]] = True
        return best
