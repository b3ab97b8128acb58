"""The operating-model checklist in contract validation: product and platform owners; owners of
route policy, context budget, tool policy and cache strategy; model, prompt and tool rollback."""
from __future__ import annotations

import pytest

from releasegate.scenarios import RULES, scenario_errors

from contract_helpers import INVOICE_EXTRACTION, SUPPORT_TRIAGE, Contract, WriteContract
from contract_helpers import delete_field as _delete
from contract_helpers import set_field as _set

CHECKLIST_SECTIONS = ("route_policy", "context_budget", "tool_policy", "cache_strategy")


def _messages(path: object) -> dict[str, str]:
    return {e.field or "": e.message for e in scenario_errors(path)}  # type: ignore[arg-type]


def test_the_checklist_rules_are_registered() -> None:
    assert {"product_and_platform_owners", "accountable_owners", "incident_rollback_targets"} <= set(RULES)


@pytest.mark.parametrize("contract", [SUPPORT_TRIAGE, INVOICE_EXTRACTION], ids=lambda p: p.name)
def test_demo_contracts_meet_the_checklist(contract: object) -> None:
    assert scenario_errors(contract / "scenario.yaml") == []  # type: ignore[operator]


@pytest.mark.parametrize("role", ["product", "platform"])
def test_product_and_platform_owner_are_required(write_contract: WriteContract, role: str) -> None:
    assert _messages(write_contract(_delete(f"owners.{role}")))[f"owners.{role}"] == \
        f"the {role} owner is missing: a release needs both keys"


@pytest.mark.parametrize("section", CHECKLIST_SECTIONS)
def test_each_policy_section_needs_an_owner(write_contract: WriteContract, section: str) -> None:
    errors = _messages(write_contract(_delete(f"{section}.owner")))
    assert errors == {f"{section}.owner": f"{section.replace('_', ' ')} has no owner"}


@pytest.mark.parametrize(("targets", "missing"), [
    (["prompt", "tool_policy"], "model"),
    (["model", "tool_policy"], "prompt"),
    (["model", "prompt"], "tool_policy"),
    ([], "model, prompt, tool_policy"),
])
def test_incident_process_must_roll_back_model_prompt_and_tools(write_contract: WriteContract, targets: list[str],
                                                                 missing: str) -> None:
    path = write_contract(_set("incident_process.rollback_targets", targets))
    [error] = scenario_errors(path)
    assert error.field == "incident_process.rollback_targets"
    assert error.message == f"the incident process cannot roll back {missing}"
    assert error.fix == "list model, prompt and tool_policy under incident_process.rollback_targets"
    assert error.line is not None  # points at the line to edit


def test_default_rollback_targets_meet_the_checklist(write_contract: WriteContract) -> None:
    def drop_process(data: Contract) -> None:
        del data["incident_process"]["rollback_targets"]

    assert scenario_errors(write_contract(drop_process)) == []


def test_every_checklist_gap_is_reported_at_once(write_contract: WriteContract) -> None:
    def strip(data: Contract) -> None:
        del data["owners"]["platform"]
        for section in CHECKLIST_SECTIONS:
            del data[section]["owner"]
        data["incident_process"]["rollback_targets"] = ["model"]

    fields = set(_messages(write_contract(strip)))
    assert {"owners.platform", *(f"{s}.owner" for s in CHECKLIST_SECTIONS),
            "incident_process.rollback_targets"} <= fields
