"""One caller-side implementation of the audit (``engine.audit_run.run_audit``): the cache is read first, a
process that does not compute gets None, and the evaluation's rows are dropped when the clips do not match."""

from __future__ import annotations

import logging

import torch

from videoabnn.attacks.audit import EvaluationReuse
from videoabnn.audit_settings import AuditSettings
from videoabnn.engine.audit_run import AuditJob, JsonReports, rows_of, run_audit
from videoabnn.models import create_model
from videoabnn.utils.provenance import digest_of

from .conftest import ToyClips

CHEAP = AuditSettings(eps_list=(), steps=1, more_steps=1, restarts=1, square_queries=1, gradcheck_clips=1,
                      gradcheck_directions=1)


def _job(tmp_path, calls: list, **over) -> AuditJob:
    clips = ToyClips(6, seed=0, train=False)

    def load() -> list:
        calls.append("load")
        return [(clips.clips, clips.labels)]

    def models() -> tuple:
        calls.append("models")
        torch.manual_seed(0)
        return create_model("tiny_r3d", num_classes=3, width=4).eval(), None

    fields = dict(name="audit", ids=list(range(6)), load=load, models=models, settings=CHEAP, seed=0,
                  key={"what": 1}, cache=JsonReports(tmp_path))
    return AuditJob(**{**fields, **over})


def test_a_report_is_computed_once_then_read_from_its_file(tmp_path):
    calls: list = []
    first = run_audit(_job(tmp_path, calls))
    assert calls == ["load", "models"] and first["settings"]["clip_ids"] == list(range(6))
    assert [p.name for p in tmp_path.iterdir()] == [f"{digest_of({'what': 1}, 16)}.json"]
    assert run_audit(_job(tmp_path, calls)) == first and calls == ["load", "models"]  # neither loaded nor built


def test_without_a_folder_nothing_is_kept_and_a_helper_process_gets_none(tmp_path):
    calls: list = []
    assert run_audit(_job(tmp_path, calls, cache=JsonReports(None)), compute=False) is None and calls == []
    run_audit(_job(tmp_path, calls, cache=JsonReports(None)))
    assert calls == ["load", "models"] and not list(tmp_path.iterdir())


def test_rows_of_clips_not_in_the_evaluation_are_dropped(tmp_path, caplog):
    reuse = EvaluationReuse(white={4 / 255: torch.ones(6, dtype=torch.bool)}, attacks={"white 4/255": ["pgd"]})
    wrong = (torch.arange(6) + 1) % 3
    with caplog.at_level(logging.WARNING, logger="videoabnn"):
        report = run_audit(_job(tmp_path, [], reuse=reuse, reuse_labels=wrong))
    assert "not in the evaluation's order" in caplog.text and "reused" not in report["settings"]
    right = run_audit(_job(tmp_path / "b", [], reuse=reuse, reuse_labels=torch.arange(6) % 3))
    assert right["settings"]["reused"] == {"white 4/255": ["pgd"]}


def test_rows_of_the_evaluated_clips():
    assert rows_of([5, 7, 9], [9, 5]).tolist() == [2, 0] and rows_of([5, 7], [8]) is None
