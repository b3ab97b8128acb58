"""Governance metrics: the portfolio's operating model, computed from contracts and the ledger.

`governance_metrics(ledger, scenarios, now=None) -> dict` (JSON-safe, schema
`releasegate.governance/v1`): a `portfolio` summary and one entry per scenario. Definitions:

- owners_complete: product, platform, quality, cost and incident owners, and owners of route
  policy, context budget, tool policy, cache strategy and prompt family, are all named.
- eval_coverage: the dataset file exists and matches its digest, the gate can block (a minimum
  acceptance rate above 0 or a critical check), and an evaluation is recorded within
  `recent_days` (30).
- cost_review: a release (promoted event) whose decision ran a cost check
  (max_cost_per_accepted or cost_ratio) that was not skipped; quality_and_cost_review: also a
  quality check (non_inferiority or min_acceptance_rate) that was not skipped.
- exceptions: open, overdue (expired or unreviewed), undocumented (promotions of a non-PASS
  verdict citing no exception the register knows on that scenario).
- incidents: total, open, closed; MTTR = mean open-to-close time of closed incidents (hours).
- onboarding_days: the contract's intake_date to the first PASS evaluation.
- self_service: created from a template (`template:`) AND released (promoted) with no exception
  ever opened on the scenario.
- support_load: per calendar month (UTC): exceptions opened, rollbacks (every rollback is a
  person's decision), repaired alias drifts, manual platform approvals (a person signed as
  platform instead of the signed release policy).
- trust: signed root version, releases by policy vs by hand, lead times, moved goalposts
  (releases/_trust_governance.py).
"""
from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Iterable
from typing import Any

from releasegate.scenarios import LoadedScenario, file_sha256

from ._events import EVENTS
from ._exceptions import REVIEW_INTERVAL_DAYS, fold_exceptions
from ._incidents import fold_incidents
from ._ledger import Ledger, LedgerEvent
from ._operating import parse_time, utc_now
from ._trust_governance import manual_platform_approval, portfolio_trust, trust_metrics

SCHEMA = "releasegate.governance/v1"
RECENT_DAYS = 30
OWNER_ROLES = ("product", "platform", "quality", "cost", "incident")
OWNED_SECTIONS = ("route_policy", "context_budget", "tool_policy", "cache_strategy", "prompt_family")
COST_CHECKS = ("max_cost_per_accepted", "cost_ratio")
QUALITY_CHECKS = ("non_inferiority", "min_acceptance_rate")


def _rate(count: int, total: int) -> float | None:
    return round(count / total, 4) if total else None


def _ratio(count: int, total: int) -> dict[str, Any]:
    return {"count": count, "total": total, "rate": _rate(count, total)}


def _ran(checks: list[dict[str, Any]], names: Iterable[str]) -> bool:
    """Did the decision run one of these checks (present and not skipped)?"""
    wanted = set(names)
    return any(c.get("name") in wanted and c.get("status") != "skipped" for c in checks)


def _release_checks(promoted: LedgerEvent) -> list[dict[str, Any]]:
    from ._decision import statement_of

    envelope = promoted.payload.get("envelope")
    if not envelope:
        return []
    return list(statement_of(envelope)["predicate"]["verdict"].get("checks") or [])


def _month(ts: str) -> str:
    return parse_time(ts).strftime("%Y-%m")


def _owners(loaded: LoadedScenario) -> dict[str, Any]:
    s = loaded.scenario
    missing = [f"owners.{r}" for r in OWNER_ROLES if getattr(s.owners, r) is None]
    missing += [f"{sec}.owner" for sec in OWNED_SECTIONS if not getattr(s, sec).owner]
    return {"complete": not missing, "missing": missing}


def _coverage(loaded: LoadedScenario, evaluated: list[LedgerEvent], now: dt.datetime, recent_days: int) -> dict[str, Any]:
    s = loaded.scenario
    path = loaded.dataset_path
    dataset = path.is_file() and file_sha256(path) == s.dataset.sha256
    c = s.success_criteria
    gate = c.min_acceptance_rate > 0 or bool(c.critical)
    last = parse_time(evaluated[-1].created_at) if evaluated else None
    age = (now - last).total_seconds() / 86400 if last else None
    recent = age is not None and age <= recent_days
    return {"covered": dataset and gate and recent, "dataset": dataset, "gate": gate,
            "recent_evaluation": recent, "last_evaluated_at": last.isoformat() if last else None,
            "days_since_evaluation": round(age, 2) if age is not None else None}


