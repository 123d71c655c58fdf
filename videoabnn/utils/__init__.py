"""Small shared helpers: atomic file writes, seeding, environment/version records."""

from videoabnn.utils.io import atomic_torch_save, atomic_write_json, atomic_write_text, read_json
from videoabnn.utils.seed import seed_everything
from videoabnn.utils.versions import environment_info

__all__ = [
    "atomic_torch_save",
    "atomic_write_json",
    "atomic_write_text",
    "environment_info",
    "read_json",
    "seed_everything",
]
