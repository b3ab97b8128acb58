"""The bounded readers in releasegate.core: size, encoding, depth, duplicates, tags, aliases.
Each refusal is an InputError naming the file (and the line where there is one), never a
RecursionError, UnicodeDecodeError or a hang."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from releasegate.core import (
    InputError,
    decode_utf8,
    load_json_bounded,
    load_yaml_strict,
    read_bytes_bounded,
    read_text_bounded,
)


def _refused(call, *args, **kwargs) -> InputError:
    started = time.monotonic()
    with pytest.raises(InputError) as info:
        call(*args, **kwargs)
    assert time.monotonic() - started < 5
    assert "\n" not in str(info.value) and "(fix: " in str(info.value)
    return info.value


def test_size_limit_is_checked_without_reading_everything(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    path.write_bytes(b" " * 2000)
    error = _refused(read_bytes_bounded, path, max_bytes=1000, what="verdict")
    assert str(error).startswith(f"{path}: verdict is larger than the 1000 byte limit")
    assert read_bytes_bounded(path, max_bytes=2000) == b" " * 2000


def test_missing_file_and_folder(tmp_path: Path) -> None:
    assert "cannot read verdict: No such file" in str(
        _refused(read_bytes_bounded, tmp_path / "nope.json", max_bytes=10, what="verdict"))
    assert "is a folder, not a file" in str(_refused(read_bytes_bounded, tmp_path, max_bytes=10))


@pytest.mark.parametrize("data, line, says", [
    ("a\nb\n".encode("utf-16"), 1, "UTF-16 encoded"),
    (b"ok\nok\n\xff\xfe bad\n", 3, "not valid UTF-8 (byte 0xff)"),
    (b"ok\n\x00", 2, "NUL character"),
])
def test_encoding_errors_name_the_line(tmp_path: Path, data: bytes, line: int, says: str) -> None:
    path = tmp_path / "cases.jsonl"
    path.write_bytes(data)
    error = _refused(read_text_bounded, path, what="dataset")
    assert error.line == line and says in error.message and error.file == str(path)


def test_utf8_bom_is_accepted() -> None:
    assert decode_utf8("\ufeffid: 1".encode("utf-8")) == "id: 1"


@pytest.mark.parametrize("text, says", [
    ('{"a": 1, "a": 2}', "has the key 'a' twice"),
    ('{"cost": NaN}', "contains NaN, which is not JSON"),
    ('{"cost": -Infinity}', "contains -Infinity"),
    ('[' * 10_000 + ']' * 10_000, "nested deeper than 64 levels"),
    ('[' * 100 + ']' * 100, "nested deeper than 64 levels"),
    ('{"a": ', "invalid JSON"),
])
def test_json_refusals(text: str, says: str) -> None:
    error = _refused(load_json_bounded, text.encode(), file="verdict.json", what="verdict")
    assert says in error.message and error.file == "verdict.json"


def test_json_within_limits_parses(tmp_path: Path) -> None:
    path = tmp_path / "v.json"
    path.write_text(json.dumps({"a": [1, 2.5, None, {"b": "é"}]}), encoding="utf-8")
    assert load_json_bounded(path) == {"a": [1, 2.5, None, {"b": "é"}]}
    assert "larger than the 10 byte limit" in _refused(load_json_bounded, path, max_bytes=10).message


ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8))


@pytest.mark.parametrize("text, line, says", [
    ("success_criteria:\n  x: 1\nother: 2\nsuccess_criteria:\n  x: 0\n", 4,
     "key 'success_criteria' appears twice (first at line 1)"),
    ("a:\n  b: 1\n  b: 2\n", 3, "key 'b' appears twice"),
    ("x: !!python/object/apply:os.system [ls]\n", 1, "YAML tag"),
    ("x: !!float 1\n", 1, "YAML tag"),
    ("x: !custom 1\n", 1, "YAML tag"),
    (ALIAS_BOMB, 2, "more than 8 aliases"),
    ("x: " + "[" * 100 + "]" * 100 + "\n", 1, "nested deeper than 64 levels"),
    ("x: " + "[" * 5000 + "]" * 5000 + "\n", 1, "nest"),
    ("a: [1\n", 2, "invalid YAML"),
    ("a: 1\n---\nb: 2\n", 2, "invalid YAML"),
])
def test_yaml_refusals_name_the_line(text: str, line: int, says: str) -> None:
    error = _refused(load_yaml_strict, text.encode(), file="scenario.yaml")
    assert says in error.message and error.line == line and error.file == "scenario.yaml"


def test_yaml_within_limits_keeps_values_and_a_few_aliases() -> None:
    data, node = load_yaml_strict(b"base: &b {x: 1}\nuse: *b\nwhen: 2026-12-01\nq: 'yes'\n")
    assert data["use"] == {"x": 1} and data["q"] == "yes" and str(data["when"]) == "2026-12-01"
    assert node.start_mark.line == 0


def test_large_yaml_is_refused_quickly(tmp_path: Path) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_bytes(b"# " + b"x" * 11_000_000 + b"\n")
    assert "larger than the 1048576 byte limit" in _refused(load_yaml_strict, path).message
