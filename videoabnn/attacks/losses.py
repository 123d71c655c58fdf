"""Per-clip attack objectives (to be maximised): cross-entropy, margin (CW) and DLR.

CE saturates on over-confident models (its gradient underflows to exactly zero); the margin
and DLR losses work on logit differences and stay informative, which is why every gradient
attack takes ``loss`` as a parameter.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

LOSSES = ("ce", "margin", "dlr")


def check_loss(name: str) -> str:
    """Validate a loss name (case-insensitive) and return it lower-cased."""
    key = str(name).lower()
    if key == "cw":
        key = "margin"
    if key not in LOSSES:
        raise ValueError(f"unknown attack loss {name!r}; expected one of {', '.join(LOSSES)}")
    return key


def _other_max(logits: Tensor, y: Tensor) -> Tensor:
    """Largest logit among the classes other than ``y`` (per row)."""
    masked = logits.scatter(1, y[:, None], float("-inf"))
    return masked.max(dim=1).values


def margin_loss(logits: Tensor, y: Tensor, targeted: bool = False) -> Tensor:
    """CW margin: best other logit minus the true one (untargeted), or target minus best other."""
    true = logits.gather(1, y[:, None]).squeeze(1)
    other = _other_max(logits, y)
    return true - other if targeted else other - true


def dlr_loss(logits: Tensor, y: Tensor, targeted: bool = False) -> Tensor:
    """Difference-of-logits-ratio loss of Croce & Hein (2020), invariant to logit scale and shift."""
    k = logits.shape[1]
    need = 4 if targeted else 3
    if k < need:
        raise ValueError(f"dlr loss needs at least {need} classes ({'targeted' if targeted else 'untargeted'}); model has {k}")
    srt = logits.sort(dim=1, descending=True).values
    true = logits.gather(1, y[:, None]).squeeze(1)
    if targeted:
        # y is the target: push its logit above the best other one, normalised by the top spread.
        denom = srt[:, 0] - 0.5 * (srt[:, 2] + srt[:, 3]) + 1e-12
        return (true - _other_max(logits, y)) / denom
    denom = srt[:, 0] - srt[:, 2] + 1e-12
    return -(true - _other_max(logits, y)) / denom


def attack_loss(name: str, logits: Tensor, y: Tensor, targeted: bool = False) -> Tensor:
    """Per-clip objective to maximise; for targeted attacks ``y`` holds the target classes."""
    if name == "ce":
        ce = F.cross_entropy(logits, y, reduction="none")
        return -ce if targeted else ce
    if name == "margin":
        return margin_loss(logits, y, targeted)
    if name == "dlr":
        return dlr_loss(logits, y, targeted)
    raise ValueError(f"unknown attack loss {name!r}; expected one of {', '.join(LOSSES)}")


def is_adversarial(logits: Tensor, y: Tensor, targeted: bool = False) -> Tensor:
    """Bool per clip: misclassified (untargeted) or classified as the target (targeted)."""
    pred = logits.argmax(dim=1)
    return pred == y if targeted else pred != y


__all__ = ["LOSSES", "attack_loss", "check_loss", "dlr_loss", "is_adversarial", "margin_loss"]
