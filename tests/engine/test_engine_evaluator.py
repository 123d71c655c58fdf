"""The evaluator: result files and schema, threat models, universal attacks, resume of partial results,
and clear errors before any work."""

import json

import pytest
import torch

from videoabnn.config import ConfigError
from videoabnn.engine import CheckpointError, EvaluationError, evaluate, train
from videoabnn.engine import evaluator as ev
from videoabnn.engine.metrics import clip_accuracy
from videoabnn.results import SCHEMA_VERSION, Results


@pytest.fixture
def trained(tiny_cfg, toy_sets):
    cfg = tiny_cfg("standard", **{"train.epochs": 2})
    return cfg, train(cfg, train_set=toy_sets[0], val_set=toy_sets[1]) / "last.pt"


def test_results_schema_files_and_numbers(trained, toy_sets, tmp_path):
    cfg, ckpt = trained
    out = tmp_path / "eval"
    attacks = ["fgsm", {"id": "pgd_margin", "name": "pgd", "eps": 8 / 255, "steps": 2, "loss": "margin"}]
    res = evaluate(cfg, ckpt, attacks=attacks, out_dir=out, test_set=toy_sets[1])
    assert {"run", "clean", "attacks", "summary", "audit", "config", "environment", "seed"} <= set(res)
    assert res["schema_version"] == SCHEMA_VERSION and res["data_subset"]["kind"] == "all"
    Results.from_dict(json.loads((out / "results.json").read_text()), "results.json")  # the file validates
    assert res["complete"] and res["seed"] == 3 and res["run"]["method"] == "standard" and res["run"]["epochs"] == 2
    assert set(res["attacks"]) == {"fgsm", "pgd_margin"}
    a = res["attacks"]["pgd_margin"]
    assert a["threat"] == "white" and a["params"]["loss"] == "margin"
    assert 0 < a["mean_linf"] <= 8 / 255 + 1e-6 and a["mean_l2"] > 0 and a["seconds"] >= 0
    assert a["clip_acc"] <= res["clean"]["clip_acc"]
    assert set(res["clean"]["per_class"]) <= {"red", "green", "blue"}
    accs = [v["clip_acc"] for v in res["attacks"].values()]
    assert res["summary"]["acc_adv"] == pytest.approx(sum(accs) / 2)
    assert res["summary"]["acc_all"] == pytest.approx((res["clean"]["clip_acc"] + sum(accs)) / 3)
    assert res["summary"]["worst_case"]["white"] <= min(accs)
    # the clean number matches a direct forward pass of the checkpoint
    from videoabnn.models import load_model

    model = load_model(ckpt)
    with torch.no_grad():
        direct = clip_accuracy(model(toy_sets[1].clips), toy_sets[1].labels)
    assert res["clean"]["clip_acc"] == pytest.approx(direct)
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk["summary"]["acc_adv"] == pytest.approx(res["summary"]["acc_adv"])
    md = (out / "results.md").read_text()
    assert "| pgd_margin | white |" in md and "Worst case" in md
    assert (out / "config.yaml").is_file()


def test_interrupted_evaluation_continues_where_it_stopped(trained, toy_sets, tmp_path, monkeypatch):
    cfg, ckpt = trained
    out = tmp_path / "eval"
    calls = []
    original = ev._run_attack

    def flaky(evaluation, run, job):
        calls.append(job.spec["id"])
        if job.spec["id"] == "pgd" and len(calls) == 2:
            raise KeyboardInterrupt
        return original(evaluation, run, job)

    monkeypatch.setattr(ev, "_run_attack", flaky)
    with pytest.raises(KeyboardInterrupt):
        evaluate(cfg, ckpt, attacks=["fgsm", "pgd"], out_dir=out, test_set=toy_sets[1])
    partial = json.loads((out / "results.json").read_text())
    assert not partial["complete"] and set(partial["attacks"]) == {"fgsm"}
    assert "partial results" in (out / "results.md").read_text()
    res = evaluate(cfg, ckpt, attacks=["fgsm", "pgd"], out_dir=out, test_set=toy_sets[1])
    assert calls == ["fgsm", "pgd", "pgd"]  # fgsm was not rerun
    assert res["complete"] and set(res["attacks"]) == {"fgsm", "pgd"}


