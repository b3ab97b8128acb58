"""The ledger's event types: one typed payload model per type, registered here and nowhere else.

Every list of event types (the ledger's known types, the events pushed to MLflow, the
alias-moving events, the exception and incident registers, governance's support load) derives
from `EVENTS`. The JSON Schema of each payload is published under docs/schemas/events/.

Add an event type with a few lines in this module:

    @event("gateway_route_changed", groups=("gateway",))
    class GatewayRouteChanged(EventPayload):
        route: str
        reason: str

then write it with `append_event(ledger, scenario_id, GatewayRouteChanged(route=..., reason=...),
subject=..., actor=...)`. The model is the builder: a missing or misspelt field is a
`pydantic.ValidationError` before anything is written. An event type with several shapes (a
rollback of a model, a prompt or a tool policy) registers one model per shape, each with a
`target` literal; the payload schema is their discriminated union.

The ledger's hashing and canonical form are `_ledger.py`'s; this module only says what a payload
may contain. Rows written before a field existed stay valid rows of the chain: readers of old
rows use `payload.get(...)`, and `parse_payload(..., strict=False)` ignores what it does not know.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, TypeAdapter, model_serializer

if TYPE_CHECKING:
    from ._actors import ActorSigner
    from ._ledger import Ledger, LedgerEvent

VerdictDecision = Literal["PASS", "FAIL", "INCONCLUSIVE"]


class PayloadModel(BaseModel):
    """Frozen; a field not declared is an error. An optional field (default None) that is None is
    left out of the stored object, so adding one later does not change existing payloads."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_serializer(mode="wrap")
    def _omit_unset_optionals(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = handler(self)
        fields = type(self).model_fields
        return {k: v for k, v in data.items()
                if v is not None or k not in fields or fields[k].is_required() or fields[k].default is not None}


class EventPayload(PayloadModel):
    """Base of every event payload model."""

    event_type: ClassVar[str] = ""

    def to_payload(self) -> dict[str, Any]:
        """The JSON object stored in the ledger row."""
        return self.model_dump(mode="json")


@dataclass(frozen=True)
class EventSpec:
    name: str
    models: tuple[type[EventPayload], ...]
    groups: frozenset[str]
    support_load: str | None = None  # governance's monthly support-load counter it feeds

    @property
    def adapter(self) -> TypeAdapter[Any]:
        if len(self.models) == 1:
            return TypeAdapter(self.models[0])
        return TypeAdapter(Annotated[Union[self.models], Field(discriminator="target")])  # noqa: UP007

    def json_schema(self) -> dict[str, Any]:
        schema = self.adapter.json_schema()
        return {"$schema": "https://json-schema.org/draft/2020-12/schema",
                "$id": f"https://releasegate.dev/schemas/events/{self.name}.schema.json",
                "title": f"releasegate ledger event payload: {self.name}", **schema}


EVENTS: dict[str, EventSpec] = {}


def event(name: str, *, groups: tuple[str, ...] = (), support_load: str | None = None) -> Any:
    """Register a payload model for the event type `name` (again for another shape of it)."""

    def register(cls: type[EventPayload]) -> type[EventPayload]:
        cls.event_type = name
        known = EVENTS.get(name)
        if known is not None and len(known.models) >= 1 and "target" not in cls.model_fields:
            raise TypeError(f"{cls.__name__}: a second shape of {name!r} needs a `target` literal")
        EVENTS[name] = EventSpec(
            name, (*(known.models if known else ()), cls),
            frozenset(groups) | (known.groups if known else frozenset()),
            support_load or (known.support_load if known else None))
        return cls

    return register


def event_types(group: str | None = None) -> tuple[str, ...]:
    """Every registered event type (registration order), or those in `group`."""
    return tuple(name for name, spec in EVENTS.items() if group is None or group in spec.groups)


def parse_payload(event_type: str, payload: dict[str, Any], *, strict: bool = True) -> EventPayload:
    """The typed payload of a stored row. `strict=False` keeps only the fields this version knows
    and checks nothing (rows written by an older or newer releasegate)."""
    spec = EVENTS.get(event_type)
    if spec is None:
        raise ValueError(f"unknown ledger event type {event_type!r}: register it in releases/_events.py")
    if strict:
        return spec.adapter.validate_python(payload)  # type: ignore[no-any-return]
    model = next((m for m in spec.models if len(spec.models) == 1 or payload.get("target") in
                  getattr(m.model_fields["target"].annotation, "__args__", ())), spec.models[0])
    return model.model_construct(**{k: v for k, v in payload.items() if k in model.model_fields})


def append_event(ledger: Ledger, scenario_id: str, payload: EventPayload, *, subject: str | None = None,
                 actor: str | None = None, conn: Any = None, signer: ActorSigner | None = None) -> LedgerEvent:
    """Append a typed event to the ledger (inside `conn`'s transaction if given); a privileged
    event is signed by `signer` (else the ledger's / $RELEASEGATE_ACTOR_KEY's, see `_actors.py`)."""
    return ledger.append(payload.event_type, scenario_id, payload.to_payload(), subject=subject,
                         actor=actor, conn=conn, signer=signer)


# --- the registered event types ---------------------------------------------------------------

@event("evaluated", groups=("mlflow_sync",))
class Evaluated(EventPayload):
    """A decision (unsigned envelope) was written for an evaluation. Subject: its digest."""
    decision_digest: str
    decision_id: str
    decision_path: str
    verdict: VerdictDecision
    candidate_entry: str
    cases_used: int  # a sequential run may stop before the dataset is exhausted
    cases_total: int
    sequential: bool
    weight_digest: str
    records_paths: list[str]
    report_path: str | None
    prompt_family: dict[str, Any]  # the contract's prompt family at evaluation time
    envelope: dict[str, Any]


@event("approved", groups=("mlflow_sync",))
class Approved(EventPayload):
    """An owner signed a decision. Subject: the decision digest; actor: the signer."""
    decision_digest: str
    role: str
    identity: str
    fingerprint: str
    # approve --by-policy: the platform's signed release policy signed, each condition recorded
    by_policy: bool | None = None
    policy_sha256: str | None = None
    root_version: int | None = None
    conditions: list[dict[str, Any]] | None = None


class PromptRef(PayloadModel):
    name: str
    version: str
    uri: str | None


class Signer(PayloadModel):
    role: str
    identity: str
    fingerprint: str
    by_policy: bool | None = None  # the platform signed through its signed release policy
    policy_sha256: str | None = None


@event("promoted", groups=("alias_move",))
class Promoted(EventPayload):
    """An alias moved to a signed, passing (or excepted) decision's model version."""
    target: Literal["model"] = "model"
    alias: str
    model_name: str
    version: str
    from_version: str | None
    aliases: dict[str, str]  # the registered model's full alias state after the move
    decision_digest: str
    weight_digest: str | None
    prompt: PromptRef
    tool_policy_version: str | None
    verdict: VerdictDecision
    exception_id: str | None
    signers: list[Signer]
    envelope: dict[str, Any]  # signed
    intent_seq: int | None = None  # the promotion_intent this completes (issue 13)


@event("rolled_back", groups=("alias_move",), support_load="rollbacks")
class ModelRolledBack(EventPayload):
    target: Literal["model"]
    alias: str
    model_name: str
    from_version: str | None
    to_version: str
    reason: str
    aliases: dict[str, str]
    decision_digest: str


@event("rolled_back")
class PromptRolledBack(EventPayload):
    target: Literal["prompt"]
    prompt_name: str
    alias: str
    from_version: str | None  # MLflow prompt versions
    to_version: str
    from_contract_version: str | None
    to_contract_version: str | None
    reason: str


@event("rolled_back")
class ToolPolicyRolledBack(EventPayload):
    target: Literal["tool_policy"]
    from_version: str
    to_version: str
    reason: str


@event("alias_drift_detected")
class AliasDriftDetected(EventPayload):
    """An alias differs from what the ledger says. Subject: "<model>@<alias>", or
    "prompts:/<prompt>@<alias>" for a prompt registry alias (target "prompt", prompt_name)."""
    alias: str
    actual_version: str | None
    expected_version: str | None
    reasons: list[str]
    target: Literal["model", "prompt"] | None = None
    prompt_name: str | None = None


@event("alias_repaired", groups=("alias_move",), support_load="alias_repairs")
class AliasRepaired(EventPayload):
    target: Literal["model"] = "model"
    alias: str
    from_version: str | None
    to_version: str | None
    aliases: dict[str, str]


@event("alias_repaired")
class PromptAliasRepaired(EventPayload):
    """`audit --repair` moved a prompt registry alias back (MLflow prompt versions)."""
    target: Literal["prompt"]
    prompt_name: str
    alias: str
    from_version: str | None
    to_version: str | None


@event("synced")
class Synced(EventPayload):
    """Rows pushed late by `releasegate sync` (rows pushed at once are marked in `ledger_sync`)."""
    target: Literal["mlflow"] = "mlflow"
    seqs: list[int]


@event("exception_opened", groups=("exception",), support_load="exceptions")
class ExceptionOpened(EventPayload):
    exception_id: str
    kind: str
    owner: str
    reason: str
    expires: str  # ISO date
    review_interval_days: int


@event("exception_reviewed", groups=("exception",))
class ExceptionReviewed(EventPayload):
    exception_id: str
    reviewer: str
    note: str | None
    next_review_due: str  # ISO date


@event("exception_closed", groups=("exception",))
class ExceptionClosed(EventPayload):
    exception_id: str
    resolution: str | None
    closed_by: str | None


@event("incident_opened", groups=("incident",))
class IncidentOpened(EventPayload):
    incident_id: str
    severity: str
    summary: str
    owner: str
    escalation_path: list[str]
    runbook: str | None
    rollback_targets: list[str]
    source: str  # "manual", "regression", ...
    context: dict[str, Any] | None = None  # what the opener adds (e.g. the gateway's signal)


@event("incident_linked", groups=("incident",))
class IncidentLinked(EventPayload):
    incident_id: str
    action: str
    ledger_seq: int  # the rolled_back row
    target: str
    from_version: str | None
    to_version: str | None


@event("incident_closed", groups=("incident",))
class IncidentClosed(EventPayload):
    incident_id: str
    resolution: str
    closed_by: str | None
    time_to_restore_s: float


@event("regression_detected")
class RegressionDetected(EventPayload):
    """A champion failed its gate on the current dataset, or broke its SLO in production (`signal`).
    Subject: the champion."""
    champion: str
    alias: str
    verdict_path: str | None
    verdict: VerdictDecision
    verdict_reason: str | None
    report_path: str | None
    incident_id: str
    signal: dict[str, Any] | None = None  # a production signal (the gateway's traces) instead of a verdict


class RootSigner(PayloadModel):
    identity: str
    fingerprint: str


@event("trust_portfolio_root", groups=("trust",))
class TrustPortfolioRoot(EventPayload):
    """A verified portfolio root version (releases/_trust.py). Subject: "sha256:<digest>"."""
    version: int
    sha256: str
    expires: str  # ISO time
    signers: list[RootSigner]
    changes: list[str]
    metadata: dict[str, Any]  # the TUF root metadata, as signed


@event("trust_scenario_root", groups=("trust",))
class TrustScenarioRoot(EventPayload):
    """A verified scenario root version (releases/_trust.py). Subject: "sha256:<digest>"."""
    version: int
    sha256: str
    expires: str
    criteria_sha256: str
    release_policy_sha256: str | None
    signers: list[RootSigner]
    changes: list[str]
    metadata: dict[str, Any]


@event("decision_revoked", groups=("revocation",))
class DecisionRevoked(EventPayload):
    """A decision is withdrawn: nothing may be served or promoted from it. Subject: its digest.
    Written by a model rollback for the decision that released the version rolled back from."""
    decision_digest: str
    reason: str
    version: str | None = None  # the model version it had released
    rolled_back_seq: int | None = None
    promoted_seq: int | None = None


# --- the gateway stage (issue 17): verified serving replicas and the scenario endpoint ----------

@event("serving_started", groups=("serving",))
class ServingStarted(EventPayload):
    """A vLLM server for a verified release is up (after verify_servable). Subject: decision digest."""
    api_base: str
    served_model: str
    alias: str
    version: str
    entry: str
    model: str
    decision_digest: str
    weight_digest: str
    weights_path: str


@event("serving_stopped", groups=("serving",))
class ServingStopped(EventPayload):
    """A replica left service. Subject: its api_base."""
    api_base: str
    reason: str


class GatewayLinkedModel(PayloadModel):
    name: str
    secret: str
    api_base: str
    model_name: str
    linkage: Literal["PRIMARY", "FALLBACK"]
    weight: float
    fallback_order: int | None = None
    entry: str
    version: str | None = None
    weight_digest: str
    hosted: bool = False  # a provider's API behind a platform-held gateway secret


class GatewayBudget(PayloadModel):
    """The contract's cost budget as an MLflow gateway budget policy (scope ENDPOINT, USD)."""
    usd: float
    window: Literal["MINUTES", "HOURS", "DAYS", "WEEKS", "MONTHS"]
    window_length: int
    action: Literal["REJECT", "ALERT"]


class GatewayEndpointState(PayloadModel):
    name: str
    models: list[GatewayLinkedModel]
    guardrails: list[str] = []
    budgets: list[GatewayBudget] = []  # rows written before budgets existed have none


@event("gateway_endpoint_set", groups=("serving", "serving_endpoint"))
class GatewayEndpointSet(EventPayload):
    """The scenario's MLflow AI Gateway endpoint as it must be, written before MLflow is changed."""
    endpoint: GatewayEndpointState
    reason: str
    champion_version: str | None = None


@event("gateway_drift_detected", groups=("serving",))
class GatewayDriftDetected(EventPayload):
    endpoint: str
    reasons: list[str]
    actual: dict[str, Any] | None = None


@event("gateway_repaired", groups=("serving", "serving_endpoint"))
class GatewayRepaired(EventPayload):
    """`audit --repair` wrote the ledger's endpoint back to MLflow; `previous` is what it found."""
    endpoint: GatewayEndpointState
    previous: dict[str, Any] | None = None


@event("gateway_request_refused", groups=("serving",))
class GatewayRequestRefused(EventPayload):
    """The policy layer refused a request (context budget, tool policy, cost budget spent).
    Subject: "<scenario>:request"."""
    kinds: list[Literal["context_budget", "tool_policy", "cost_budget"]]
    reasons: list[str]
    prompt_tokens: int
    token_count: str  # how the tokens were counted
    tools: list[str]
@event("gateway_budget_exceeded", groups=("serving",))
class GatewayBudgetExceeded(EventPayload):
    """The endpoint's spend in the current budget window reached the contract's cost budget (once per
    window; REJECT: requests are refused from now on, ALERT: recorded only). Subject: the endpoint."""
    spend_usd: float
    budget: GatewayBudget
    window_start: str  # ISO time, MLflow's window alignment
    cost_basis: str
    owner: str | None = None


@event("promotion_intent")
class PromotionIntent(EventPayload):
    """Committed before any alias moves (issue 13): the `promoted` payload planned, the model
    aliases before it, the prompt alias move, and who is doing it. Subject: the decision digest.
    An intent with no `promoted`/`promotion_abandoned` naming its seq was interrupted."""
    planned: dict[str, Any]
    moves: list[str]  # model aliases this promotion sets
    aliases_before: dict[str, str]
    prompt_alias: dict[str, Any] | None  # {name, alias, from, to} (MLflow prompt versions)
    owner: dict[str, Any]  # {host, pid, started_at}


@event("promotion_abandoned")
class PromotionAbandoned(EventPayload):
    """An interrupted promotion was undone: model and prompt aliases restored. Subject: digest."""
    intent_seq: int
    aliases: dict[str, str]
    restored_prompt: str | None
    reason: str
