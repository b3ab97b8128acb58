"""One MLflow AI Gateway endpoint per scenario, derived from the ledger and nothing else.

The endpoint is named after the scenario. Its PRIMARY linked models are the live, verified
serving replicas of the version the ledger says `champion` holds (equal traffic weights); its
FALLBACK models are the replicas of the contract's `route_policy.fallback` entry, when that is
another entry. Each replica is an OpenAI-compatible vLLM server registered in the ledger by
`serve --scenario S --alias A` after `verify_servable` (`serving_started` / `serving_stopped`).

Ledger first: `switch_endpoint` appends `gateway_endpoint_set` (the full endpoint the gateway must
have) and then writes it to MLflow. `audit_endpoints` compares MLflow's endpoint with the last
such event (linked models, upstreams, weights, fallback order, guardrails) and each upstream's
served weights with what the ledger verified; `repair` writes the ledger's version back.

MLflow 3.17.2 measured (docs/GATEWAY.md): the gateway caches an endpoint's resolved config per
server process for `mlflow server --secrets-cache-ttl` seconds (default 60, minimum 10), and an
update made through the REST API does not clear the serving process's cache. A switch therefore
reaches traffic within that TTL; the old replicas must keep serving until then (`drain_s`).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

from releasegate.core import Refused
from releasegate.releases import (
    GatewayDriftDetected,
    GatewayEndpointSet,
    GatewayRepaired,
    Ledger,
    LedgerEvent,
    ServingStarted,
    ServingStopped,
    append_event,
    expected_aliases,
)
from releasegate.releases import mlflow_uri as resolve_mlflow_uri
from releasegate.scenarios import load_contract

from ._verify import ServableRelease

REPLICA_STARTED = "serving_started"
REPLICA_STOPPED = "serving_stopped"
ENDPOINT_SET = "gateway_endpoint_set"
ENDPOINT_DRIFT = "gateway_drift_detected"
ENDPOINT_REPAIRED = "gateway_repaired"
PROVIDER = "openai"  # vLLM speaks OpenAI's chat completions API
# vLLM does not check a key, but MLflow needs a secret per model definition (it carries api_base).
NO_KEY = "vllm-no-key"


@dataclass(frozen=True)
class LinkedModel:
    """One upstream of the endpoint, as the ledger wants it in MLflow."""

    name: str  # MLflow model definition name
    secret: str  # MLflow gateway secret name (holds the api_base)
    api_base: str
    model_name: str  # the model id the upstream serves
    linkage: str  # "PRIMARY" | "FALLBACK"
    weight: float
    fallback_order: int | None
    entry: str
    version: str | None
    weight_digest: str
    hosted: bool = False  # a provider API whose key is a platform-held gateway secret

    def key(self) -> tuple[Any, ...]:
        return (self.name, self.api_base, self.model_name, self.linkage, round(self.weight, 4),
                self.fallback_order)


@dataclass(frozen=True)
class EndpointSpec:
    name: str
    models: tuple[LinkedModel, ...]
    guardrails: tuple[str, ...] = ()
    # The contract's cost budget as MLflow budget policies on this endpoint (0 or 1 wanted).
    budgets: tuple[tuple[tuple[str, Any], ...], ...] = ()

    @property
    def primaries(self) -> list[LinkedModel]:
        return [m for m in self.models if m.linkage == "PRIMARY"]

    @property
    def fallbacks(self) -> list[LinkedModel]:
        return sorted((m for m in self.models if m.linkage == "FALLBACK"), key=lambda m: m.fallback_order or 0)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "models": [asdict(m) for m in self.models],
                "guardrails": list(self.guardrails), "budgets": [dict(b) for b in self.budgets]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EndpointSpec:
        models = tuple(LinkedModel(**{"fallback_order": None, "version": None, **m}) for m in data["models"])
        return cls(data["name"], models, tuple(data.get("guardrails") or ()),
                   tuple(_budget_key(b) for b in data.get("budgets") or ()))


def _budget_key(budget: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    return (("usd", round(float(budget["usd"]), 6)), ("window", str(budget["window"])),
            ("window_length", int(budget["window_length"])), ("action", str(budget["action"])))


def contract_budgets(scenario: Any) -> tuple[tuple[tuple[str, Any], ...], ...]:
    """The cost owner's budget from the contract (`cost_budget`), as the endpoint's budget policies."""
    b = scenario.cost_budget
    return () if b is None else (_budget_key(b.model_dump()),)


def endpoint_name(scenario_id: str) -> str:
    return scenario_id


# --- replicas (ledger) -----------------------------------------------------------------------

def record_replica(ledger: Ledger, release: ServableRelease, *, api_base: str, served_model: str,
                   actor: str | None = None) -> LedgerEvent:
    """A verified server for `release` is up at `api_base` (called after verify + start)."""
    return append_event(ledger, release.scenario_id, ServingStarted(
        api_base=api_base, served_model=served_model, alias=release.alias, version=release.version,
        entry=release.entry, model=release.model, decision_digest=release.decision_digest,
        weight_digest=release.weight_digest, weights_path=release.weights_path,
    ), subject=release.decision_digest, actor=actor)


def record_replica_stopped(ledger: Ledger, scenario_id: str, api_base: str, *, reason: str,
                           actor: str | None = None) -> LedgerEvent:
    return append_event(ledger, scenario_id, ServingStopped(api_base=api_base, reason=reason),
                        subject=api_base, actor=actor)


def live_replicas(ledger: Ledger, scenario_id: str) -> list[dict[str, Any]]:
    """Replicas started and not stopped since (by api_base; a restart on a port replaces it)."""
    live: dict[str, dict[str, Any]] = {}
    for ev in ledger.events(scenario_id=scenario_id, event_type=(REPLICA_STARTED, REPLICA_STOPPED)):
        if ev.event_type == REPLICA_STARTED:
            live[ev.payload["api_base"]] = {**ev.payload, "seq": ev.seq}
        else:
            live.pop(ev.payload["api_base"], None)
    return list(live.values())


# --- the desired endpoint ------------------------------------------------------------------

def _linked(sid: str, rep: dict[str, Any], linkage: str, weight: float, order: int | None) -> LinkedModel:
    where = rep["api_base"].split("://", 1)[-1].removesuffix("/v1")
    return LinkedModel(name=f"{sid}/{rep['entry']}@v{rep['version']}/{where}", secret=f"{sid}/upstream/{where}",
                       api_base=rep["api_base"], model_name=rep["served_model"], linkage=linkage,
                       weight=weight, fallback_order=order, entry=rep["entry"], version=rep["version"],
                       weight_digest=rep["weight_digest"])


def desired_endpoint(scenario: str, *, ledger: Ledger) -> EndpointSpec:
    """The endpoint the ledger implies now: champion replicas, then the route policy's fallback."""
    loaded = load_contract(scenario)
    sid = loaded.scenario.id
    champion = expected_aliases(ledger, sid).get("champion")
    reps = live_replicas(ledger, sid)
    primary = [r for r in reps if r["version"] == champion]
    if champion is None or not primary:
        raise Refused([f"no verified replica serves {sid}'s champion "
                       f"(version {champion or 'none'}): start one with "
                       f"`releasegate serve --scenario {sid} --alias champion`"], code="endpoint")
    models = [_linked(sid, r, "PRIMARY", round(1.0 / len(primary), 6), None)
              for r in sorted(primary, key=lambda r: r["api_base"])]
    fallback_entry = loaded.scenario.route_policy.fallback
    champion_entry = primary[0]["entry"]
    if fallback_entry and fallback_entry != champion_entry:
        backups = sorted((r for r in reps if r["entry"] == fallback_entry and r["version"] != champion),
                         key=lambda r: (-r["seq"], r["api_base"]))
        models += [_linked(sid, r, "FALLBACK", 1.0, i + 1) for i, r in enumerate(backups)]
        entry = loaded.scenario.models.get(fallback_entry)
        if not backups and entry is not None and entry.endpoint and entry.gateway_secret:
            # A hosted fallback: the provider's key stays in the gateway secret the contract names.
            models.append(LinkedModel(
                name=f"{sid}/{fallback_entry}/hosted", secret=entry.gateway_secret, api_base=entry.endpoint,
                model_name=entry.model, linkage="FALLBACK", weight=1.0, fallback_order=1, entry=fallback_entry,
                version=None, weight_digest="", hosted=True))
    return EndpointSpec(endpoint_name(sid), tuple(models), budgets=contract_budgets(loaded.scenario))


