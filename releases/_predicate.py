"""The release decision's predicate (inside the in-toto Statement), typed.

`build_decision` validates every predicate it writes against `DecisionPredicate`; the JSON
Schema is published as docs/schemas/decision-predicate.schema.json (the verdict inside it is
the verdict schema). Add a field: declare it here, with a default of None when older decisions
lack it (and leave it out of the predicate while it is None, so their bytes stay the same).
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from releasegate.evals import Verdict


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CandidateRef(_Strict):
    entry: str
    model: str
    prompt_version: str


class IncumbentRef(_Strict):
    entry: str
    model: str
    model_digest: str
    prompt_version: str


class PromptFamilyRef(_Strict):
    name: str
    version: str


class TrustRootRef(_Strict):
    """The scenario root version the decision was judged under (`ScenarioRoot.ref()`)."""
    scenario_id: str
    version: int
    sha256: str
    criteria_sha256: str


class DecisionPredicate(_Strict):
    scenario_id: str
    contract_sha256: str
    dataset_sha256: str
    candidate: CandidateRef
    incumbent: IncumbentRef
    prompt_family: PromptFamilyRef
    tool_policy_version: str
    serving: dict[str, Any]
    verdict: Verdict
    # RFC 8785 ("rfc8785") for the statement payload and verdict_sha256; absent in decisions built
    # before it was recorded (legacy sorted-key JSON, still verified that way).
    canonicalization: Literal["rfc8785"] | None = None
    verdict_sha256: str
    report_sha256: str | None
    exception_id: str | None
    records: dict[str, str] | None  # where the records were (identity: the verdict's records_sha256)
    approvers: dict[str, str]  # role -> identity
    created_at: str
    trust_root: TrustRootRef | None = None  # absent without a signed root
    # What it may release and until when (issue 15); older decisions lack them: only `champion`,
    # expiring created_at + the release policy's duration (releases/_binding.py).
    aliases: list[str] | None = None
    expires_at: str | None = None


def check_predicate(predicate: dict[str, Any]) -> dict[str, Any]:
    """Validate a predicate this package builds (a ValidationError here is a bug, not bad input)."""
    DecisionPredicate.model_validate(predicate)
    return predicate


def predicate_json_schema() -> dict[str, Any]:
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "https://releasegate.dev/schemas/decision-predicate.schema.json",
            **DecisionPredicate.model_json_schema()}
