"""Atomic file writes and canonical JSON: one implementation each, used by every stage.

An atomic write goes to a hidden temporary file in the target's folder, is fsynced, then renamed
over the target, so a reader sees the old file or the new one and a crash leaves no partial file.
Canonical JSON is RFC 8785 (JSON Canonicalization Scheme), so any JCS implementation recomputes
the same bytes and therefore the same digests.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
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


# --- Bounded, strict reading -------------------------------------------------------------------
# Every file or request body releasegate reads goes through one of these: a size limit (checked
# before reading everything), strict UTF-8 (the error names the line), a nesting-depth limit (no
# RecursionError), and for YAML no duplicate keys, no explicit tags and few aliases (an alias
# bomb or a second `success_criteria:` block must not change what the reviewer read).

MIB = 1024 * 1024
MAX_CONTRACT_BYTES = 1 * MIB
MAX_DOCUMENT_BYTES = 16 * MIB  # verdicts, statements, envelopes, keyrings, record metadata
MAX_DEPTH = 64
MAX_YAML_ALIASES = 8

_FIX_ENCODING = "save the file as UTF-8"


def _where(file: str | Path | None) -> str | None:
    return str(file) if file is not None else None


def read_bytes_bounded(path: str | Path, *, max_bytes: int, what: str = "file") -> bytes:
    """The bytes of `path`, refusing a missing or unreadable file and one over `max_bytes`."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except IsADirectoryError:
        raise InputError(f"{what} is a folder, not a file", file=path,
                         fix=f"pass the path of the {what} file") from None
    except OSError as exc:
        raise InputError(f"cannot read {what}: {exc.strerror or exc}", file=path,
                         fix=f"pass the path of a readable {what}") from None
    if len(data) > max_bytes:
        raise InputError(f"{what} is larger than the {max_bytes} byte limit", file=path,
                         fix=f"a {what} this large is not expected; check that this is the right file")
    return data


def decode_utf8(data: bytes, *, file: str | Path | None = None, what: str = "file") -> str:
    """Strict UTF-8 (a UTF-8 byte-order mark is dropped); the error names the line."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(f"{what} is UTF-16 encoded", file=_where(file), line=1, fix=_FIX_ENCODING)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(f"{what} is not valid UTF-8 (byte 0x{data[exc.start]:02x})",
                         file=_where(file), line=line, fix=_FIX_ENCODING) from None
    text = text.removeprefix("\ufeff")
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise InputError(f"{what} contains a NUL character", file=_where(file), line=line,
                         fix="this looks like a binary file or the wrong encoding; " + _FIX_ENCODING)
    return text


def read_text_bounded(path: str | Path, *, max_bytes: int = MAX_DOCUMENT_BYTES,
                      what: str = "file") -> str:
    """The UTF-8 text of `path`, bounded in size; InputError naming file and line otherwise."""
    return decode_utf8(read_bytes_bounded(path, max_bytes=max_bytes, what=what), file=path, what=what)


def _nesting_depth(value: Any) -> int:
    """Depth of nested lists/dicts, iteratively (no recursion on hostile input)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            deepest = max(deepest, depth)
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            deepest = max(deepest, depth)
            stack.extend((v, depth + 1) for v in item)
    return deepest


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _refuse_constant(name: str) -> Any:
    raise _NonFinite(name)


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):  # 1e400: json reads it as infinity
        raise _NonFinite(f"{text[:40]} (beyond the largest float)")
    return value


class _NonFinite(ValueError):
    pass



def _bounded_text(source: str | Path | bytes, *, max_bytes: int, file: str | Path | None,
                  what: str) -> tuple[str, str | Path | None]:
    """The UTF-8 text of a path or of bytes, within `max_bytes`; the file name errors should use."""
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
        if len(data) > max_bytes:
            raise InputError(f"{what} is larger than the {max_bytes} byte limit", file=_where(file),
                             fix=f"a {what} this large is not expected")
    else:
        file = file if file is not None else source
        data = read_bytes_bounded(source, max_bytes=max_bytes, what=what)
    return decode_utf8(data, file=file, what=what), file

def load_json_bounded(source: str | Path | bytes, *, max_bytes: int = MAX_DOCUMENT_BYTES,
                      max_depth: int = MAX_DEPTH, file: str | Path | None = None,
                      what: str = "JSON document") -> Any:
    """Parse JSON from a path or bytes with limits: size, UTF-8, depth, no NaN/Infinity, no
    duplicate keys (two parsers must never read two different documents from the same bytes)."""
    text, file = _bounded_text(source, max_bytes=max_bytes, file=file, what=what)
    try:
        value = json.loads(text, object_pairs_hook=_refuse_duplicate_keys,
                           parse_constant=_refuse_constant, parse_float=_finite_float)
    except _DuplicateKey as exc:
        raise InputError(f"{what} has the key {exc.key!r} twice", file=_where(file), field=exc.key,
                         fix="remove the duplicate: readers disagree on which one counts") from None
    except _NonFinite as exc:
        raise InputError(f"{what} contains {exc}, which is not JSON", file=_where(file),
                         fix="use a finite number or null") from None
    except RecursionError:
        raise InputError(f"{what} is nested deeper than {max_depth} levels", file=_where(file),
                         fix="this is not a releasegate document; check the file") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"invalid JSON: {exc.msg}", file=_where(file), line=exc.lineno,
                         fix=f"the {what} must be one JSON value") from None
    if _nesting_depth(value) > max_depth:
        raise InputError(f"{what} is nested deeper than {max_depth} levels", file=_where(file),
                         fix="this is not a releasegate document; check the file")
    return value


