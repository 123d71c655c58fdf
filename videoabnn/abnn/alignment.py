"""An auxiliary loss aligning the target's own clip statistics with the substitute's (one reading of the
abstract's "learns to align the substitute model's BN statistics"; a clean-accuracy study option).

Per stage k, the target's raw stage output z_k (before its adaptive layer) has clip statistics
(mu_t, log sigma_t) per channel; target channel j is paired with substitute channel
floor(j * C_s / C_t) (the channel assignment of the ``replace`` mode), and the loss is the mean
squared difference of both, averaged over stages. It pulls the target towards features whose
statistics match the frozen substitute's instead of leaning on them only through gamma/beta.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from videoabnn.abnn.statistics import clip_statistics


def _paired(sub: torch.Tensor, target_channels: int) -> torch.Tensor:
    """Substitute statistics (B, C_s) repeated to the target's channels (B, C_t) by channel assignment."""
    index = (torch.arange(target_channels, device=sub.device) * sub.shape[1]) // target_channels
    return sub[:, index]


def alignment_loss(raw_stages: Sequence[torch.Tensor], stats: Sequence[tuple], eps: float = 1e-5) -> torch.Tensor:
    """Mean over stages of MSE(mu_t, mu_s) + MSE(log sigma_t, log sigma_s) with channels paired."""
    if len(raw_stages) != len(stats) or not raw_stages:
        raise ValueError(f"alignment_loss: {len(raw_stages)} target stages for {len(stats)} substitute statistics")
    total = raw_stages[0].new_zeros(())
    for z, (mu_s, sigma_s, _) in zip(raw_stages, stats):
        mu_t, sigma_t = clip_statistics(z, eps)
        channels = z.shape[1]
        total = total + (mu_t - _paired(mu_s, channels)).square().mean()
        total = total + (torch.log(sigma_t) - _paired(torch.log(sigma_s), channels)).square().mean()
    return total / len(raw_stages)
