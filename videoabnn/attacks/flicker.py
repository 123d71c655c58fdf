"""The flickering attack: one colour offset per frame and channel over the whole frame, as a light in the room.

A member of the pattern-attack family (:mod:`videoabnn.attacks.pattern_family`): its "pattern" is the offset
``delta`` (N, C, T), added to every pixel of a frame instead of pasted over a region. The family supplies the
options, the seed streams and the ``physical`` threat model's views; this module defines the offset's
regularisers, its fit and how a lit frame is seen through one physical draw.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from videoabnn.attacks.base import attack_mode, clip_generators, per_clip_rand, per_clip_randint
from videoabnn.attacks.pattern_family import PatternAttack, drawn
from videoabnn.attacks.physical_eot import PhysicalDistribution, camera, photometric
from videoabnn.attacks.registry import register_attack


def temporal_difference(delta: Tensor, order: int) -> Tensor:
    """The cyclic ``order``-th difference of ``delta`` (N, C, T) along time (the last frame neighbours the first)."""
    for _ in range(order):
        delta = delta - delta.roll(1, dims=-1)
    return delta


def roughness(delta: Tensor, order: int) -> Tensor:
    """(N,) sum of squared cyclic ``order``-th temporal differences: how abruptly the offset changes."""
    return temporal_difference(delta, order).pow(2).sum(dim=(1, 2))


def frame_thickness(delta: Tensor) -> Tensor:
    """(N,) mean over frames of the offset's L2 norm over channels (the small term keeps the root smooth at 0)."""
    return (delta.pow(2).sum(dim=1) + 1e-12).sqrt().mean(dim=-1)


def cyclic_shift(delta: Tensor, gens: list[torch.Generator]) -> Tensor:
    """``delta`` (N, C, T) rolled along time by a phase drawn per clip: a looping light not synchronised with
    the camera."""
    shifts = per_clip_randint(gens, delta.shape[-1])
    return torch.stack([d.roll(k, dims=-1) for d, k in zip(delta, shifts)])


