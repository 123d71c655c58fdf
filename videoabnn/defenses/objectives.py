"""Training objectives: one loss per method, all plugged into the same trainer.

An objective is called as ``objective(model, x, y) -> ObjectiveOutput`` once per batch, after
``start_epoch(model, epoch)`` has built that epoch's attack. Adversarial examples are crafted
by an attack from ``videoabnn.attacks`` (eval mode, pixel space) on the plain module; the loss
forward runs on the (possibly DDP-wrapped) model in train mode.

Objectives here: ``standard`` (clean CE), ``abnn`` (clean CE on the ABNN composite; the substitute
must be frozen), ``at`` (Goodfellow: a*L(x) + (1-a)*L(x_adv)), ``pgd_at`` (Madry: L(x_adv),
with an eps warm-up), ``alp`` (Kannan: the AT mix + lambda * ||f(x) - f(x_adv)||^2),
``trades`` (Zhang: L(x) + beta * KL(f(x) || f(x_adv)), KL-maximising PGD inside) and
``feature_denoise`` (Xie: PGD-AT of a model with denoising blocks). Which method uses which class,
with which arguments, is declared in :mod:`videoabnn.methods` (`build_objective` in
:mod:`videoabnn.defenses.registry` builds them).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from videoabnn.capabilities import Capability, supports

AttackFn = Callable[[Tensor, Tensor], Tensor]
# (plain model, eps scale in (0, 1], seed) -> attack(x, y) -> x_adv
AttackFactory = Callable[[nn.Module, float, int], AttackFn]

# The field's standard training attack (attack-protocol.md): PGD-Linf eps 4/255, step 1/255, 5 iterations.
DEFAULT_TRAIN_ATTACK = {"name": "pgd", "eps": 4 / 255, "alpha": 1 / 255, "steps": 5}
EPS_KEYS = ("eps",)
STEP_KEYS = ("alpha", "step_size", "step")


@dataclass
class ObjectiveOutput:
    """The loss, the logits whose accuracy is logged as training accuracy, and extra numbers to log.

    ``logits`` are clean logits, except for pgd_at/feature_denoise, which never see clean clips
    (their logged training accuracy is adversarial accuracy).
    """

    loss: Tensor
    logits: Tensor
    stats: dict[str, float] = field(default_factory=dict)
    passes: dict[str, float] = field(default_factory=dict)  # per clip: see PASS_KINDS


# The work a training step does, per clip, in passes through the trained model (for ABNN the composite:
# its forward includes the frozen substitute's): "forward" (a forward pass whose graph is not back-propagated,
# or the forward half of a training pass), "train_backward" (back-propagation to the weights) and
# "attack_step" (one forward + back-propagation to the input, as an attack step does).
PASS_KINDS = ("forward", "train_backward", "attack_step")


def clean_passes(forwards: int = 1) -> dict[str, float]:
    """Passes of ``forwards`` training forward/backward pairs."""
    return {"forward": float(forwards), "train_backward": float(forwards), "attack_step": 0.0}


def attack_steps(attack: Any) -> float:
    """Forward+input-backward passes one call of ``attack`` makes per clip (steps x restarts; 1 for FGSM)."""
    steps = getattr(attack, "steps", 1) or 1
    return float(int(steps) * int(getattr(attack, "restarts", 1) or 1))


def attack_factory(attack_cfg: Mapping[str, Any]) -> AttackFactory:
    """Factory building ``videoabnn.attacks.build_attack(name, model, **params)`` with eps (and step) scaled.

    Args:
        attack_cfg: the ``train.attack`` mapping: with a ``name``, the attack and its parameters as given;
            without one, overrides of `DEFAULT_TRAIN_ATTACK` (PGD-Linf, eps 4/255, step 1/255, 5 steps).

    Returns:
        ``make(model, scale, seed)`` building the attack with ``eps``/``alpha``/``step_size``/``step`` times
        ``scale`` (the eps warm-up); a model behind an input transform is attacked through BPDA, one draw.
    """
    params = dict(attack_cfg) if "name" in attack_cfg else {**DEFAULT_TRAIN_ATTACK, **dict(attack_cfg)}
    name = params.pop("name")

    def make(model: nn.Module, scale: float, seed: int) -> AttackFn:
        from videoabnn.attacks import build_attack

        scaled = dict(params)
        for key in (*EPS_KEYS, *STEP_KEYS):
            if key in scaled and isinstance(scaled[key], (int, float)):
                scaled[key] = float(scaled[key]) * scale
        if supports(unwrap_ddp(model), Capability.ATTACK_VIEW):  # behind an input transform: craft through BPDA, one draw
            scaled.setdefault("bpda", "auto")
            scaled.setdefault("eot", 1)
        return build_attack(name, unwrap_ddp(model) if "bpda" in scaled else model, seed=seed, **scaled)

    return make


def unwrap_ddp(model: nn.Module) -> nn.Module:
    """The module inside DistributedDataParallel (the model itself otherwise)."""
    return getattr(model, "module", model)


class Objective:
    """Clean cross-entropy; subclasses add adversarial terms.

    Method ``standard``: ``CE(f(x), y)`` on clean clips. Called as ``objective(model, x, y)`` once per batch,
    after ``start_epoch(model, epoch, seed)`` has built that epoch's attack (adversarial methods).

    Threat model: none (no adversarial examples in training).

    Args:
        attack_factory: builds the epoch's attack, ``(model, eps_scale, seed) -> attack(x, y) -> x_adv``
            (`attack_factory`; `build_objective` makes one from ``train.attack``). Default: None (the clean
            methods need none; the adversarial ones raise ValueError without it).
        label_smoothing: label smoothing of every cross-entropy term, in [0, 1). Default: 0.0.
        eps_warmup_epochs: linear eps (and step) warm-up: epoch e uses (e + 1) / eps_warmup_epochs of them
            until 1; 0 disables it. Default: 0.
        **args: unknown ``train.method_args`` raise ValueError naming them.

    Shape:
        - input: ``x`` (N, 3, T, H, W) float clips in [0, 1], ``y`` (N,) int64 labels.
        - output: `ObjectiveOutput` with a scalar ``loss`` and (N, num_classes) ``logits``.

    Examples:
        >>> objective = build_objective("standard")
        >>> out = objective(model, x, y)
        >>> out.loss.backward()
    """

    name = "standard"
    needs_attack: ClassVar[bool] = False  # gets an attack factory built from train.attack
    reads_attack_params: ClassVar[bool] = False  # gets train.attack's parameters instead (its own inner attack)

    def __init__(self, *, attack_factory: AttackFactory | None = None, label_smoothing: float = 0.0,
                 eps_warmup_epochs: int = 0, **args: Any) -> None:
        if args:
            raise ValueError(f"method {self.name!r}: unknown train.method_args {sorted(args)}")
        if self.needs_attack and attack_factory is None:
            raise ValueError(f"method {self.name!r} needs an attack (train.attack)")
        self.attack_factory = attack_factory
        self.label_smoothing = float(label_smoothing)
        self.eps_warmup_epochs = int(eps_warmup_epochs)
        self.attack: AttackFn | None = None
        self.eps_scale = 1.0
        self.craft_seconds = 0.0  # wall time spent crafting adversarial examples (the trainer's time shares)

    def eps_scale_for(self, epoch: int) -> float:
        """Linear eps warm-up: (epoch + 1) / warm-up epochs, reaching 1 after the warm-up."""
        if self.eps_warmup_epochs <= 0:
            return 1.0
        return min(1.0, (epoch + 1) / self.eps_warmup_epochs)

    def start_epoch(self, model: nn.Module, epoch: int, seed: int) -> None:
        """Build this epoch's attack on the plain (unwrapped) model."""
        self.eps_scale = self.eps_scale_for(epoch)
        if self.attack_factory is not None:
            self.attack = self.attack_factory(model, self.eps_scale, seed)

    def ce(self, logits: Tensor, y: Tensor) -> Tensor:
        return F.cross_entropy(logits.float(), y, label_smoothing=self.label_smoothing)

    def craft(self, x: Tensor, y: Tensor) -> Tensor:
        """Adversarial examples from this epoch's attack, in full precision."""
        if self.attack is None:
            raise RuntimeError(f"method {self.name!r}: start_epoch() must run before the first batch")
        start = time.perf_counter()
        with torch.autocast(device_type=x.device.type, enabled=False):
            x_adv = self.attack(x, y).detach()
        self.craft_seconds += time.perf_counter() - start
        return x_adv

    def __call__(self, model: nn.Module, x: Tensor, y: Tensor) -> ObjectiveOutput:
        logits = model(x)
        return ObjectiveOutput(self.ce(logits, y), logits.detach(), passes=clean_passes())


