"""The one atomic writer: a file is either the old version or the complete new one, never half-written.

Every writer here goes through :func:`atomic_write`: write a temporary file in the target's folder,
flush it to disk, give it the permissions a plain ``open(path, "w")`` would (``0o666`` minus the
process umask: ``mkstemp`` alone would leave ``0o600``), then rename it over the target.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

Writer = Callable[[str], None]  # writes the complete content to the temporary path it is given


def _umask() -> int:
    """The process umask (read without changing it for longer than one call)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, write: Writer | bytes) -> Path:
    """Write ``path`` atomically: ``write(tmp_path)`` (or the given bytes) then rename; honours the umask."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        if isinstance(write, (bytes, bytearray)):
            with open(tmp, "wb") as f:
                f.write(write)
        else:
            write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write raw bytes to ``path`` atomically."""
    return atomic_write(path, bytes(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 text to ``path`` atomically."""
    return atomic_write(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, data: Any) -> Path:
    """Write JSON (indented, NaN-safe as null) to ``path`` atomically."""
    return atomic_write_text(path, json.dumps(json_safe(data), indent=2) + "\n")


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` to ``path`` atomically."""
    import torch

    return atomic_write(path, lambda tmp: torch.save(obj, tmp))


def atomic_save_image(image: Any, path: str | os.PathLike, format: str | None = None, **options: Any) -> Path:
    """Save a Pillow image (or a matplotlib figure) atomically; the format defaults to the file suffix."""
    fmt = format or Path(path).suffix.lstrip(".").upper().replace("JPG", "JPEG")
    if hasattr(image, "savefig"):
        return atomic_write(path, lambda tmp: image.savefig(tmp, format=fmt.lower(), **options))
    return atomic_write(path, lambda tmp: image.save(tmp, format=fmt, **options))


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file, naming the file on error."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON: {err}") from err


def json_safe(value: Any) -> Any:
    """Convert tensors/numpy scalars/paths to plain JSON; NaN and inf become None."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):
        return json_safe(value.tolist())
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    return value