def expected_endpoint(ledger: Ledger, scenario_id: str) -> EndpointSpec | None:
    """What the ledger last said the endpoint is (None: releasegate never set it)."""
    events = ledger.events(scenario_id=scenario_id, event_type=(ENDPOINT_SET, ENDPOINT_REPAIRED))
    return EndpointSpec.from_dict(events[-1].payload["endpoint"]) if events else None


# --- MLflow's gateway store ----------------------------------------------------------------

def gateway_store(uri: str | None = None) -> Any:
    """MLflow's tracking store for `uri` (SQL store or a tracking server): it has the gateway API."""
    from mlflow.tracking._tracking_service.utils import _get_store

    return _get_store(resolve_mlflow_uri(uri))


def _secret_id(store: Any, model: LinkedModel) -> str:
    existing = {s.secret_name: s for s in store.list_secret_infos()}
    s = existing.get(model.secret)
    if model.hosted:  # the platform owns this key: never created or rewritten here
        if s is None:
            raise Refused([f"gateway secret {model.secret!r} for {model.entry} does not exist: the platform "
                           f"sets it with `releasegate gateway secret set --name {model.secret}`"], code="endpoint")
        return s.secret_id
    if s is None:
        return store.create_gateway_secret(secret_name=model.secret, secret_value={"api_key": NO_KEY},
                                           provider=PROVIDER, auth_config={"api_base": model.api_base}).secret_id
    if (s.auth_config or {}).get("api_base") != model.api_base:
        store.update_gateway_secret(s.secret_id, auth_config={"api_base": model.api_base})
    return s.secret_id


