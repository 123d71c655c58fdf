"""Feature denoising (Xie et al., CVPR 2019) for 3D-CNNs: non-local means blocks after chosen stages.

A block computes non-local means over all (T, H, W) positions of a feature map, passes the
result through a 1x1x1 convolution (+ BatchNorm whose scale starts at zero, so a new block is
the identity) and adds it back to the input. The model is registered as ``feature_denoise``;
it wraps any registry backbone through the ``post_stage`` builder argument and is trained
adversarially (method ``feature_denoise``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from videoabnn.models import create_model, register_model

AFFINITIES = ("embedded_gaussian", "gaussian", "dot_product")


class NonLocalDenoise3d(nn.Module):
    """Residual non-local-means denoising block for NCTHW feature maps.

    ``out = x + BN(conv1x1x1(nlm(x)))``, where ``nlm`` replaces each of the T x H x W positions by an
    affinity-weighted mean of all positions; the BatchNorm's scale starts at zero, so a new block is the
    identity.

    Paper: Xie et al., "Feature Denoising for Improving Adversarial Robustness", CVPR 2019.

    Threat model: fully differentiable: white-box attacks differentiate through it; its robustness comes from
    adversarial training (method ``feature_denoise``), not from masking gradients.

    Args:
        channels: channels C of the feature map (input and output).
        affinity: ``"embedded_gaussian"`` (softmax of embedded dot products), ``"gaussian"`` (softmax of raw
            dot products, no embedding) or ``"dot_product"`` (embedded dot products divided by the number of
            positions). Default: "embedded_gaussian".
        inner_channels: channels of the 1x1x1 embeddings (ignored by ``"gaussian"``). Default: None
            (``max(channels // 2, 1)``).

    Shape:
        - input: (N, C, T, H, W) features (memory grows with (T x H x W) squared).
        - output: (N, C, T, H, W).

    Examples:
        >>> block = NonLocalDenoise3d(64)
        >>> out = block(torch.randn(2, 64, 4, 8, 8))
    """

    def __init__(self, channels: int, affinity: str = "embedded_gaussian", inner_channels: int | None = None) -> None:
        super().__init__()
        if affinity not in AFFINITIES:
            raise ValueError(f"denoising affinity must be one of {AFFINITIES}, got {affinity!r}")
        self.affinity = affinity
        inner = inner_channels or max(channels // 2, 1)
        embedded = affinity != "gaussian"
        self.theta = nn.Conv3d(channels, inner, 1, bias=False) if embedded else nn.Identity()
        self.phi = nn.Conv3d(channels, inner, 1, bias=False) if embedded else nn.Identity()
        self.out = nn.Conv3d(channels, channels, 1, bias=False)
        self.bn = nn.BatchNorm3d(channels)
        nn.init.zeros_(self.bn.weight)

    def denoise(self, x: torch.Tensor) -> torch.Tensor:
        """Non-local means: each position becomes an affinity-weighted mean of all positions."""
        n, c = x.shape[:2]
        values = x.flatten(2)  # N, C, P
        queries = self.theta(x).flatten(2)
        keys = self.phi(x).flatten(2)
        scores = torch.bmm(queries.transpose(1, 2), keys)  # N, P, P
        if self.affinity == "dot_product":
            weights = scores / scores.shape[-1]
        else:
            weights = torch.softmax(scores, dim=-1)
        return torch.bmm(values, weights.transpose(1, 2)).view_as(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.bn(self.out(self.denoise(x)))

    def extra_repr(self) -> str:
        return f"affinity={self.affinity}"


def denoise_post_stage(stages: Sequence[int], affinity: str):
    """A ``post_stage(index, channels)`` callback placing a block after each listed stage (0 = stem).

    Args:
        stages: stage indices 0..4 (0 = stem, 1..4 = residual stages) that get a `NonLocalDenoise3d`.
        affinity: the blocks' affinity (see `NonLocalDenoise3d`).

    Returns:
        The callback, for `create_model`'s ``post_stage``.
    """
    wanted = {int(s) for s in stages}
    bad = [s for s in wanted if not 0 <= s <= 4]
    if bad:
        raise ValueError(f"denoise stages must be in 0..4 (0 = stem, 1..4 = residual stages), got {sorted(bad)}")

    def post_stage(index: int, channels: int) -> nn.Module | None:
        return NonLocalDenoise3d(channels, affinity) if index in wanted else None

    return post_stage


@register_model("feature_denoise", family="defense",
                description="any backbone with Xie et al. non-local denoising blocks after chosen stages")
def feature_denoise(num_classes: int, base: str = "tiny_r3d", stages: Sequence[int] = (2, 3),
                    affinity: str = "embedded_gaussian", base_kwargs: dict[str, Any] | None = None) -> nn.Module:
    """Backbone ``base`` (built with ``base_kwargs``) with denoising blocks after ``stages``.

    Any registry backbone with a `NonLocalDenoise3d` after each listed stage (inserted through `create_model`'s
    ``post_stage``); trained adversarially with method ``feature_denoise`` (PGD adversarial training).

    Paper: Xie et al., "Feature Denoising for Improving Adversarial Robustness", CVPR 2019.

    Weights: none released (a trained model is saved and rebuilt with `save_model` / `load_model`).

    Threat model: fully differentiable: white-box attacks differentiate through the backbone and the blocks.

    Args:
        num_classes: size of the classification head; required, no default.
        base: registry name of the backbone (not ``feature_denoise`` itself). Default: "tiny_r3d".
        stages: stage indices 0..4 (0 = stem) followed by a denoising block. Default: (2, 3).
        affinity: ``"embedded_gaussian"``, ``"gaussian"`` or ``"dot_product"`` (see `NonLocalDenoise3d`).
            Default: "embedded_gaussian".
        base_kwargs: builder arguments of the backbone (e.g. ``width``, ``mean``/``std``). Default: None (none).

    Shape:
        - input: (N, 3, T, H, W) float in [0, 1], the sizes ``base`` takes (normalized inside, as ``base``'s).
        - output: (N, num_classes) logits.

    Examples:
        >>> model = create_model("feature_denoise", num_classes=10, base="tiny_r3d", stages=[2, 3])
        >>> logits = model(torch.rand(2, 3, 8, 32, 32))
    """
    if base == "feature_denoise":
        raise ValueError("feature_denoise: base must be a backbone, not feature_denoise itself")
    model = create_model(base, num_classes, post_stage=denoise_post_stage(stages, affinity), **dict(base_kwargs or {}))
    model.videoabnn_spec = {}  # the outer create_model records arch=feature_denoise and our kwargs
    return model
