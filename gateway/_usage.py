"""Production usage per scenario from the gateway's traces: requests, tokens, latency, cost.

MLflow writes one trace per request to the endpoint's experiment (usage tracking on), with the
token usage in `mlflow.trace.tokenUsage` and the request's duration. Latency p95 is compared with
the contract's `latency_slo.latency_p95_s`. Cost uses the serving entry's contract price: tokens
at a token price, or, GPU-priced, the replicas' accelerator-hours over the traced window
(the first request's start to the last one's end) at `usd_per_hour` x `count` x replicas. MLflow's own trace cost is 0 for a
self-hosted model (no price for its name), so it is not used.
"""
from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import asdict, dataclass
from typing import Any

from releasegate.releases import Ledger, list_incidents, open_regression_alert
from releasegate.releases import mlflow_uri as resolve_mlflow_uri
from releasegate.scenarios import load_contract

from ._endpoint import endpoint_name, expected_endpoint, gateway_store


@dataclass(frozen=True)
class GatewayUsage:
    scenario_id: str
    requests: int
    errors: int
    input_tokens: int
    output_tokens: int
    latency_p50_s: float | None
    latency_p95_s: float | None
    latency_slo_p95_s: float | None
    meets_latency_slo: bool | None
    cost_usd: float | None
    cost_basis: str
    window_s: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def gateway_usage(scenario: str, *, mlflow_uri: str | None = None, ledger: Ledger | None = None,
                  max_traces: int = 5000, since_ms: int | None = None) -> GatewayUsage:
    """Usage from the endpoint's traces (those from `since_ms`, epoch milliseconds, when given)."""
    from mlflow import MlflowClient

    loaded = load_contract(scenario)
    s = loaded.scenario
    uri = resolve_mlflow_uri(mlflow_uri)
    ep = gateway_store(uri).get_gateway_endpoint(name=endpoint_name(s.id))
    client = MlflowClient(tracking_uri=uri)
    traces, token = [], None
    while len(traces) < max_traces:
        page = client.search_traces(locations=[ep.experiment_id], max_results=500, page_token=token,
                                    include_spans=False,
                                    filter_string=None if since_ms is None else f"trace.timestamp_ms >= {since_ms}")
        traces += list(page)
        token = page.token
        if not token:
            break
    durations, starts, ends, tin, tout, errors = [], [], [], 0, 0, 0
    for t in traces:
        info = t.info
        meta = info.trace_metadata or {}
        usage = json.loads(meta.get("mlflow.trace.tokenUsage") or "{}")
        tin += int(usage.get("input_tokens") or 0)
        tout += int(usage.get("output_tokens") or 0)
        errors += str(getattr(info.state, "value", info.state)) == "ERROR"
        starts.append(info.request_time / 1000.0)
        ends.append(starts[-1])
        if info.execution_duration is not None:
            durations.append(info.execution_duration / 1000.0)
            ends[-1] += durations[-1]
    window = (max(ends) - min(starts)) if starts else 0.0  # first request's start to the last one's end
    slo = s.success_criteria.latency_slo.latency_p95_s if s.success_criteria.latency_slo else None
    p95 = _quantile(durations, 0.95)
    cost, basis = None, "no serving entry known"
    want = expected_endpoint(ledger or Ledger.open(), s.id)
    entries = {m.entry for m in want.primaries} if want else set()
    if len(entries) == 1:
        entry = s.models[entries.pop()]
        if entry.cost.pricing == "token":
            cost = tin * entry.cost.usd_per_million_input / 1e6 + tout * entry.cost.usd_per_million_output / 1e6
            basis = "tokens at the entry's token price"
        else:
            replicas = len(want.primaries) if want else 1
            cost = window / 3600 * entry.cost.usd_per_hour * entry.cost.count * replicas
            basis = f"{replicas} replica(s) x {entry.cost.count} {entry.cost.accelerator} over the traced window"
    return GatewayUsage(s.id, len(traces), errors, tin, tout, _quantile(durations, 0.5), p95, slo,
                        None if p95 is None or slo is None else p95 <= slo, cost, basis, window)


@dataclass(frozen=True)
class BudgetStatus:
    scenario_id: str
    budget_usd: float
    spend_usd: float
    action: str  # REJECT | ALERT
    window_start: str  # ISO time
    cost_basis: str
    owner: str | None

    @property
    def exceeded(self) -> bool:
        return self.spend_usd >= self.budget_usd

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "exceeded": self.exceeded}


def budget_status(scenario: str, *, mlflow_uri: str | None = None, ledger: Ledger | None = None,
                  now: dt.datetime | None = None) -> BudgetStatus | None:
    """Spend in the contract's current budget window (None: the contract has no `cost_budget`).

    MLflow's own budget tracking prices a self-hosted model at 0 (no price for its name), so the
    spend here is the serving entry's contract price over the window's traces (as `gateway_usage`);
    the window is aligned as MLflow aligns the endpoint's budget policy (epoch minutes/hours/days,
    Sunday weeks, first of the month)."""
    from mlflow.entities.gateway_budget_policy import BudgetDuration, BudgetDurationUnit
    from mlflow.gateway.budget_tracker import _compute_window_start

    s = load_contract(scenario).scenario
    b = s.cost_budget
    if b is None:
        return None
    start = _compute_window_start(BudgetDuration(BudgetDurationUnit(b.window), b.window_length),
                                  now or dt.datetime.now(dt.timezone.utc))
    usage = gateway_usage(s.id, mlflow_uri=mlflow_uri, ledger=ledger, since_ms=int(start.timestamp() * 1000))
    return BudgetStatus(s.id, b.usd, usage.cost_usd or 0.0, b.action, start.isoformat(), usage.cost_basis, b.owner)


