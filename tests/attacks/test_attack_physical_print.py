"""Printability and smoothness: weighting the NPS and TV terms lowers those scores; print files carry
their physical size and DPI."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from videoabnn.attacks import UniversalPatch, build_attack
from videoabnn.attacks.printability import load_palette, non_printability, total_variation

from .conftest import moving_squares


def test_scores_on_known_patterns():
    palette = load_palette()
    on_palette = palette[:4].T.reshape(1, 3, 2, 2)
    assert float(non_printability(on_palette, palette)) < 1e-4
    assert float(non_printability(torch.tensor([1.0, 0.0, 0.0]).reshape(1, 3, 1, 1), palette)) > 0.1
    flat, checker = torch.full((1, 3, 4, 4), 0.3), (torch.arange(16).reshape(4, 4) % 2).float().expand(1, 3, 4, 4)
    assert float(total_variation(flat)) == 0.0 and float(total_variation(checker)) > 0.4


@pytest.mark.parametrize("term", ["nps_weight", "tv_weight"])
def test_weighted_terms_lower_their_scores(tiny, term):
    x, y = moving_squares(3, 9)
    palette = load_palette()

    def score(sticker):
        p = sticker.param
        return float((non_printability(p, palette) if term == "nps_weight" else total_variation(p)).mean())

    base = dict(size=6, position="random", pattern="shared", init="random", steps=4, alpha=0.05, seed=0)
    free = build_attack("roa", tiny, **base).fit_sticker(x, y, 0)
    weighted = build_attack("roa", tiny, **base, **{term: 50.0}).fit_sticker(x, y, 0)
    assert score(weighted) < 0.8 * score(free)


def test_universal_patch_penalty_and_print_png(tiny, tmp_path):
    x, y = moving_squares(8, 3)
    free = UniversalPatch(tiny, size=6, seed=0, epochs=3, alpha=0.05).fit([(x, y)], show_progress=False)
    smooth = UniversalPatch(tiny, size=6, seed=0, epochs=3, alpha=0.05, tv_weight=50.0, print_size=5.08, dpi=150)
    smooth.fit([(x, y)], show_progress=False)
    assert float(total_variation(smooth.param[None])) < 0.8 * float(total_variation(free.param[None]))
    smooth.save(tmp_path / "p.pt")
    with Image.open(tmp_path / "p_print.png") as img:
        assert img.size == (300, 300) and round(img.info["dpi"][0]) == 150  # 5.08 cm = 2 in at 150 dpi
    with pytest.raises(ValueError, match="palette"):
        build_attack("roa", tiny, nps_weight=1.0, palette=str(tmp_path / "missing.txt"))
