"""The scenario contract: the pydantic schema of `datasets/<id>/scenario.yaml`.

Field-level checks (types, ranges) live here; rules that look across fields (distinct owners,
RACI, template variables, budgets, secrets, the dataset digest) live in `_rules.py` so that each
has its own error message and its own test.
"""
from __future__ import annotations

import datetime as dt
import re
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

SCHEMA_VERSION = 1

# An identity is an e-mail-like or slug-like name; placeholders such as "<product owner>" or
# "TODO" are rejected so that a scaffolded scenario fails until its owners are filled in.
IDENTITY_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+\-]*(@[A-Za-z0-9.\-]+\.[A-Za-z]{2,})?$")
PLACEHOLDER_IDENTITIES = {"todo", "tbd", "fixme", "changeme", "fill-me", "owner"}
# The golden-path template writes role-specific placeholders (FILL-ME-product-owner, ...) so the
# reader knows what to put where; any identity carrying this marker is still a placeholder.
PLACEHOLDER_MARKER = "fill-me"


def identity_problem(value: str) -> str | None:
    """Why `value` is not an owner identity (None when it is one)."""
    value = value.strip()
    if not value or value.lower() in PLACEHOLDER_IDENTITIES or PLACEHOLDER_MARKER in value.lower():
        return f"{value!r} is a placeholder, not an owner identity"
    if not IDENTITY_PATTERN.match(value):
        return f"{value!r} is not an owner identity (an e-mail or a role alias)"
    return None

STANDARD_ACTIVITIES = (
    "scenario_intake",
    "architecture_review",
    "model_release",
    "quality_review",
    "cost_review",
    "incident",
)


def _number_types(annotation: object) -> set[type]:
    found: set[type] = set()
    stack = [annotation]
    while stack:
        item = stack.pop()
        if isinstance(item, type):
            found.add(item)
        stack.extend(get_args(item))
    return found


class _Strict(BaseModel):
    # allow_inf_nan=False: `usd_per_hour: .inf` is not a price. The validator below refuses
    # `true` or "0.1" where a number belongs: lax pydantic reads `non_inferiority_margin: true`
    # as 1.0, which is not what a reviewer reads.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _plain_numbers(cls, data: object) -> object:
        if isinstance(data, dict):
            for name, field in cls.model_fields.items():
                value = data.get(name)
                if isinstance(value, (bool, str)):
                    kinds = _number_types(field.annotation)
                    if kinds & {int, float} and not kinds & {bool, str}:
                        raise PydanticCustomError(
                            "number_type", "{field}: must be a number, not {kind} {value}",
                            {"field": name, "kind": type(value).__name__, "value": repr(value)})
        return data


def _check_identity(value: str) -> str:
    problem = identity_problem(value)
    if problem:
        raise ValueError(problem)
    return value.strip()


class Owner(_Strict):
    id: str = Field(description="Identity, e.g. product-owner@support.example; signs with this name")
    name: str | None = None

    _identity = field_validator("id")(classmethod(lambda cls, v: _check_identity(v)))


class Owners(_Strict):
    product: Owner | None = None
    platform: Owner | None = None
    quality: Owner | None = None
    cost: Owner | None = None
    incident: Owner | None = None


class RaciEntry(_Strict):
    responsible: list[str] = Field(default_factory=list)
    accountable: list[str] | str = Field(default_factory=list)
    consulted: list[str] = Field(default_factory=list)
    informed: list[str] = Field(default_factory=list)

    @property
    def accountable_list(self) -> list[str]:
        return [self.accountable] if isinstance(self.accountable, str) else list(self.accountable)


class RoutePolicy(_Strict):
    mode: Literal["direct", "rag", "agentic", "human_review", "fallback"] = "direct"
    fallback: str | None = Field(None, description="Model entry or route used when the primary fails")
    human_review: bool = False
    owner: str | None = None


class ContextBudget(_Strict):
    max_prompt_tokens: int = Field(gt=0)
    max_output_tokens: int = Field(gt=0)
    owner: str | None = None


class ToolPolicy(_Strict):
    version: str = "v1"
    allowed_tools: list[str] = Field(default_factory=list)
    owner: str | None = None


class CacheStrategy(_Strict):
    prefix_stable: bool = True
    min_prefix_cache_hit_rate: float = Field(0.0, ge=0.0, le=1.0)
    owner: str | None = None


class ContractReleasePolicy(_Strict):
    """What this contract asks of every release, on top of the signed root's release policy."""

    require_attested_evidence: bool = Field(
        False, description="Refuse approval and promotion of a decision whose generation records are "
        "self-declared on either side (not signed by a trusted runner)")


