"""Defenses: training objectives (standard, ABNN, adversarial training variants, ABNN + PGD-AT), Xie et
al. feature denoising (registered as model ``feature_denoise``) and input transformations (``transforms``;
a model behind one is registered as ``transformed``)."""

from videoabnn.defenses.denoise import AFFINITIES, NonLocalDenoise3d, denoise_post_stage, feature_denoise
from videoabnn.defenses.objectives import DEFAULT_TRAIN_ATTACK, Objective, ObjectiveOutput, attack_factory
from videoabnn.defenses.registry import OBJECTIVES, build_objective
from videoabnn.defenses.transformed import AdaptiveView, TransformedModel, wrap_with_transform
from videoabnn.defenses.transforms import InputTransform, build_transform, list_transforms, register_transform
from videoabnn.methods import ADVERSARIAL_METHODS, METHODS

__all__ = [
    "AdaptiveView",
    "InputTransform",
    "TransformedModel",
    "build_transform",
    "list_transforms",
    "register_transform",
    "wrap_with_transform",
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
