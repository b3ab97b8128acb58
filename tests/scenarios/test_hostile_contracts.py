"""Contracts that would say something other than what a reviewer reads are refused (issue 13)."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
from contract_helpers import SUPPORT_TRIAGE

from releasegate.scenarios import scenario_errors


def _contract(tmp_path: Path, old: str | None = None, new: str = "", append: str = "") -> Path:
    text = (SUPPORT_TRIAGE / "scenario.yaml").read_text(encoding="utf-8")
    if old is not None:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path = tmp_path / "scenario.yaml"
    path.write_text(text + append, encoding="utf-8")
    (tmp_path / "cases.jsonl").write_bytes((SUPPORT_TRIAGE / "cases.jsonl").read_bytes())
    return path


def _one_error(path: Path) -> str:
    started = time.monotonic()
    errors = scenario_errors(path)
    assert time.monotonic() - started < 5
    assert errors, "accepted"
    return str(errors[0])


def test_second_success_criteria_block_is_refused(tmp_path: Path) -> None:
    path = _contract(tmp_path, append="success_criteria:\n  min_acceptance_rate: 0.0\n"
                                      "  non_inferiority_margin: 1.0\n")
    assert "success_criteria: key 'success_criteria' appears twice" in _one_error(path)


def test_boolean_margin_is_not_read_as_one(tmp_path: Path) -> None:
    path = _contract(tmp_path, "non_inferiority_margin: 0.05", "non_inferiority_margin: true")
    assert ("success_criteria.non_inferiority_margin: must be a number, not bool True "
            "(fix: write a plain number") in _one_error(path)


def test_quoted_number_is_refused(tmp_path: Path) -> None:
    path = _contract(tmp_path, "non_inferiority_margin: 0.05", "non_inferiority_margin: '0.05'")
    assert "non_inferiority_margin: must be a number, not str" in _one_error(path)


@pytest.mark.parametrize("value", [".inf", ".nan", "-.inf"])
def test_non_finite_price_is_refused(tmp_path: Path, value: str) -> None:
    text = (SUPPORT_TRIAGE / "scenario.yaml").read_text(encoding="utf-8")
    first = text.index("usd_per_hour: 0.10")
    path = tmp_path / "scenario.yaml"
    path.write_text(text[:first] + f"usd_per_hour: {value}" + text[first + 18:], encoding="utf-8")
    line = text[:first].count("\n") + 1
    assert f"{path}:{line}: models." in _one_error(path)
    assert "usd_per_hour: Input should be a finite number" in _one_error(path)


def test_alias_bomb_and_deep_yaml_are_refused_fast(tmp_path: Path) -> None:
    bomb = "bomb0: &a0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"bomb{i + 1}: &a{i + 1} [{', '.join([f'*a{i}'] * 9)}]\n" for i in range(9))
    assert "more than 8 aliases" in _one_error(_contract(tmp_path, append=bomb))
    deep = "deep: " + "[" * 10_000 + "]" * 10_000 + "\n"
    assert "nest" in _one_error(_contract(tmp_path, append=deep))


def test_ten_megabyte_contract_is_refused_fast(tmp_path: Path) -> None:
    path = _contract(tmp_path, append="# " + "x" * 10_000_000 + "\n")
    assert "larger than the 1048576 byte limit" in _one_error(path)


def test_utf16_contract_names_line_one(tmp_path: Path) -> None:
    path = _contract(tmp_path)
    path.write_bytes(path.read_text(encoding="utf-8").encode("utf-16"))
    assert f"{path}:1: scenario contract is UTF-16 encoded (fix: save the file as UTF-8)" == _one_error(path)


def test_python_tag_is_refused(tmp_path: Path) -> None:
    path = _contract(tmp_path, append="x: !!python/object/apply:os.system [ls]\n")
    assert "YAML tag 'tag:yaml.org,2002:python/object/apply:os.system' is not allowed" in _one_error(path)
