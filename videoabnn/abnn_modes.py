"""The ABNN layer modes and their option values (a leaf module: names only, no imports).

Each mode is one layer class of :mod:`videoabnn.abnn.adaptive_bn` (``LAYERS``, built by
``AdaptiveBatchNorm3d(..., mode=m)``); the layer, the ``ABNN`` composite and the config schema
(``abnn.mode``) all read the names here, so a mode is added in one place:

- ``modulate``: ``gamma * BN(z) + beta``, ``[gamma, beta]`` a linear map of the standardized statistics.
- ``replace``: ``g * (z - mu_hat) / sigma_hat + h``, ``mu_hat``/``sigma_hat`` maps of the substitute's.
- ``prototype``: the authors' prototype made size-independent (substitute features pooled to a grid).
- ``prototype_exact``: the authors' prototype as built (tied to one feature-map size).
"""

MODES = ("modulate", "replace", "prototype", "prototype_exact")
"""Every ``abnn.mode`` (``AdaptiveBatchNorm3d(mode=...)``), the default first."""
SCALAR_STATS = ("clip", "batch")
"""``prototype_exact``: its scalar mean/std per clip or over the batch (``abnn.prototype_statistics``)."""
MODULATIONS = ("gamma_beta", "gamma")
"""``modulate``: whether beta reads the statistics too, or gamma only (``abnn.modulation``)."""


def check_mode(mode: str, owner: str) -> None:
    """Raise ``ValueError`` (prefixed by ``owner``) unless ``mode`` is one of :data:`MODES`."""
    if mode not in MODES:
        raise ValueError(f"{owner}: mode must be one of {MODES}, got {mode!r}")
