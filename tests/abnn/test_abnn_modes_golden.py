"""What each ABNN mode computes, pinned before the mode classes were split (issue 26): layer and composite
outputs, input gradients, state-dict keys and shapes, and checkpoints written by the code before the split.

The numbers in ``tests/golden/abnn_modes.json`` and the two ``.pt`` files (layer weights; a composite
checkpoint with its substitute and target weights left out, rebuilt from the seed) were captured by running this
module as a script on the code before the split (``python tests/abnn/test_abnn_modes_golden.py --capture``); the
tests only read them.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import torch

from videoabnn.abnn import AdaptiveBatchNorm3d
from videoabnn.models import create_model, load_model, save_model

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
NUMBERS, LAYER_WEIGHTS, COMPOSITE_CKPT = (GOLDEN / "abnn_modes.json", GOLDEN / "abnn_modes_layers.pt",
                                          GOLDEN / "abnn_modulate_checkpoint.pt")
RTOL, ATOL = 1e-6, 1e-7
SAMPLES = 7  # values sampled from each tensor, evenly spaced over its flat index

# layer case -> (C_t, C_s, keyword arguments); the features are (2, C_s, 2, 3, 3) for every case
LAYERS: dict[str, tuple[int, int, dict[str, Any]]] = {
    "modulate": (6, 4, {}),
    "modulate_gamma": (6, 4, {"modulation": "gamma"}),
    "modulate_dropout": (6, 4, {"stats_dropout": 0.3}),
    "modulate_no_stats": (6, 4, {"use_stats": False}),
    "replace": (6, 4, {"mode": "replace"}),
    "replace_min_sigma0": (4, 4, {"mode": "replace", "min_sigma": 0.0}),
    "prototype": (6, 4, {"mode": "prototype"}),
    "prototype_exact": (6, 4, {"mode": "prototype_exact", "feature_shape": (4, 2, 3, 3)}),
    "prototype_exact_batch": (6, 4, {"mode": "prototype_exact", "feature_shape": (4, 2, 3, 3),
                                     "scalar_stats": "batch"}),
}
# composite case -> create_model("abnn", ...) keyword arguments (tiny_r3d pairs of width 4)
COMPOSITES: dict[str, dict[str, Any]] = {
    "modulate": {},
    "modulate_gamma_stages": {"modulation": "gamma", "stats_stages": [0, 1, 2, 3]},
    "replace": {"mode": "replace"},
    "replace_min_sigma0": {"mode": "replace", "min_sigma": 0.0},
    "prototype": {"mode": "prototype"},
    "prototype_exact": {"mode": "prototype_exact", "input_size": [4, 16, 16]},
    "prototype_exact_batch": {"mode": "prototype_exact", "input_size": [4, 16, 16], "prototype_statistics": "batch"},
}
CLIP = (2, 3, 4, 16, 16)


def summary(t: torch.Tensor) -> dict[str, Any]:
    """Sum, absolute sum and a few sampled values of ``t`` (float64 sums: independent of the reduction)."""
    flat = t.detach().double().flatten()
    index = torch.linspace(0, flat.numel() - 1, SAMPLES).round().long()
    return {"sum": float(flat.sum()), "abs_sum": float(flat.abs().sum()), "values": flat[index].tolist()}


def shapes(module: torch.nn.Module, prefix: str = "") -> dict[str, list[int]]:
    """State-dict key -> shape (keys starting with ``prefix``), and the number of keys in all."""
    state = module.state_dict()
    return {**{k: list(v.shape) for k, v in state.items() if k.startswith(prefix)}, "#keys": [len(state)]}


def _perturb(module: torch.nn.Module, seed: int) -> None:
    """Move every parameter away from its init (a zero-init map would hide the statistics pathway)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            if p.requires_grad:
                p.add_(torch.randn(p.shape, generator=gen) * 0.1)


def build_layer(case: str) -> AdaptiveBatchNorm3d:
    c_t, c_s, kwargs = LAYERS[case]
    torch.manual_seed(1)
    layer = AdaptiveBatchNorm3d(c_t, c_s, **kwargs)
    _perturb(layer, 2)
    return layer


