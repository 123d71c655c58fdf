"""A model behind an input transformation, and the views an honest attacker differentiates through.

``TransformedModel(model, transform)`` classifies ``transform(x)``; saved and loaded like any registry
model (arch ``transformed``). What an attacker gets from it:

- the model itself (naive): autograd through the transform as it is. A non-differentiable transform
  gives a zero gradient (the output is detached and re-attached as a constant), which is exactly
  what fools a naive evaluation and what the gradient-masking audit must catch;
- ``attack_view(bpda=..., eot=k, seed=s)``: BPDA (Athalye et al. 2018) replaces the backward pass of
  the transform by the identity (``x + (t(x) - x).detach()``: forward value unchanged) or by a named
  differentiable approximation (``median``; ``standin``: the transform's own differentiable stand-in,
  the DCT-quantization codec of :mod:`videoabnn.defenses.diff_codec` for ``jpeg`` and ``codec``); EOT
  averages over k draws of the transform's randomness. The view returns the mean over draws of the
  log-probabilities, so a cross-entropy loss on it is the mean of the draws' losses and its gradient
  the mean of their gradients.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from videoabnn.capabilities import Capability
from videoabnn.defenses.transforms import InputTransform, MedianSmoothing, build_transform
from videoabnn.models.registry import SPEC_ATTR, create_model, register_model

BPDA_CHOICES = ("auto", "none", "identity", "median", "standin")


class TransformedModel(nn.Module):
    """``model(transform(x))`` with the transform's gradient as autograd gives it (the naive view).

    Threat model: the module itself is the naive view: a non-differentiable transform passes a zero gradient
    (what the gradient-masking audit must catch). Honest white-box attacks use `attack_view`: BPDA (identity
    backward, or a differentiable stand-in) and EOT over a random transform's draws.

    Args:
        model: the classifier behind the transform (a registry model to be saved by name).
        transform: the input transform (`build_transform`), applied with draw 0.

    Shape:
        - input: (N, 3, T, H, W) float in [0, 1].
        - output: (N, num_classes) logits of ``model`` on the transformed clips.

    Examples:
        >>> defended = TransformedModel(create_model("tiny_r3d", 10), build_transform("jpeg"))
        >>> adaptive = defended.attack_view(bpda="identity")
    """

    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.ATTACK_VIEW})

    def __init__(self, model: nn.Module, transform: InputTransform) -> None:
        super().__init__()
        self.model, self.transform = model, transform

    def forward(self, x: Tensor) -> Tensor:
        return self.model(_naive(self.transform, x))

    def attack_view(self, bpda: str = "auto", eot: int | None = None, seed: int = 0) -> AdaptiveView:
        """The view an adaptive attacker uses: ``bpda`` (auto: identity for non-differentiable transforms)
        and ``eot`` draws (None: 8 for random transforms, 1 otherwise) from ``seed``.

        Args:
            bpda: backward pass of the transform: ``"auto"`` (``"none"`` for a differentiable transform,
                ``"identity"`` otherwise), ``"none"`` (autograd's), ``"identity"``, ``"median"`` (a 3x3 median
                filter's) or ``"standin"`` (the transform's differentiable stand-in: jpeg, codec). Default: "auto".
            eot: draws of the transform averaged per forward, >= 1. Default: None (8 for random transforms,
                else 1).
            seed: offsets the draws (draw ``1 + 1000 * seed + j``), so attack restarts see other draws.
                Default: 0.

        Returns:
            An `AdaptiveView` returning the mean over draws of the log-probabilities.
        """
        if bpda not in BPDA_CHOICES:
            raise ValueError(f"bpda: expected one of {', '.join(BPDA_CHOICES)}, got {bpda!r}")
        if bpda == "auto":
            bpda = "none" if self.transform.differentiable else "identity"
        if bpda == "standin" and not hasattr(self.transform, "standin"):
            raise ValueError(f"bpda standin: transform {self.transform.name!r} has no differentiable stand-in "
                             "(jpeg and codec have one)")
        eot = (8 if self.transform.random else 1) if eot is None else int(eot)
        if eot < 1:
            raise ValueError(f"eot: expected a number of draws >= 1, got {eot}")
        return AdaptiveView(self, bpda, eot, int(seed))


def _naive(transform: InputTransform, x: Tensor, draw: int = 0) -> Tensor:
    """The transform as autograd sees it; a non-differentiable one becomes a constant (zero gradient)."""
    out = transform(x, draw)
    if transform.differentiable:
        return out
    return x * 0 + out.detach()


class AdaptiveView(nn.Module):
    """BPDA and EOT through a :class:`TransformedModel` (see the module docstring).

    Threat model: the adaptive white-box attacker: forward values are the transform's, the backward pass is
    BPDA's (identity or a differentiable approximation), and with ``eot`` > 1 or a random transform the output
    is the mean over draws of the log-probabilities (so its cross-entropy gradient is the mean of the draws').

    Args:
        inner: the defended model.
        bpda: ``"none"``, ``"identity"``, ``"median"`` or ``"standin"`` (resolved by
            `TransformedModel.attack_view`).
        eot: draws per forward, >= 1.
        seed: offsets the draws.

    Shape:
        - input: (N, 3, T, H, W) float in [0, 1].
        - output: (N, num_classes) logits (eot == 1 and a deterministic transform) or mean log-probabilities.
    """

    def __init__(self, inner: TransformedModel, bpda: str, eot: int, seed: int) -> None:
        super().__init__()
        self.inner, self.bpda, self.eot, self.seed = inner, bpda, eot, seed
        self._median = MedianSmoothing(3)

    def settings(self) -> dict[str, Any]:
        return {"bpda": self.bpda, "eot": self.eot, "transform": self.inner.transform.spec()}

    def forward(self, x: Tensor) -> Tensor:
        t = self.inner.transform
        if self.eot == 1 and not t.random:
            return self.inner.model(self._through(x, 0))
        draws = [torch.log_softmax(self.inner.model(self._through(x, 1 + self.seed * 1000 + j)).float(), dim=1)
                 for j in range(self.eot)]
        return torch.stack(draws).mean(dim=0)

    def _through(self, x: Tensor, draw: int) -> Tensor:
        t = self.inner.transform
        out = t(x, draw)
        if self.bpda == "none":
            return out if t.differentiable else x * 0 + out.detach()
        if self.bpda == "identity":
            return x + (out - x).detach()
        approx = t.standin(x) if self.bpda == "standin" else self._median(x)  # differentiable, forward value t(x)
        return approx + (out - approx).detach()


@register_model("transformed", family="defense",
                description="any registry model behind an input transformation (videoabnn.defenses.transforms)")
def build_transformed(num_classes: int, model: Mapping[str, Any], transform: Mapping[str, Any]) -> TransformedModel:
    """``model`` (``{"arch", "kwargs"}``) behind ``transform`` (a transform spec); what checkpoints rebuild.

    Registered as ``transformed``: `wrap_with_transform` records this spec, so `load_model` rebuilds a defended
    checkpoint (the inner model's weights are in the state dict).

    Paper: see the transform (`JPEGFrames`, `CodecReencode`, `RandomResizePad`, `TemporalShuffle`, `BitDepth`,
    `MedianSmoothing`).

    Weights: none of its own; the inner model's, from the checkpoint.

    Threat model: as `TransformedModel`: the plain forward is the naive view; attacks through
    ``attack_view`` use BPDA and EOT.

    Args:
        num_classes: size of the inner model's classification head; required, no default.
        model: the inner model as ``{"arch": <registry name>, "kwargs": {<create_model arguments>}}``; required.
        transform: the transform spec, a name or ``{"name": ..., <its arguments>}`` (`build_transform`);
            required.

    Shape:
        - input: (N, 3, T, H, W) float in [0, 1], the sizes the inner model takes.
        - output: (N, num_classes) logits.

    Examples:
        >>> model = create_model("transformed", 10, model={"arch": "tiny_r3d", "kwargs": {}},
        ...                      transform={"name": "jpeg", "quality": 75})
        >>> logits = model(torch.rand(2, 3, 8, 32, 32))
    """
    inner = create_model(model["arch"], num_classes, **dict(model.get("kwargs") or {}))
    return TransformedModel(inner, build_transform(transform))


def wrap_with_transform(model: nn.Module, spec: str | Mapping[str, Any] | None) -> nn.Module:
    """``model`` behind ``build_transform(spec)`` (``spec`` None: the model unchanged), with a registry spec
    so that ``save_model`` writes a checkpoint ``load_model`` rebuilds.

    Args:
        model: the classifier to defend (its train/eval mode is kept).
        spec: a transform spec (`build_transform`), or None.

    Returns:
        A `TransformedModel`, or ``model`` itself when ``spec`` is None.
    """
    if spec is None:
        return model
    wrapped = TransformedModel(model, build_transform(spec))
    inner_spec = getattr(model, SPEC_ATTR, None)
    if inner_spec is not None:
        setattr(wrapped, SPEC_ATTR, {"arch": "transformed", "num_classes": inner_spec["num_classes"],
                                     "kwargs": {"model": {"arch": inner_spec["arch"], "kwargs": inner_spec["kwargs"]},
                                                "transform": wrapped.transform.spec()}})
    return wrapped.train(model.training)
