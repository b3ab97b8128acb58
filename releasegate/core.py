"""Primitives every stage may import: the input error, paths, atomic writes, canonical JSON."""
from ._errors import InputError
from ._io import (
    CANONICAL_JSON_SCHEME,
    atomic_write_bytes,
    atomic_write_text,
    canonical_json,
    canonical_sha256,
)
from ._paths import datasets_dir, keys_dir, project_root, state_dir

__all__ = [
    "CANONICAL_JSON_SCHEME",
    "InputError",
    "atomic_write_bytes",
    "atomic_write_text",
    "canonical_json",
    "canonical_sha256",
    "datasets_dir",
    "keys_dir",
    "project_root",
    "state_dir",
]
