"""Model registry, backbones (Hara 3D ResNets, torchvision, pytorchvideo, tiny) and weight loading.

``create_model(name, num_classes, pretrained=None, **kwargs)`` builds any registered model,
including ``"abnn"`` (registered by :mod:`videoabnn.abnn`, imported on first lookup).
"""

from videoabnn.models import (  # noqa: F401  (register backbones)
    pytorchvideo_models,
    resnet3d,
    tiny,
    torchvision_video,
)
from videoabnn.models.checkpoint import load_checkpoint, load_model, save_model
from videoabnn.models.classifier import Normalize, VideoClassifier
from videoabnn.models.registry import (
    ModelEntry,
    create_model,
    get_entry,
    list_models,
    model_defaults,
    register_model,
)
from videoabnn.models.stages import ClassifierHead, StagedBackbone
from videoabnn.models.weights import LoadReport, hub_checkpoint_dir, load_pretrained, load_state

__all__ = [
    "ClassifierHead",
    "LoadReport",
    "ModelEntry",
    "Normalize",
    "StagedBackbone",
    "VideoClassifier",
    "create_model",
    "get_entry",
    "hub_checkpoint_dir",
    "list_models",
    "load_checkpoint",
    "load_model",
    "load_pretrained",
    "load_state",
    "model_defaults",
    "register_model",
    "save_model",
]
