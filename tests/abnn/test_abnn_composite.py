"""The ABNN composite: batch independence, gradients, frozen substitute, mismatched pairs, checkpoints."""

import pytest
import torch

from videoabnn.abnn import ABNN
from videoabnn.models import create_model, load_model, save_model

X = (3, 3, 4, 32, 32)


def _abnn(mode="modulate", **kw):
    kw.setdefault("substitute_kwargs", {"width": 8})
    kw.setdefault("target_kwargs", {"width": 8})
    return create_model("abnn", num_classes=4, mode=mode, **kw)


def _perturb_adaptive(model):
    with torch.no_grad():
        for p in model.adaptive.parameters():
            p.add_(torch.randn_like(p) * 0.05)


@pytest.mark.parametrize("mode", ["modulate", "replace", "prototype"])
def test_batch_independence_in_eval(mode):
    model = _abnn(mode)
    _perturb_adaptive(model)
    model.train()
    model(torch.rand(*X))  # move BN running statistics away from their init
    model.eval()
    x = torch.rand(*X)
    batched = model(x)
    for i in range(X[0]):
        assert torch.allclose(model(x[i:i + 1]), batched[i:i + 1], rtol=1e-4, atol=1e-4)


def test_white_box_gradients_flow_through_substitute_and_target():
    model = _abnn()
    _perturb_adaptive(model)
    model.eval()
    x = torch.rand(*X, requires_grad=True)
    model(x).sum().backward()
    assert x.grad.abs().sum() > 0
    # the substitute path alone (target input detached) carries gradient to the input
    x2 = x.detach().clone().requires_grad_(True)
    model.forward_with_statistics(x2.detach(), model.substitute_statistics(x2)).sum().backward()
    assert x2.grad.abs().sum() > 0
    # gray box: the statistics are constants, so its gradient is the target-only gradient
    x3 = x.detach().clone().requires_grad_(True)
    model.gray_box()(x3).sum().backward()
    x4 = x.detach().clone().requires_grad_(True)
    stats = [tuple(None if t is None else t.detach() for t in s) for s in model.substitute_statistics(x4)]
    model.forward_with_statistics(x4, stats).sum().backward()
    assert torch.allclose(x3.grad, x4.grad, atol=1e-6)
    assert not torch.allclose(x3.grad, x.grad, atol=1e-6)
    assert all(p.grad is None for p in model.substitute.parameters())


def test_gray_box_shares_weights_and_outputs():
    model = _abnn().eval()
    gray = model.gray_box()
    assert gray.abnn is model
    x = torch.rand(*X)
    assert torch.equal(gray(x), model(x))


def test_substitute_frozen_through_training_steps():
    model = _abnn("modulate")
    sub_before = {k: v.clone() for k, v in model.substitute.state_dict().items()}
    tgt_before = {k: v.clone() for k, v in model.target.state_dict().items()}
    model.requires_grad_(True)  # must not unfreeze the substitute
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    model.train()
    for _ in range(3):
        x, y = torch.rand(*X), torch.randint(0, 4, (X[0],))
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert not model.substitute.training and model.target.training
    assert all(not p.requires_grad for p in model.substitute.parameters())
    sub_after = model.substitute.state_dict()
    assert all(torch.equal(sub_before[k], sub_after[k]) for k in sub_before)  # weights AND BN buffers
    tgt_after = model.target.state_dict()
    assert any(not torch.equal(tgt_before[k], tgt_after[k]) for k in tgt_before)
    assert model.adaptive[2].affine.weight.abs().sum() > 0


def test_mismatched_width_depth_and_strides():
    model = create_model("abnn", num_classes=5, substitute="tiny_r3d", substitute_kwargs={"width": 4},
                         target="resnet3d_10", target_kwargs={"width": 8, "shortcut": "B"}).train()
    assert model.substitute.stage_channels == [4, 4, 8, 16, 32]
    assert model.target.stage_channels == [8, 8, 16, 32, 64]
    x = torch.rand(2, 3, 8, 32, 32, requires_grad=True)
    (model(x) ** 2).sum().backward()  # squared: a plain sum after train-mode BN has zero gradient
    assert x.grad.abs().sum() > 0
    expected = sum(2 * cs * 2 * ct + 2 * ct for cs, ct in zip([4, 4, 8, 16, 32], [8, 8, 16, 32, 64]))
    assert model.adaptive_parameter_count() == expected


def test_rejects_non_registry_models():
    with pytest.raises(TypeError, match="VideoClassifier"):
        ABNN(torch.nn.Linear(2, 2), create_model("tiny_r3d", num_classes=2, width=4))


def test_checkpoint_restores_both_parts(tmp_path):
    sub = create_model("tiny_r3d", num_classes=9, width=4, depth=2).eval()
    sub_path = save_model(sub, tmp_path / "sub.pt")
    model = create_model("abnn", num_classes=4, substitute="tiny_r3d", substitute_checkpoint=str(sub_path),
                         target_kwargs={"width": 8}, mode="replace")
    x = torch.rand(2, 3, 4, 32, 32)
    assert torch.equal(model.substitute(x), sub(x))
    _perturb_adaptive(model)
    model.eval()
    path = save_model(model, tmp_path / "abnn.pt", epoch=1)
    sub_path.unlink()  # reloading must not need the substitute file
    loaded = load_model(path)
    assert isinstance(loaded, ABNN) and loaded.mode == "replace"
    assert loaded.substitute.stage_channels == [4, 4, 8, 16, 32]
    assert torch.equal(loaded(x), model(x))
    assert not loaded.substitute.training and not any(p.requires_grad for p in loaded.substitute.parameters())
    kwargs = torch.load(path, weights_only=True)["kwargs"]
    assert "substitute_checkpoint" not in kwargs and kwargs["substitute_kwargs"] == {"width": 4, "depth": 2}


def test_random_substitute_note_only_when_no_weights_follow(tmp_path, caplog):
    """Building without a substitute checkpoint says so; rebuilding a saved ABNN (its substitute's weights
    are in the file) must not print that false note."""
    note = "randomly initialised"
    with caplog.at_level("INFO", logger="videoabnn.abnn.composite"):
        model = create_model("abnn", num_classes=3, substitute="tiny_r3d", substitute_kwargs={"width": 4},
                             target_kwargs={"width": 4})
    assert note in caplog.text
    path = save_model(model.eval(), tmp_path / "abnn.pt")
    caplog.clear()
    with caplog.at_level("INFO", logger="videoabnn.abnn.composite"):
        loaded = load_model(path)
    assert note not in caplog.text
    x = torch.rand(1, 3, 4, 32, 32)
    assert torch.equal(loaded(x), model(x))


def test_substitute_from_third_party_weights(tmp_path):
    from torchvision.models.video import r3d_18

    native = r3d_18(weights=None).eval()
    torch.save(native.state_dict(), tmp_path / "r3d.pth")
    model = create_model("abnn", num_classes=4, substitute="r3d_18", substitute_checkpoint=str(tmp_path / "r3d.pth"),
                         target_kwargs={"width": 8})
    assert torch.equal(model.substitute.backbone.stem[0].weight, native.stem[0].weight)
    assert model.substitute.num_classes == 4  # the unused substitute head was reset quietly
