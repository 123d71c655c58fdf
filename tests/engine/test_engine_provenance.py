"""Results are keyed by what produced them: nothing is lost, mixed or reused stale (issue 10)."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from videoabnn.engine import evaluate, train
from videoabnn.engine import evaluator as ev
from videoabnn.results import Results
from videoabnn.utils.io import atomic_write_json, atomic_write_text
from videoabnn.utils.lock import RunLock, RunLockedError


@pytest.fixture
def two_checkpoints(tiny_cfg, toy_sets, tmp_path):
    cfg = tiny_cfg("standard", **{"train.epochs": 1})
    run = train(cfg, train_set=toy_sets[0], val_set=toy_sets[1])
    other = tiny_cfg("standard", work_dir=str(tmp_path / "other"), seed=5, **{"train.epochs": 1})
    return cfg, run / "last.pt", train(other, train_set=toy_sets[0], val_set=toy_sets[1]) / "last.pt"


@pytest.fixture
def spy(monkeypatch):
    """Records (result key) of every attack that is really run, and every clean prediction."""
    calls = []
    run_attack, predict = ev._run_attack, ev.predict

    def attack(evaluation, run, job):
        calls.append(job.name)
        return run_attack(evaluation, run, job)

    def clean(*args, **kwargs):
        calls.append("clean")
        return predict(*args, **kwargs)

    monkeypatch.setattr(ev, "_run_attack", attack)
    monkeypatch.setattr(ev, "predict", clean)
    return calls


def test_second_checkpoint_never_touches_the_first_ones_results(two_checkpoints, toy_sets, tmp_path):
    cfg, a, b = two_checkpoints
    root = tmp_path / "eval"
    evaluate(cfg, a, attacks=["fgsm"], eval_root=root, test_set=toy_sets[1])
    (first,) = root.glob("*/*/results.json")
    before = first.read_bytes()
    shutil.copy(b, tmp_path / "last.pt")  # same file name, other content
    evaluate(cfg, tmp_path / "last.pt", attacks=["fgsm"], eval_root=root, test_set=toy_sets[1])
    assert first.read_bytes() == before
    folders = sorted(p.name for p in root.iterdir())
    assert len(folders) == 2 and all(f.startswith("last-") for f in folders)


def test_each_changed_input_invalidates_exactly_its_items(two_checkpoints, toy_sets, tmp_path, tiny_cfg, spy):
    cfg, ckpt, other = two_checkpoints
    root = tmp_path / "eval"
    attacks = ["fgsm", {"id": "pgd", "name": "pgd", "steps": 1}, {"id": "pgd2", "name": "pgd", "steps": 2}]
    transfer = tiny_cfg("standard", **{"eval.transfer_from": str(other)})
    run = lambda c, a=attacks, **kw: evaluate(c, ckpt, attacks=a, eval_root=root, test_set=toy_sets[1], **kw)  # noqa: E731
    run(transfer, threat_models=["white", "transfer"])
    assert spy == ["clean", "fgsm", "pgd", "pgd2", "fgsm@transfer", "pgd@transfer", "pgd2@transfer"]
    spy.clear()
    run(transfer, threat_models=["white", "transfer"])
    assert spy == []  # everything reused
    # another surrogate: only the transfer rows
    third = tmp_path / "third.pt"
    shutil.copy(ckpt, third)
    run(tiny_cfg("standard", **{"eval.transfer_from": str(third)}), threat_models=["white", "transfer"])
    assert spy == ["fgsm@transfer", "pgd@transfer", "pgd2@transfer"]
    spy.clear()
    # attack order: seeds are seed + position, so the moved attacks (and only they) are recomputed
    run(transfer, a=[attacks[0], attacks[2], attacks[1]], threat_models=["white"])
    assert spy == ["pgd2", "pgd"]
    spy.clear()
    # another run seed: every attack, not the clean logits
    run(tiny_cfg("standard", seed=9), threat_models=["white"])
    assert spy == ["fgsm", "pgd", "pgd2"]
    spy.clear()
    # another data subset: everything
    run(tiny_cfg("standard", **{"eval.max_batches": 1}), threat_models=["white"])
    assert spy == ["clean", "fgsm", "pgd", "pgd2"]


def test_universal_patch_is_never_reused_for_another_checkpoint(two_checkpoints, toy_sets, tmp_path, monkeypatch):
    from videoabnn.attacks import UniversalPatch

    cfg, a, b = two_checkpoints
    fits = []
    original = UniversalPatch.fit
    monkeypatch.setattr(UniversalPatch, "fit", lambda self, loader: fits.append(1) or original(self, loader))
    spec = {"id": "uap", "name": "universal_patch", "size": 0.3, "epochs": 1}
    for ckpt in (a, b, a):
        evaluate(cfg, ckpt, attacks=[spec], eval_root=tmp_path / "eval", test_set=toy_sets[1], train_set=toy_sets[0])
    assert len(fits) == 2  # a, b fitted; a's patch reused the third time
    patches = sorted(p.parent.parent.parent.name for p in (tmp_path / "eval").glob("*/cache/universal/uap-*.pt"))
    assert len(patches) == 2 and patches[0] != patches[1]


def test_results_record_the_stratified_subset(two_checkpoints, toy_sets, tmp_path, tiny_cfg):
    _, ckpt, _ = two_checkpoints
    res = evaluate(tiny_cfg("standard", **{"eval.max_batches": 1}), ckpt, attacks=["fgsm"],
                   eval_root=tmp_path / "e", test_set=toy_sets[1])
    subset = res["data_subset"]
    assert subset["kind"] == "stratified" and subset["count"] == res["num_clips"] == 8
    labels = {int(toy_sets[1].labels[i]) for i in subset["ids"]}
    assert labels == {0, 1, 2}  # every class, not the first batch of a sorted list
    Results.from_dict(res)


def test_checkpoint_with_other_architecture_arguments_is_refused(two_checkpoints, toy_sets, tmp_path, tiny_cfg):
    from videoabnn.engine import CheckpointError

    _, ckpt, _ = two_checkpoints
    wider = tiny_cfg("standard", **{"model.kwargs": {"width": 8}})
    with pytest.raises(CheckpointError, match="width: config 8, checkpoint 4"):
        evaluate(wider, ckpt, attacks=["fgsm"], eval_root=tmp_path, test_set=toy_sets[1])


def test_run_lock_refuses_a_second_writer_and_takes_over_a_stale_one(tmp_path):
    with RunLock(tmp_path / "run"):
        with pytest.raises(RunLockedError, match=f"in use by process {os.getpid()}"):
            RunLock(tmp_path / "run").acquire()
    assert not (tmp_path / "run" / ".lock").exists()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    import socket

    (tmp_path / "run" / ".lock").write_text(json.dumps({"pid": int(dead.stdout), "host": socket.gethostname()}))
    with RunLock(tmp_path / "run") as lock:
        assert lock.held


def test_training_refuses_a_locked_run_directory(tiny_cfg, toy_sets):
    from videoabnn.engine import TrainingError

    cfg = tiny_cfg("standard", **{"train.epochs": 1})
    with RunLock(cfg["work_dir"]):
        with pytest.raises((RunLockedError, TrainingError), match="in use by process"):
            train(cfg, train_set=toy_sets[0], val_set=toy_sets[1])


@pytest.mark.parametrize("mask", [0o022, 0o027])
def test_atomic_writes_honour_the_umask(tmp_path, mask):
    old = os.umask(mask)
    try:
        text = atomic_write_text(tmp_path / "a.txt", "x")
        data = atomic_write_json(tmp_path / "b.json", {"a": 1})
    finally:
        os.umask(old)
    for path in (text, data):
        assert path.stat().st_mode & 0o777 == 0o666 & ~mask


def test_changed_components_name_the_dotted_key_that_changed():
    from videoabnn.utils.provenance import changed_components

    old = {"config": {"train": {"lr": 0.006, "epochs": 12}, "data": {"root": "a"}}, "seed": 0}
    new = {"config": {"train": {"lr": 0.003, "epochs": 12}, "data": {"root": "a"}}, "seed": 0, "layout": 2}
    assert changed_components(old, new) == ["config.train.lr (0.006 -> 0.003)", "layout (<absent> -> 2)"]
    many = {"k": {str(i): i for i in range(10)}}
    out = changed_components(many, {"k": {str(i): -i for i in range(10)}})
    assert len(out) == 7 and out[-1] == "and 3 more"  # 1..9 changed (0 == -0): six named, then a count