def test_changed_attack_parameters_are_recomputed_and_written_beside(trained, toy_sets, tmp_path, tiny_cfg):
    cfg, ckpt = trained
    weak = evaluate(cfg, ckpt, attacks=["fgsm"], eval_root=tmp_path / "eval", test_set=toy_sets[1])
    strong_cfg = tiny_cfg("standard", **{"eval.attack_args": {"fgsm": {"eps": 64 / 255}}})
    strong = evaluate(strong_cfg, ckpt, attacks=["fgsm"], eval_root=tmp_path / "eval", test_set=toy_sets[1])
    assert strong["attacks"]["fgsm"]["mean_linf"] == pytest.approx(64 / 255, abs=1e-4)
    assert weak["attacks"]["fgsm"]["mean_linf"] == pytest.approx(4 / 255, abs=1e-4)
    files = sorted((tmp_path / "eval").glob("last-*/*/results.json"))
    assert len(files) == 2  # two settings, two results files side by side
    # an explicit out_dir holding other settings' results is refused, not overwritten
    evaluate(cfg, ckpt, attacks=["fgsm"], out_dir=tmp_path / "fixed", test_set=toy_sets[1])
    with pytest.raises(EvaluationError, match="already holds results of other settings"):
        evaluate(strong_cfg, ckpt, attacks=["fgsm"], out_dir=tmp_path / "fixed", test_set=toy_sets[1])


def test_gray_and_transfer_threat_models_for_abnn(tiny_cfg, toy_sets, tmp_path):
    cfg = tiny_cfg("abnn", **{"train.epochs": 1, "train.lr": 0.01})
    ckpt = train(cfg, train_set=toy_sets[0], val_set=toy_sets[1]) / "last.pt"
    std = tiny_cfg("standard", work_dir=str(tmp_path / "surrogate"), **{"train.epochs": 1})
    surrogate = train(std, train_set=toy_sets[0], val_set=toy_sets[1]) / "last.pt"
    cfg = tiny_cfg("abnn", **{"eval.transfer_from": str(surrogate)})
    res = evaluate(cfg, ckpt, attacks=["fgsm"], threat_models=["white", "gray", "transfer"],
                   out_dir=tmp_path / "e", test_set=toy_sets[1])
    assert set(res["attacks"]) == {"fgsm", "fgsm@gray", "fgsm@transfer"}
    assert {v["threat"] for v in res["attacks"].values()} == {"white", "gray", "transfer"}
    assert set(res["summary"]["worst_case"]) == {"white", "gray", "transfer"}
    assert res["summary"]["threat"] == "white"


def test_gray_box_needs_abnn(trained, toy_sets, tmp_path):
    cfg, ckpt = trained
    with pytest.raises(EvaluationError, match="gray_box"):
        evaluate(cfg, ckpt, attacks=["fgsm"], threat_models=["gray"], out_dir=tmp_path, test_set=toy_sets[1])


def test_universal_attack_is_fitted_on_training_data(trained, toy_sets, tmp_path):
    cfg, ckpt = trained
    spec = {"id": "uap", "name": "universal_patch", "size": 0.3, "epochs": 1}
    res = evaluate(cfg, ckpt, attacks=[spec], out_dir=tmp_path / "u", test_set=toy_sets[1], train_set=toy_sets[0])
    assert len(list((tmp_path / "u" / "cache" / "universal").glob("uap-*.pt"))) == 1
    assert res["attacks"]["uap"]["mean_linf"] > 0


def test_test_time_bn_evaluation(trained, toy_sets, tmp_path, tiny_cfg):
    _, ckpt = trained
    cfg = tiny_cfg("standard", **{"eval.test_time_bn": True})
    res = evaluate(cfg, ckpt, attacks="none", out_dir=tmp_path / "t", test_set=toy_sets[1])
    assert res["attacks"] == {} and 0 <= res["clean"]["clip_acc"] <= 1


def test_bad_inputs_fail_before_work(trained, toy_sets, tmp_path, tiny_cfg):
    cfg, ckpt = trained
    with pytest.raises(EvaluationError, match="unknown attack 'pgdd'.*known attacks"):
        evaluate(cfg, ckpt, attacks=["pgdd"], out_dir=tmp_path, test_set=toy_sets[1])
    with pytest.raises(CheckpointError, match="checkpoint not found: .*nope.pt"):
        evaluate(cfg, tmp_path / "nope.pt", attacks=["fgsm"], out_dir=tmp_path, test_set=toy_sets[1])
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="unreadable"):
        evaluate(cfg, bad, attacks=["fgsm"], out_dir=tmp_path, test_set=toy_sets[1])
    with pytest.raises(CheckpointError, match="holds a 'tiny_r3d' model but the config builds 'feature_denoise'"):
        evaluate(tiny_cfg("feature_denoise"), ckpt, attacks=["fgsm"], out_dir=tmp_path, test_set=toy_sets[1])
    with pytest.raises(ConfigError, match="data.num_classes: expected the data set's class count, 3, got 5; set "
                                          "data.num_classes=3"):
        evaluate(tiny_cfg("standard", **{"data.num_classes": 5}), ckpt, attacks=["fgsm"], out_dir=tmp_path,
                 test_set=toy_sets[1])
    with pytest.raises(EvaluationError, match="unknown threat model 'grey'"):
        evaluate(cfg, ckpt, threat_models=["grey"], out_dir=tmp_path, test_set=toy_sets[1])
    with pytest.raises(EvaluationError, match="transfer_from"):
        evaluate(cfg, ckpt, threat_models=["transfer"], out_dir=tmp_path, test_set=toy_sets[1])
    with pytest.raises(EvaluationError, match="attack_args names attacks that are not run"):
        evaluate(tiny_cfg("standard", **{"eval.attack_args": {"roa": {"size": 0.5}}}), ckpt, attacks=["fgsm"],
                 out_dir=tmp_path, test_set=toy_sets[1])


