"""The verdict is typed: every part validates, and the published JSON Schema judges documents."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pydantic import ValidationError

from releasegate.evals import SequentialSummary, SliceResult, Verdict, VerdictMetrics, verdict_json_schema

from test_gate import gate

SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "schemas" / "verdict.schema.json"


def test_the_gate_writes_typed_parts_that_round_trip(triage: Any) -> None:
    verdict = gate(triage, 600, 0.6, 0.1, 0.05, seed=3)
    assert isinstance(verdict.metrics, VerdictMetrics)
    assert all(isinstance(s, SliceResult) for s in verdict.slices) and verdict.slices
    text = verdict.to_json()
    assert Verdict.from_json(text) == verdict and Verdict.from_json(text).to_json() == text
    data = json.loads(text)
    jsonschema.validate(data, json.loads(SCHEMA.read_text()))
    assert "repeats" not in data["metrics"]  # optional parts that are absent stay out of the JSON


def test_published_schema_is_the_models_schema() -> None:
    assert json.loads(SCHEMA.read_text()) == json.loads(json.dumps(verdict_json_schema()))


@pytest.mark.parametrize("mutate", [
    lambda d: d["metrics"].update(n_used=3),  # an alias spelling is not a field
    lambda d: d["metrics"]["candidate"].pop("acceptance_ci"),
    lambda d: d["slices"][0].update(status="maybe"),
    lambda d: d.update(decision="PASSED"),
])
def test_a_misspelt_or_missing_field_is_refused_by_model_and_schema(triage: Any, mutate: Any) -> None:
    data = gate(triage, 300, 0.6, 0.1, 0.05, seed=3).to_dict()
    mutate(data)
    with pytest.raises(ValidationError):
        Verdict.from_dict(data)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, json.loads(SCHEMA.read_text()))


def test_sequential_summary_is_typed_from_the_monitor() -> None:
    from releasegate.evals import SequentialMonitor

    monitor = SequentialMonitor(margin=0.1, confidence=0.95, total_cases=400)
    monitor.update([True] * 200, [True] * 200)
    summary = SequentialSummary(**{**monitor.verdict_section(), "trajectory": []})
    assert summary.cases_used == 200 and summary.cases_total == 400