def layer_inputs(case: str) -> tuple[torch.Tensor, ...]:
    c_t, c_s, _ = LAYERS[case]
    gen = torch.Generator().manual_seed(3)
    z = torch.randn(2, c_t, 2, 3, 3, generator=gen) * 2 + 0.5
    feats = torch.randn(2, c_s, 2, 3, 3, generator=gen) * 1.5 + 0.2
    mu, sigma = feats.mean(dim=(2, 3, 4)), feats.std(dim=(2, 3, 4)) + 0.05
    return z, mu, sigma, feats


def run_layer(layer: AdaptiveBatchNorm3d, case: str) -> dict[str, Any]:
    """A train-mode step (moves the running statistics; dropout seeded), then eval outputs and gradients."""
    z, mu, sigma, feats = (t.requires_grad_(True) for t in layer_inputs(case))
    layer.train()
    torch.manual_seed(4)
    train_out = layer(z, mu, sigma, feats)
    (train_out.square().sum()).backward()
    out = {"train": summary(train_out), "train_grad_z": summary(z.grad)}
    z.grad = None
    layer.eval()
    eval_out = layer(z, mu, sigma, feats)
    grads = torch.autograd.grad(eval_out.square().sum(), [z, mu, sigma, feats], allow_unused=True)
    out["eval"] = summary(eval_out)
    for name, grad in zip(("z", "mu", "sigma", "features"), grads):
        out[f"eval_grad_{name}"] = None if grad is None else summary(grad)
    return out


def build_composite(case: str) -> torch.nn.Module:
    torch.manual_seed(5)
    model = create_model("abnn", num_classes=4, substitute_kwargs={"width": 4}, target_kwargs={"width": 4},
                         **COMPOSITES[case])
    _perturb(model.adaptive, 6)
    return model


def run_composite(model: torch.nn.Module) -> dict[str, Any]:
    """Eval logits and the white- and gray-box input gradients of a fixed clip."""
    model.train()
    model(torch.rand(*CLIP, generator=torch.Generator().manual_seed(7)))  # moves the BN running statistics
    model.eval()
    x = torch.rand(*CLIP, generator=torch.Generator().manual_seed(8)).requires_grad_(True)
    logits = model(x)
    (white,) = torch.autograd.grad(logits.square().sum(), [x])
    (gray,) = torch.autograd.grad(model.gray_box()(x).square().sum(), [x])
    return {"logits": summary(logits), "grad_x": summary(white), "gray_grad_x": summary(gray)}


def capture() -> None:
    """Write the golden files from the code as it is now (run only on the code before a refactor)."""
    torch.set_num_threads(1)
    numbers: dict[str, Any] = {"layers": {}, "composites": {}}
    weights = {}
    for case in LAYERS:
        layer = build_layer(case)
        numbers["layers"][case] = {**run_layer(layer, case), "state_dict": shapes(layer)}
        weights[case] = {k: v.clone() for k, v in layer.state_dict().items()}
        numbers["layers"][case]["reloaded_eval"] = reloaded_eval(weights[case], case)
    for case in COMPOSITES:
        model = build_composite(case)
        numbers["composites"][case] = {**run_composite(model), "state_dict": shapes(model, "adaptive.")}
    numbers["composites"]["modulate"]["checkpoint_logits"] = save_composite_checkpoint()
    torch.save(weights, LAYER_WEIGHTS)
    NUMBERS.write_text(json.dumps(numbers, indent=0) + "\n")


def reloaded_eval(state: dict[str, torch.Tensor], case: str) -> dict[str, Any]:
    """Eval output of a freshly built layer (other seed) given the weights ``state``."""
    c_t, c_s, kwargs = LAYERS[case]
    torch.manual_seed(9)
    layer = AdaptiveBatchNorm3d(c_t, c_s, **kwargs)
    layer.load_state_dict(state, strict=True)
    z, mu, sigma, feats = layer_inputs(case)
    with torch.no_grad():
        return summary(layer.eval()(z, mu, sigma, feats))


