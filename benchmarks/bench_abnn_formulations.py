"""ABNN formulations side by side: adaptive-layer parameter counts (computed, not run) and the gradient
check's relative errors for intact models and for the authors' substitute gradient cut.

Usage: python benchmarks/bench_abnn_formulations.py [--skip-gradcheck] [--directions 6]
Parameter counts come from the substitute's stage shapes (a forward on the meta device: no memory,
no compute), so the authors' 40x112x112 pair costs nothing to count. The gradient check runs on
randomly initialised models (adaptive weights moved off their init so the statistics pathway carries
gradient) at the study's clip size, in float64 on CPU (docs/abnn.md quotes the output).
"""

from __future__ import annotations

import argparse
import math
import time

import torch
from torch import nn

from videoabnn.abnn.adaptive_bn import prototype_exact_parameter_count
from videoabnn.attacks import check_gradient
from videoabnn.models import create_model

PAIRS = [  # (label, substitute, substitute kwargs, target, target kwargs, (T, H, W))
    ("study: tiny_r3d w8 / tiny_r3d w8", "tiny_r3d", {"width": 8}, "tiny_r3d", {"width": 8}, (8, 32, 32)),
    ("authors: resnet3d_18 (A) / resnext3d_101", "resnet3d_18", {"shortcut": "A"}, "resnext3d_101", {},
     (16, 112, 112)),
    ("authors: resnet3d_18 (A) / resnext3d_101", "resnet3d_18", {"shortcut": "A"}, "resnext3d_101", {},
     (40, 112, 112)),
]
GRID = (1, 2, 2)


def stage_shapes(name: str, kwargs: dict, size: tuple[int, int, int]) -> list[tuple[int, ...]]:
    """(C, T, H, W) of each stage output of ``name`` for one clip of ``size`` (meta-device forward)."""
    model = create_model(name, 2, **kwargs).eval().to("meta")
    with torch.no_grad():
        return [tuple(f.shape[1:]) for f in model.forward_stages(torch.empty(1, 3, *size, device="meta"))]


def adaptive_counts(sub_shapes: list[tuple[int, ...]], target_channels: list[int]) -> dict[str, int]:
    """Parameters of the five adaptive layers in each mode (modulate/replace/prototype/prototype_exact)."""
    pairs = list(zip(sub_shapes, target_channels))
    return {
        "modulate": sum(2 * s[0] * 2 * c + 2 * c for s, c in pairs),
        "replace": sum(2 * (s[0] * c + c) + 2 * c for s, c in pairs),
        "prototype": sum(s[0] * math.prod(GRID) * 2 * c + 2 * c for s, c in pairs),
        "prototype_exact": sum(prototype_exact_parameter_count(s, c) for s, c in pairs),
    }


def parameter_table() -> None:
    print("adaptive-layer parameters (5 layers), target parameters for scale")
    for label, sub, sub_kw, tgt, tgt_kw, size in PAIRS:
        target = create_model(tgt, 101, **tgt_kw)
        n_target = sum(p.numel() for p in target.parameters())
        counts = adaptive_counts(stage_shapes(sub, sub_kw, size), target.stage_channels)
        cells = ", ".join(f"{mode} {n:,}" for mode, n in counts.items())
        print(f"  {label} at {'x'.join(map(str, size))}: target {n_target:,}; {cells}")


def _perturbed_abnn(mode: str, cut: bool, size: tuple[int, int, int]) -> nn.Module:
    torch.manual_seed(0)
    model = create_model("abnn", 10, mode=mode, substitute_kwargs={"width": 8}, target_kwargs={"width": 8},
                         input_size=size if mode == "prototype_exact" else None,
                         shortcut_gradient="cut" if cut else "full")
    with torch.no_grad():
        for p in model.adaptive.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model.eval()


def gradcheck_table(directions: int) -> None:
    size = (8, 32, 32)
    x = torch.rand(2, 3, *size, generator=torch.Generator().manual_seed(1))
    print(f"gradient check (float64, 2 clips of {'x'.join(map(str, size))}, {directions} directions, "
          "largest relative error over directions at the better of h = 1e-5, 1e-6)")
    models = {f"abnn {mode}{' + substitute cut' if cut else ''}": (lambda m=mode, c=cut: _perturbed_abnn(m, c, size))
              for mode in ("modulate", "prototype", "prototype_exact") for cut in (False, True)}
    for shortcut in ("A", "B"):
        def plain(s=shortcut, cut=False):
            from videoabnn.models.shortcut_gradient import cut_shortcut_gradient
            torch.manual_seed(0)
            m = create_model("resnet3d_18", 10, shortcut=s).eval()
            if cut:
                cut_shortcut_gradient(m)
            return m
        models[f"resnet3d_18 shortcut {shortcut}"] = plain
        models[f"resnet3d_18 shortcut {shortcut} + cut"] = lambda s=shortcut, p=plain: p(s, True)
    for name, build in models.items():
        start = time.perf_counter()
        result = check_gradient(build(), x, directions=directions)
        per_step = ", ".join(f"h={h}: max {max(v):.1e}" for h, v in result.rel_errors_per_step.items())
        print(f"  {name}: {'pass' if result.passed else 'FAIL'} {result.max_rel_error:.1e} ({per_step}; "
              f"{time.perf_counter() - start:.1f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-gradcheck", action="store_true")
    parser.add_argument("--directions", type=int, default=6)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    parameter_table()
    if not args.skip_gradcheck:
        gradcheck_table(args.directions)


if __name__ == "__main__":
    main()
