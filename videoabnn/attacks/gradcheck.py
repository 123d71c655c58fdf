"""Gradient correctness: directional finite differences of a float64 copy of the model against autograd.

The other audit checks compare attacks with each other; a gradient that is wrong but still useful
(a detached shortcut, a straight-through estimator) passes them. Here, for random unit directions D
(L2 norm 1 over the batch tensor, in pixel units of the [0, 1] clip), the central difference
``(L(x + hD) - L(x - hD)) / 2h`` at two step sizes is compared with autograd's ``<grad L, D>``, where L
is a fixed random projection of the logits (it never saturates, unlike a confident cross-entropy).
The relative error ``|fd - g.D| / max(|fd|, |g.D|, tiny)`` is taken at the better step size (a kink
crossed at one h does not count) and the worst direction decides. Intact models measure 1e-10..1e-7,
cut gradients 0.03..1.2, independent of h.

A model behind an input transform whose backward is not autograd's (BPDA, a non-differentiable or a
random transform, whose randomness depends on the pixels) is checked on its differentiable part: the
classifier at the transformed clip; the surrogate backward of the transform is reported, not failed.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from videoabnn.attacks.base import attack_mode

STEPS = (1e-5, 1e-6)
TOLERANCE = 1e-3
TINY = 1e-12


@dataclass
class GradientCheck:
    """What was checked and the measured relative errors (per direction: the better step size)."""

    passed: bool
    max_rel_error: float
    rel_errors: list[float]
    rel_errors_per_step: dict[str, list[float]]
    checked: str
    surrogate: str | None
    clips: int
    steps: list[float]
    tol: float
    directional_derivatives: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return asdict(self)

    def reason(self) -> str:
        """One line for the audit report."""
        where = f"{self.checked}, {self.clips} clip(s), {len(self.rel_errors)} direction(s), h {self.steps}"
        text = (f"finite differences vs autograd (float64, {where}): largest relative error "
                f"{self.max_rel_error:.2e} (tolerance {self.tol:.0e})")
        if not self.passed:
            text += ("; the gradient the attacks use is not the model's gradient (a detached or straight-through "
                     "path): white-box numbers from it overstate robustness; fix the path")
        if self.surrogate:
            text += f"; {self.surrogate}"
        return text


def _transform_view(model: nn.Module) -> tuple[nn.Module, Callable[[Tensor], Tensor], str] | None:
    """(classifier, transform in front of it, note) when ``model``'s input gradient is not autograd's."""
    from videoabnn.defenses.transformed import AdaptiveView, TransformedModel

    if isinstance(model, AdaptiveView):
        t = model.inner.transform
        if model.bpda == "none" and model.eot == 1 and not t.random and t.differentiable:
            return None
        note = (f"attack view: BPDA '{model.bpda}' backward through the {t.name} transform, EOT {model.eot}: "
                "a surrogate gradient by design (not checked); checked the classifier behind the transform")
        return model.inner.model, lambda x: t(x, 1 + model.seed * 1000), note
    if isinstance(model, TransformedModel):
        t = model.transform
        if t.differentiable and not t.random:
            return None
        kind = "not differentiable" if not t.differentiable else "random (its draw depends on the pixels)"
        note = f"the {t.name} transform is {kind}: checked the classifier behind it"
        return model.model, lambda x: t(x, 0), note
    return None


def _projected_loss(model: nn.Module, x: Tensor, weights: Tensor) -> Tensor:
    return (model(x).to(weights.dtype) * weights).sum()


def check_gradient(model: nn.Module, x: Tensor, *, directions: int = 3, steps: Sequence[float] = STEPS,
                   tol: float = TOLERANCE, seed: int = 0) -> GradientCheck:
    """Compare autograd's directional derivatives of ``model`` at ``x`` with central differences (float64).

    Args:
        model: the classifier; behind a non-differentiable or random input transform, the classifier behind
            it is checked.
        x: the clips where the gradient is checked, in [0, 1].
        directions: random unit directions (L2 norm 1 over the whole tensor), >= 1. Default: 3.
        steps: finite-difference step sizes, in pixel units; the better one counts per direction.
            Default: (1e-5, 1e-6).
        tol: largest allowed relative error. Default: 1e-3.
        seed: seed of the directions and of the random logit projection. Default: 0.

    Returns:
        The measured relative errors and whether the worst one is within ``tol``.
    """
    if directions < 1 or not steps:
        raise ValueError(f"check_gradient: need >= 1 direction and step size, got {directions} and {list(steps)}")
    view = _transform_view(model)
    target, note, checked = model, None, "the model as attacked"
    if view is not None:
        target, transform, note = view
        with attack_mode(model), torch.no_grad():
            x = transform(x)
        checked = "the classifier behind the input transform"
    probe = copy.deepcopy(target).double()
    x64 = x.detach().double()
    gen = torch.Generator().manual_seed(int(seed))
    with attack_mode(probe):
        with torch.no_grad():
            out = probe(x64)
        weights = torch.randn(out.shape, generator=gen, dtype=torch.float64).to(x64.device)
        xg = x64.clone().requires_grad_(True)
        with torch.enable_grad():
            (grad,) = torch.autograd.grad(_projected_loss(probe, xg, weights), xg)
        errors, per_step, derivs = [], {f"{h:g}": [] for h in steps}, []
        for _ in range(directions):
            d = torch.randn(x64.shape, generator=gen, dtype=torch.float64).to(x64.device)
            d /= d.norm()
            gd = float((grad * d).sum())
            best = float("inf")
            for h in steps:
                with torch.no_grad():
                    fd = float(_projected_loss(probe, x64 + h * d, weights) - _projected_loss(probe, x64 - h * d, weights))
                fd /= 2 * h
                err = abs(fd - gd) / max(abs(fd), abs(gd), TINY)
                per_step[f"{h:g}"].append(err)
                best = min(best, err)
            errors.append(best)
            derivs.append(gd)
    worst = max(errors)
    return GradientCheck(passed=bool(worst <= tol), max_rel_error=worst, rel_errors=errors,
                         rel_errors_per_step=per_step, checked=checked, surrogate=note, clips=int(x.shape[0]),
                         steps=[float(h) for h in steps], tol=float(tol), directional_derivatives=derivs)