def _definition_id(store: Any, model: LinkedModel) -> str:
    defs = {d.name: d for d in store.list_gateway_model_definitions()}
    secret_id = _secret_id(store, model)
    d = defs.get(model.name)
    if d is None:
        return store.create_gateway_model_definition(name=model.name, secret_id=secret_id, provider=PROVIDER,
                                                     model_name=model.model_name).model_definition_id
    if d.secret_id != secret_id or d.model_name != model.model_name or d.provider != PROVIDER:
        store.update_gateway_model_definition(d.model_definition_id, secret_id=secret_id,
                                              model_name=model.model_name, provider=PROVIDER)
    return d.model_definition_id


def apply_endpoint(spec: EndpointSpec, *, mlflow_uri: str | None = None) -> None:
    """Make MLflow's endpoint exactly `spec` (create or replace its linked models)."""
    from mlflow.entities import FallbackConfig, GatewayEndpointModelConfig, RoutingStrategy
    from mlflow.entities.gateway_endpoint import FallbackStrategy, GatewayModelLinkageType
    from mlflow.exceptions import MlflowException

    store = gateway_store(mlflow_uri)
    configs = [GatewayEndpointModelConfig(
        model_definition_id=_definition_id(store, m), linkage_type=GatewayModelLinkageType(m.linkage),
        weight=m.weight, fallback_order=m.fallback_order) for m in spec.models]
    fallback = FallbackConfig(strategy=FallbackStrategy.SEQUENTIAL, max_attempts=max(1, len(spec.fallbacks)))
    try:
        ep = store.get_gateway_endpoint(name=spec.name)
    except MlflowException:
        ep = None
    if ep is None:
        ep = store.create_gateway_endpoint(name=spec.name, model_configs=configs,
                                           routing_strategy=RoutingStrategy.REQUEST_BASED_TRAFFIC_SPLIT,
                                           fallback_config=fallback, usage_tracking=True)
    else:
        store.update_gateway_endpoint(ep.endpoint_id, model_configs=configs,
                                      routing_strategy=RoutingStrategy.REQUEST_BASED_TRAFFIC_SPLIT,
                                      fallback_config=fallback)
        have = {g.guardrail_id for g in store.list_endpoint_guardrail_configs(ep.endpoint_id)}
        for gid in sorted(have - set(spec.guardrails)):
            store.remove_guardrail_from_endpoint(ep.endpoint_id, gid)
    _apply_budgets(store, ep.endpoint_id, spec.budgets)


