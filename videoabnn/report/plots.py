"""Report plots (matplotlib, Agg backend): accuracy curves from sweeps, position heat maps, bars.

Every function writes one PNG atomically, of exactly ``figsize * dpi`` pixels, and returns its path.
A sweep is a mapping ``{"x_label", "title", "models": {name: [{"x", "clip_acc"}, ...]}}``; a
position sweep holds ``{"models": {name: {"rows": [...], "cols": [...], "acc": [[...]]}}}``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from videoabnn.report.tables import attack_columns, model_name  # noqa: E402
from videoabnn.threats import WHITE  # noqa: E402
from videoabnn.utils.io import atomic_save_image  # noqa: E402

DEFAULT_SIZE = (6.4, 4.0)
DPI = 100


def _save(fig: plt.Figure, path: str | os.PathLike) -> Path:
    """Save a figure as PNG atomically and close it."""
    try:
        return atomic_save_image(fig, path, "PNG", dpi=DPI)
    finally:
        plt.close(fig)


def _check_sweep(sweep: Mapping, source: str) -> Mapping:
    models = sweep.get("models")
    if not isinstance(models, Mapping) or not models:
        raise ValueError(f"{source}: expected a non-empty 'models' mapping of name -> points")
    return models


def plot_curves(sweep: Mapping, path: str | os.PathLike, *, ylabel: str = "clip accuracy (%)",
                chance: float | None = None, figsize: tuple[float, float] = DEFAULT_SIZE) -> Path:
    """One line per model: accuracy (%) against the sweep's x values (eps, size, frames, epoch)."""
    models = _check_sweep(sweep, str(path))
    fig, ax = plt.subplots(figsize=figsize)
    for name, points in models.items():
        pts = sorted((p["x"], p["clip_acc"]) for p in points if p.get("clip_acc") is not None)
        if not pts:
            continue
        xs, ys = zip(*pts)
        ax.plot(xs, [100 * y for y in ys], marker="o", label=str(name))
    if chance is not None:
        ax.axhline(100 * chance, color="grey", linestyle=":", linewidth=1, label="chance")
    ax.set_xlabel(str(sweep.get("x_label", "x")))
    ax.set_ylabel(ylabel)
    ax.set_ylim(-2, 102)
    ax.set_title(str(sweep.get("title", "")))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def plot_position_heatmap(sweep: Mapping, path: str | os.PathLike, *, panel_size: float = 3.2) -> Path:
    """One heat-map panel per model: accuracy (%) by patch/sticker position (row = top, column = left pixel)."""
    models = _check_sweep(sweep, str(path))
    n = len(models)
    fig, axes = plt.subplots(1, n, figsize=(panel_size * n + 0.8, panel_size + 0.4), squeeze=False)
    image = None
    for ax, (name, grid) in zip(axes[0], models.items()):
        acc = 100 * np.asarray(grid["acc"], dtype=float)
        image = ax.imshow(acc, vmin=0, vmax=100, cmap="viridis", origin="upper")
        ax.set_xticks(range(len(grid["cols"])), [str(c) for c in grid["cols"]], fontsize=7)
        ax.set_yticks(range(len(grid["rows"])), [str(r) for r in grid["rows"]], fontsize=7)
        ax.set_xlabel("left (px)")
        if ax is axes[0][0]:
            ax.set_ylabel("top (px)")
        ax.set_title(str(name), fontsize=9)
        for (i, j), value in np.ndenumerate(acc):
            ax.text(j, i, f"{value:.0f}", ha="center", va="center", fontsize=6,
                    color="white" if value < 50 else "black")
    if image is not None:
        fig.colorbar(image, ax=list(axes[0]), shrink=0.8, label="accuracy (%)")
    fig.suptitle(str(sweep.get("title", "accuracy by position")), fontsize=10)
    return _save(fig, path)


def plot_accuracy_bars(results: Sequence[Mapping], path: str | os.PathLike, *, threat: str = WHITE,
                       figsize: tuple[float, float] = (9.0, 4.0)) -> Path:
    """Grouped bars: clip accuracy (%) of each model, clean and under each attack of ``threat``."""
    if not results:
        raise ValueError(f"{path}: no results to plot")
    cols = ["clean", *attack_columns(results, threat)]
    width = 0.8 / len(results)
    fig, ax = plt.subplots(figsize=figsize)
    x = np.arange(len(cols))
    for i, res in enumerate(results):
        vals = [res["clean"]["clip_acc"]] + [res["attacks"].get(c, {}).get("clip_acc", np.nan) for c in cols[1:]]
        ax.bar(x + (i - (len(results) - 1) / 2) * width, [100 * float(v) for v in vals], width,
               label=model_name(res))
    ax.set_xticks(x, cols, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("clip accuracy (%)")
    ax.set_ylim(0, 102)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, ncol=min(4, len(results)))
    ax.set_title(f"accuracy per attack ({threat})")
    fig.tight_layout()
    return _save(fig, path)
