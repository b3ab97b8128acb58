"""The ledger event registry: one typed payload model per type; every list of types derives from it."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from pydantic import ValidationError

from releasegate.releases import EVENT_TYPES, EVENTS, Ledger, append_event, event_types, parse_payload
from releasegate.releases import _audit, _exceptions, _governance, _incidents, _recording, _registry
from releasegate.releases._events import (
    Approved,
    EventPayload,
    ModelRolledBack,
    PromptRolledBack,
    ToolPolicyRolledBack,
    event,
)

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas" / "events"


def test_every_list_of_event_types_derives_from_the_registry() -> None:
    assert EVENT_TYPES == tuple(EVENTS)
    assert _recording.ALIAS_EVENTS == _audit.ALIAS_EVENTS == ("promoted", "rolled_back", "alias_repaired")
    assert _registry.SYNCED_EVENT_TYPES == ("evaluated", "approved")
    assert _exceptions.EXCEPTION_EVENTS == ("exception_opened", "exception_reviewed", "exception_closed")
    assert _incidents.INCIDENT_EVENTS == ("incident_opened", "incident_linked", "incident_closed")
    assert {s.support_load for s in EVENTS.values() if s.support_load} == {"exceptions", "rollbacks", "alias_repairs"}
    # the five old lists disagreed on these: each is now registered exactly once
    assert "incident_linked" in EVENT_TYPES and "regression_detected" in EVENT_TYPES
    assert "incident_action" not in EVENT_TYPES


def test_the_ledger_refuses_an_unregistered_event_type(isolated_home: Path) -> None:
    ledger = Ledger.open()
    with pytest.raises(ValueError, match="register it in releases/_events.py"):
        ledger.append("promotd", "support-triage", {"version": "1"})
    assert ledger.events() == [] and ledger.verify() == []


def test_a_builder_refuses_a_missing_or_misspelt_field() -> None:
    with pytest.raises(ValidationError, match="fingerprint"):
        Approved(decision_digest="d", role="product", identity="ana@example.com")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="extra"):
        Approved(decision_digest="d", role="product", identity="a", fingerprint="f", fingerprnt="f")  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        ModelRolledBack(target="model", alias="champion", model_name="m", from_version="2", to_version="1",
                        reason="r", aliases={}, decision_digest=None)  # type: ignore[arg-type]


def test_rollback_shapes_are_one_discriminated_payload() -> None:
    tool = ToolPolicyRolledBack(target="tool_policy", from_version="v2", to_version="v1", reason="leak")
    prompt = PromptRolledBack(target="prompt", prompt_name="p", alias="champion", from_version="3",
                              to_version="2", from_contract_version="v3", to_contract_version="v2", reason="r")
    assert parse_payload("rolled_back", tool.to_payload()) == tool
    assert parse_payload("rolled_back", prompt.to_payload()) == prompt
    with pytest.raises(ValidationError):  # a prompt rollback's fields under the tool-policy target
        parse_payload("rolled_back", {**prompt.to_payload(), "target": "tool_policy"})
    # an old row with a field this version does not know is still readable, leniently
    old = parse_payload("rolled_back", {**tool.to_payload(), "legacy": 1}, strict=False)
    assert isinstance(old, ToolPolicyRolledBack) and old.to_version == "v1"


def test_published_schemas_match_the_models_and_judge_payloads() -> None:
    from releasegate.flows.schemas import stale

    assert stale(SCHEMAS.parent) == []
    assert sorted(p.name for p in SCHEMAS.glob("*.schema.json")) == sorted(f"{t}.schema.json" for t in EVENTS)
    schema = json.loads((SCHEMAS / "rolled_back.schema.json").read_text())
    good = ToolPolicyRolledBack(target="tool_policy", from_version="v2", to_version="v1", reason="r").to_payload()
    jsonschema.validate(good, schema)
    for bad in ({**good, "reasn": "r"}, {k: v for k, v in good.items() if k != "reason"},
                {**good, "target": "model"}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)


def test_adding_an_event_type_is_a_few_lines(isolated_home: Path) -> None:
    try:
        @event("gateway_probe", groups=("gateway",))
        class GatewayProbe(EventPayload):
            route: str

        assert event_types("gateway") == ("gateway_probe",)
        ev = append_event(Ledger.open(), "support-triage", GatewayProbe(route="direct"), subject="direct")
        assert ev.event_type == "gateway_probe" and ev.payload == {"route": "direct"}
        assert "gateway_probe" in _governance.EVENTS
    finally:
        EVENTS.pop("gateway_probe", None)
