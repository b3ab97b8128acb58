"""The decision predicate is typed: build_decision validates it, the published schema judges it."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from pydantic import ValidationError

from releasegate.releases import DecisionPredicate, build_decision, statement_of
from releasegate.releases._predicate import check_predicate
from releasegate.scenarios import parse_scenario

from releases_fixtures import make_verdict, weights_digest, write_scenario

SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "schemas" / "decision-predicate.schema.json"


def test_a_built_predicate_matches_model_and_published_schema(tmp_path: Path) -> None:
    loaded = parse_scenario(write_scenario(tmp_path))
    envelope = build_decision(loaded, make_verdict(loaded), candidate_model_digest=weights_digest("gemma3-270m"))
    predicate = statement_of(envelope)["predicate"]
    assert DecisionPredicate.model_validate(predicate).verdict.decision == "PASS"
    schema = json.loads(SCHEMA.read_text())
    jsonschema.validate(predicate, schema)
    for bad in ({**predicate, "approver": {}}, {k: v for k, v in predicate.items() if k != "approvers"},
                {**predicate, "verdict": {**predicate["verdict"], "decision": "SHIP"}}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)
        with pytest.raises(ValidationError):
            check_predicate(bad)
