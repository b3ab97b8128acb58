"""The gate's verdict: data, not a log line. A versioned JSON document with every check's evidence.

Every part is typed: `metrics` (`VerdictMetrics`), `slices` (`SliceResult`), `sequential`
(`SequentialSummary`) are frozen dataclasses, validated by pydantic when a verdict is built or
read (a key that is not declared is an error), and published as a JSON Schema
(docs/schemas/verdict.schema.json, `verdict_json_schema()`). Readers never guess a key.

Add a field: declare it on the dataclass it belongs to, with a default of None when older
verdicts lack it (such a field is left out of the JSON while it is None, so existing verdicts keep
their bytes), then run `python -m releasegate.flows.schemas`.

Serialisation is canonical (sorted keys, fixed float formatting through json) so that the same
inputs and seed give byte-identical JSON.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

from pydantic import ConfigDict, TypeAdapter

from .judge_error import CorrectedDifference, JudgeCalibration
from .pairwise import PairwiseResult
from .repeats import ClusteredDifference, RepeatSummary, Stability
from .stats import CostComparison, PairedDifference, SliceDifference

VERDICT_SCHEMA = "releasegate.verdict/v1"
Status = Literal["pass", "fail", "inconclusive", "skipped"]
Decision = Literal["PASS", "FAIL", "INCONCLUSIVE"]
# The exit code of every command that ends in a verdict (2 is bad input, raised as InputError).
DECISION_EXIT_CODES: dict[str, int] = {"PASS": 0, "FAIL": 1, "INCONCLUSIVE": 3}
Interval = tuple[float | None, float | None]  # (low, high); None where not finite
_STRICT = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Check:
    __pydantic_config__ = _STRICT
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
    # The end(s) of the interval with no finite bound at this sample size (ci_low/ci_high is then
    # null): e.g. a cost ratio when a bootstrap replicate has no accepted outcome, a p95 on too
    # few cases. Absent when the interval is finite or the check has none.
    unbounded: Literal["low", "high", "both"] | None = None
    # The check cannot decide at this size whatever the data: the fewest cases that could.
    cases_needed: int | None = None


@dataclass(frozen=True)
class Evidence:
    """Where a side's generation records came from (issue 15): `attested` when a runner the
    scenario trusts signed them (a DSSE in-toto attestation beside the records, verified at
    evaluate), `self-declared` otherwise (recorded elsewhere, or no runner key configured)."""
    __pydantic_config__ = _STRICT
    status: Literal["attested", "self-declared"]
    records_sha256: str  # the file the attestation covers (a subset of it may have been gated)
    runner: str | None = None  # the runner identity that signed (attested only)
    runner_keyid: str | None = None
    attestation_sha256: str | None = None  # sha256 of the attestation envelope file
    trusted_by: str | None = None  # what named the runner's key, e.g. "signed root v2"

    @property
    def attested(self) -> bool:
        return self.status == "attested"


@dataclass(frozen=True)
class ModelSide:
    __pydantic_config__ = _STRICT
    entry: str  # contract model entry, e.g. "gemma3-v1"
    model: str
    model_digest: str
    prompt_version: str
    records_sha256: str
    evidence: Evidence | None = None  # None in verdicts built before issue 15: self-declared


@dataclass(frozen=True)
class LatencyP95:
    __pydantic_config__ = _STRICT
    value: float | None
    ci: Interval
    n: int


@dataclass(frozen=True)
class ScorerSummary:
    __pydantic_config__ = _STRICT
    pass_rate: float
    report: dict[str, Any] | None = None  # the scorer's own summary (e.g. a confusion matrix)


@dataclass(frozen=True)
class SideMetrics:
    """One model's side: acceptance with its Wilson interval, errors, scorers, latency, tokens."""
    __pydantic_config__ = _STRICT
    n: int
    accepted: int
    acceptance_rate: float
    acceptance_ci: Interval
    errors: int
    scorers: dict[str, ScorerSummary]
    completion_tokens_total: float
    ttft_s_p95: LatencyP95 | None = None  # when the records carry the column
    latency_s_p95: LatencyP95 | None = None


@dataclass(frozen=True)
class DetectableDifference:
    __pydantic_config__ = _STRICT
    value: float | None
    power: float
    note: str


@dataclass(frozen=True)
class RepeatMetrics:
    """k generations per case: pass@k, pass^k, varying share, clustered difference, stability."""
    __pydantic_config__ = _STRICT
    k: int
    candidate: RepeatSummary
    incumbent: RepeatSummary
    paired: ClusteredDifference | None
    stability: Stability


@dataclass(frozen=True)
class JudgeMetrics:
    """The judge that scored (its digest) and, with a calibration set, the corrected difference."""
    __pydantic_config__ = _STRICT
    digest: str | None
    calibration: JudgeCalibration | None
    corrected: CorrectedDifference | None


