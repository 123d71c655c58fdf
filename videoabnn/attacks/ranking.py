"""Top-k selection with ties broken by position, so attacks choose the same places on every run and device.

``torch.topk`` leaves the order of equal values unspecified (CPU and CUDA differ, and so may versions);
an attack that keeps the first of its top candidates (ROA's sticker place) or the top pixels (SPA,
salient frames) would then depend on which tied entry came first.
"""

from __future__ import annotations

from torch import Tensor


def top_indices(scores: Tensor, k: int, dim: int = -1) -> Tensor:
    """Indices of the ``k`` largest ``scores`` along ``dim``, largest first; equal scores by lower index."""
    k = min(int(k), scores.shape[dim])
    return scores.sort(dim=dim, descending=True, stable=True).indices.narrow(dim, 0, k)
