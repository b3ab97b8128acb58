"""Governance of the trust roots (issue 14), computed from the ledger.

Per scenario (`trust` in governance_metrics' scenario entry):
- root: current signed root version (None without one) and how many versions it has had;
- releases_by_policy / releases_by_hand: promotions whose platform signature was the signed
  release policy's key, or a person's;
- lead_time_hours: for each kind, evaluation (the decision's `evaluated` row) to release
  (`promoted` row): count, mean, median;
- moved_goalposts: every root version that changed the gate criteria within 30 days after a
  non-PASS evaluation of a candidate that was evaluated again after the change (the same
  candidate judged under looser or other criteria).
Portfolio: the sums, and manual platform approvals per month go into support load.
"""
from __future__ import annotations

import datetime as dt
import statistics
from typing import Any

from ._ledger import LedgerEvent

GOALPOST_WINDOW_DAYS = 30


def _time(ts: str) -> dt.datetime:
    return dt.datetime.fromisoformat(ts)


def _summary(hours: list[float]) -> dict[str, Any]:
    return {"count": len(hours), "mean": round(statistics.fmean(hours), 4) if hours else None,
            "median": round(statistics.median(hours), 4) if hours else None}


def by_policy(promoted: LedgerEvent) -> bool:
    return any(s.get("by_policy") for s in promoted.payload.get("signers") or [])


def manual_platform_approval(event: LedgerEvent) -> bool:
    return (event.event_type == "approved" and event.payload.get("role") == "platform"
            and not event.payload.get("by_policy"))


def moved_goalposts(events: list[LedgerEvent], window_days: int = GOALPOST_WINDOW_DAYS) -> list[dict[str, Any]]:
    """Criteria changes that followed a non-PASS evaluation of the same candidate within the window."""
    evaluated = [e for e in events if e.event_type == "evaluated"]
    roots = [e for e in events if e.event_type == "trust_scenario_root"]
    out: list[dict[str, Any]] = []
    for prev, root in zip(roots, roots[1:]):
        if prev.payload.get("criteria_sha256") == root.payload.get("criteria_sha256"):
            continue
        changed_at = _time(root.created_at)
        for ev in evaluated:
            if ev.seq > root.seq or ev.payload.get("verdict") == "PASS":
                continue
            if changed_at - _time(ev.created_at) > dt.timedelta(days=window_days):
                continue
            candidate = ev.payload.get("candidate_entry")
            again = [e for e in evaluated if e.seq > root.seq and e.payload.get("candidate_entry") == candidate]
            out.append({
                "root_version": root.payload.get("version"), "ledger_seq": root.seq,
                "changed_at": root.created_at, "candidate": candidate,
                "after_verdict": ev.payload.get("verdict"), "evaluated_seq": ev.seq,
                "days_after": round((changed_at - _time(ev.created_at)).total_seconds() / 86400, 3),
                "re_evaluated": [{"ledger_seq": e.seq, "verdict": e.payload.get("verdict")} for e in again],
                "changes": [c for c in root.payload.get("changes", []) if c.startswith("criteria changed")],
                "signed_by": [s.get("identity") for s in root.payload.get("signers", [])],
            })
            break  # one entry per criteria change
    return out


def trust_metrics(events: list[LedgerEvent]) -> dict[str, Any]:
    """The `trust` entry of a scenario's governance metrics (see the module doc)."""
    roots = [e for e in events if e.event_type == "trust_scenario_root"]
    evaluated = {e.payload.get("decision_digest"): e for e in events if e.event_type == "evaluated"}
    promotions = [e for e in events if e.event_type == "promoted" and e.payload.get("target", "model") == "model"]
    lead: dict[str, list[float]] = {"policy": [], "manual": []}
    for p in promotions:
        ev = evaluated.get(p.payload.get("decision_digest"))
        if ev is not None:
            hours = (_time(p.created_at) - _time(ev.created_at)).total_seconds() / 3600
            lead["policy" if by_policy(p) else "manual"].append(hours)
    n_policy = sum(by_policy(p) for p in promotions)
    return {
        "root_version": roots[-1].payload.get("version") if roots else None,
        "root_versions": len(roots),
        "releases_by_policy": n_policy,
        "releases_by_hand": len(promotions) - n_policy,
        "manual_platform_approvals": sum(manual_platform_approval(e) for e in events),
        "lead_time_hours": {k: _summary(v) for k, v in lead.items()},
        "moved_goalposts": moved_goalposts(events),
        "_lead_hours": lead,  # for the portfolio summary; dropped before returning
    }


def portfolio_trust(per: dict[str, dict[str, Any]]) -> dict[str, Any]:
    lead: dict[str, list[float]] = {"policy": [], "manual": []}
    for m in per.values():
        for k, v in m["trust"].pop("_lead_hours").items():
            lead[k] += v
    return {
        "scenarios_with_root": sum(m["trust"]["root_version"] is not None for m in per.values()),
        "releases_by_policy": sum(m["trust"]["releases_by_policy"] for m in per.values()),
        "releases_by_hand": sum(m["trust"]["releases_by_hand"] for m in per.values()),
        "manual_platform_approvals": sum(m["trust"]["manual_platform_approvals"] for m in per.values()),
        "lead_time_hours": {k: _summary(v) for k, v in lead.items()},
        "moved_goalposts": sum(len(m["trust"]["moved_goalposts"]) for m in per.values()),
    }
