"""Builders for the report tests: small verdicts with chosen checks."""
from __future__ import annotations

from typing import Any

from evals import Check, ModelSide, Verdict


def side(entry: str) -> ModelSide:
    return ModelSide(entry, f"{entry}-model", "d" * 64, "v1", "r" * 64)


def ni_check(value: float, low: float, high: float, status: str, margin: float = 0.05) -> Check:
    return Check("non_inferiority", "change", "acceptance_difference", value, low, high, -margin, ">=",
                 status, True, f"difference {value:+.3f}")


def make_verdict(decision: str, checks: list[Check], **changes: Any) -> Verdict:
    fields: dict[str, Any] = dict(
        scenario_id="support-triage", decision=decision, checks=checks, candidate=side("gemma3-v1"),
        incumbent=side("smollm2-v1"), contract_sha256="c" * 64, dataset_sha256="e" * 64, n=500,
        confidence=0.95, seed=7)
    fields.update(changes)
    return Verdict(**fields)
