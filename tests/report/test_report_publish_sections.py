"""The ABNN stages' sections reach the results page only from the files the stages wrote."""

from __future__ import annotations

import pytest

from videoabnn.study.pipeline import publish_sections


def test_stage_section_replaces_its_block_with_headings_one_level_down(tmp_path):
    section = tmp_path / "fidelity.md"
    section.write_text("# ABNN fidelity: title\n\n## Reading\n\n| model | clean |\n| --- | ---: |\n| abnn | 86.5 |\n")
    page = tmp_path / "results.md"
    page.write_text("# Results\n\n<!-- FIDELITY-RESULTS -->\nold table\n<!-- /FIDELITY-RESULTS -->\n\n"
                    "<!-- CLEAN-GAP-RESULTS -->\nkept\n<!-- /CLEAN-GAP-RESULTS -->\n")
    cfg = {"study": {"fidelity": {"publish": str(page)}, "clean_gap": {"publish": str(page)}}}
    assert publish_sections(cfg, {"fidelity": section}) == [page]   # no clean_gap.md: its block stays
    text = page.read_text()
    assert "old table" not in text and "kept" in text
    assert "## ABNN fidelity: title" in text and "### Reading" in text and "| abnn | 86.5 |" in text


def test_nothing_is_published_without_publish(tmp_path):
    section = tmp_path / "clean_gap.md"
    section.write_text("# t\n")
    assert publish_sections({"study": {"clean_gap": {}}}, {"clean_gap": section}) == []


def test_a_page_without_the_block_is_an_error(tmp_path):
    section, page = tmp_path / "clean_gap.md", tmp_path / "results.md"
    section.write_text("# t\n")
    page.write_text("# nothing\n")
    with pytest.raises(ValueError, match="CLEAN-GAP-RESULTS"):
        publish_sections({"study": {"clean_gap": {"publish": str(page)}}}, {"clean_gap": section})
