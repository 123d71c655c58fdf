"""Reports from results files: Markdown tables, plots, example frames and the study report."""

from videoabnn.report.document import Document
from videoabnn.report.media import amplify_perturbation, save_example, save_frame_grid, save_gif, save_mp4
from videoabnn.report.plots import plot_accuracy_bars, plot_curves, plot_position_heatmap
from videoabnn.report.reading import claims, reading
from videoabnn.report.study_report import build_document, build_report, find_results, find_sweeps
from videoabnn.report.tables import (
    audit_markdown,
    audit_table,
    load_results,
    markdown_table,
    results_table,
    sweep_table,
)

__all__ = [
    "Document",
    "amplify_perturbation",
    "audit_markdown",
    "audit_table",
    "build_document",
    "build_report",
    "claims",
    "find_results",
    "find_sweeps",
    "load_results",
    "markdown_table",
    "plot_accuracy_bars",
    "plot_curves",
    "plot_position_heatmap",
    "reading",
    "results_table",
    "save_example",
    "save_frame_grid",
    "save_gif",
    "save_mp4",
    "sweep_table",
]
