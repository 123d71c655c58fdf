"""Feature-denoising blocks: identity at initialisation, non-local, registered, saved and rebuilt."""

import pytest
import torch

from videoabnn.defenses import NonLocalDenoise3d
from videoabnn.models import create_model, load_model, save_model


@pytest.mark.parametrize("affinity", ["embedded_gaussian", "gaussian", "dot_product"])
def test_block_starts_as_identity_and_mixes_positions(affinity):
    block = NonLocalDenoise3d(4, affinity).eval()
    x = torch.randn(2, 4, 2, 3, 3)
    assert torch.equal(block(x), x)
    y = block.denoise(x)
    assert y.shape == x.shape
    x2 = x.clone()
    x2[:, :, 0, 0, 0] += 5.0  # one position changes -> denoised output changes elsewhere (non-local)
    assert not torch.allclose(block.denoise(x2)[:, :, 1, 2, 2], y[:, :, 1, 2, 2])
    if affinity != "dot_product":  # softmax weights: a mean of the values, inside their range
        assert y.max() <= x.max() + 1e-5 and y.min() >= x.min() - 1e-5


def test_registered_model_round_trips_through_checkpoint(tmp_path):
    model = create_model("feature_denoise", 3, base="tiny_r3d", stages=[2, 3], affinity="dot_product",
                         base_kwargs={"width": 4})
    blocks = [m for m in model.modules() if isinstance(m, NonLocalDenoise3d)]
    assert len(blocks) == 2 and all(b.affinity == "dot_product" for b in blocks)
    x = torch.rand(2, 3, 4, 16, 16)
    model.eval()
    path = save_model(model, tmp_path / "fd.pt")
    again = load_model(path)
    assert torch.equal(again(x), model(x))


def test_bad_stage_and_affinity_are_rejected():
    with pytest.raises(ValueError, match="0..4"):
        create_model("feature_denoise", 3, stages=[5], base_kwargs={"width": 4})
    with pytest.raises(ValueError, match="affinity"):
        NonLocalDenoise3d(4, "cosine")
