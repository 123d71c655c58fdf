"""User errors have one base class (``videoabnn.errors.UserError``) that the command lines recognise: each
error class the tools once listed one by one derives from it and keeps its old base; a UserError raised
inside a tool is one ``error:`` line with exit status 2, any other error keeps its traceback."""

from __future__ import annotations

import importlib

import pytest

from videoabnn.cli import common, verify
from videoabnn.errors import FILE_ERRORS, UserError

# (module, class, the base ``except`` callers relied on): the classes cli/common.py listed before UserError
LISTED = [
    ("videoabnn.config", "ConfigError", ValueError),
    ("videoabnn.models.weights", "CheckpointError", ValueError),
    ("videoabnn.engine.attack_specs", "EvaluationError", ValueError),
    ("videoabnn.engine.trainer", "TrainingError", RuntimeError),
    ("videoabnn.data.dataset", "SplitFileError", ValueError),
    ("videoabnn.data.dataset", "UnreadableVideosError", ValueError),
    ("videoabnn.data.decode", "VideoDecodeError", RuntimeError),
    ("videoabnn.results", "ResultsError", ValueError),
    ("videoabnn.utils.lock", "RunLockedError", RuntimeError),
    ("videoabnn.abnn.adaptive_bn", "ClipSizeError", ValueError),
]


class _BadValue(UserError):
    """A user error only this test raises."""


@pytest.mark.parametrize(("module", "name", "base"), LISTED, ids=[n for _, n, _ in LISTED])
def test_every_listed_error_is_a_user_error_and_keeps_its_base(module: str, name: str, base: type) -> None:
    cls = getattr(importlib.import_module(module), name)
    assert issubclass(cls, UserError) and issubclass(cls, base)
    assert common.is_user_error(cls.__new__(cls))  # some need more than a message to build


def test_the_cli_recognises_user_errors_by_the_base_class_and_the_file_errors_only() -> None:
    assert common.user_errors() == (UserError, *FILE_ERRORS)
    assert common.is_user_error(FileNotFoundError("nope")) and common.is_user_error(_BadValue("x"))
    assert not common.is_user_error(ValueError("an internal error")) and not common.is_user_error(KeyError("k"))


def _raise(err: BaseException):
    def verify_root(*args, **kwargs):
        raise err
    return verify_root


def test_a_user_error_in_a_tool_is_one_error_line_with_exit_2(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setattr("videoabnn.data.verify.verify_root", _raise(_BadValue("data.root: /x: expected\na folder")))
    assert verify.main(["ucf101", str(tmp_path), "--no-probe"]) == common.USAGE_EXIT == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert [line for line in err.splitlines() if line.startswith("error:")] == ["error: data.root: /x: expected a folder"]


def test_an_internal_error_keeps_its_traceback_and_debug_shows_user_errors(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr("videoabnn.data.verify.verify_root", _raise(ValueError("a bug")))
    with pytest.raises(ValueError, match="a bug"):
        verify.main(["ucf101", str(tmp_path), "--no-probe"])
    monkeypatch.setattr("videoabnn.data.verify.verify_root", _raise(_BadValue("bad")))
    with pytest.raises(_BadValue):
        verify.main(["ucf101", str(tmp_path), "--no-probe", "--debug"])
