"""The ABNN composite: frozen substitute -> clip statistics -> target with adaptive BN layers.

The substitute is frozen (no gradients to its weights, always in eval mode, BN buffers never
updated) but differentiable w.r.t. its input: the default white-box forward lets attacks
differentiate through substitute AND target. ``gray_box()`` gives the view where the statistics
are constants to the attacker.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import nn

from videoabnn.abnn.adaptive_bn import LAYERS, AdaptiveBatchNorm3d, ClipSizeError
from videoabnn.abnn.alignment import alignment_loss
from videoabnn.abnn.statistics import clip_statistics
from videoabnn.abnn_modes import SCALAR_STATS, check_mode
from videoabnn.capabilities import Capability
from videoabnn.models.shortcut_gradient import SHORTCUT_GRADIENTS, cut_shortcut_gradient

log = logging.getLogger(__name__)

Stats = list[tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]]


def _check_staged(model: nn.Module, role: str) -> None:
    for attr in ("forward_stages", "stage_channels", "normalize", "backbone"):
        if not hasattr(model, attr):
            raise TypeError(f"ABNN {role} must be a registry VideoClassifier (missing '{attr}'), got "
                            f"{type(model).__name__}")


class ABNN(nn.Module):
    """Defended model ``x -> substitute stage stats -> target stages + AdaptiveBatchNorm3d -> logits``.

    The substitute is frozen (weights without gradient, always in eval mode, BN buffers never updated) but
    differentiable w.r.t. its input. For each of the 5 stage outputs (stem + 4 stages) its clip-level
    statistics (`clip_statistics`) feed one `AdaptiveBatchNorm3d` placed after the same target stage; only the
    target produces logits. Registered as model ``abnn`` (`build_abnn` builds both networks by name).
    ``input_size`` (T, H, W): the clip size ``prototype_exact`` is built for; ``prototype_statistics``:
    its scalar mean/std per ``clip`` or over the ``batch`` (the authors'); ``shortcut_gradient: cut``
    detaches the substitute's downsampling shortcuts as the authors' substitute does.
    ``modulate`` options (clean-accuracy study): ``stats_dropout`` on the statistics, ``modulation:
    gamma`` (beta reads no statistics), ``stats_stages`` (the stages whose layer reads the substitute;
    the others are a statistics-free BatchNorm with affine; None: all).

    Paper: Lo & Patel, "Adaptive Batch Normalization Networks for Adversarial Robustness", AVSS 2024.

    Threat model: ``forward`` is the white-box view (gradients flow through substitute and target);
    `gray_box` gives the view where the substitute statistics are constants (the attacker knows the target
    only). In every mode but ``prototype_exact`` with ``prototype_statistics="batch"`` a clip's output depends
    on that clip alone (`batch_coupled` is False).

    Args:
        substitute: the frozen substitute, a registry `VideoClassifier` (5 stage outputs); frozen in place.
        target: the target, a registry `VideoClassifier` with as many stage outputs as the substitute.
        mode: ``"modulate"``, ``"replace"``, ``"prototype"`` or ``"prototype_exact"`` (see
            `AdaptiveBatchNorm3d`). Default: "modulate".
        stats_eps: added to the variance before the square root of the clip statistics. Default: 1e-5.
        grid: (T, H, W) grid ``prototype`` pools the substitute features to. Default: (1, 2, 2).
        min_sigma: ``replace``: the smooth floor of the predicted standard deviation. Default: 0.1.
        input_size: ``prototype_exact``: the (T, H, W) clip size its layers are built for (required there; a
            dry forward of the substitute gives the feature shapes). Default: None.
        prototype_statistics: ``prototype_exact``: ``"clip"`` or ``"batch"`` (see above). Default: "clip".
        shortcut_gradient: ``"full"`` or ``"cut"`` (see above; an evaluation artefact, not a defense).
            Default: "full".
        stats_dropout: ``modulate``: dropout probability on the standardized statistics while training,
            in [0, 1). Default: 0.0.
        modulation: ``modulate``: ``"gamma_beta"`` or ``"gamma"``. Default: "gamma_beta".
        stats_stages: ``modulate``: stage indices 0..4 (0 = stem) whose layer reads the substitute.
            Default: None (all).

    Shape:
        - input: (N, 3, T, H, W) float in [0, 1] (each network normalizes it with its own mean/std);
          ``prototype_exact``: (T, H, W) must equal ``input_size`` (else `ClipSizeError`).
        - output: (N, num_classes) logits of the target; ``forward_stages`` gives the adapted stage outputs.

    Examples:
        >>> sub = create_model("tiny_r3d", 10)
        >>> model = ABNN(sub, create_model("tiny_r3d", 10), mode="modulate")
        >>> logits = model(torch.rand(2, 3, 8, 32, 32))
    """

    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.GRAY_BOX, Capability.STATISTICS})

    def __init__(self, substitute: nn.Module, target: nn.Module, mode: str = "modulate", stats_eps: float = 1e-5,
                 grid: Sequence[int] = (1, 2, 2), min_sigma: float = 0.1, input_size: Sequence[int] | None = None,
                 prototype_statistics: str = "clip", shortcut_gradient: str = "full", stats_dropout: float = 0.0,
                 modulation: str = "gamma_beta", stats_stages: Sequence[int] | None = None) -> None:
        super().__init__()
        _check_staged(substitute, "substitute")
        _check_staged(target, "target")
        s_ch, t_ch = substitute.stage_channels, target.stage_channels
        if len(s_ch) != len(t_ch):
            raise ValueError(f"ABNN: substitute has {len(s_ch)} stage outputs, target has {len(t_ch)}; they must match")
        check_mode(mode, "ABNN")
        if prototype_statistics not in SCALAR_STATS:
            raise ValueError(f"ABNN: prototype_statistics must be one of {SCALAR_STATS}, got {prototype_statistics!r}")
        if shortcut_gradient not in SHORTCUT_GRADIENTS:
            raise ValueError(f"ABNN: shortcut_gradient must be one of {SHORTCUT_GRADIENTS}, got {shortcut_gradient!r}")
        self.mode, self.stats_eps = mode, float(stats_eps)
        self.input_size = None if input_size is None else tuple(int(s) for s in input_size)
        self.shortcut_gradient = shortcut_gradient
        self.substitute = substitute
        self.target = target
        self._freeze_substitute()
        shapes = self._feature_shapes() if mode == "prototype_exact" else [None] * len(s_ch)
        reads = _stats_stages(stats_stages, len(s_ch))
        self.adaptive = nn.ModuleList(
            AdaptiveBatchNorm3d(c_t, c_s, mode, grid=tuple(grid), min_sigma=min_sigma, feature_shape=shape,
                                scalar_stats=prototype_statistics, stats_dropout=stats_dropout, modulation=modulation,
                                use_stats=k in reads)
            for k, (c_s, c_t, shape) in enumerate(zip(s_ch, t_ch, shapes)))
        if shortcut_gradient == "cut":
            cut_shortcut_gradient(self.substitute)
        self.record_alignment = False  # set by the abnn objective with an alignment loss (train.method_args)
        self.alignment_loss: torch.Tensor | None = None

    def _feature_shapes(self) -> list[tuple[int, ...]]:
        """(C, T, H, W) of each substitute stage output for clips of ``input_size`` (a dry forward)."""
        if self.input_size is None or len(self.input_size) != 3 or min(self.input_size) < 1:
            raise ValueError("ABNN(mode='prototype_exact') is tied to one clip size: give input_size=(T, H, W) "
                             f"(config abnn.input_size), got {self.input_size}")
        with torch.no_grad():
            features = self.substitute.forward_stages(torch.zeros(1, 3, *self.input_size))
        return [tuple(f.shape[1:]) for f in features]

    @property
    def batch_coupled(self) -> bool:
        """Whether a clip's output depends on the other clips of its batch (prototype_exact, batch statistics)."""
        return any(layer.batch_coupled for layer in self.adaptive)

    def _freeze_substitute(self) -> None:
        for p in self.substitute.parameters():
            p.requires_grad_(False)
        self.substitute.eval()

    def train(self, mode: bool = True) -> ABNN:
        """Set train/eval mode of target and adaptive layers; the substitute always stays in eval mode."""
        super().train(mode)
        self.substitute.eval()
        return self

    def requires_grad_(self, requires_grad: bool = True) -> ABNN:
        """Like ``nn.Module.requires_grad_`` but the substitute's weights stay frozen."""
        super().requires_grad_(requires_grad)
        self._freeze_substitute()
        return self

    @property
    def stage_channels(self) -> list[int]:
        """Target stage channels (stem first)."""
        return self.target.stage_channels

    def classifier_path(self) -> str:
        """Dotted path of the final linear layer (the target's)."""
        return f"target.backbone.{self.target.backbone.classifier}"

    def substitute_statistics(self, x: torch.Tensor) -> Stats:
        """Clip-level (mu, sigma) of each substitute stage output, plus the features in prototype mode."""
        if self.substitute.training:
            self.substitute.eval()
        if self.mode == "prototype_exact" and tuple(x.shape[2:]) != self.input_size:
            built = "x".join(map(str, self.input_size))
            raise ClipSizeError(f"ABNN(mode='prototype_exact') was built for clips of {built} (T x H x W, "
                                f"abnn.input_size); got {'x'.join(map(str, x.shape[2:]))}")
        features = self.substitute.forward_stages(x)
        keep = LAYERS[self.mode].needs_features
        return [(*clip_statistics(f, self.stats_eps), f if keep else None) for f in features]

    def forward_with_statistics(self, x: torch.Tensor, stats: Stats, return_stages: bool = False) -> Any:
        """Run the target on ``x`` with adaptive layers fed by ``stats`` (one entry per stage)."""
        if len(stats) != len(self.adaptive):
            raise ValueError(f"ABNN: expected {len(self.adaptive)} stage statistics, got {len(stats)}")
        backbone = self.target.backbone
        h = self.target.normalize(x)
        stages, raw, record = [], [], self.record_alignment and self.training
        for index, (layer, (mu, sigma, feats)) in enumerate(zip(self.adaptive, stats)):
            z = backbone.run_stage(index, h)
            if record:
                raw.append(z)
            h = layer(z, mu, sigma, feats)
            stages.append(h)
        logits = backbone.head(h)
        if record:  # training only: read (and cleared) by the abnn objective
            self.alignment_loss = alignment_loss(raw, stats, self.stats_eps)
        return (logits, stages) if return_stages else logits

    def statistics_parameters(self) -> list[nn.Parameter]:
        """The adaptive layers' weights that read the substitute (for their own lr / weight decay)."""
        return [p for layer in self.adaptive for p in layer.statistics_parameters()]

    def forward_stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Adapted target stage outputs (white-box)."""
        return self.forward_with_statistics(x, self.substitute_statistics(x), return_stages=True)[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_statistics(x, self.substitute_statistics(x))

    def gray_box(self) -> GrayBoxABNN:
        """A view sharing all weights whose substitute statistics carry no gradient (attacker knows T only)."""
        return GrayBoxABNN(self)

    def adaptive_parameter_count(self) -> int:
        """Number of parameters in the adaptive layers."""
        return sum(p.numel() for p in self.adaptive.parameters())


def _stats_stages(stages: Sequence[int] | None, count: int) -> set[int]:
    """The stage indices whose adaptive layer reads the substitute (None: all ``count``)."""
    if stages is None:
        return set(range(count))
    chosen = {int(k) for k in stages}
    if not chosen <= set(range(count)):
        raise ValueError(f"ABNN: stats_stages must be stage indices 0..{count - 1} (0 = stem), got {sorted(chosen)}")
    return chosen


class GrayBoxABNN(nn.Module):
    """ABNN seen by a gray-box attacker: statistics are computed without gradient (constants).

    Threat model: the attacker knows and differentiates through the target and its adaptive layers but not
    the substitute: the substitute statistics of the (perturbed) clip are used, as constants.

    Args:
        abnn: the composite whose weights this view shares (built by `ABNN.gray_box`).

    Shape:
        - input: (N, 3, T, H, W) float in [0, 1], as the composite's.
        - output: (N, num_classes) logits, equal to the composite's.
    """

    def __init__(self, abnn: ABNN) -> None:
        super().__init__()
        self.abnn = abnn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            stats = self.abnn.substitute_statistics(x)
        return self.abnn.forward_with_statistics(x, stats)


def _build_substitute(name: str, kwargs: dict, num_classes: int, checkpoint: str | None) -> tuple[nn.Module, dict]:
    """Substitute from a registry name (+ optional weights: videoabnn checkpoint, file, tag or tag:path);
    it normalizes its input as its weights were trained. Returns the model and its resolved spec."""
    from videoabnn.models import create_model
    from videoabnn.models.checkpoint import FORMAT
    from videoabnn.models.registry import weights_follow_active
    from videoabnn.models.weights import read_checkpoint, resolve_weights

    spec = {"substitute": name, "substitute_kwargs": dict(kwargs), "substitute_num_classes": num_classes}
    if checkpoint is None:
        if not weights_follow_active():
            log.info("ABNN substitute %s: no checkpoint, so it is randomly initialised (set abnn.substitute.checkpoint)",
                     name)
        return create_model(name, num_classes, **kwargs), spec
    path, _ = resolve_weights(name, checkpoint)
    obj = read_checkpoint(path)
    if isinstance(obj, dict) and obj.get("format") == FORMAT:
        if obj["arch"] != name:
            warnings.warn(f"ABNN substitute: checkpoint {path} holds a '{obj['arch']}' model; using it instead of "
                          f"substitute={name!r}", stacklevel=3)
        spec = {"substitute": obj["arch"], "substitute_kwargs": dict(obj["kwargs"]),
                "substitute_num_classes": int(obj["num_classes"])}
        model = create_model(obj["arch"], int(obj["num_classes"]), **dict(obj["kwargs"]))
        model.load_state_dict(obj["state_dict"], strict=True)
        return model, spec
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*re-initialised.*")  # the substitute's head is never used
        model = create_model(name, num_classes, pretrained=str(checkpoint), **kwargs)
    norm = model.videoabnn_spec["kwargs"]
    if "mean" in norm:  # the weights' normalization, recorded so the composite rebuilds with it
        spec["substitute_kwargs"] = {**spec["substitute_kwargs"], "mean": norm["mean"], "std": norm["std"]}
    return model, spec
