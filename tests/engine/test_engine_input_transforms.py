"""A model behind a non-differentiable input transform (per-frame JPEG): the naive white-box numbers look robust, the
adaptive ones (BPDA) do not, and the gradient-masking audit flags the naive view but not the adaptive one."""

import pytest

from videoabnn.engine import evaluate, train


@pytest.fixture
def trained(tiny_cfg, toy_sets):
    cfg = tiny_cfg("standard", **{"train.epochs": 15})  # enough steps for BatchNorm's running statistics
    return train(cfg, train_set=toy_sets[0], val_set=toy_sets[1]) / "last.pt"


def test_naive_evaluation_looks_robust_adaptive_does_not_and_the_audit_says_why(trained, tiny_cfg, toy_sets, tmp_path):
    cfg = tiny_cfg("standard", **{"eval.input_transform": {"name": "jpeg", "quality": 75}, "eval.audit": True,
                                  "eval.audit_batches": 1})
    pgd = {"id": "pgd", "name": "pgd", "eps": 48 / 255, "alpha": 8 / 255, "steps": 10}
    res = evaluate(cfg, trained, attacks=[pgd], out_dir=tmp_path / "eval", test_set=toy_sets[1])
    clean, adaptive, naive = res["clean"]["clip_acc"], res["attacks"]["pgd"], res["attacks"]["pgd@naive"]
    assert adaptive["threat"] == "white" and naive["threat"] == "naive"
    assert adaptive["details"]["bpda"] == "identity" and adaptive["details"]["eot"] == 1
    assert clean >= 0.9 and naive["clip_acc"] == pytest.approx(clean)  # a zero gradient moves nothing
    assert naive["clip_acc"] >= adaptive["clip_acc"] + 0.3  # clearly higher than with BPDA
    checks = {c["name"]: c for c in res["audit_naive"]["checks"]}
    assert not res["audit_naive"]["passed"] and checks["no_zero_gradients"]["passed"] is False
    assert "BPDA" in checks["no_zero_gradients"]["reason"]
    adaptive_checks = {c["name"]: c["passed"] for c in res["audit"]["checks"]}
    assert adaptive_checks["no_zero_gradients"] and adaptive_checks["whitebox_beats_blackbox"]


def test_a_spec_that_names_bpda_keeps_its_naive_row_naive(trained, tiny_cfg, toy_sets, tmp_path):
    """A spec's own bpda applies to the white-box row only: the naive row stays autograd through JPEG."""
    cfg = tiny_cfg("standard", **{"eval.input_transform": {"name": "jpeg", "quality": 75}, "eval.audit": False})
    pgd = {"id": "pgd", "name": "pgd", "eps": 48 / 255, "alpha": 8 / 255, "steps": 10, "bpda": "identity"}
    res = evaluate(cfg, trained, attacks=[pgd], out_dir=tmp_path / "eval", test_set=toy_sets[1])
    naive, adaptive = res["attacks"]["pgd@naive"], res["attacks"]["pgd"]
    assert "bpda" not in naive["params"] and adaptive["params"]["bpda"] == "identity"
    assert naive["clip_acc"] == pytest.approx(res["clean"]["clip_acc"])  # zero gradient: nothing moves
    assert naive["clip_acc"] >= adaptive["clip_acc"] + 0.3


def test_a_model_trained_behind_a_transform_is_evaluated_with_its_own_config(tiny_cfg, toy_sets, tmp_path):
    """model.input_transform: the checkpoint holds the transformed model; the run's config evaluates it as it is."""
    cfg = tiny_cfg("standard", **{"model.input_transform": {"name": "bit_depth", "bits": 4}, "train.epochs": 1})
    checkpoint = train(cfg, train_set=toy_sets[0], val_set=toy_sets[1]) / "last.pt"
    res = evaluate(cfg, checkpoint, attacks=["fgsm"], out_dir=tmp_path / "eval", test_set=toy_sets[1])
    assert 0 <= res["clean"]["clip_acc"] <= 1 and "fgsm" in res["attacks"]
    other = tiny_cfg("standard", **{"model.input_transform": {"name": "bit_depth", "bits": 4},
                                    "model.kwargs": {"width": 8}})
    with pytest.raises(Exception, match="architecture arguments"):   # the inner model is still checked
        evaluate(other, checkpoint, attacks=["fgsm"], out_dir=tmp_path / "eval2", test_set=toy_sets[1])


def test_a_transformed_model_evaluates_again_into_its_own_folder(tiny_cfg, toy_sets, tmp_path):
    """The naive rows added for a model behind a transform do not change the settings its folder is named by:
    a rerun into the same out_dir is the same evaluation (it used to be refused as "other settings")."""
    cfg = tiny_cfg("standard", **{"train.epochs": 1})
    checkpoint = train(cfg, train_set=toy_sets[0], val_set=toy_sets[1]) / "last.pt"
    cfg = tiny_cfg("standard", **{"eval.input_transform": {"name": "bit_depth", "bits": 4}})
    threats = ["white"]
    first = evaluate(cfg, checkpoint, attacks=["fgsm"], threat_models=threats, out_dir=tmp_path / "e",
                     test_set=toy_sets[1])
    again = evaluate(cfg, checkpoint, attacks=["fgsm"], threat_models=threats, out_dir=tmp_path / "e",
                     test_set=toy_sets[1])
    assert threats == ["white"]  # the caller's list is not changed
    assert set(again["attacks"]) == {"fgsm", "fgsm@naive"}
    assert again["provenance"]["settings_digest"] == first["provenance"]["settings_digest"]
