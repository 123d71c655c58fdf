"""Defenses trained by the engine: training objectives (standard, ABNN, adversarial training
variants) and Xie et al. feature denoising (registered as model ``feature_denoise``)."""

from videoabnn.defenses.denoise import AFFINITIES, NonLocalDenoise3d, denoise_post_stage, feature_denoise
from videoabnn.defenses.objectives import (
    ADVERSARIAL_METHODS,
    DEFAULT_TRAIN_ATTACK,
    METHODS,
    OBJECTIVES,
    Objective,
    ObjectiveOutput,
    attack_factory,
    build_objective,
)

__all__ = [
    "ADVERSARIAL_METHODS",
    "AFFINITIES",
    "DEFAULT_TRAIN_ATTACK",
    "METHODS",
    "OBJECTIVES",
    "NonLocalDenoise3d",
    "Objective",
    "ObjectiveOutput",
    "attack_factory",
    "build_objective",
    "denoise_post_stage",
    "feature_denoise",
]