class CostBudget(_Strict):
    """The cost owner's budget for the scenario's gateway endpoint: releasegate writes it to MLflow's AI
    Gateway as a budget policy (scope ENDPOINT, USD) and its policy layer enforces it on self-hosted
    traffic, which MLflow prices at 0 (docs/GATEWAY.md)."""

    usd: float = Field(gt=0.0, description="Spend allowed per window, in USD")
    window: Literal["MINUTES", "HOURS", "DAYS", "WEEKS", "MONTHS"] = "MONTHS"
    window_length: int = Field(1, ge=1, description="Windows of this many units (e.g. 1 MONTHS)")
    action: Literal["REJECT", "ALERT"] = Field("REJECT", description="Over budget: refuse requests, or only alert")
    owner: str | None = Field(None, description="The scenario's cost owner (owners.cost.id)")


class PromptVersion(_Strict):
    system: str | None = None
    user: str = Field(description="Chat user message template ({{ variable }} placeholders)")
    completion: str | None = Field(
        None, description="Template for completion-style (base) models; required if one is compatible"
    )
    compatible_models: list[str] = Field(min_length=1)
    stop: list[str] = Field(default_factory=list)


class PromptFamily(_Strict):
    name: str
    owner: str | None = None
    variables: list[str] = Field(min_length=1)
    default_version: str
    versions: dict[str, PromptVersion] = Field(min_length=1)


class Task(_Strict):
    kind: Literal["label", "json", "text"]
    labels: list[str] = Field(default_factory=list)
    json_schema: dict | None = None


class ScorerSpec(_Strict):
    name: str
    type: str
    params: dict = Field(default_factory=dict)
    weight: float = Field(1.0, ge=0.0)


class AcceptanceRule(_Strict):
    mode: Literal["all", "any", "weighted"] = "all"
    scorers: list[str] | None = Field(None, description="Scorers that count; default: all of them")
    threshold: float | None = Field(None, ge=0.0, le=1.0, description="For mode=weighted")


class JudgeCalibrationSpec(_Strict):
    """Cases with a human verdict on a recorded output: the acceptance rule (the judge) is scored
    on those outputs and its sensitivity/specificity against the humans corrects the gate."""

    label_field: str = Field(description="Dataset column with the human verdict (true/false, yes/no, 1/0)")
    output_field: str = Field(description="Dataset column with the output the human judged")
    min_cases: int = Field(50, ge=10, description="Fewer labelled cases than this is bad input")


class PairwiseJudgeSpec(_Strict):
    """A judge that compares the candidate's and the incumbent's answers; asked in both orders."""

    endpoint: str = Field(description="OpenAI-compatible /v1 URL of the judge")
    model: str
    rubric: str | None = Field(None, description="Prompt with {reference}, {a}, {b}; default: releasegate's")
    api_key_env: str | None = None
    max_tokens: int = Field(16, ge=1)
    timeout_s: float = Field(60.0, gt=0)
    min_preference: float | None = Field(
        None, ge=-1.0, le=1.0, description="Check: wins minus losses (share of cases) must be at least this")


class Scoring(_Strict):
    scorers: list[ScorerSpec] = Field(min_length=1)
    acceptance: AcceptanceRule = AcceptanceRule()
    calibration: JudgeCalibrationSpec | None = Field(
        None, description="Correct acceptance for the judge's misclassification (issue 18)")
    pairwise_judge: PairwiseJudgeSpec | None = Field(
        None, description="Compare candidate and incumbent answers directly, in both orders (issue 18)")


class LatencySLO(_Strict):
    ttft_p95_s: float | None = Field(None, gt=0)
    latency_p95_s: float | None = Field(None, gt=0)


class SliceGuard(_Strict):
    fields: list[str] = Field(default_factory=list)
    margin: float = Field(0.10, ge=0.0, le=1.0)
    min_cases: int = Field(20, ge=1)


class SuccessCriteria(_Strict):
    min_acceptance_rate: float = Field(ge=0.0, le=1.0)
    non_inferiority_margin: float = Field(ge=0.0, le=1.0)
    confidence: float = Field(0.95, gt=0.0, lt=1.0)
    max_cost_per_accepted_usd: float | None = Field(None, gt=0.0)
    max_cost_ratio: float | None = Field(None, gt=0.0)
    latency_slo: LatencySLO = LatencySLO()
    slice_guard: SliceGuard = SliceGuard()
    max_tool_policy_violations: int = Field(0, ge=0)
    critical: list[str] = Field(default_factory=lambda: ["non_inferiority"])
    min_relative_change: float | None = Field(
        None, ge=-1.0, description="Relative threshold on acceptance (as MLflow's MetricThreshold): the "
        "candidate's rate / the incumbent's - 1 must be at least this (e.g. -0.05: at most 5% fewer)")
    sequential: bool = False
    seed: int = Field(20261127, ge=0)


