"""Training and evaluation engine: the trainer (any method, resumable, torchrun-ready), the evaluator
(clean + attacks + threat models, results JSON/Markdown), metrics, checkpoints and logs."""

from videoabnn.engine.attack_specs import EvaluationError, resolve_attacks
from videoabnn.engine.build import build_model, model_spec, select_device
from videoabnn.engine.checkpoint import CheckpointError, read_run_checkpoint
from videoabnn.engine.evaluator import evaluate, predict
from videoabnn.engine.metrics import (
    acc_adv,
    acc_all,
    clip_accuracy,
    per_class_accuracy,
    perturbation_norms,
    success_rate,
    video_accuracy,
    worst_case_accuracy,
)
from videoabnn.engine.trainer import TrainingError, train

__all__ = [
    "CheckpointError",
    "EvaluationError",
    "TrainingError",
    "acc_adv",
    "acc_all",
    "build_model",
    "clip_accuracy",
    "evaluate",
    "model_spec",
    "per_class_accuracy",
    "perturbation_norms",
    "predict",
    "read_run_checkpoint",
    "resolve_attacks",
    "select_device",
    "success_rate",
    "train",
    "video_accuracy",
    "worst_case_accuracy",
]
