"""Model registry, backbones (Hara 3D ResNets, torchvision, pytorchvideo, I3D, tiny) and weight loading.

``create_model(name, num_classes, pretrained=None, **kwargs)`` builds any registered model,
including ``"abnn"`` (registered by the ABNN package, a plugin declared as a ``videoabnn.models``
entry point and imported on first lookup). ``list_weights(name)`` names the released weights.
"""

from videoabnn.models import (  # noqa: F401  (register backbones)
    i3d,
    pytorchvideo_models,
    resnet3d,
    tiny,
    torchvision_video,
)
from videoabnn.models.checkpoint import load_checkpoint, load_model, save_model
from videoabnn.models.classifier import Normalize, VideoClassifier
from videoabnn.models.pretrained import Weights, all_weights, get_weights, list_weights, register_weights
from videoabnn.models.registry import (
    ModelEntry,
    create_model,
    get_entry,
    list_models,
    model_defaults,
    register_model,
)
from videoabnn.models.stages import ClassifierHead, StagedBackbone
from videoabnn.models.weights import (
    CheckpointError,
    LoadReport,
    describe_normalization,
    hub_checkpoint_dir,
    load_pretrained,
    load_state,
    load_weights,
    read_checkpoint,
)

__all__ = [
    "CheckpointError",
    "ClassifierHead",
    "LoadReport",
    "ModelEntry",
    "Normalize",
    "StagedBackbone",
    "VideoClassifier",
    "Weights",
    "all_weights",
    "create_model",
    "describe_normalization",
    "get_entry",
    "get_weights",
    "hub_checkpoint_dir",
    "list_models",
    "list_weights",
    "load_checkpoint",
    "load_model",
    "load_pretrained",
    "load_state",
    "load_weights",
    "read_checkpoint",
    "register_weights",
    "model_defaults",
    "register_model",
    "save_model",
]
