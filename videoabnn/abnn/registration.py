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

    A frozen, pre-trained substitute and a trained target see the same clip; the clip-level statistics of each
    substitute stage feed an `AdaptiveBatchNorm3d` after the same target stage (see `ABNN`). No adversarial
    training: the target is trained on clean clips (method ``abnn``). ``input_size`` (T, H, W) and
    ``prototype_statistics`` are for ``mode='prototype_exact'``; ``shortcut_gradient='cut'`` reproduces the
    authors' truncated substitute gradient; ``stats_dropout``, ``modulation`` and ``stats_stages`` are
    ``modulate`` options (see :class:`ABNN`).

    Paper: Lo & Patel, "Adaptive Batch Normalization Networks for Adversarial Robustness", AVSS 2024.

    Weights: none released for the composite; the substitute's come from ``substitute_checkpoint``, the
    target's from ``target_pretrained`` (and a trained composite from `save_model` / `load_model`).

    Threat model: the plain forward is the white-box view: attacks differentiate through the substitute AND
    the target (both are differentiable w.r.t. the input); ``model.gray_box()`` is the view of an attacker who
    knows the target only (the substitute statistics are constants to the gradient). ``prototype_exact``
    with ``prototype_statistics="batch"`` makes a clip's output depend on its batch.

    Args:
        num_classes: classes of the target's head (and of the substitute's, unless ``substitute_num_classes``
            or its checkpoint says otherwise); required, no default.
        target: registry name of the target network, the one trained and given adaptive layers.
            Default: "tiny_r3d".
        substitute: registry name of the frozen substitute network; a videoabnn checkpoint in
            ``substitute_checkpoint`` naming another architecture wins (with a warning). Default: "tiny_r3d".
        mode: adaptive-layer formulation, ``"modulate"``, ``"replace"``, ``"prototype"`` or
            ``"prototype_exact"`` (see `AdaptiveBatchNorm3d`). Default: "modulate".
        target_kwargs: `create_model` arguments of the target (builder arguments, ``mean``/``std``).
            Default: None (none).
        substitute_kwargs: `create_model` arguments of the substitute. Default: None (none).
        substitute_checkpoint: the substitute's weights: a videoabnn checkpoint (its architecture, arguments and
            class count are used) or a weights file, tag or ``tag:path`` of ``substitute``; never saved in the
            composite's spec (its weights are in the state dict). Default: None (random init, logged).
        substitute_num_classes: size of the substitute's head, which is never used. Default: None
            (``num_classes``).
        target_pretrained: the target's initial weights (file, tag or ``tag:path``, as `create_model`'s
            ``pretrained``). Default: None (random init).
        stats_eps: added to the variance before the square root of the clip statistics. Default: 1e-5.
        grid: (T, H, W) grid ``prototype`` pools the substitute features to. Default: (1, 2, 2).
        min_sigma: ``replace``: the smooth floor of the predicted standard deviation. Default: 0.1.
        input_size: ``prototype_exact``: the (T, H, W) clip size its layers are built for (required there).
            Default: None.
        prototype_statistics: ``prototype_exact``: scalar mean/std of the substitute features per ``"clip"`` or
            over the whole ``"batch"`` (the authors'; couples the clips of a batch). Default: "clip".
        shortcut_gradient: ``"full"``, or ``"cut"`` to detach the substitute's downsampling shortcuts as the
            authors' substitute does (a truncated attack gradient: an evaluation artefact, not a defense).
            Default: "full".
        stats_dropout: ``modulate``: dropout probability on the standardized statistics while training,
            in [0, 1). Default: 0.0.
        modulation: ``modulate``: ``"gamma_beta"``, or ``"gamma"`` (beta reads no statistics).
            Default: "gamma_beta".
        stats_stages: ``modulate``: stage indices 0..4 (0 = stem) whose layer reads the substitute; the others
            are a statistics-free BatchNorm with affine. Default: None (all stages).

    Shape:
        - input: (N, 3, T, H, W) float in [0, 1] (substitute and target each normalize it with their own
          mean/std); sizes the target accepts, frames and crop as ``model_defaults(target)``
          (``prototype_exact``: exactly ``input_size``, another size raises `ClipSizeError`).
        - output: (N, num_classes) logits of the target.

    Examples:
        >>> model = create_model("abnn", num_classes=10, substitute_checkpoint="work_dirs/substitute/best.pt")
        >>> logits = model(torch.rand(2, 3, 8, 32, 32))
        >>> gray = model.gray_box()  # the attacker's view without substitute gradients
    """
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
