"""AdaptiveBatchNorm3d: normalization of target features steered by substitute clip statistics.

Modes (see docs of the ABNN formulation):
- ``modulate``: ``gamma * BN(z) + beta`` with ``[gamma, beta] = W [mu; log sigma] + b``;
  ``W = 0, b = (1, 0)`` at init, so the layer starts as exactly ``BatchNorm3d(affine=False)``.
- ``replace``: ``g * (z - mu_hat) / sigma_hat + h`` where ``mu_hat`` and ``log sigma_hat`` are
  linear maps of the substitute statistics (channel-assignment init, identity when C_s == C_t);
  ``sigma_hat`` is floored smoothly at ``min_sigma`` (dead substitute channels have sigma ~ 0 and
  would otherwise amplify the target's features without bound).
- ``prototype``: the author's prototype layer, made size-independent by pooling the substitute
  features to a fixed grid and using per-clip (not per-batch) scalar statistics.
- ``prototype_exact``: the authors' prototype as built: the flattened raw substitute feature map of
  each clip -> :class:`EqualLinear` -> per-clip, per-channel ``[gamma, beta]`` (bias init 1, 0),
  a BatchNorm3d with affine, ``h = std(P) * BN(z) + mean(P)`` and ``out = gamma * h + beta``. Its
  linear map is tied to one feature-map size (``feature_shape``). ``scalar_stats``: ``clip`` (default)
  takes mean/std of P per clip; ``batch`` over the whole batch tensor, as the authors compute them,
  which makes a clip's output depend on the other clips of its batch.

One subclass of `AdaptiveBatchNorm3d` per mode (`LAYERS`), built by ``AdaptiveBatchNorm3d(..., mode=m)``;
the mode names have their one home in :mod:`videoabnn.abnn_modes`.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from videoabnn.abnn.equal_linear import EqualLinear
from videoabnn.abnn_modes import MODES, MODULATIONS, SCALAR_STATS, check_mode
from videoabnn.errors import UserError

LOG_SIGMA_CLAMP = 20.0


class ClipSizeError(UserError, ValueError):
    """A clip whose size differs from the one a size-tied layer (``prototype_exact``) was built for."""


def prototype_exact_parameter_count(feature_shape: Sequence[int], num_features: int) -> int:
    """Parameters of one ``prototype_exact`` layer: EqualLinear (flattened features -> 2C) + BN affine."""
    fan_in = math.prod(int(s) for s in feature_shape)
    return fan_in * 2 * num_features + 2 * num_features + 2 * num_features


def _channel_assignment(out_ch: int, in_ch: int) -> torch.Tensor:
    """(out_ch, in_ch) 0/1 matrix sending target channel j to substitute channel floor(j * in / out)."""
    matrix = torch.zeros(out_ch, in_ch)
    matrix[torch.arange(out_ch), (torch.arange(out_ch) * in_ch) // out_ch] = 1.0
    return matrix


def _expand(v: torch.Tensor) -> torch.Tensor:
    """(B, C) -> (B, C, 1, 1, 1), to scale or shift (B, C, T, H, W) features per clip and channel."""
    return v[:, :, None, None, None]


def _check_options(mode: str, scalar_stats: str, modulation: str, stats_dropout: float, use_stats: bool) -> None:
    """The option values every mode checks, and the ``modulate``-only options left at their defaults elsewhere."""
    if scalar_stats not in SCALAR_STATS:
        raise ValueError(f"AdaptiveBatchNorm3d: scalar_stats must be one of {SCALAR_STATS}, got {scalar_stats!r}")
    if modulation not in MODULATIONS:
        raise ValueError(f"AdaptiveBatchNorm3d: modulation must be one of {MODULATIONS}, got {modulation!r}")
    if not 0.0 <= stats_dropout < 1.0:
        raise ValueError(f"AdaptiveBatchNorm3d: stats_dropout must be in [0, 1), got {stats_dropout}")
    if mode != "modulate" and (stats_dropout or modulation != "gamma_beta" or not use_stats):
        raise ValueError(f"AdaptiveBatchNorm3d: stats_dropout, modulation and use_stats are options of mode "
                         f"'modulate', not {mode!r}")


class AdaptiveBatchNorm3d(nn.Module):
    """Normalize target features ``z`` (B, C_t, T, H, W) using substitute statistics (B, C_s).

    The adaptive layer of `ABNN`, one after each target stage. Modes (see also the module docstring):

    - ``modulate`` (default): ``gamma * BN(z) + beta`` (BatchNorm3d without affine) with
      ``[gamma, beta] = W [mu; log sigma] + b`` on the standardized statistics (a non-affine BatchNorm1d);
      ``W = 0, b = (1, 0)`` at init, so the layer starts as exactly ``BatchNorm3d(affine=False)``.
    - ``replace``: ``g * (z - mu_hat) / sigma_hat + h``, ``mu_hat`` and ``log sigma_hat`` linear maps of the
      substitute's ``mu`` and ``log sigma`` (channel-assignment init), ``sigma_hat`` floored smoothly at
      ``min_sigma``; no BatchNorm (``eps``/``momentum`` unused).
    - ``prototype``: the authors' prototype made size-independent: the substitute features pooled to ``grid``
      -> linear -> ``[gamma, beta]``; ``out = gamma * (std(P) * BN(z) + mean(P)) + beta`` with per-clip
      scalar ``mean(P)``, ``std(P)``.
    - ``prototype_exact``: the authors' prototype as built: the flattened feature map of each clip ->
      `EqualLinear` -> ``[gamma, beta]`` (bias init 1, 0), BatchNorm3d with affine; tied to ``feature_shape``.

    Each mode is its own subclass (`LAYERS`: `ModulateBatchNorm3d`, `ReplaceBatchNorm3d`, `PrototypeBatchNorm3d`,
    `PrototypeExactBatchNorm3d`); ``AdaptiveBatchNorm3d(..., mode=m)`` builds the one of ``m``, so every layer is an
    ``AdaptiveBatchNorm3d`` and the state-dict keys are the mode's own.

    ``stats_dropout``, ``modulation`` (``gamma``: beta does not read the statistics) and ``use_stats``
    (False: a statistics-free BatchNorm with affine) are ``modulate`` options for the clean-accuracy study.

    Paper: Lo & Patel, "Adaptive Batch Normalization Networks for Adversarial Robustness", AVSS 2024.

    Args:
        num_features: channels of the target features, C_t.
        stats_channels: channels of the substitute stage, C_s.
        mode: ``"modulate"``, ``"replace"``, ``"prototype"`` or ``"prototype_exact"``. Default: "modulate".
        eps: epsilon of the layer's BatchNorms. Default: 1e-5.
        momentum: running-statistics momentum of the layer's BatchNorms. Default: 0.1.
        grid: ``prototype``: (T, H, W) grid the substitute features are average-pooled to. Default: (1, 2, 2).
        min_sigma: ``replace``: smooth floor of ``sigma_hat`` (``sqrt(sigma^2 + min_sigma^2)``). Default: 0.1.
        feature_shape: ``prototype_exact``: (C_s, T, H, W) of the substitute stage output (required there).
            Default: None.
        scalar_stats: ``prototype_exact``: ``mean(P)``/``std(P)`` per ``"clip"`` or over the whole ``"batch"``
            (the authors'; couples a batch's clips, `batch_coupled`). Default: "clip".
        stats_dropout: ``modulate``: dropout probability on the standardized statistics while training,
            in [0, 1). Default: 0.0.
        modulation: ``modulate``: ``"gamma_beta"``, or ``"gamma"`` (beta is a plain bias). Default: "gamma_beta".
        use_stats: ``modulate``: read the statistics at all (False: BatchNorm with a learned affine).
            Default: True.

    Shape:
        - z: (B, C_t, T, H, W) target stage output.
        - mu, sigma: (B, C_s) clip statistics of the substitute stage (`clip_statistics`).
        - features: (B, C_s, T', H', W') raw substitute stage output (``prototype`` modes only; else None);
          ``prototype_exact``: (C_s, T', H', W') must equal ``feature_shape`` (else `ClipSizeError`).
        - output: (B, C_t, T, H, W).

    Examples:
        >>> layer = AdaptiveBatchNorm3d(64, 32, mode="modulate")
        >>> mu, sigma = clip_statistics(torch.randn(2, 32, 4, 7, 7))
        >>> out = layer(torch.randn(2, 64, 4, 7, 7), mu, sigma)
    """


    mode: ClassVar[str]
    needs_features: ClassVar[bool] = False  # forward needs the raw substitute features (prototype modes)

    def __new__(cls, *args: Any, **kwargs: Any) -> AdaptiveBatchNorm3d:
        """``AdaptiveBatchNorm3d(..., mode=m)`` makes an instance of the layer class of ``m`` (`LAYERS`)."""
        if cls is AdaptiveBatchNorm3d:
            bound = inspect.signature(cls.__init__).bind(None, *args, **kwargs)
            bound.apply_defaults()
            cls = layer_class(bound.arguments["mode"])
        return super().__new__(cls)

    def __init__(self, num_features: int, stats_channels: int, mode: str = "modulate", eps: float = 1e-5,
                 momentum: float = 0.1, grid: tuple[int, int, int] = (1, 2, 2), min_sigma: float = 0.1,
                 feature_shape: Sequence[int] | None = None, scalar_stats: str = "clip", stats_dropout: float = 0.0,
                 modulation: str = "gamma_beta", use_stats: bool = True) -> None:
        super().__init__()
        if mode != self.mode:
            raise ValueError(f"AdaptiveBatchNorm3d: {type(self).__name__} is the layer of mode {self.mode!r}, got "
                             f"mode={mode!r} (build layers with AdaptiveBatchNorm3d(..., mode=...))")
        _check_options(mode, scalar_stats, modulation, stats_dropout, use_stats)
        self.stats_dropout, self.modulation, self.use_stats = float(stats_dropout), modulation, bool(use_stats)
        self.num_features, self.stats_channels = num_features, stats_channels
        self.grid = tuple(int(g) for g in grid)
        self.min_sigma = float(min_sigma)
        self.scalar_stats = scalar_stats
        self.feature_shape = None if feature_shape is None else tuple(int(s) for s in feature_shape)
        self._build(eps, momentum)

    def _build(self, eps: float, momentum: float) -> None:
        """Create the mode's modules and parameters (their names are the checkpoint's state-dict keys)."""
        raise NotImplementedError

    def _adapt(self, z: torch.Tensor, mu: torch.Tensor, sigma: torch.Tensor,
               features: torch.Tensor | None) -> torch.Tensor:
        """The mode's output for checked inputs (see `forward`)."""
        raise NotImplementedError

    def statistics_parameters(self) -> list[nn.Parameter]:
        """The weights that read the substitute (the statistics pathway; biases and BN affines excluded)."""
        raise NotImplementedError

    @property
    def batch_coupled(self) -> bool:
        """Whether a clip's output depends on the other clips of its batch in eval mode."""
        return False

    def forward(self, z: torch.Tensor, mu: torch.Tensor, sigma: torch.Tensor,
                features: torch.Tensor | None = None) -> torch.Tensor:
        """Adapt ``z`` with statistics ``mu``/``sigma`` (``features``: raw substitute output, prototype only)."""
        if mu.shape != (z.shape[0], self.stats_channels) or sigma.shape != mu.shape:
            raise ValueError(f"AdaptiveBatchNorm3d: expected statistics of shape ({z.shape[0]}, {self.stats_channels}),"
                             f" got {tuple(mu.shape)} and {tuple(sigma.shape)}")
        if self.needs_features and features is None:
            raise ValueError(f"AdaptiveBatchNorm3d(mode={self.mode!r}) needs the substitute features")
        return self._adapt(z, mu, sigma, features)

    def extra_repr(self) -> str:
        return f"{self.num_features}, stats_channels={self.stats_channels}, mode={self.mode!r}"


class ModulateBatchNorm3d(AdaptiveBatchNorm3d):
    """``modulate``: ``gamma * BN(z) + beta``, ``[gamma, beta]`` a linear map of the standardized statistics."""

    mode = "modulate"

    def _build(self, eps: float, momentum: float) -> None:
        """BN without affine, the statistics' standardizer and the map, ``W = 0, b = (1, 0)`` (plain BN at init)."""
        self.bn = nn.BatchNorm3d(self.num_features, eps=eps, momentum=momentum, affine=False)
        # Standardizes [mu; log sigma] (batch statistics while training, running ones in eval, so a
        # clip's output never depends on its batch at test time): a re-parametrisation of the linear
        # map that keeps its input at unit scale; raw statistics made SGD diverge at lr 0.05.
        self.stats_norm = nn.BatchNorm1d(2 * self.stats_channels, eps=eps, momentum=momentum, affine=False)
        self.affine = nn.Linear(2 * self.stats_channels, 2 * self.num_features)
        nn.init.zeros_(self.affine.weight)
        with torch.no_grad():
            self.affine.bias.copy_(torch.cat([torch.ones(self.num_features), torch.zeros(self.num_features)]))

    def _modulation(self, mu: torch.Tensor, sigma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-clip (gamma, beta) (each (B, C_t))."""
        bias_gamma, bias_beta = self.affine.bias.chunk(2)
        if not self.use_stats:
            return bias_gamma.expand(mu.shape[0], -1), bias_beta.expand(mu.shape[0], -1)
        stats = self.stats_norm(torch.cat([mu, torch.log(sigma)], dim=1))
        if self.stats_dropout > 0:
            stats = F.dropout(stats, self.stats_dropout, self.training)
        gamma, beta = self.affine(stats).chunk(2, dim=1)
        if self.modulation == "gamma":
            beta = bias_beta.expand_as(beta)
        return gamma, beta

    def _adapt(self, z: torch.Tensor, mu: torch.Tensor, sigma: torch.Tensor,
               features: torch.Tensor | None) -> torch.Tensor:
        gamma, beta = self._modulation(mu, sigma)
        return _expand(gamma) * self.bn(z) + _expand(beta)

    def statistics_parameters(self) -> list[nn.Parameter]:
        return [self.affine.weight] if self.use_stats else []


class ReplaceBatchNorm3d(AdaptiveBatchNorm3d):
    """``replace``: ``g * (z - mu_hat) / sigma_hat + h`` with the substitute's statistics mapped to the target's."""

    mode = "replace"

    def _build(self, eps: float, momentum: float) -> None:
        """The two statistics maps (channel-assignment init) and the affine ``g``, ``h``; no BatchNorm."""
        self.mean_map = nn.Linear(self.stats_channels, self.num_features)
        self.log_std_map = nn.Linear(self.stats_channels, self.num_features)
        with torch.no_grad():
            for layer in (self.mean_map, self.log_std_map):
                layer.weight.copy_(_channel_assignment(self.num_features, self.stats_channels))
                layer.bias.zero_()
        self.weight = nn.Parameter(torch.ones(self.num_features))
        self.bias = nn.Parameter(torch.zeros(self.num_features))

    def _adapt(self, z: torch.Tensor, mu: torch.Tensor, sigma: torch.Tensor,
               features: torch.Tensor | None) -> torch.Tensor:
        mu_hat = self.mean_map(mu)
        log_sigma_hat = self.log_std_map(torch.log(sigma)).clamp(-LOG_SIGMA_CLAMP, LOG_SIGMA_CLAMP)
        sigma_hat = torch.sqrt(torch.exp(2 * log_sigma_hat) + self.min_sigma ** 2)
        scale = self.weight / sigma_hat
        return _expand(scale) * (z - _expand(mu_hat)) + _expand(self.bias.expand_as(mu_hat))

    def statistics_parameters(self) -> list[nn.Parameter]:
        return [self.mean_map.weight, self.log_std_map.weight]


class PrototypeBatchNorm3d(AdaptiveBatchNorm3d):
    """``prototype``: ``gamma * (std(P) * BN(z) + mean(P)) + beta``, ``[gamma, beta]`` from P pooled to ``grid``."""

    mode = "prototype"
    needs_features = True

    def _build(self, eps: float, momentum: float) -> None:
        """BN without affine and the map from the pooled features (bias ``(1, 0)``)."""
        self.bn = nn.BatchNorm3d(self.num_features, eps=eps, momentum=momentum, affine=False)
        fan_in = self.stats_channels * math.prod(self.grid)
        self.affine = nn.Linear(fan_in, 2 * self.num_features)
        with torch.no_grad():
            self.affine.weight.normal_(0.0, 1.0 / math.sqrt(fan_in))
            self.affine.bias.copy_(torch.cat([torch.ones(self.num_features), torch.zeros(self.num_features)]))

    def _adapt(self, z: torch.Tensor, mu: torch.Tensor, sigma: torch.Tensor,
               features: torch.Tensor | None) -> torch.Tensor:
        clip_mean = features.mean(dim=(1, 2, 3, 4))[:, None, None, None, None]
        clip_std = features.std(dim=(1, 2, 3, 4), unbiased=False)[:, None, None, None, None]
        h = clip_std * self.bn(z) + clip_mean
        pooled = F.adaptive_avg_pool3d(features, self.grid).flatten(1)
        gamma, beta = self.affine(pooled).chunk(2, dim=1)
        return _expand(gamma) * h + _expand(beta)

    def statistics_parameters(self) -> list[nn.Parameter]:
        return [self.affine.weight]


class PrototypeExactBatchNorm3d(AdaptiveBatchNorm3d):
    """``prototype_exact``: the authors' layer, the flattened feature map -> `EqualLinear` -> ``[gamma, beta]``."""

    mode = "prototype_exact"
    needs_features = True

    def _build(self, eps: float, momentum: float) -> None:
        """BN with affine, EqualLinear from the flattened feature map (gamma=1, beta=0)."""
        if self.feature_shape is None or len(self.feature_shape) != 4 or self.feature_shape[0] != self.stats_channels:
            raise ValueError("AdaptiveBatchNorm3d(mode='prototype_exact') needs feature_shape=(C_s, T, H, W) of the "
                             f"substitute stage with C_s={self.stats_channels}, got {self.feature_shape}")
        self.bn = nn.BatchNorm3d(self.num_features, eps=eps, momentum=momentum, affine=True)
        self.style = EqualLinear(math.prod(self.feature_shape), 2 * self.num_features)
        with torch.no_grad():
            self.style.bias[:self.num_features] = 1.0

    @property
    def batch_coupled(self) -> bool:
        return self.scalar_stats == "batch"

    def _adapt(self, z: torch.Tensor, mu: torch.Tensor, sigma: torch.Tensor,
               features: torch.Tensor | None) -> torch.Tensor:
        if tuple(features.shape[1:]) != self.feature_shape:
            raise ClipSizeError(f"AdaptiveBatchNorm3d(mode='prototype_exact') was built for substitute features of "
                                f"shape {self.feature_shape} (C, T, H, W), got {tuple(features.shape[1:])}")
        flat = features.flatten(1)
        if self.scalar_stats == "batch":  # one scalar over the whole batch tensor (the authors' torch.std(y))
            mean, std = flat.mean(), flat.std()
        else:
            mean, std = flat.mean(dim=1)[:, None, None, None, None], flat.std(dim=1)[:, None, None, None, None]
        h = std * self.bn(z) + mean
        gamma, beta = self.style(flat).chunk(2, dim=1)
        return _expand(gamma) * h + _expand(beta)

    def statistics_parameters(self) -> list[nn.Parameter]:
        return [self.style.weight]

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, feature_shape={self.feature_shape}, scalar_stats={self.scalar_stats!r}"


LAYERS: dict[str, type[AdaptiveBatchNorm3d]] = {cls.mode: cls for cls in (
    ModulateBatchNorm3d, ReplaceBatchNorm3d, PrototypeBatchNorm3d, PrototypeExactBatchNorm3d)}
"""The layer class of each mode (keys in the order of `videoabnn.abnn_modes.MODES`)."""
if tuple(LAYERS) != MODES:  # the names' one home and the classes must agree
    raise ImportError(f"videoabnn.abnn.adaptive_bn: LAYERS {tuple(LAYERS)} != abnn_modes.MODES {MODES}")


def layer_class(mode: str) -> type[AdaptiveBatchNorm3d]:
    """The `AdaptiveBatchNorm3d` subclass of ``mode`` (``ValueError`` naming the modes otherwise)."""
    check_mode(mode, "AdaptiveBatchNorm3d")
    return LAYERS[mode]
