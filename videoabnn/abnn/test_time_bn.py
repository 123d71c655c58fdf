"""Test-time BatchNorm baseline: BN layers normalize with the current batch's statistics at test time.

This is the test-time adaptation method ABNN was inspired by. It couples the clips of a batch:
a clip's prediction changes with the other clips it is batched with (and batch size 1 gives
degenerate statistics). Running statistics are left untouched.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn


@contextmanager
def _batch_statistics(bns: list[nn.modules.batchnorm._BatchNorm]):
    saved = [(bn.training, bn.momentum, None if bn.num_batches_tracked is None else bn.num_batches_tracked.clone())
             for bn in bns]
    try:
        for bn in bns:
            bn.training, bn.momentum = True, 0.0  # batch statistics; running averages unchanged
        yield
    finally:
        for bn, (training, momentum, tracked) in zip(bns, saved):
            bn.training, bn.momentum = training, momentum
            if tracked is not None:
                bn.num_batches_tracked.copy_(tracked)


class TestTimeBN(nn.Module):
    """Wrap any model so that in eval mode every BatchNorm uses the batch statistics of its input.

    The test-time adaptation baseline ABNN was inspired by: each BatchNorm normalizes with the statistics of
    the current test batch; the running statistics (and ``num_batches_tracked``) are left untouched. In train
    mode the model runs unchanged.

    Paper: Schneider et al., "Improving robustness against common corruptions by covariate shift adaptation",
    NeurIPS 2020.

    Threat model: a clip's prediction depends on the other clips of its batch (batch size 1 gives degenerate
    statistics), so results hold for one evaluation batch size and order only; white-box attacks differentiate
    through the batch statistics of the batch they perturb.

    Args:
        model: any module with at least one BatchNorm layer (else ValueError); wrapped, not copied.

    Shape:
        - input: what ``model`` takes, e.g. (N, 3, T, H, W) float in [0, 1] for a registry model.
        - output: what ``model`` returns, e.g. (N, num_classes) logits.

    Examples:
        >>> tbn = TestTimeBN(create_model("tiny_r3d", 10)).eval()
        >>> logits = tbn(torch.rand(8, 3, 8, 32, 32))
    """

    __test__ = False  # not a pytest test class

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        if not self._bns():
            raise ValueError(f"TestTimeBN: {type(model).__name__} has no BatchNorm layers")

    def _bns(self) -> list[nn.modules.batchnorm._BatchNorm]:
        return [m for m in self.model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            return self.model(x)
        with _batch_statistics(self._bns()):
            return self.model(x)
