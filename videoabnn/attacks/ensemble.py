"""A parameter-free attack ensemble for video in the manner of AutoAttack (Croce & Hein, 2020):
APGD-CE, APGD-T, Square (see :class:`AutoAttack`).

FAB-T is left out: its projection step solves a linearised problem per clip over the whole input
and would need a video-scale re-derivation (and validation against the reference) that this
ensemble does not yet have; APGD-T with the DLR loss covers the minimum-margin direction it targets.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from videoabnn.attacks.apgd import APGD
from videoabnn.attacks.base import Attack
from videoabnn.attacks.blackbox import Square
from videoabnn.attacks.registry import register_attack

VERSIONS: dict[str, dict[str, dict[str, Any]]] = {
    # AutoAttack's standard settings: 100 iterations, 9 target classes, Square with 5000 queries
    "standard": {"apgd_ce": {"steps": 100, "restarts": 1}, "apgd_t": {"steps": 100, "targets": 9},
                 "square": {"queries": 5000, "p_init": 0.8}},
    # a cheaper version for CPU studies: same parts, fewer iterations, targets and queries
    "fast": {"apgd_ce": {"steps": 25, "restarts": 1}, "apgd_t": {"steps": 25, "targets": 3},
             "square": {"queries": 100, "p_init": 0.8}},
}


def _predict(model: nn.Module, x: Tensor) -> Tensor:
    with torch.no_grad():
        return model(x).argmax(dim=1)


@register_attack("autoattack")
class AutoAttack(Attack):
    """AutoAttack-style ensemble: APGD-CE, then APGD-T (DLR), then Square; the per-clip worst case.

    Paper: Croce & Hein, "Reliable evaluation of adversarial robustness with an ensemble of diverse
    parameter-free attacks", ICML 2020 (without FAB-T).
    Distance: Linf only.
    Threat model: white-box (the APGD parts) plus a black-box, score-based part (Square).

    Each part runs on the clips the previous ones left correctly classified: APGD-CE; APGD-T, targeted DLR
    towards each of the top-k other classes in turn (k at most classes - 1; skipped below 4 classes);
    Square with ``p_init`` 0.8. A clip is robust only if every part fails; the first adversarial example
    found is kept. ``settings()`` returns the fixed settings of the version, ``last_report`` the robust
    accuracy after each part of the last call.

    Args:
        model: classifier on (N, C, T, H, W) clips in [0, 1] returning logits; run in eval mode, never modified.
        eps: radius of the Linf ball, in [0, 1] pixel units (8/255 = 8 grey levels); 0 returns x.
            Default: 8/255.
        version: ``"standard"`` (APGD-CE 100 steps, APGD-T 100 steps x 9 targets, Square 5000 queries) or
            ``"fast"`` (25 steps, 25 steps x 3 targets, 100 queries). Default: ``"standard"``.
        norm: only ``"linf"`` (Square is Linf-only); anything else raises. Default: ``"linf"``.
        loss: accepted but unused: every part fixes its own loss. Default: ``"ce"``.
        targeted: accepted but unused: the ensemble is untargeted (``y`` are true labels). Default: False.
        frames: frames that may change, passed to every part: ``"all"``, ``"first:k"``, ``"random:k"``,
            ``"every:n"`` or ``"salient:k"``. Default: ``"all"``.
        seed: seed of every part's per-clip draws; None: a fresh seed per call. Default: None.
        bpda: (``build_attack`` only) backward through a model's input transform: ``"auto"``, ``"none"``,
            ``"identity"``, ``"median"`` or ``"standin"``. Default: None (the model as is).
        eot: (``build_attack`` only) draws of a random input transform averaged per forward pass.
            Default: None (the model as is; 8 for a random transform when only ``bpda`` is set).

    Shape:
        - x: (N, C, T, H, W) float in [0, 1]; any rank >= 4 (NCHW images count as one frame).
        - y: (N,) int64 true labels.
        - output: same shape and dtype as x, in [0, 1], within eps of x (Linf).

    Examples:
        >>> attack = AutoAttack(model, eps=8 / 255, version="fast", seed=0)
        >>> x_adv = attack(x, y)
        >>> attack.last_report  # robust accuracy after each part
    """

    name = "autoattack"
    threat = "linf"

    def __init__(self, model: nn.Module, *, eps: float = 8 / 255, version: str = "standard",
                 norm: str = "linf", **kwargs) -> None:
        super().__init__(model, **kwargs)
        if version not in VERSIONS:
            raise ValueError(f"autoattack: version must be one of {sorted(VERSIONS)}, got {version!r}")
        if norm != "linf":
            raise ValueError("autoattack: only norm='linf' is implemented (Square is Linf-only)")
        if eps < 0:
            raise ValueError(f"autoattack: eps must be >= 0, got {eps}")
        self.eps, self.version, self.norm = float(eps), version, norm
        self.last_report: dict[str, float] = {}

    def settings(self) -> dict[str, Any]:
        """Everything that defines this ensemble (stored beside its numbers)."""
        return {"name": self.name, "version": self.version, "eps": self.eps, "norm": self.norm,
                "parts": VERSIONS[self.version], "frames": str(self.frames)}

    def parts(self, x: Tensor, y: Tensor) -> list[tuple[str, Any]]:
        """(name, attack(x, y)) in order; APGD-T runs once per target rank."""
        v = VERSIONS[self.version]
        common = {"frames": self.frames}
        out: list[tuple[str, Any]] = [("apgd_ce", APGD(self.model, eps=self.eps, loss="ce", **v["apgd_ce"], **common))]
        num_classes = int(self.model_logits(x[:1]).shape[1])
        targets = min(int(v["apgd_t"]["targets"]), num_classes - 1)
        if num_classes >= 4:
            apgd_t = APGD(self.model, eps=self.eps, loss="dlr", targeted=True, steps=v["apgd_t"]["steps"], **common)
            for rank in range(1, targets + 1):
                out.append((f"apgd_t_{rank}", _Targeted(apgd_t, rank)))
        out.append(("square", Square(self.model, eps=self.eps, **v["square"], **common)))
        return out

    def model_logits(self, x: Tensor) -> Tensor:
        """The model's logits on ``x``, without gradients."""
        with torch.no_grad():
            return self.model(x)

    def perturb(self, x: Tensor, y: Tensor, seed: int) -> Tensor:
        x_adv = x.clone()
        robust = _predict(self.model, x) == y
        report = {"clean": robust.float().mean().item()}
        if self.eps == 0:
            self.last_report = report
            return x_adv
        for part_name, part in self.parts(x, y):
            idx = robust.nonzero().flatten()
            if idx.numel():
                part.seed = seed
                adv = part(x[idx], y[idx])
                fooled = _predict(self.model, adv) != y[idx]
                x_adv[idx[fooled]] = adv[fooled]
                robust[idx[fooled]] = False
            report[part_name] = robust.float().mean().item()
        self.last_report = report
        return x_adv


class _Targeted:
    """APGD-T towards the ``rank``-th most likely wrong class of each clip (computed on the clean clip)."""

    def __init__(self, attack: APGD, rank: int) -> None:
        self.attack, self.rank, self.seed = attack, rank, None

    def __call__(self, x: Tensor, y: Tensor) -> Tensor:
        with torch.no_grad():
            logits = self.attack.model(x).float()
        logits.scatter_(1, y[:, None], float("-inf"))
        target = logits.sort(dim=1, descending=True).indices[:, self.rank - 1]
        self.attack.seed = self.seed
        return self.attack(x, target)