def _scenario_metrics(loaded: LoadedScenario, events: list[LedgerEvent], now: dt.datetime,
                      recent_days: int) -> dict[str, Any]:
    s = loaded.scenario
    by_type: dict[str, list[LedgerEvent]] = {}
    for e in events:
        by_type.setdefault(e.event_type, []).append(e)
    evaluated = by_type.get("evaluated", [])
    promotions = [e for e in by_type.get("promoted", []) if e.payload.get("target", "model") == "model"]
    exceptions = fold_exceptions(events)
    incidents = fold_incidents(events)

    checks = [_release_checks(p) for p in promotions]
    cost = sum(_ran(c, COST_CHECKS) for c in checks)
    both = sum(_ran(c, COST_CHECKS) and _ran(c, QUALITY_CHECKS) for c in checks)

    open_exc = [x for x in exceptions.values() if x.is_open]
    overdue = [x for x in open_exc if x.overdue(now)]
    undocumented = [
        {"ledger_seq": p.seq, "version": p.payload.get("version"), "verdict": p.payload.get("verdict"),
         "exception_id": p.payload.get("exception_id")}
        for p in promotions
        if p.payload.get("verdict") != "PASS" and p.payload.get("exception_id") not in exceptions]

    closed = [i for i in incidents.values() if not i.is_open]
    ttr_hours = [i.time_to_restore.total_seconds() / 3600 for i in closed if i.time_to_restore is not None]

    first_pass = next((e for e in evaluated if e.payload.get("verdict") == "PASS"), None)
    onboarding = None
    if s.intake_date is not None and first_pass is not None:
        onboarding = (parse_time(first_pass.created_at).date() - s.intake_date).days

    released = bool(promotions)
    return {
        "owners": _owners(loaded),
        "eval_coverage": _coverage(loaded, evaluated, now, recent_days),
        "releases": len(promotions),
        "cost_review": _ratio(cost, len(promotions)),
        "quality_and_cost_review": _ratio(both, len(promotions)),
        "exceptions": {"open": len(open_exc), "overdue": len(overdue), "undocumented": len(undocumented),
                       "closed": len(exceptions) - len(open_exc),
                       "open_ids": [x.exception_id for x in open_exc],
                       "open_exceptions": [{k: v for k, v in x.to_dict(now).items() if k in (
                           "exception_id", "kind", "owner", "reason", "expires", "review_due", "state", "problems")}
                           for x in open_exc],
                       "overdue_ids": [x.exception_id for x in overdue],
                       "undocumented_releases": undocumented},
        "incidents": {"total": len(incidents), "open": len(incidents) - len(closed), "closed": len(closed),
                      "mttr_hours": round(statistics.fmean(ttr_hours), 4) if ttr_hours else None},
        "onboarding": {"intake_date": s.intake_date.isoformat() if s.intake_date else None,
                       "first_pass_at": parse_time(first_pass.created_at).isoformat() if first_pass else None, "days": onboarding},
        "self_service": {"from_template": s.template is not None, "template": s.template,
                         "released": released, "exceptions_ever": len(exceptions),
                         "adopted": s.template is not None and released and not exceptions},
        "_ttr_hours": ttr_hours,  # for the portfolio mean; dropped before returning
        "trust": trust_metrics(events),  # releases/_trust_governance.py
    }


def _support_load(events: list[LedgerEvent]) -> dict[str, dict[str, int]]:
    load: dict[str, dict[str, int]] = {}
    kinds = {name: spec.support_load for name, spec in EVENTS.items() if spec.support_load}
    for e in events:
        kind = "manual_platform_approvals" if manual_platform_approval(e) else kinds.get(e.event_type)
        if kind is None:
            continue
        month = load.setdefault(_month(e.created_at), {"exceptions": 0, "rollbacks": 0, "alias_repairs": 0,
                                                       "manual_platform_approvals": 0, "total": 0})
        month[kind] += 1
        month["total"] += 1
    return dict(sorted(load.items()))


def governance_metrics(ledger: Ledger, scenarios: Iterable[LoadedScenario], *, now: dt.datetime | None = None,
                       recent_days: int = RECENT_DAYS) -> dict[str, Any]:
    """Portfolio and per-scenario governance metrics (see the module doc for each definition)."""
    now = now or utc_now()
    loaded = sorted(scenarios, key=lambda ls: ls.scenario.id)
    ids = {ls.scenario.id for ls in loaded}
    events = ledger.events()
    per_event: dict[str, list[LedgerEvent]] = {}
    for e in events:
        per_event.setdefault(e.scenario_id, []).append(e)
    per = {ls.scenario.id: _scenario_metrics(ls, per_event.get(ls.scenario.id, []), now, recent_days)
           for ls in loaded}
    n = len(per)
    ttr = [h for m in per.values() for h in m.pop("_ttr_hours")]
    onboarding = [m["onboarding"]["days"] for m in per.values() if m["onboarding"]["days"] is not None]
    releases = sum(m["releases"] for m in per.values())

    def total(path: tuple[str, ...]) -> int:
        out = 0
        for m in per.values():
            node: Any = m
            for p in path:
                node = node[p]
            out += int(node)
        return out

    portfolio = {
        "scenarios": n,
        "owners_complete": _ratio(sum(m["owners"]["complete"] for m in per.values()), n),
        "eval_coverage": _ratio(sum(m["eval_coverage"]["covered"] for m in per.values()), n),
        "releases": releases,
        "cost_review": _ratio(total(("cost_review", "count")), releases),
        "quality_and_cost_review": _ratio(total(("quality_and_cost_review", "count")), releases),
        "exceptions": {k: total(("exceptions", k)) for k in ("open", "overdue", "undocumented", "closed")},
        "incidents": {"total": total(("incidents", "total")), "open": total(("incidents", "open")),
                      "closed": total(("incidents", "closed")),
                      "mttr_hours": round(statistics.fmean(ttr), 4) if ttr else None},
        "onboarding_days": {"scenarios": len(onboarding),
                            "mean": round(statistics.fmean(onboarding), 2) if onboarding else None,
                            "median": statistics.median(onboarding) if onboarding else None},
        "self_service": {"from_template": sum(m["self_service"]["from_template"] for m in per.values()),
                         **_ratio(sum(m["self_service"]["adopted"] for m in per.values()), n)},
        "support_load": _support_load([e for e in events if e.scenario_id in ids]),
        "trust": portfolio_trust(per),
    }
    return {
        "schema": SCHEMA, "generated_at": now.isoformat(timespec="seconds"), "recent_days": recent_days,
        "review_interval_days": REVIEW_INTERVAL_DAYS, "portfolio": portfolio, "scenarios": per,
        "ledger_only_scenarios": sorted({e.scenario_id for e in events} - ids),
    }
