"""Reproduce a truncated input gradient: residual blocks whose downsampling shortcut is detached.

The ABNN authors' substitute (3D ResNet-18, shortcut A) builds the shortcut of each downsampling
block from ``out.data``: the forward value is unchanged, but no gradient flows back through that
shortcut (the first block of stages 2-4), so attacks run through it use a truncated gradient.
``cut_shortcut_gradient`` does the same to any backbone whose blocks name their shortcut
``downsample`` (the Hara 3D ResNets, tiny_r3d, torchvision's video ResNets), so their evaluation
pipeline can be re-run. The gradient-correctness check of the audit must fail such a model.
"""

from __future__ import annotations

import torch
from torch import nn

SHORTCUT_GRADIENTS = ("full", "cut")


def _detach_output(module: nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor:
    """Forward hook: the shortcut's value without its gradient (what ``out.data`` gives)."""
    return output.detach()


def downsample_shortcuts(model: nn.Module) -> list[nn.Module]:
    """The ``downsample`` shortcut modules of ``model``'s residual blocks."""
    return [m.downsample for m in model.modules() if isinstance(getattr(m, "downsample", None), nn.Module)]


def cut_shortcut_gradient(model: nn.Module) -> int:
    """Detach the output of every downsampling shortcut of ``model`` (in place); returns how many."""
    shortcuts = downsample_shortcuts(model)
    if not shortcuts:
        raise ValueError(f"shortcut_gradient='cut': {type(model).__name__} has no residual block with a 'downsample' "
                         "shortcut to cut (supported: Hara 3D ResNets, tiny_r3d, torchvision video ResNets)")
    for shortcut in shortcuts:
        shortcut.register_forward_hook(_detach_output)
    return len(shortcuts)
