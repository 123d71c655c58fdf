"""The end-to-end robustness study (``tools/study.py``): resumable stages and their outputs."""

from videoabnn.study.pipeline import run_study, stage_names
from videoabnn.study.settings import load_study_config
from videoabnn.study.stages import StageRunner

__all__ = ["StageRunner", "load_study_config", "run_study", "stage_names"]
