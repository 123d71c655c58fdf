"""Plots, frame grids, GIF/MP4 and the full report rebuilt from result files only."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import av
import numpy as np
import torch
from PIL import Image

from videoabnn.report import (
    build_report,
    plot_curves,
    plot_position_heatmap,
    save_example,
    save_frame_grid,
    save_mp4,
)
from videoabnn.report.media import amplify_perturbation, grid_size

_spec = importlib.util.spec_from_file_location("report_fixtures", Path(__file__).with_name("report_fixtures.py"))
fx = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fx)


def test_plots_decode_with_the_right_size(tmp_path):
    sweep = {"x_label": "eps", "models": {"a": [{"x": 0, "clip_acc": 0.9}, {"x": 4, "clip_acc": 0.1}]}}
    path = plot_curves(sweep, tmp_path / "eps.png", figsize=(5.0, 3.0))
    with Image.open(path) as img:
        assert img.format == "PNG" and img.size == (500, 300)
    grid = {"models": {"m": {"rows": [0, 1], "cols": [0, 1, 2], "acc": [[0, 0.5, 1], [1, 1, 1]]}}}
    path = plot_position_heatmap(grid, tmp_path / "pos.png", panel_size=3.0)
    with Image.open(path) as img:
        assert img.size == (380, 340)


def test_frame_grid_gif_mp4(tmp_path):
    g = torch.Generator().manual_seed(0)
    clean = torch.rand(3, 6, 16, 20, generator=g)
    adv = (clean + 0.03 * torch.randn(3, 6, 16, 20, generator=g)).clamp(0, 1)
    pert = amplify_perturbation(clean, adv)
    assert abs(float((pert - 0.5).abs().max()) - 0.5) < 1e-5  # the largest change maps to full range
    path = save_frame_grid(tmp_path / "g.png", {"clean": clean, "adv": adv}, max_frames=4, scale=2)
    with Image.open(path) as img:
        assert img.size == grid_size(2, 4, 16, 20, scale=2)
        # the first tile is the clean frame, upscaled
        first = np.asarray(img.convert("RGB"))[2:4, 98:100]
    expected = (clean[:, 0, 0, 0].numpy() * 255 + 0.5).astype(np.uint8)
    assert np.abs(first[0, 0].astype(int) - expected.astype(int)).max() <= 1
    paths = save_example(tmp_path / "frames", "pgd", clean, adv, scale=2, mp4=True)
    with Image.open(paths["gif"]) as gif:
        assert gif.n_frames == 6 and gif.size[1] == 32
    with av.open(str(paths["mp4"])) as container:
        assert sum(1 for _ in container.decode(video=0)) == 6
    path = save_mp4(tmp_path / "one.mp4", clean, scale=1)
    assert path.stat().st_size > 0


def test_report_rebuilds_from_result_files_only(tmp_path):
    study = fx.make_study_dir(tmp_path / "study")
    g = torch.Generator().manual_seed(1)
    clip = torch.rand(3, 4, 8, 8, generator=g)
    save_example(study / "frames", "pgd_standard", clip, (clip + 0.1).clamp(0, 1), scale=2)
    paths = build_report(study)
    md = paths["markdown"].read_text()
    assert "| model | clean |" in md and "| pgd_at | 81.0 |" in md
    for plot in ("acc_vs_eps.png", "acc_vs_size.png", "acc_by_position.png", "acc_by_attack.png"):
        assert f"plots/{plot}" in md
        with Image.open(study / "plots" / plot) as img:
            assert img.format == "PNG"
    assert "frames/pgd_standard.png" in md and "frames/pgd_standard.gif" in md
    html = paths["html"].read_text()
    assert html.startswith("<!DOCTYPE html>") and "<td>81.0</td>" in html and 'src="plots/acc_vs_eps.png"' in html
    # a rebuild reads the same files and writes the same report
    (study / "report.md").unlink()
    assert build_report(study)["markdown"].read_text() == md