def checkpoint_logits(model: torch.nn.Module) -> dict[str, Any]:
    x = torch.rand(*CLIP, generator=torch.Generator().manual_seed(10))
    with torch.no_grad():
        return summary(model.eval()(x))


def save_composite_checkpoint() -> dict[str, Any]:
    """Save a modulate composite; keep its file minus the seed-rebuilt substitute/target weights (size)."""
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = torch.load(save_model(build_composite("modulate").eval(), Path(tmp) / "full.pt"), weights_only=True)
        ckpt["state_dict"] = {k: v for k, v in ckpt["state_dict"].items() if k.startswith("adaptive.")}
        torch.save(ckpt, COMPOSITE_CKPT)
        return checkpoint_logits(load_model(rebuilt_checkpoint(Path(tmp) / "rebuilt.pt")))


def rebuilt_checkpoint(path: Path) -> Path:
    """The saved composite checkpoint, its substitute and target weights put back from the seed, at ``path``."""
    ckpt = torch.load(COMPOSITE_CKPT, weights_only=True)
    fresh = build_composite("modulate").state_dict()
    adaptive = {k for k in fresh if k.startswith("adaptive.")}
    assert set(ckpt["state_dict"]) == adaptive, sorted(set(ckpt["state_dict"]) ^ adaptive)
    ckpt["state_dict"] = {**{k: v for k, v in fresh.items() if k not in adaptive}, **ckpt["state_dict"]}
    torch.save(ckpt, path)
    return path


@pytest.fixture(scope="module")
def golden() -> dict[str, Any]:
    return json.loads(NUMBERS.read_text())


def assert_same(got: Any, want: Any, where: str) -> None:
    """Equal structure; floats within RTOL (ATOL near zero)."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and set(got) == set(want), f"{where}: keys {sorted(got)} != {sorted(want)}"
        for key in want:
            assert_same(got[key], want[key], f"{where}.{key}")
    elif isinstance(want, list) and want and isinstance(want[0], float):
        torch.testing.assert_close(torch.tensor(got, dtype=torch.float64), torch.tensor(want, dtype=torch.float64),
                                   rtol=RTOL, atol=ATOL, msg=where)
    elif isinstance(want, float):
        assert got == pytest.approx(want, rel=RTOL, abs=ATOL), where
    else:
        assert got == want, where


@pytest.mark.parametrize("case", list(LAYERS))
def test_layer_outputs_gradients_and_state_dict(case: str, golden: dict[str, Any]) -> None:
    layer = build_layer(case)
    want = golden["layers"][case]
    assert_same(shapes(layer), want["state_dict"], f"{case}.state_dict")
    assert_same(run_layer(layer, case), {k: v for k, v in want.items() if k not in ("state_dict", "reloaded_eval")},
                case)


@pytest.mark.parametrize("case", list(LAYERS))
def test_layer_weights_saved_before_the_split_load(case: str, golden: dict[str, Any]) -> None:
    state = torch.load(LAYER_WEIGHTS, weights_only=True)[case]
    assert_same(reloaded_eval(state, case), golden["layers"][case]["reloaded_eval"], f"{case}.reloaded")


@pytest.mark.parametrize("case", list(COMPOSITES))
def test_composite_outputs_gradients_and_state_dict(case: str, golden: dict[str, Any]) -> None:
    model = build_composite(case)
    want = golden["composites"][case]
    assert_same(shapes(model, "adaptive."), want["state_dict"], f"{case}.state_dict")
    assert_same(run_composite(model), {k: want[k] for k in ("logits", "grad_x", "gray_grad_x")}, case)


def test_composite_checkpoint_saved_before_the_split_loads(golden: dict[str, Any], tmp_path: Path) -> None:
    model = load_model(rebuilt_checkpoint(tmp_path / "abnn.pt"))
    assert_same(checkpoint_logits(model), golden["composites"]["modulate"]["checkpoint_logits"], "checkpoint")


if __name__ == "__main__":
    if sys.argv[1:] != ["--capture"]:
        sys.exit("usage: python tests/abnn/test_abnn_modes_golden.py --capture  (on the code before a refactor)")
    capture()
