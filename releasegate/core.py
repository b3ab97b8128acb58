"""Primitives every stage may import: the input error, the refusal, paths, atomic writes, canonical JSON,
bounded strict readers, and `printable` for free text shown on a terminal."""
from ._errors import InputError, Reason, Refused
from ._io import (
    CANONICAL_JSON_SCHEME,
    MAX_CONTRACT_BYTES,
    MAX_DEPTH,
    MAX_DOCUMENT_BYTES,
    atomic_write_bytes,
    atomic_write_text,
    canonical_json,
    canonical_sha256,
    decode_utf8,
    load_json_bounded,
    load_yaml_strict,
    read_bytes_bounded,
    read_text_bounded,
)
from ._paths import datasets_dir, keys_dir, project_root, state_dir
from ._text import printable

__all__ = [
    "CANONICAL_JSON_SCHEME",
    "InputError",
    "MAX_CONTRACT_BYTES",
    "MAX_DEPTH",
    "MAX_DOCUMENT_BYTES",
    "atomic_write_bytes",
    "atomic_write_text",
    "canonical_json",
    "canonical_sha256",
    "datasets_dir",
    "decode_utf8",
    "keys_dir",
    "load_json_bounded",
    "load_yaml_strict",
    "printable",
    "project_root",
    "read_bytes_bounded",
    "read_text_bounded",
    "Reason",
    "Refused",
    "state_dir",
]
