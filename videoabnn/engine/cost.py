"""Training cost in work, not only seconds: passes through the model, converted to FLOPs.

Each objective reports, per clip, how many forward passes, back-propagations to the weights and attack
steps (forward + back-propagation to the input) a training step made (``defenses.objectives.PASS_KINDS``).
The FLOPs of one pass of each kind are measured once on the model with ``torch.utils.flop_counter``
(convolutions and matrix products), so the total is a FLOP count of the whole training, comparable
between methods (ABNN's forward includes its frozen substitute).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def _flops(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def measure_pass_flops(model: nn.Module, clip_shape: tuple[int, ...], device: torch.device) -> dict[str, float]:
    """FLOPs per clip of a forward pass, a back-propagation to the weights and an attack step of ``model``."""
    was_training = model.training
    model.eval()  # no BatchNorm statistics are updated by the measurement; the FLOPs are the same
    x = torch.full((1, *clip_shape), 0.5, device=device)
    params = [p for p in model.parameters() if p.requires_grad]
    grads = [p.grad for p in params]
    try:
        forward = _flops(lambda: model(x))
        train = _flops(lambda: model(x).float().sum().backward()) if params else forward
        for p in params:
            p.requires_grad_(False)
        attack = _flops(lambda: model(x.clone().requires_grad_(True)).float().sum().backward())
    finally:
        for p, g in zip(params, grads):
            p.requires_grad_(True)
            p.grad = g
        model.train(was_training)
    return {"forward": float(forward), "train_backward": float(max(train - forward, 0)), "attack_step": float(attack)}


def training_cost(passes: Mapping[str, float], flops: Mapping[str, float], seconds: float) -> dict:
    """Passes per clip summed over training, their FLOPs and the training loop's wall time."""
    total = sum(float(passes.get(k, 0.0)) * float(flops.get(k, 0.0)) for k in flops)
    return {"passes": {k: float(v) for k, v in passes.items()}, "flops_per_pass": dict(flops), "flops": total,
            "seconds": float(seconds)}
