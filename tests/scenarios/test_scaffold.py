"""`releasegate init`'s library side: a golden-path scenario that fails until owners are named."""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from releasegate.core import InputError
from releasegate.scenarios import (
    file_sha256,
    load_dataset_for,
    scaffold_scenario,
    scenario_errors,
    template_dir,
)

ROLES = ("product", "platform", "quality", "cost", "incident")


def _fill(text: str, pattern: str = r"FILL-ME-([a-z]+)-owner") -> str:
    return re.sub(pattern, r"\1-owner@feedback.example", text)


def test_template_ships_inside_the_package() -> None:
    folder = template_dir()
    assert folder.parent.parent == Path(__import__("scenarios").__file__).parent
    assert sorted(p.name for p in folder.iterdir()) == ["CARD.md", "cases.jsonl", "scenario.yaml"]


def test_scaffold_writes_a_contract_with_the_right_digest(tmp_path: Path) -> None:
    folder = scaffold_scenario("my-scenario", tmp_path, today=dt.date(2026, 11, 27))
    assert folder == tmp_path / "my-scenario"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my-scenario"]  # no staging folder left
    contract = (folder / "scenario.yaml").read_text(encoding="utf-8")
    assert "id: my-scenario\n" in contract and "intake_date: 2026-11-27\n" in contract
    assert f'sha256: "{file_sha256(folder / "cases.jsonl")}"' in contract
    assert "__SCENARIO_ID__" not in (folder / "CARD.md").read_text(encoding="utf-8")


def test_scaffold_fails_validation_until_every_owner_is_named(tmp_path: Path) -> None:
    folder = scaffold_scenario("my-scenario", tmp_path)
    path = folder / "scenario.yaml"
    errors = scenario_errors(path)
    assert [e.field for e in errors] == [f"owners.{role}.id" for role in ROLES]
    assert all("is a placeholder, not an owner identity" in e.message and e.line for e in errors)

    # owners named, but the RACI, policies and escalation path still say FILL-ME: still invalid
    text = path.read_text(encoding="utf-8")
    owners_block = text[text.index("owners:"): text.index("escalation_path:")]
    path.write_text(text.replace(owners_block, _fill(owners_block)), encoding="utf-8")
    remaining = scenario_errors(path)
    assert remaining and {e.field.split(".")[0] for e in remaining} == {
        "escalation_path", "raci", "route_policy", "context_budget", "tool_policy", "cache_strategy", "prompt_family"}

    path.write_text(_fill(path.read_text(encoding="utf-8"), r"FILL-ME-([a-z]+)-owner"), encoding="utf-8")
    assert scenario_errors(path) == []
    from releasegate.scenarios import load_scenario

    dataset = load_dataset_for(load_scenario(path))
    assert len(dataset) == 12 and dataset.slice_fields == ("source",)


def test_scaffold_refuses_an_existing_folder_and_writes_nothing(tmp_path: Path) -> None:
    existing = tmp_path / "my-scenario"
    existing.mkdir()
    (existing / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(InputError, match="folder already exists") as info:
        scaffold_scenario("my-scenario", tmp_path)
    assert info.value.file == str(existing)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my-scenario"]
    assert [p.name for p in existing.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize("bad_id", ["My Scenario", "-lead", "a/b", ""])
def test_scaffold_rejects_a_bad_id(tmp_path: Path, bad_id: str) -> None:
    with pytest.raises(InputError, match="is not a scenario id"):
        scaffold_scenario(bad_id, tmp_path)
    assert list(tmp_path.iterdir()) == []
