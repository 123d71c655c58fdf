"""The ``physical`` threat model's scoring: a pattern fitted under one stream of physical draws, scored under
fresh, independent draws of the same distribution and under a fixed grid of conditions.

For each attack with a printable pattern (ROA, framing, universal patch and framing) the row
``<id>@physical`` is the accuracy when every clip is seen through one fresh draw of the distribution
(the spec's ``physical``, default the ``default`` preset; the attacker fitted its pattern, ``pattern:
shared`` unless the spec says otherwise, through its own draws from another seed stream). Rows
``<id>@physical:<condition>`` score the same pattern under each fixed condition of
:data:`videoabnn.attacks.physical_eot.CONDITIONS` and as captured ideally (``digital``);
``<id>@physical:worst`` is the per-clip worst case over the fixed conditions; ``<id>@physical:no_pattern``
is the control: the clean clips through the camera of the same fresh draws (blur, noise, re-encoding),
so the drop from clean accuracy to it is the camera's, and from it to ``<id>@physical`` the pattern's.
The row names live in :mod:`videoabnn.threats`.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from videoabnn.attacks.physical_eot import CONDITIONS
from videoabnn.threats import physical_views

# the per-view rows, in this order, then the worst case (videoabnn.threats.WORST)
VIEWS = physical_views(CONDITIONS)


def worst_logits(views: Mapping[str, Tensor], y: Tensor) -> Tensor:
    """Per clip, the logits of the fixed condition with the lowest true-class margin (any misclassifying
    condition has a negative margin): the clip is correct iff it is correct under every condition."""
    stack = torch.stack([views[name] for name in CONDITIONS])  # K, N, classes
    true = stack.gather(2, y.view(1, -1, 1).expand(stack.shape[0], -1, 1)).squeeze(2)
    other = stack.scatter(2, y.view(1, -1, 1).expand(stack.shape[0], -1, 1), float("-inf")).amax(2)
    pick = (true - other).argmin(0)
    return stack[pick, torch.arange(stack.shape[1])]