def _endpoint_budget_policies(store: Any, endpoint_id: str) -> list[Any]:
    """MLflow's budget policies scoped to this endpoint (oldest first)."""
    policies, token = [], None
    while True:
        page = store.list_budget_policies(page_token=token)
        policies += [p for p in page if p.target_scope.value == "ENDPOINT" and p.target_value == endpoint_id]
        token = page.token
        if not token:
            return sorted(policies, key=lambda p: (p.created_at, p.budget_policy_id))


def _apply_budgets(store: Any, endpoint_id: str, budgets: tuple[tuple[tuple[str, Any], ...], ...]) -> None:
    """Create or update one ENDPOINT-scoped USD policy per budget; delete any other on the endpoint."""
    from mlflow.entities.gateway_budget_policy import (
        BudgetAction,
        BudgetDuration,
        BudgetDurationUnit,
        BudgetTargetScope,
        BudgetUnit,
    )

    have = _endpoint_budget_policies(store, endpoint_id)
    for i, budget in enumerate(dict(b) for b in budgets):
        args = dict(budget_unit=BudgetUnit.USD, budget_amount=budget["usd"],
                    duration=BudgetDuration(BudgetDurationUnit(budget["window"]), budget["window_length"]),
                    target_scope=BudgetTargetScope.ENDPOINT, budget_action=BudgetAction(budget["action"]),
                    target_value=endpoint_id)
        if i < len(have):
            if _policy_key(have[i]) != _budget_key(budget):
                store.update_budget_policy(have[i].budget_policy_id, updated_by="releasegate", **args)
        else:
            store.create_budget_policy(created_by="releasegate", **args)
    for extra in have[len(budgets):]:
        store.delete_budget_policy(extra.budget_policy_id)


def _policy_key(policy: Any) -> tuple[tuple[str, Any], ...]:
    return _budget_key({"usd": policy.budget_amount, "window": policy.duration.unit.value,
                        "window_length": policy.duration.value, "action": policy.budget_action.value})


def read_endpoint(scenario_id: str, *, mlflow_uri: str | None = None) -> EndpointSpec | None:
    """MLflow's endpoint for the scenario as it is (None when it does not exist)."""
    from mlflow.exceptions import MlflowException

    store = gateway_store(mlflow_uri)
    try:
        ep = store.get_gateway_endpoint(name=endpoint_name(scenario_id))
    except MlflowException:
        return None
    secrets = {s.secret_id: s for s in store.list_secret_infos()}
    models = []
    for m in ep.model_mappings:
        d = m.model_definition
        secret = secrets.get(d.secret_id) if d is not None else None
        models.append(LinkedModel(
            name=d.name if d else "?", secret=secret.secret_name if secret else "?",
            api_base=(secret.auth_config or {}).get("api_base", "") if secret else "",
            model_name=d.model_name if d else "?", linkage=m.linkage_type.value, weight=float(m.weight),
            fallback_order=m.fallback_order, entry="", version=None, weight_digest=""))
    guardrails = tuple(sorted(g.guardrail_id for g in store.list_endpoint_guardrail_configs(ep.endpoint_id)))
    budgets = tuple(_policy_key(p) for p in _endpoint_budget_policies(store, ep.endpoint_id))
    return EndpointSpec(ep.name, tuple(models), guardrails, budgets)


def endpoint_differences(want: EndpointSpec, have: EndpointSpec | None) -> list[str]:
    if have is None:
        return [f"endpoint {want.name} does not exist in MLflow's gateway"]
    out: list[str] = []
    w, h = {m.key() for m in want.models}, {m.key() for m in have.models}
    for k in sorted(h - w, key=str):
        out.append(f"linked model {k[0]} -> {k[1]} ({k[3]}, weight {k[4]}, fallback order {k[5]}) "
                   "is not in the ledger's endpoint")
    for k in sorted(w - h, key=str):
        out.append(f"linked model {k[0]} -> {k[1]} ({k[3]}, weight {k[4]}, fallback order {k[5]}) "
                   "is missing")
    if set(have.guardrails) != set(want.guardrails):
        out.append(f"guardrails {sorted(have.guardrails)} differ from the ledger's {sorted(want.guardrails)}")
    if sorted(have.budgets) != sorted(want.budgets):
        out.append(f"budget policies {[dict(b) for b in have.budgets]} differ from the ledger's "
                   f"{[dict(b) for b in want.budgets]}")
    return out