PRODUCTION_LATENCY = "production_latency"
TRAFFIC_WINDOW_S = 30 * 86400.0  # governance counts the last 30 days of production traffic


def production_regressions(scenario_ids: list[str], *, ledger: Ledger, mlflow_uri: str | None = None,
                           since_s: float = 3600.0, min_requests: int = 20,
                           actor: str | None = "regression-check") -> list[dict[str, Any]]:
    """The regression check's production half: the champion's p95 latency over the last `since_s`
    seconds of the endpoint's traces against the contract's SLO. Over it (with at least
    `min_requests` traced requests: a p95 of a handful is noise) a `regression_detected` event and
    an incident for the incident owner, once while such an incident is open. One entry per
    scenario whose endpoint releasegate manages: {scenario, champion, usage | error, alert}."""
    out: list[dict[str, Any]] = []
    since_ms = int((dt.datetime.now(dt.timezone.utc).timestamp() - since_s) * 1000)
    for sid in scenario_ids:
        want = expected_endpoint(ledger, sid)
        if want is None or not want.primaries:
            continue
        try:
            usage = gateway_usage(sid, mlflow_uri=mlflow_uri, ledger=ledger, since_ms=since_ms)
        except Exception as exc:  # MLflow down or the endpoint gone: say so, the dataset check still runs
            out.append({"scenario": sid, "error": f"{type(exc).__name__}: {exc}", "alert": None})
            continue
        entry: dict[str, Any] = {"scenario": sid, "champion": want.primaries[0].entry, "usage": usage.to_dict(),
                                 "alert": None}
        out.append(entry)
        if usage.meets_latency_slo is not False or usage.requests < min_requests:
            continue
        already = [i for i in list_incidents(ledger, scenario_id=sid, open_only=True)
                   if i.source == "regression" and " in production: " in i.summary]
        if already:
            entry["alert"] = already[0].incident_id
            continue
        entry["alert"] = open_regression_alert(
            sid, champion=entry["champion"], verdict_path=None, report_path=None, ledger=ledger, actor=actor,
            reason=f"p95 latency {usage.latency_p95_s:.3f} s over the SLO {usage.latency_slo_p95_s} s "
                   f"({usage.requests} requests through the gateway in the last {since_s:.0f} s)",
            signal={"kind": PRODUCTION_LATENCY, "since_s": since_s, **usage.to_dict()})
    return out


def prefix_cache(scenario: str, *, ledger: Ledger, timeout_s: float = 3.0) -> dict[str, Any]:
    """The cache strategy at run time: the champion's replicas' prefix-cache hit rate (vLLM's
    Prometheus counters `vllm:prefix_cache_hits_total` / `vllm:prefix_cache_queries_total`, in
    tokens, summed over the replicas since each started) against the contract's
    `cache_strategy.min_prefix_cache_hit_rate` (its owner named). A replica whose /metrics does not
    answer is listed under `unreachable`; no queries yet: the rate and the verdict are None."""
    from releasegate.gpu import scrape

    s = load_contract(scenario).scenario
    want = expected_endpoint(ledger, s.id)
    bases = [m.api_base for m in want.primaries] if want else []
    replicas, unreachable = [], []
    for base in bases:
        metrics = scrape(base.rstrip("/").removesuffix("/v1"), timeout_s=timeout_s)
        if metrics is None:
            unreachable.append(base)
            continue
        replicas.append({"api_base": base, "hits": metrics.get("vllm:prefix_cache_hits_total", 0.0),
                         "queries": metrics.get("vllm:prefix_cache_queries_total", 0.0)})
    hits, queries = sum(r["hits"] for r in replicas), sum(r["queries"] for r in replicas)
    rate = hits / queries if queries > 0 else None
    slo = s.cache_strategy.min_prefix_cache_hit_rate
    return {"hits": hits, "queries": queries, "hit_rate": rate, "min_hit_rate": slo,
            "meets_slo": None if rate is None else rate >= slo, "owner": s.cache_strategy.owner,
            "replicas": replicas, "unreachable": unreachable}


def portfolio_usage(ledger: Ledger, scenario_ids: list[str], *, mlflow_uri: str | None = None,
                    since_s: float = TRAFFIC_WINDOW_S) -> dict[str, Any]:
    """Governance's view: usage over the last `since_s` per scenario whose endpoint releasegate
    manages (errors as text)."""
    since_ms = int((dt.datetime.now(dt.timezone.utc).timestamp() - since_s) * 1000)
    out: dict[str, Any] = {}
    for sid in scenario_ids:
        if expected_endpoint(ledger, sid) is None:
            continue
        try:
            out[sid] = {**gateway_usage(sid, mlflow_uri=mlflow_uri, ledger=ledger, since_ms=since_ms).to_dict(),
                        "prefix_cache": prefix_cache(sid, ledger=ledger)}
        except Exception as exc:  # MLflow down or the endpoint gone: say so, do not fail governance
            out[sid] = {"error": f"{type(exc).__name__}: {exc}"}
    return out