def require_frozen_substitute(model: nn.Module, method: str) -> None:
    """Raise ValueError unless ``model`` is an ABNN composite whose substitute has no trainable weights."""
    substitute = getattr(model, "substitute", None)
    if substitute is None:
        raise ValueError(f"method {method!r} needs an ABNN model (model.name: abnn) with a .substitute")
    trainable = [n for n, p in substitute.named_parameters() if p.requires_grad]
    if trainable:
        raise ValueError(f"method {method!r}: substitute parameters must be frozen, trainable: {trainable[:3]}")


class AbnnObjective(Objective):
    """ABNN: clean cross-entropy on the composite; the substitute must be frozen (no trainable weights).

    ``align_weight`` > 0 adds that times the composite's alignment loss (the target's own clip
    statistics vs the substitute's, :mod:`videoabnn.abnn.alignment`), computed in the same forward.

    Paper: Lo & Patel, "Adaptive Batch Normalization Networks for Adversarial Robustness", AVSS 2024.

    Threat model: none in training (clean clips only); robustness is claimed from the frozen substitute's
    statistics, so evaluate it white-box through the substitute and the target.

    Args:
        align_weight: weight of the alignment loss, >= 0 (0: plain clean cross-entropy). Default: 0.0.
        **kwargs: `Objective`'s (``label_smoothing``, ``eps_warmup_epochs``, ``attack_factory``).

    Shape:
        - input: ``x`` (N, 3, T, H, W) float clips in [0, 1], ``y`` (N,) int64 labels.
        - output: `ObjectiveOutput` with a scalar ``loss`` and (N, num_classes) ``logits``.

    Examples:
        >>> objective = build_objective("abnn", align_weight=0.1)
        >>> objective.start_epoch(abnn_model, epoch=0, seed=0)
        >>> out = objective(abnn_model, x, y)
    """

    name = "abnn"

    def __init__(self, *, align_weight: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if float(align_weight) < 0:
            raise ValueError(f"method 'abnn': method_args.align_weight must be >= 0, got {align_weight}")
        self.align_weight = float(align_weight)
        self.plain: nn.Module | None = None

    def start_epoch(self, model: nn.Module, epoch: int, seed: int) -> None:
        require_frozen_substitute(model, self.name)
        if self.align_weight > 0:
            model.record_alignment, self.plain = True, model
        super().start_epoch(model, epoch, seed)

    def __call__(self, model: nn.Module, x: Tensor, y: Tensor) -> ObjectiveOutput:
        if self.plain is None:
            return super().__call__(model, x, y)
        logits = model(x)
        align, self.plain.alignment_loss = self.plain.alignment_loss, None  # no graph kept on the module
        ce = self.ce(logits, y)
        return ObjectiveOutput(ce + self.align_weight * align, logits.detach(),
                               {"ce": ce.item(), "align": align.item()}, clean_passes())


class MixObjective(Objective):
    """Goodfellow's adversarial training: ``mix * L(x) + (1 - mix) * L(x_adv)``.

    Method ``at``. Goodfellow et al. crafted ``x_adv`` with FGSM; here the attack is ``train.attack``, by default
    `DEFAULT_TRAIN_ATTACK` (PGD-Linf, eps 4/255, 5 steps): give ``train.attack: {name: fgsm, eps: ...}`` for the
    paper's FGSM mix.

    Paper: Goodfellow, Shlens & Szegedy, "Explaining and Harnessing Adversarial Examples", ICLR 2015.

    Threat model: trains against the white-box L-inf attack of ``train.attack``, crafted on the current model
    in eval mode.

    Args:
        mix: weight of the clean loss, in [0, 1]. Default: 0.5.
        **kwargs: `Objective`'s: ``attack_factory`` (required), ``label_smoothing``, ``eps_warmup_epochs``
            (default 0).

    Shape:
        - input: ``x`` (N, 3, T, H, W) float clips in [0, 1], ``y`` (N,) int64 labels.
        - output: `ObjectiveOutput` with a scalar ``loss`` and (N, num_classes) ``logits``.

    Examples:
        >>> objective = build_objective("at", attack_cfg={"name": "fgsm", "eps": 4 / 255}, mix=0.5)
        >>> objective.start_epoch(model, epoch=0, seed=0)
        >>> out = objective(model, x, y)
    """

    name = "at"
    needs_attack = True

    def __init__(self, *, mix: float = 0.5, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not 0.0 <= float(mix) <= 1.0:
            raise ValueError(f"method {self.name!r}: method_args.mix must be in [0, 1], got {mix}")
        self.mix = float(mix)

    def mixed(self, model: nn.Module, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor, dict]:
        """Clean and adversarial logits, the mixed loss and its logged parts (shared with ALP)."""
        x_adv = self.craft(x, y)
        logits = model(x)
        logits_adv = model(x_adv)
        loss_clean, loss_adv = self.ce(logits, y), self.ce(logits_adv, y)
        loss = self.mix * loss_clean + (1 - self.mix) * loss_adv
        stats = {"loss_clean": loss_clean.item(), "loss_adv": loss_adv.item(),
                 "adv_acc": logits_adv.argmax(1).eq(y).float().mean().item()}
        return logits, logits_adv, loss, stats

    def __call__(self, model: nn.Module, x: Tensor, y: Tensor) -> ObjectiveOutput:
        logits, _, loss, stats = self.mixed(model, x, y)
        return ObjectiveOutput(loss, logits.detach(), stats, self.passes())

    def passes(self) -> dict[str, float]:
        """Clean and adversarial training passes plus the crafting attack's steps."""
        return {**clean_passes(2), "attack_step": attack_steps(self.attack)}


class PgdAtObjective(Objective):
    """Madry's PGD adversarial training: the loss on adversarial examples only (eps warm-up by default).

    Method ``pgd_at``: ``CE(f(x_adv), y)``; the logged training accuracy is adversarial accuracy.

    Paper: Madry et al., "Towards Deep Learning Models Resistant to Adversarial Attacks", ICLR 2018.

    Threat model: trains against the white-box attack of ``train.attack``, by default `DEFAULT_TRAIN_ATTACK`
    (PGD-Linf, eps 4/255, step 1/255, 5 steps), crafted on the current model in eval mode.

    Args:
        eps_warmup_epochs: linear eps (and step) warm-up: epoch e uses (e + 1) / eps_warmup_epochs of them
            until 1; 0 disables it. Default: 5.
        **kwargs: `Objective`'s: ``attack_factory`` (required), ``label_smoothing``.

    Shape:
        - input: ``x`` (N, 3, T, H, W) float clips in [0, 1], ``y`` (N,) int64 labels.
        - output: `ObjectiveOutput` with a scalar ``loss`` and (N, num_classes) ``logits``.

    Examples:
        >>> objective = build_objective("pgd_at", attack_cfg={"eps": 8 / 255, "alpha": 2 / 255, "steps": 7})
        >>> objective.start_epoch(model, epoch=0, seed=0)
        >>> out = objective(model, x, y)
    """

    name = "pgd_at"
    needs_attack = True

    def __init__(self, *, eps_warmup_epochs: int = 5, **kwargs: Any) -> None:
        super().__init__(eps_warmup_epochs=eps_warmup_epochs, **kwargs)

    def __call__(self, model: nn.Module, x: Tensor, y: Tensor) -> ObjectiveOutput:
        logits_adv = model(self.craft(x, y))
        passes = {**clean_passes(), "attack_step": attack_steps(self.attack)}
        return ObjectiveOutput(self.ce(logits_adv, y), logits_adv.detach(), passes=passes)


class FeatureDenoiseObjective(PgdAtObjective):
    """Xie et al.: PGD adversarial training of a model with feature-denoising blocks.

    Method ``feature_denoise``: the `PgdAtObjective` loss, for a ``feature_denoise`` model (`feature_denoise`).

    Paper: Xie et al., "Feature Denoising for Improving Adversarial Robustness", CVPR 2019.

    Threat model: as ``pgd_at``: the white-box attack of ``train.attack`` (default PGD-Linf, eps 4/255, 5 steps).

    Args:
        eps_warmup_epochs: linear eps (and step) warm-up: epoch e uses (e + 1) / eps_warmup_epochs of them
            until 1; 0 disables it. Default: 5.
        **kwargs: `Objective`'s: ``attack_factory`` (required), ``label_smoothing``.

    Shape:
        - input: ``x`` (N, 3, T, H, W) float clips in [0, 1], ``y`` (N,) int64 labels.
        - output: `ObjectiveOutput` with a scalar ``loss`` and (N, num_classes) ``logits``.

    Examples:
        >>> objective = build_objective("feature_denoise")
    """

    name = "feature_denoise"


class AlpObjective(MixObjective):
    """Adversarial logit pairing: the AT mix plus ``alp_weight * mean ||f(x) - f(x_adv)||_2^2``.

    Method ``alp``: ``mix * CE(f(x)) + (1 - mix) * CE(f(x_adv)) + alp_weight * mean_i ||f(x_i) - f(x_adv_i)||^2``
    (squared L2 distance of the logits, summed over classes, averaged over the batch).

    Paper: Kannan, Kurakin & Goodfellow, "Adversarial Logit Pairing", 2018.

    Threat model: trains against the white-box attack of ``train.attack`` (default PGD-Linf, eps 4/255, 5 steps).

    Args:
        alp_weight: weight of the logit-pairing term. Default: 0.5.
        **kwargs: `MixObjective`'s ``mix`` (default 0.5) and `Objective`'s: ``attack_factory`` (required),
            ``label_smoothing``, ``eps_warmup_epochs`` (default 0).

    Shape:
        - input: ``x`` (N, 3, T, H, W) float clips in [0, 1], ``y`` (N,) int64 labels.
        - output: `ObjectiveOutput` with a scalar ``loss`` and (N, num_classes) ``logits``.

    Examples:
        >>> objective = build_objective("alp", alp_weight=0.5, mix=0.5)
    """

    name = "alp"

    def __init__(self, *, alp_weight: float = 0.5, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.alp_weight = float(alp_weight)

    def __call__(self, model: nn.Module, x: Tensor, y: Tensor) -> ObjectiveOutput:
        logits, logits_adv, loss, stats = self.mixed(model, x, y)
        pairing = (logits.float() - logits_adv.float()).pow(2).sum(dim=1).mean()
        stats["pairing"] = pairing.item()
        return ObjectiveOutput(loss + self.alp_weight * pairing, logits.detach(), stats, self.passes())


class TradesObjective(Objective):
    """TRADES: ``CE(f(x), y) + beta * KL(f(x) || f(x_adv))``; x_adv maximises the KL term by PGD-Linf.

    The inner maximisation is TRADES' own (its loss needs no labels), with eps, step and
    iterations read from ``train.attack`` (``eps``, ``alpha``, ``steps``). It starts at
    ``x + 0.001 * N(0, 1)`` and runs in eval mode with the weights frozen; the outer KL is batch-mean.

    Paper: Zhang et al., "Theoretically Principled Trade-off between Robustness and Accuracy", ICML 2019.

    Threat model: trains against a white-box L-inf perturbation of radius ``eps`` (KL-maximising PGD);
    ``train.attack``'s ``name`` is not used.

    Args:
        trades_beta: weight of the KL (robustness) term. Default: 6.0.
        attack_params: the ``train.attack`` mapping over `DEFAULT_TRAIN_ATTACK`: ``eps`` (default 4/255),
            ``alpha`` (default 1/255), ``steps`` (default 5); since the defaults hold ``alpha``, a
            ``step_size`` key is never read. Default: None (the defaults).
        **kwargs: `Objective`'s ``label_smoothing`` and ``eps_warmup_epochs`` (default 0; scales eps and
            alpha).

    Shape:
        - input: ``x`` (N, 3, T, H, W) float clips in [0, 1], ``y`` (N,) int64 labels.
        - output: `ObjectiveOutput` with a scalar ``loss`` and (N, num_classes) ``logits``.

    Examples:
        >>> objective = build_objective("trades", attack_cfg={"eps": 8 / 255, "alpha": 2 / 255}, trades_beta=6.0)
        >>> objective.start_epoch(model, epoch=0, seed=0)
        >>> out = objective(model, x, y)
    """

    name = "trades"
    reads_attack_params = True

    def __init__(self, *, trades_beta: float = 6.0, attack_params: Mapping[str, Any] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        params = {**DEFAULT_TRAIN_ATTACK, **dict(attack_params or {})}
        self.beta = float(trades_beta)
        self.eps = float(params["eps"])
        self.alpha = float(params.get("alpha", params.get("step_size", self.eps / 4)))
        self.steps = int(params.get("steps", 5))
        self.generator: torch.Generator | None = None
        self.plain_model: nn.Module | None = None

    def start_epoch(self, model: nn.Module, epoch: int, seed: int) -> None:
        self.eps_scale = self.eps_scale_for(epoch)
        self.generator = torch.Generator().manual_seed(int(seed))
        self.plain_model = model

    def _kl_pgd(self, model: nn.Module, x: Tensor, clean_probs: Tensor) -> Tensor:
        start = time.perf_counter()
        eps, alpha = self.eps * self.eps_scale, self.alpha * self.eps_scale
        noise = torch.randn(x.shape, generator=self.generator).to(x.device, x.dtype)
        x_adv = (x + 0.001 * noise).clamp(0, 1)
        for _ in range(self.steps):
            x_adv.requires_grad_(True)
            kl = F.kl_div(F.log_softmax(model(x_adv).float(), dim=1), clean_probs, reduction="sum")
            (grad,) = torch.autograd.grad(kl, x_adv)
            x_adv = x_adv.detach() + alpha * grad.sign()
            x_adv = torch.min(torch.max(x_adv, x - eps), x + eps).clamp(0, 1)
        self.craft_seconds += time.perf_counter() - start  # the trainer's "attack" time share
        return x_adv.detach()

    def __call__(self, model: nn.Module, x: Tensor, y: Tensor) -> ObjectiveOutput:
        plain = self.plain_model
        if plain is None:
            raise RuntimeError("method 'trades': start_epoch() must run before the first batch")
        was_training = plain.training
        plain.eval()
        grads = [p.requires_grad for p in plain.parameters()]
        for p in plain.parameters():
            p.requires_grad_(False)
        try:
            with torch.autocast(device_type=x.device.type, enabled=False):
                clean_probs = torch.softmax(plain(x).float(), dim=1).detach()
                x_adv = self._kl_pgd(plain, x, clean_probs)
        finally:
            for p, g in zip(plain.parameters(), grads):
                p.requires_grad_(g)
            plain.train(was_training)
        logits = model(x)
        logits_adv = model(x_adv)
        natural = self.ce(logits, y)
        robust = F.kl_div(F.log_softmax(logits_adv.float(), dim=1), F.softmax(logits.float(), dim=1),
                          reduction="batchmean")
        stats = {"loss_clean": natural.item(), "kl": robust.item(),
                 "adv_acc": logits_adv.argmax(1).eq(y).float().mean().item()}
        passes = {"forward": 3.0, "train_backward": 2.0, "attack_step": float(self.steps)}  # + clean-probs forward
        return ObjectiveOutput(natural + self.beta * robust, logits.detach(), stats, passes)