def test_attack_after_another_attacks_only_the_clips_it_left_correct(trained, toy_sets, tmp_path, monkeypatch):
    cfg, ckpt = trained
    weak = {"id": "weak", "name": "fgsm", "eps": 1 / 255}
    strong = {"id": "then_pgd", "name": "pgd", "eps": 16 / 255, "alpha": 4 / 255, "steps": 3, "after": "weak"}
    sizes = []
    original = ev._attack_after

    def spy(attack, model, x, y, earlier):
        out = original(attack, model, x, y, earlier)
        sizes.append(int((earlier["logits"].argmax(1) == y).sum()))
        return out

    monkeypatch.setattr(ev, "_attack_after", spy)
    res = evaluate(cfg, ckpt, attacks=[weak, strong], out_dir=tmp_path / "eval", test_set=toy_sets[1])
    rows = res["attacks"]
    assert rows["then_pgd"]["details"]["after"] == "weak"
    assert rows["then_pgd"]["clip_acc"] <= rows["weak"]["clip_acc"]  # per-clip worst case of both
    assert sum(sizes) == round(rows["weak"]["clip_acc"] * res["num_clips"])  # only the survivors were attacked


def test_attack_after_must_name_an_earlier_attack(trained, toy_sets, tmp_path):
    cfg, ckpt = trained
    with pytest.raises(EvaluationError, match=r"then: after: expected the id of an earlier attack \(fgsm\), got 'pgd'"):
        evaluate(cfg, ckpt, attacks=["fgsm", {"id": "then", "name": "pgd", "after": "pgd"}],
                 out_dir=tmp_path / "eval", test_set=toy_sets[1])


def test_transfer_clips_crafted_once_per_process_give_the_same_rows(tiny_cfg, toy_sets, tmp_path, monkeypatch):
    """Two targets against one surrogate: the second evaluation reuses the surrogate's adversarial clips from
    the in-process cache, and its transfer rows equal those of an evaluation that crafts them itself."""
    from videoabnn.engine.transfer_cache import TRANSFER_CLIPS

    std = tiny_cfg("standard", work_dir=str(tmp_path / "surrogate"), **{"train.epochs": 1})
    surrogate = train(std, train_set=toy_sets[0], val_set=toy_sets[1]) / "last.pt"
    targets = []
    for i, method in enumerate(("standard", "abnn")):
        cfg = tiny_cfg(method, work_dir=str(tmp_path / f"t{i}"), **{"train.epochs": 1})
        targets.append(train(cfg, train_set=toy_sets[0], val_set=toy_sets[1]) / "last.pt")
    attacks = ["fgsm", {"id": "pgd", "name": "pgd", "eps": 8 / 255, "alpha": 2 / 255, "steps": 2}]

    def run(i, out):
        cfg = tiny_cfg(("standard", "abnn")[i], **{"eval.transfer_from": str(surrogate)})
        return evaluate(cfg, targets[i], attacks=attacks, threat_models=["transfer"], out_dir=out,
                        test_set=toy_sets[1])

    TRANSFER_CLIPS.clear()
    run(0, tmp_path / "e0")
    assert len(TRANSFER_CLIPS) > 0 and TRANSFER_CLIPS.hits == 0
    cached = run(1, tmp_path / "e1")
    assert TRANSFER_CLIPS.hits == len(TRANSFER_CLIPS)  # every batch of both attacks came from the cache
    monkeypatch.setenv("VIDEOABNN_TRANSFER_CACHE_MB", "0")
    TRANSFER_CLIPS.clear()
    fresh = run(1, tmp_path / "e2")
    assert len(TRANSFER_CLIPS) == 0
    for key in ("fgsm@transfer", "pgd@transfer"):
        for field in ("clip_acc", "mean_linf", "mean_l2"):
            assert cached["attacks"][key][field] == fresh["attacks"][key][field]
