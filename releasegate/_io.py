"""Atomic file writes and canonical JSON: one implementation each, used by every stage.

An atomic write goes to a hidden temporary file in the target's folder, is fsynced, then renamed
over the target, so a reader sees the old file or the new one and a crash leaves no partial file.
Canonical JSON is RFC 8785 (JSON Canonicalization Scheme), so any JCS implementation recomputes
the same bytes and therefore the same digests.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

import rfc8785

from ._errors import InputError

CANONICAL_JSON_SCHEME = "rfc8785"


def canonical_json(obj: Any) -> bytes:
    """RFC 8785 canonical bytes; NaN, infinities and non-JSON types are refused."""
    try:
        return rfc8785.dumps(obj)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise ValueError(f"not canonicalisable as JSON: {exc}") from exc


def canonical_sha256(obj: Any) -> str:
    return hashlib.sha256(canonical_json(obj)).hexdigest()


def atomic_write_bytes(path: str | Path, data: bytes, *, mode: int | None = None) -> Path:
    """Write `data` to `path` atomically; InputError (nothing written) when that is impossible."""
    path = Path(path)
    if path.is_dir():
        raise InputError("is a folder, not a file", file=path, fix="name a file path to write")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror}", file=path,
                         fix="choose a writable location") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise InputError(f"cannot write: {exc.strerror}", file=path,
                         fix="choose a writable location with free space") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | Path, text: str, *, mode: int | None = None) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"), mode=mode)