def upstream_problems(spec: EndpointSpec, ledger: Ledger, scenario_id: str, timeout_s: float = 3.0) -> list[str]:
    """Each upstream must still serve the weights the ledger verified (vLLM's /v1/models `root`)."""
    verified = {r["api_base"]: r for r in live_replicas(ledger, scenario_id)}
    out = []
    for m in spec.models:
        if m.hosted:  # a provider's API: no weights of ours to check
            continue
        rep = verified.get(m.api_base)
        if rep is None:
            out.append(f"upstream {m.api_base} is not a live verified replica in the ledger")
            continue
        try:
            data = httpx.get(m.api_base.rstrip("/") + "/models", timeout=timeout_s).json()["data"]
        except Exception as exc:
            out.append(f"upstream {m.api_base} does not answer /v1/models: {type(exc).__name__}")
            continue
        roots = {d.get("root") for d in data if d.get("id") == m.model_name}
        if not roots:
            out.append(f"upstream {m.api_base} does not serve {m.model_name}")
        elif rep.get("weights_path") and roots != {rep["weights_path"]} and roots != {None}:
            out.append(f"upstream {m.api_base} serves weights from {sorted(map(str, roots))}, the ledger verified "
                       f"{rep['weights_path']}")
    return out


def set_provider_secret(name: str, api_key: str, *, api_base: str, provider: str = PROVIDER,
                        mlflow_uri: str | None = None) -> str:
    """The platform stores a hosted provider's key as a gateway secret (encrypted by MLflow)."""
    store = gateway_store(mlflow_uri)
    existing = {s.secret_name: s for s in store.list_secret_infos()}
    if name in existing:
        store.update_gateway_secret(existing[name].secret_id, secret_value={"api_key": api_key},
                                    auth_config={"api_base": api_base})
        return existing[name].secret_id
    return store.create_gateway_secret(secret_name=name, secret_value={"api_key": api_key}, provider=provider,
                                       auth_config={"api_base": api_base}).secret_id


def provider_key_findings(scenarios: list[Any]) -> dict[str, list[str]]:
    """Governance: hosted entries whose key is read from an environment variable by whoever runs
    them (the "product team owns provider keys" anti-pattern) instead of a gateway secret."""
    out: dict[str, list[str]] = {}
    for loaded in scenarios:
        for name, env in _keys_outside_gateway(loaded.scenario).items():
            out.setdefault(loaded.scenario.id, []).append(
                f"{name}: provider key read from ${env}, outside the gateway: name a gateway_secret "
                "(platform-held), or open an exception of kind direct_provider_key (`governance --open-exceptions`)")
    return out


PROVIDER_KEY_EXCEPTION_DAYS = 90  # the platform owner's time to move the key into a gateway secret


def _keys_outside_gateway(scenario: Any) -> dict[str, str]:
    return {name: entry.api_key_env for name, entry in sorted(scenario.models.items())
            if entry.endpoint and entry.api_key_env and not entry.gateway_secret}


def open_provider_key_exceptions(scenarios: list[Any], *, ledger: Ledger, actor: str | None = None,
                                 today: dt.date | None = None) -> dict[str, str]:
    """`governance --open-exceptions`: for each scenario whose hosted entries read a provider key from
    an environment variable, the `direct_provider_key` exception that covers it, owned by the
    scenario's platform owner and expiring in PROVIDER_KEY_EXCEPTION_DAYS. Opened once: while one
    is open (even overdue: the register flags that) it is the one returned, nothing new is
    written; a closed one does not cover a key still outside the gateway. {scenario: exception id}."""
    from releasegate.releases import list_exceptions, open_exception

    today = today or dt.datetime.now(dt.timezone.utc).date()
    out: dict[str, str] = {}
    for loaded in scenarios:
        s = loaded.scenario
        keys = _keys_outside_gateway(s)
        if not keys or s.owners.platform is None:
            continue
        current = [r for r in list_exceptions(ledger, scenario_id=s.id) if r.kind == "direct_provider_key" and r.is_open]
        if current:
            out[s.id] = current[0].exception_id
            continue
        named = ", ".join(f"{entry} (${env})" for entry, env in keys.items())
        out[s.id] = open_exception(
            s.id, owner=s.owners.platform.id, kind="direct_provider_key", ledger=ledger, actor=actor, today=today,
            expires=today + dt.timedelta(days=PROVIDER_KEY_EXCEPTION_DAYS),
            reason=f"hosted entries read their provider key from the environment, outside the gateway: {named}; "
                   "fix: `releasegate gateway secret set` and models.<entry>.gateway_secret, then close this "
                   "exception").exception_id
    return out


