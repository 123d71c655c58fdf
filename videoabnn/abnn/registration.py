"""Registers the ``"abnn"`` composite in the model registry."""

from __future__ import annotations

from collections.abc import Sequence

from videoabnn.abnn.composite import ABNN, _build_substitute
from videoabnn.models.registry import SPEC_ATTR, create_model, register_model


@register_model("abnn", frames=16, crop=112, family="abnn",
                description="ABNN: frozen substitute statistics feed adaptive BN layers of the target")
def build_abnn(num_classes: int, target: str = "tiny_r3d", substitute: str = "tiny_r3d", mode: str = "modulate",
               target_kwargs: dict | None = None, substitute_kwargs: dict | None = None,
               substitute_checkpoint: str | None = None, substitute_num_classes: int | None = None,
               target_pretrained: str | None = None, stats_eps: float = 1e-5,
               grid: Sequence[int] = (1, 2, 2), min_sigma: float = 0.1, input_size: Sequence[int] | None = None,
               prototype_statistics: str = "clip", shortcut_gradient: str = "full", stats_dropout: float = 0.0,
               modulation: str = "gamma_beta", stats_stages: Sequence[int] | None = None) -> ABNN:
    """ABNN composite of two registry models (input size, frames and normalization: the target's).

    ``input_size`` (T, H, W) and ``prototype_statistics`` are for ``mode='prototype_exact'``;
    ``shortcut_gradient='cut'`` reproduces the authors' truncated substitute gradient; ``stats_dropout``,
    ``modulation`` and ``stats_stages`` are ``modulate`` options (see :class:`ABNN`)."""
    target_kwargs, substitute_kwargs = dict(target_kwargs or {}), dict(substitute_kwargs or {})
    sub_model, sub_spec = _build_substitute(substitute, substitute_kwargs, substitute_num_classes or num_classes,
                                            substitute_checkpoint)
    tgt_model = create_model(target, num_classes, pretrained=target_pretrained, **target_kwargs)
    model = ABNN(sub_model, tgt_model, mode=mode, stats_eps=stats_eps, grid=grid, min_sigma=min_sigma,
                 input_size=input_size, prototype_statistics=prototype_statistics, shortcut_gradient=shortcut_gradient,
                 stats_dropout=stats_dropout, modulation=modulation, stats_stages=stats_stages)
    kwargs = {"target": target, "mode": mode, "target_kwargs": target_kwargs, "stats_eps": float(stats_eps),
              "grid": [int(g) for g in grid], "min_sigma": float(min_sigma), **sub_spec}
    # recorded only when they differ from the defaults, so existing checkpoints' specs stay as they were
    if mode == "prototype_exact":
        kwargs.update(input_size=[int(s) for s in input_size], prototype_statistics=prototype_statistics)
    if shortcut_gradient != "full":
        kwargs["shortcut_gradient"] = shortcut_gradient
    if stats_dropout:
        kwargs["stats_dropout"] = float(stats_dropout)
    if modulation != "gamma_beta":
        kwargs["modulation"] = modulation
    if stats_stages is not None:
        kwargs["stats_stages"] = [int(k) for k in stats_stages]
    setattr(model, SPEC_ATTR, {"kwargs": kwargs})
    return model