@register_attack("flicker")
class FlickerAttack(PatternAttack):
    """Flickering attack: a uniform RGB offset per frame, bounded in L-inf and kept smooth in time.

    Paper: Pony, Naeh & Mannor, "Over-the-Air Adversarial Flickering Attacks against Video Recognition
    Networks", CVPR 2021.
    Distance: L-inf, ``|delta[c, t]| <= eps`` for one offset per clip, channel and frame, the same at every
    pixel: ``x_adv[:, c, t] = clip(x[:, c, t] + delta[c, t], 0, 1)``.
    Threat model: white-box; under the ``physical`` threat model the offset is fitted through draws of the
    camera distribution (the lit frame gets the photometric changes and the camera's blur, noise and
    re-encoding; a uniform offset has no geometry to warp) and scored under fresh draws and fixed conditions
    (:meth:`~videoabnn.attacks.pattern_family.PatternAttack.physical_views`). There the ``no_pattern`` control
    is the camera alone, without the photometric change of the scene.

    Objective, maximised by ``steps`` sign-gradient steps of ``alpha`` on ``delta`` (projected on the eps box
    after each): the attack loss on the flickered clip minus ``beta_1`` times the sum of squared cyclic first
    temporal differences of ``delta``, minus ``beta_2`` times that of the second differences (the paper's
    roughness: cyclic so that a looped flicker has no jump where it wraps) and minus ``thickness`` times the
    mean over frames of the offset's L2 norm over channels (the paper's thickness: how strong the light is).

    Args:
        model: classifier on (N, C, T, H, W) clips in [0, 1] returning logits; run in eval mode, never modified.
        eps: L-inf bound of the offset per frame and channel, in [0, 1] pixel units. Default: 8/255.
        alpha: sign-gradient step on the offset; None: ``2.5 * eps / steps``. Default: None.
        steps: sign-gradient steps, >= 0 (0 keeps the initial offset). Default: 10.
        beta_1: weight of the first-difference roughness, >= 0. Default: 1.0.
        beta_2: weight of the second-difference roughness, >= 0. Default: 1.0.
        thickness: weight of the thickness (mean per-frame L2 norm), >= 0. Default: 0.1.
        random_start: start from an offset uniform in [-eps, eps] (per-clip draws) instead of 0.
            Default: True.
        pattern: ``"per_frame"`` (an offset for every frame of the clip, synchronised with it: the digital
            attack) or ``"shared"`` (one looped flicker whose phase against the clip is unknown: fitted and shown
            at a phase drawn per clip and render, the paper's time-invariant variant; the ``physical`` threat
            model's default). Default: ``"per_frame"``.
        placement: only ``"fixed"`` (a whole-frame offset has no place to move). Default: ``"fixed"``.
        jitter: not used (no placement to jitter); must be None. Default: None.
        physical: fit through the expectation over real-world changes (physical EOT): None or ``"none"``, True or
            ``"default"``, a ``PhysicalDistribution`` or ``{preset, draws, <field>: [low, high]}`` (draws per
            step, default 4). Default: None.
        nps_weight: not used (nothing is printed); must be 0. Default: 0.0.
        tv_weight: not used (the offset has no spatial variation); must be 0. Default: 0.0.
        palette: not used (nothing is printed); must be None. Default: None.
        loss: objective to maximise: ``"ce"``, ``"margin"`` (alias ``"cw"``) or ``"dlr"``. Default: ``"ce"``.
        targeted: ``y`` holds target labels and the attack pushes towards them. Default: False.
        frames: frames that may flicker (the others get no offset): ``"all"``, ``"first:k"``, ``"random:k"``,
            ``"every:n"`` or ``"salient:k"`` (largest input gradient). Default: ``"all"``.
        seed: seed of the per-clip random draws (with each clip's pixels); None: a fresh seed per call.
            Default: None.
        bpda: (``build_attack`` only) backward through a model's input transform: ``"auto"``, ``"none"``,
            ``"identity"``, ``"median"`` or ``"standin"``. Default: None (the model as is).
        eot: (``build_attack`` only) draws of a random input transform averaged per forward pass.
            Default: None (the model as is; 8 for a random transform when only ``bpda`` is set).

    Shape:
        - x: (N, C, T, H, W) float in [0, 1].
        - y: (N,) int64 labels (target labels when targeted).
        - output: same shape and dtype as x, in [0, 1]; ``x_adv - x`` is constant over (H, W) per clip, channel
          and frame wherever no pixel was clipped.

    Examples:
        >>> attack = FlickerAttack(model, eps=8 / 255, steps=10, beta_1=1.0, beta_2=1.0, seed=0)
        >>> x_adv = attack(x, y)
        >>> views = attack.physical_views(x, y)  # digital, fresh, no_pattern and the fixed conditions
    """

    name = "flicker"
    threat = "linf"

    def __init__(self, model: nn.Module, *, eps: float = 8 / 255, alpha: float | None = None, steps: int = 10,
                 beta_1: float = 1.0, beta_2: float = 1.0, thickness: float = 0.1, random_start: bool = True,
                 **kwargs) -> None:
        super().__init__(model, **kwargs)
        weights = {"eps": eps, "beta_1": beta_1, "beta_2": beta_2, "thickness": thickness, "steps": steps}
        bad = {k: v for k, v in weights.items() if float(v) < 0}
        if bad or (alpha is not None and alpha < 0):
            raise ValueError(f"flicker: eps, alpha, steps, beta_1, beta_2 and thickness must be >= 0; got {bad or alpha}")
        if self.options.moves is not None:
            raise ValueError("flicker: placement must be 'fixed' (a whole-frame offset does not move)")
        if self.options.penalty.active or self.options.penalty.palette_path is not None:
            raise ValueError("flicker: nps_weight, tv_weight and palette are print terms; the flicker prints nothing")
        self.eps, self.steps, self.random_start = float(eps), int(steps), bool(random_start)
        self.alpha = float(alpha) if alpha is not None else 2.5 * self.eps / max(self.steps, 1)
        self.beta_1, self.beta_2, self.thickness = float(beta_1), float(beta_2), float(thickness)

    # --- the objective's regularisers
    def penalty(self, delta: Tensor) -> Tensor:
        """(N,) the weighted roughness and thickness subtracted from the attack loss."""
        return (self.beta_1 * roughness(delta, 1) + self.beta_2 * roughness(delta, 2)
                + self.thickness * frame_thickness(delta))

    # --- rendering
    def render(self, x: Tensor, delta: Tensor, dist: PhysicalDistribution | None, streams: tuple[list, list]) -> Tensor:
        """The clips lit by ``delta`` (at a drawn phase for a shared loop), seen through one draw of ``dist``
        from ``streams`` (phase generators, physical generators)."""
        phase_gens, phys_gens = streams
        offset = cyclic_shift(delta, phase_gens) if self.pattern == "shared" else delta
        lit = (x + offset[..., None, None]).clamp(0, 1)
        dist = drawn(dist)
        if dist is None:
            return lit
        draw = dist.sample(phys_gens, x.shape[2], x.shape[1])
        return camera(photometric(lit, draw, dist), draw, dist, phys_gens)

    # --- fitting
    def fit_offset(self, x: Tensor, y: Tensor, seed: int) -> Tensor:
        """(N, C, T) the offset fitted on ``(x, y)`` through the EOT draws of the ``fit`` stream."""
        if x.dim() != 5:
            raise ValueError(f"FlickerAttack: expected NCTHW clips, got rank {x.dim()}")
        gens = clip_generators(x, seed)
        n, c, t = x.shape[:3]
        mask = self.make_mask(x, y, gens).reshape(n, 1, t).to(x.dtype)
        delta = torch.zeros(n, c, t, dtype=x.dtype, device=x.device)
        if self.random_start:
            delta = (2 * per_clip_rand(gens, (c, t), x) - 1) * self.eps
        delta = delta * mask
        fit_streams = self.streams(x, seed, "fit")
        for _ in range(self.steps):
            delta = self.step(x, y, delta, mask, fit_streams)
        return delta.detach()

    def step(self, x: Tensor, y: Tensor, delta: Tensor, mask: Tensor, streams: tuple[list, list]) -> Tensor:
        """One sign-gradient step of ``alpha`` on the objective summed over ``draws`` renders, projected on the
        eps box and the attacked frames."""
        delta = delta.detach().requires_grad_(True)
        grad = torch.zeros_like(delta)
        for _ in range(self.options.draws):
            objective = self.loss_fn(self.model(self.render(x, delta, self.options.distribution, streams)), y)
            (g,) = torch.autograd.grad((objective - self.penalty(delta)).sum(), delta)
            grad = grad + g
        with torch.no_grad():
            return (delta + self.alpha * grad.sign()).clamp(-self.eps, self.eps) * mask

    def perturb(self, x: Tensor, y: Tensor, seed: int) -> Tensor:
        delta = self.fit_offset(x, y, seed)
        with torch.no_grad():
            return self.render(x, delta, None, self.streams(x, seed, "show"))

    def viewer(self, x: Tensor, y: Tensor, seed: int) -> Callable[[PhysicalDistribution | None, str], Tensor]:
        """Fit the offset on ``(x, y)``, then show it through a draw of the named stream."""
        with attack_mode(self.model), torch.enable_grad():
            delta = self.fit_offset(x.detach(), y.detach(), seed)
        return lambda dist, stream: self.render(x, delta, dist, self.streams(x, seed, stream))
