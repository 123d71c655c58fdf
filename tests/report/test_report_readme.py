"""The README's results section is written from result files, between its markers, and nowhere else."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from videoabnn.report.readme import update_readme

_spec = importlib.util.spec_from_file_location("report_fixtures", Path(__file__).with_name("report_fixtures.py"))
fx = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fx)


def test_readme_block_is_replaced_with_the_study_numbers(tmp_path):
    study = fx.make_study_dir(tmp_path / "study")
    readme = tmp_path / "README.md"
    readme.write_text("# title\n\nintro\n\n<!-- STUDY-RESULTS -->\nold numbers\n<!-- /STUDY-RESULTS -->\n\n## after\n")
    update_readme(study, readme, tmp_path / "docs" / "study")
    text = readme.read_text()
    assert "old numbers" not in text
    assert text.startswith("# title\n\nintro\n") and text.rstrip().endswith("## after")
    assert "| abnn | 95.0 |" in text and "| pgd_at | 81.0 |" in text   # clean accuracies from the files
    assert "![Accuracy vs eps (PGD-Linf, white-box)](docs/study/acc_vs_eps.png)" in text
    assert (tmp_path / "docs" / "study" / "acc_vs_eps.png").stat().st_size > 1000
    update_readme(study, readme, tmp_path / "docs" / "study")   # idempotent: one block, same text
    assert readme.read_text() == text


def test_readme_without_marker_is_an_error(tmp_path):
    study = fx.make_study_dir(tmp_path / "study")
    readme = tmp_path / "README.md"
    readme.write_text("# no marker here\n")
    with pytest.raises(ValueError, match="STUDY-RESULTS"):
        update_readme(study, readme, tmp_path / "img")


def test_results_page_gets_the_full_section_and_the_readme_the_headline(tmp_path):
    study = fx.make_study_dir(tmp_path / "study")
    readme, page = tmp_path / "README.md", tmp_path / "docs" / "results.md"
    page.parent.mkdir()
    readme.write_text("# t\n\n<!-- STUDY-HEADLINE -->\nstale numbers\n<!-- /STUDY-HEADLINE -->\n\nend\n")
    page.write_text("# Results\n\n<!-- STUDY-RESULTS -->\nstale numbers\n<!-- /STUDY-RESULTS -->\n")
    update_readme(study, readme, tmp_path / "docs" / "study", results=page)
    head, full = readme.read_text(), page.read_text()
    assert "stale numbers" not in head + full
    assert "](docs/results.md)" in head                          # the headline links to the full results
    assert "| abnn | 95.0 |" in head and "| pgd_at | 81.0 |" in head
    assert len(head.splitlines()) < 20                           # a handful of rows, no claims table
    assert "![Accuracy vs eps (PGD-Linf, white-box)](study/acc_vs_eps.png)" in full   # relative to the page
    assert "claim" in full and "| abnn | 95.0 |" in full


def test_results_page_without_marker_is_an_error_naming_the_page(tmp_path):
    study = fx.make_study_dir(tmp_path / "study")
    readme, page = tmp_path / "README.md", tmp_path / "results.md"
    readme.write_text("<!-- STUDY-HEADLINE -->\n<!-- /STUDY-HEADLINE -->\n")
    page.write_text("# nothing\n")
    with pytest.raises(ValueError, match="results.md.*STUDY-RESULTS"):
        update_readme(study, readme, tmp_path / "img", results=page)