# --- ledger-first switch, audit, repair ------------------------------------------------------

@dataclass
class EndpointFinding:
    scenario_id: str
    reasons: list[str]
    repaired: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class SwitchResult:
    scenario_id: str
    endpoint: EndpointSpec
    changed: bool
    event: LedgerEvent | None = None
    previous: EndpointSpec | None = None
    notes: list[str] = field(default_factory=list)


def switch_endpoint(scenario: str, *, ledger: Ledger | None = None, mlflow_uri: str | None = None,
                    reason: str = "follow the champion", actor: str | None = None) -> SwitchResult:
    """Point the scenario's endpoint at what the ledger now releases: ledger event, then MLflow."""
    ledger = ledger or Ledger.open()
    loaded = load_contract(scenario)
    sid = loaded.scenario.id
    with ledger.scenario_lock(sid) as conn:
        spec = desired_endpoint(sid, ledger=ledger)
        before = expected_endpoint(ledger, sid)
        if (before is not None and {m.key() for m in before.models} == {m.key() for m in spec.models}
                and sorted(before.budgets) == sorted(spec.budgets)):
            ev = None
        else:
            ev = append_event(ledger, sid, GatewayEndpointSet(
                endpoint=spec.to_dict(), reason=reason,
                champion_version=expected_aliases(ledger, sid, conn).get("champion"),
            ), subject=spec.name, actor=actor, conn=conn)
    apply_endpoint(spec, mlflow_uri=mlflow_uri)
    return SwitchResult(sid, spec, ev is not None, ev, before)


def follow_release(scenario: str, *, ledger: Ledger | None = None, mlflow_uri: str | None = None,
                   reason: str = "follow the champion", actor: str | None = None) -> SwitchResult | None:
    """After promote/rollback (flows call it): move the endpoint if releasegate manages one.

    None when the scenario has no endpoint yet; Refused when no verified replica serves the
    new champion (the endpoint keeps serving what it served: start one, then `gateway switch`).
    """
    ledger = ledger or Ledger.open()
    sid = load_contract(scenario).scenario.id
    if expected_endpoint(ledger, sid) is None:
        return None
    return switch_endpoint(sid, ledger=ledger, mlflow_uri=mlflow_uri, reason=reason, actor=actor)


def audit_endpoints(scenario_ids: list[str] | None = None, *, repair: bool = False, ledger: Ledger | None = None,
                    mlflow_uri: str | None = None, actor: str | None = None,
                    check_upstreams: bool = True) -> list[EndpointFinding]:
    """Compare every scenario endpoint releasegate set with MLflow's; repair writes the ledger's back."""
    ledger = ledger or Ledger.open()
    ids = scenario_ids or ledger.scenario_ids((ENDPOINT_SET,))  # from the index, no payload parsed
    findings = []
    for sid in ids:
        want = expected_endpoint(ledger, sid)
        if want is None:
            continue
        have = read_endpoint(sid, mlflow_uri=mlflow_uri)
        reasons = endpoint_differences(want, have)
        if check_upstreams:
            reasons += upstream_problems(want, ledger, sid)
        if not reasons:
            continue
        finding = EndpointFinding(sid, reasons)
        append_event(ledger, sid, GatewayDriftDetected(endpoint=want.name, reasons=reasons,
                                                       actual=have.to_dict() if have else None),
                     subject=want.name, actor=actor)
        if repair and endpoint_differences(want, have):
            apply_endpoint(want, mlflow_uri=mlflow_uri)
            append_event(ledger, sid, GatewayRepaired(endpoint=want.to_dict(),
                                                      previous=have.to_dict() if have else None),
                         subject=want.name, actor=actor)
            finding.repaired = not upstream_problems(want, ledger, sid) if check_upstreams else True
        findings.append(finding)
    return findings