def _yaml_loader() -> type:
    import yaml

    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _check_yaml_events(text: str, *, file: str | Path | None, max_depth: int,
                       max_aliases: int) -> None:
    """One pass over the event stream (iterative, cheap) before anything is built."""
    import yaml

    depth = aliases = 0
    for event in yaml.parse(text, Loader=_yaml_loader()):
        line = event.start_mark.line + 1 if event.start_mark else None
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > max_depth:
                raise InputError(f"YAML is nested deeper than {max_depth} levels", file=_where(file),
                                 line=line, fix="flatten the structure; a contract is a few levels deep")
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
        elif isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > max_aliases:
                raise InputError(f"YAML uses more than {max_aliases} aliases (*{event.anchor})",
                                 file=_where(file), line=line,
                                 fix="write the values out instead of repeating anchors")
        if isinstance(event, (yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            implicit = event.implicit
            explicit_tag = event.tag is not None and not (
                any(implicit) if isinstance(implicit, tuple) else implicit)
            if explicit_tag:
                raise InputError(f"YAML tag {event.tag!r} is not allowed", file=_where(file),
                                 line=line, fix="remove the tag and write a plain value")


def _check_duplicate_keys(node: Any, *, file: str | Path | None) -> None:
    import yaml

    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key_node, value_node in item.value:
                key = str(key_node.value)
                line = key_node.start_mark.line + 1
                if isinstance(key_node, yaml.ScalarNode) and key in seen:
                    raise InputError(
                        f"key {key!r} appears twice (first at line {seen[key]})", file=_where(file),
                        line=line, field=key,
                        fix="remove one: YAML would silently keep only the last")
                seen[key] = line
                stack.append(value_node)
        elif isinstance(item, yaml.SequenceNode):
            stack.extend(item.value)


def _first_bad_scalar(node: Any, loader: Any) -> int | None:
    """Line of the first scalar whose constructor fails (for the error message)."""
    import yaml

    stack = [node]
    while stack:
        item = stack.pop(0)
        if isinstance(item, yaml.ScalarNode):
            try:
                loader.construct_object(item, deep=True)
            except (ValueError, OverflowError, TypeError):
                return item.start_mark.line + 1
        elif isinstance(item, yaml.SequenceNode):
            stack.extend(item.value)
        elif isinstance(item, yaml.MappingNode):
            for key_node, value_node in item.value:
                stack.extend((key_node, value_node))
    return None


def load_yaml_strict(source: str | Path | bytes, *, max_bytes: int = MAX_CONTRACT_BYTES,
                     max_depth: int = MAX_DEPTH, max_aliases: int = MAX_YAML_ALIASES,
                     file: str | Path | None = None, what: str = "YAML file") -> tuple[Any, Any]:
    """Parse one YAML document strictly; returns (data, root node) for line lookups.

    Refused, each with the line: size over `max_bytes`, non-UTF-8, nesting beyond `max_depth`,
    more than `max_aliases` aliases, explicit tags (`!!python/...`, `!!float`, custom), duplicate
    keys, more than one document."""
    import yaml

    text, file = _bounded_text(source, max_bytes=max_bytes, file=file, what=what)
    try:
        _check_yaml_events(text, file=file, max_depth=max_depth, max_aliases=max_aliases)
        node = yaml.compose(text, Loader=_yaml_loader())
        if node is None:
            return None, None
        _check_duplicate_keys(node, file=file)
        loader = _yaml_loader()(text)
        try:
            value = loader.construct_document(node)
        except (ValueError, OverflowError, TypeError) as exc:  # e.g. a date such as 2026-13-45
            mark = _first_bad_scalar(node, loader)
            raise InputError(f"invalid value: {exc}", file=_where(file), line=mark,
                             fix="write a valid value (quote it to keep it as text)") from None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(f"invalid YAML: {problem}", file=_where(file),
                         line=mark.line + 1 if mark else None, fix="fix the YAML syntax") from None
    except RecursionError:
        raise InputError(f"YAML is nested deeper than {max_depth} levels", file=_where(file),
                         fix="flatten the structure") from None
    return value, node