@dataclass(frozen=True)
class VerdictMetrics:
    __pydantic_config__ = _STRICT
    policy: str
    cases_total: int
    candidate: SideMetrics
    incumbent: SideMetrics
    paired: PairedDifference
    minimum_detectable_difference: DetectableDifference
    tool_policy_violations: int
    judge: JudgeMetrics | None = None
    repeats: RepeatMetrics | None = None  # only with sampling.repeats > 1
    pairwise: PairwiseResult | None = None  # only with scoring.pairwise_judge
    cost: CostComparison | None = None  # only when both record sets carry a cost


@dataclass(frozen=True)
class SliceResult(SliceDifference):
    """A slice's paired difference with the guard's margin and its status."""
    __pydantic_config__ = _STRICT
    margin: float
    status: Status


@dataclass(frozen=True)
class TrajectoryPoint:
    __pydantic_config__ = _STRICT
    n: int
    low: float
    high: float
    estimate: float


@dataclass(frozen=True)
class Savings:
    """What stopping early saved, extrapolated from the evaluated cases."""
    __pydantic_config__ = _STRICT
    cases_skipped: int
    cases_skipped_fraction: float
    model_calls_saved: int
    generated_tokens: int
    gpu_hours: float
    usd: float


@dataclass(frozen=True)
class SequentialSummary:
    """A sequential run's monitor: how many cases it used, why it stopped, its trajectory."""
    __pydantic_config__ = _STRICT
    sequential: bool
    method: str
    margin: float
    confidence: float
    cases_used: int
    cases_total: int
    decision: Literal["PASS", "FAIL"] | None
    stop_reason: str
    kept_running_by: str | None
    trajectory: list[TrajectoryPoint]
    savings: Savings | None = None


# Top-level fields added after verdicts were first published: left out while None, so verdicts
# without them keep their bytes (and their digests in signed decisions).
_ADDED_LATER = frozenset({"trust_root"})


@dataclass(frozen=True)
class TrustRootRef:
    """The signed scenario root the verdict was judged under (issue 14): the root's version and
    the sha256 of the whole root document, and the sha256 of the gate criteria this verdict
    applied (RFC 8785 of task, scoring, success criteria, dataset; equal to the root's own
    criteria digest when the contract matched the signed criteria). Promote refuses a verdict
    whose criteria digest is not the current signed one. Set by the evaluation flow
    (`releases.verdict_trust_root`); evals never reads the ledger."""
    __pydantic_config__ = _STRICT
    version: int
    sha256: str
    criteria_sha256: str


@dataclass(frozen=True)
class Verdict:
    __pydantic_config__ = _STRICT
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
    metrics: VerdictMetrics | None = None  # None only in hand-built verdicts (tests, examples)
    slices: list[SliceResult] = field(default_factory=list)
    sequential: SequentialSummary | None = None
    schema: str = VERDICT_SCHEMA
    reason: str = ""  # one sentence: why this decision
    vetoed_by: list[str] = field(default_factory=list)  # failing critical checks (never waivable)
    trust_root: TrustRootRef | None = None  # absent without a signed scenario root

    def __post_init__(self) -> None:
        # Parts given as plain dicts (a caller's JSON) are validated into their types here.
        for name, kind in (("metrics", VerdictMetrics | None), ("slices", list[SliceResult]),
                           ("sequential", SequentialSummary | None), ("checks", list[Check]),
                           ("trust_root", TrustRootRef | None)):
            value = getattr(self, name)
            if _needs_typing(value):
                object.__setattr__(self, name, _adapter(kind).validate_python(value))

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _plain(v) for f in dataclasses.fields(self)
                if (v := getattr(self, f.name)) is not None or f.name not in _ADDED_LATER}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, indent=2, allow_nan=False) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Verdict:
        """Validate a verdict document (pydantic.ValidationError names every wrong field)."""
        return _adapter(Verdict).validate_python(data)  # type: ignore[no-any-return]

    @classmethod
    def from_json(cls, text: str) -> Verdict:
        return cls.from_dict(json.loads(text))

    def with_evidence(self, candidate: Evidence, incumbent: Evidence) -> Verdict:
        """This verdict with each side's evidence provenance."""
        return dataclasses.replace(self, candidate=dataclasses.replace(self.candidate, evidence=candidate),
                                   incumbent=dataclasses.replace(self.incumbent, evidence=incumbent))

    @property
    def failing_checks(self) -> list[Check]:
        return [c for c in self.checks if c.status in ("fail", "inconclusive")]


def verdict_json_schema() -> dict[str, Any]:
    """The JSON Schema of a verdict document (published as docs/schemas/verdict.schema.json)."""
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "https://releasegate.dev/schemas/verdict.schema.json",
            **_adapter(Verdict).json_schema(mode="serialization")}


@cache
def _adapter(kind: Any) -> TypeAdapter[Any]:
    return TypeAdapter(kind)


def _needs_typing(value: Any) -> bool:
    if isinstance(value, dict):
        return True
    return isinstance(value, list) and any(isinstance(v, dict) for v in value)


def _plain(value: Any) -> Any:
    """JSON-ready: dataclasses to dicts, where an optional field (default None) that is None is
    left out, so a field added later does not change the bytes of verdicts that lack it."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(v) for f in dataclasses.fields(value)
                if (v := getattr(value, f.name)) is not None or f.default is not None}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