class DatasetRef(_Strict):
    path: str = Field(description="Cases file, relative to the scenario folder")
    sha256: str = Field(description="sha256 of the file's bytes: `releasegate datasets digest PATH`")
    format: Literal["jsonl", "json", "parquet", "csv"] | None = None
    id_field: str = "id"
    reference_field: str = "reference"
    slice_fields: list[str] = Field(default_factory=list)
    card: str | None = "CARD.md"

    @field_validator("sha256")
    @classmethod
    def _hex(cls, v: str) -> str:
        v = v.strip().lower().removeprefix("sha256:")
        if not re.fullmatch(r"[0-9a-f]{64}", v):
            raise ValueError("must be 64 hex characters (run `releasegate datasets digest PATH`)")
        return v


class ServingSettings(_Strict):
    dtype: str = "bfloat16"
    max_model_len: int = Field(2048, gt=0)
    enforce_eager: bool | None = Field(None, description="Default: true on CPU, false on GPU")
    tensor_parallel_size: int = Field(1, ge=1)
    gpu_memory_utilization: float = Field(0.9, gt=0.0, le=1.0)
    max_num_seqs: int | None = Field(None, ge=1)
    concurrency: int = Field(8, ge=1, description="Client-side concurrent requests")
    extra_args: list[str] = Field(default_factory=list, description="Passed to vLLM verbatim")


class GpuPricing(_Strict):
    pricing: Literal["gpu"] = "gpu"
    accelerator: str = Field("cpu", description="e.g. H100, L4, cpu")
    count: int = Field(1, ge=1)
    usd_per_hour: float = Field(ge=0.0, description="Price of one accelerator for one hour")


class TokenPricing(_Strict):
    pricing: Literal["token"] = "token"
    usd_per_million_input: float = Field(ge=0.0)
    usd_per_million_output: float = Field(ge=0.0)


class ModelEntry(_Strict):
    """A servable variant: weights + prompt version + serving + cost. Candidates are entries."""

    model: str = Field(description="Packaged model name, local folder, or hub id")
    prompt_version: str
    prompt_style: Literal["chat", "completion"] = "chat"
    endpoint: str | None = Field(None, description="Attach to an existing OpenAI-compatible URL")
    api_key_env: str | None = Field(None, description="Name of the environment variable with the key")
    gateway_secret: str | None = Field(None, description="Hosted entries: the MLflow AI Gateway secret that "
                                       "holds the provider key (set by the platform; product code never reads it)")
    serving: ServingSettings = ServingSettings()
    cost: GpuPricing | TokenPricing = Field(discriminator="pricing")

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[A-Z_][A-Z0-9_]*", v):
            raise ValueError("must be an environment variable NAME such as OPENAI_API_KEY")
        return v


class Sampling(_Strict):
    temperature: float = Field(0.0, ge=0.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    seed: int | None = Field(0, ge=0)
    repeats: int = Field(1, ge=1, le=50, description="Generations per case (distinct seeds); cases stay "
                         "the statistical unit and each case's acceptance becomes a rate")


class IncidentProcess(_Strict):
    runbook: str | None = None
    rollback_targets: list[Literal["model", "prompt", "tool_policy"]] = Field(
        default_factory=lambda: ["model", "prompt", "tool_policy"]
    )


class Scenario(_Strict):
    schema_version: int = Field(SCHEMA_VERSION, ge=1, le=SCHEMA_VERSION)
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9\-]*$")
    description: str
    template: str | None = Field(None, description="Golden-path template it was created from")
    intake_date: dt.date | None = None
    owners: Owners
    escalation_path: list[str] = Field(default_factory=list)
    raci: dict[str, RaciEntry] = Field(default_factory=dict)
    route_policy: RoutePolicy = RoutePolicy()
    context_budget: ContextBudget
    tool_policy: ToolPolicy = ToolPolicy()
    cache_strategy: CacheStrategy = CacheStrategy()
    cost_budget: CostBudget | None = None
    release_policy: ContractReleasePolicy = ContractReleasePolicy()
    incident_process: IncidentProcess = IncidentProcess()
    prompt_family: PromptFamily
    task: Task
    scoring: Scoring
    success_criteria: SuccessCriteria
    sampling: Sampling = Sampling()
    dataset: DatasetRef
    incumbent: str
    candidates: list[str] = Field(default_factory=list)
    models: dict[str, ModelEntry] = Field(min_length=1)

    def model_entry(self, name: str) -> ModelEntry:
        try:
            return self.models[name]
        except KeyError:
            known = ", ".join(sorted(self.models))
            from releasegate.core import InputError

            raise InputError(
                f"scenario {self.id!r} has no model entry {name!r}",
                field="models",
                fix=f"use one of: {known}",
            ) from None

    def prompt_version(self, version: str | None = None) -> PromptVersion:
        return self.prompt_family.versions[version or self.prompt_family.default_version]
