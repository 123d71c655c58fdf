"""One layer class per ABNN mode, built from one table; the mode names have one home that the composite
and the config schema read."""

from __future__ import annotations

import copy
import pickle

import pytest
import torch

from videoabnn import abnn_modes
from videoabnn.abnn import ABNN, AdaptiveBatchNorm3d
from videoabnn.abnn.adaptive_bn import LAYERS, ModulateBatchNorm3d, ReplaceBatchNorm3d, layer_class
from videoabnn.config_schema import ABNN as ABNNSection
from videoabnn.models import create_model

KWARGS = {"prototype_exact": {"feature_shape": (4, 2, 3, 3)}}


def test_the_table_has_one_class_per_mode_in_the_order_of_the_names() -> None:
    assert tuple(LAYERS) == abnn_modes.MODES
    assert len(set(LAYERS.values())) == len(LAYERS)
    assert all(issubclass(cls, AdaptiveBatchNorm3d) and cls.mode == mode for mode, cls in LAYERS.items())


@pytest.mark.parametrize("mode", abnn_modes.MODES)
def test_the_public_constructor_builds_the_modes_class(mode: str) -> None:
    layer = AdaptiveBatchNorm3d(6, 4, mode=mode, **KWARGS.get(mode, {}))
    assert type(layer) is LAYERS[mode] is layer_class(mode)
    assert isinstance(layer, AdaptiveBatchNorm3d) and layer.mode == mode
    positional = AdaptiveBatchNorm3d(6, 4, mode, **KWARGS.get(mode, {}))  # mode as the third positional argument
    assert type(positional) is LAYERS[mode]
    assert set(positional.state_dict()) == set(layer.state_dict())


def test_default_mode_copies_and_pickles() -> None:
    layer = AdaptiveBatchNorm3d(6, 4)
    assert type(layer) is ModulateBatchNorm3d
    for clone in (copy.deepcopy(layer), pickle.loads(pickle.dumps(layer))):
        assert type(clone) is ModulateBatchNorm3d
        assert all(torch.equal(a, b) for a, b in zip(clone.state_dict().values(), layer.state_dict().values()))


def test_a_mode_class_refuses_another_mode_and_every_owner_names_the_modes() -> None:
    assert type(ReplaceBatchNorm3d(6, 4, mode="replace")) is ReplaceBatchNorm3d
    with pytest.raises(ValueError, match="ReplaceBatchNorm3d is the layer of mode 'replace'"):
        ReplaceBatchNorm3d(6, 4)
    with pytest.raises(ValueError, match=r"AdaptiveBatchNorm3d: mode must be one of \('modulate'"):
        AdaptiveBatchNorm3d(6, 4, mode="bogus")
    with pytest.raises(ValueError, match=r"ABNN: mode must be one of \('modulate'"):
        ABNN(create_model("tiny_r3d", 2, width=4), create_model("tiny_r3d", 2, width=4), mode="bogus")
    with pytest.raises(TypeError):
        AdaptiveBatchNorm3d(6, 4, nosuch=1)


def test_the_config_schema_reads_the_names() -> None:
    fields = ABNNSection.model_fields
    assert fields["mode"].annotation.__args__ == abnn_modes.MODES
    assert fields["prototype_statistics"].annotation.__args__ == abnn_modes.SCALAR_STATS
    assert fields["modulation"].annotation.__args__ == abnn_modes.MODULATIONS
