"""Loading a contract: every error names file, line, field and fix."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from contract_helpers import SUPPORT_TRIAGE, WriteContract, delete_field

from releasegate.core import InputError
from releasegate.scenarios import load_scenario, parse_scenario, read_scenario, scenario_errors


def _edited_copy(tmp_path: Path, old: str, new: str) -> tuple[Path, int]:
    """The support-triage contract with one line's text replaced; returns the path and that line."""
    text = (SUPPORT_TRIAGE / "scenario.yaml").read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    line = text[: text.index(old)].count("\n") + 1
    path = tmp_path / "scenario.yaml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    (tmp_path / "cases.jsonl").write_bytes((SUPPORT_TRIAGE / "cases.jsonl").read_bytes())
    return path, line


def test_error_line_names_file_line_field_and_fix(tmp_path: Path) -> None:
    path, line = _edited_copy(tmp_path, "confidence: 0.95", "confidence: 1.5")
    with pytest.raises(InputError) as info:
        parse_scenario(path)
    assert str(info.value) == (f"{path}:{line}: success_criteria.confidence: Input should be less than 1 "
                               "(fix: use a value in the allowed range)")


def test_rule_error_points_at_the_line_of_the_field(tmp_path: Path) -> None:
    path, line = _edited_copy(tmp_path, "incumbent: smollm2-v1", "incumbent: smollm2-v9")
    (error,) = scenario_errors(path)
    assert str(error).startswith(f"{path}:{line}: incumbent: 'smollm2-v9' is not a model entry")


def test_missing_field_points_at_its_parent(tmp_path: Path) -> None:
    path, line = _edited_copy(tmp_path, "  min_acceptance_rate: 0.10\n", "")
    (error,) = scenario_errors(path)
    assert error.field == "success_criteria.min_acceptance_rate"
    assert error.message == "Field required"
    assert error.fix == "add the field"
    assert error.line == line - 1  # the `success_criteria:` key, one line above the removed one


def test_unknown_field_is_rejected_with_its_line(tmp_path: Path) -> None:
    path, line = _edited_copy(tmp_path, "incumbent: smollm2-v1", "incumbant: smollm2-v1")
    errors = scenario_errors(path)
    assert {(e.field, e.line) for e in errors} == {("incumbant", line), ("incumbent", None)}
    unknown = next(e for e in errors if e.field == "incumbant")
    assert "check its spelling" in (unknown.fix or "")


def test_price_error_has_no_union_tag_in_its_field(write_contract: WriteContract) -> None:
    path = write_contract(delete_field("models.gemma3-v1.cost.usd_per_hour"))
    (error,) = scenario_errors(path)
    assert error.field == "models.gemma3-v1.cost.usd_per_hour"  # not ...cost.gpu.usd_per_hour


def test_invalid_yaml_reports_its_line(tmp_path: Path) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text("id: x\nowners: [unclosed\n", encoding="utf-8")
    loaded, errors = read_scenario(path)
    assert loaded is None
    assert len(errors) == 1 and errors[0].message.startswith("invalid YAML")
    assert errors[0].line == 3


def test_a_list_is_not_a_contract(tmp_path: Path) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text("- id: x\n", encoding="utf-8")
    with pytest.raises(InputError, match="a scenario contract must be a YAML mapping"):
        parse_scenario(path)


def test_unreadable_contract_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read scenario contract") as info:
        parse_scenario(tmp_path / "absent.yaml")
    assert info.value.file == str(tmp_path / "absent.yaml")


def test_loaded_contract_knows_its_digest_and_dataset(tmp_path: Path) -> None:
    loaded = load_scenario("support-triage")
    assert loaded.contract_sha256 == hashlib.sha256(loaded.path.read_bytes()).hexdigest()
    assert loaded.dataset_path == (SUPPORT_TRIAGE / "cases.jsonl").resolve()
    assert loaded.scenario.incumbent == "smollm2-v1"
    assert loaded.scenario.candidates == ["gemma3-v1", "smollm2-v2", "smollm2-v3"]
    assert [s.name for s in loaded.scenario.scoring.scorers] == ["queue", "budget"]


def test_unknown_scenario_id_lists_the_known_ones() -> None:
    with pytest.raises(InputError) as info:
        load_scenario("no-such-scenario")
    assert "invoice-extraction, support-triage" in (info.value.fix or "")


def test_sha256_prefix_and_case_are_normalised(tmp_path: Path) -> None:
    digest = hashlib.sha256((SUPPORT_TRIAGE / "cases.jsonl").read_bytes()).hexdigest()
    text = (SUPPORT_TRIAGE / "scenario.yaml").read_text(encoding="utf-8")
    path, _ = _edited_copy(tmp_path, f'sha256: "{digest}"', f'sha256: "sha256:{digest.upper()}"')
    assert scenario_errors(path) == []
    assert text.count(digest) == 1
