"""The gate's verdict: data, not a log line. A versioned JSON document with every check's evidence.

Serialisation is canonical (sorted keys, fixed float formatting through json) so that the same
inputs and seed give byte-identical JSON.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

VERDICT_SCHEMA = "releasegate.verdict/v1"
Status = Literal["pass", "fail", "inconclusive", "skipped"]
Decision = Literal["PASS", "FAIL", "INCONCLUSIVE"]


@dataclass(frozen=True)
class Check:
    name: str  # e.g. "non_inferiority", "min_acceptance_rate", "slice:channel=email"
    kind: Literal["value", "change"]  # candidate alone, or candidate against incumbent
    metric: str  # what was measured, e.g. "acceptance_difference"
    value: float | None
    ci_low: float | None
    ci_high: float | None
    threshold: float | None
    direction: Literal[">=", "<=", "=="]  # value must be `direction` threshold to pass
    status: Status
    critical: bool
    reason: str  # one sentence a product owner can read


@dataclass(frozen=True)
class ModelSide:
    entry: str  # contract model entry, e.g. "gemma3-v1"
    model: str
    model_digest: str
    prompt_version: str
    records_sha256: str


@dataclass(frozen=True)
class Verdict:
    scenario_id: str
    decision: Decision
    checks: list[Check]
    candidate: ModelSide
    incumbent: ModelSide
    contract_sha256: str
    dataset_sha256: str
    n: int
    confidence: float
    seed: int
    metrics: dict[str, Any] = field(default_factory=dict)
    slices: list[dict[str, Any]] = field(default_factory=list)
    sequential: dict[str, Any] | None = None
    schema: str = VERDICT_SCHEMA
    reason: str = ""  # one sentence: why this decision
    vetoed_by: list[str] = field(default_factory=list)  # failing critical checks (never waivable)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, indent=2, allow_nan=False) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Verdict:
        data = dict(data)
        data["checks"] = [Check(**c) for c in data["checks"]]
        data["candidate"] = ModelSide(**data["candidate"])
        data["incumbent"] = ModelSide(**data["incumbent"])
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> Verdict:
        return cls.from_dict(json.loads(text))

    @property
    def failing_checks(self) -> list[Check]:
        return [c for c in self.checks if c.status in ("fail", "inconclusive")]
