"""Incidents: owned by the contract's incident owner, linked to the rollbacks that fixed them.

Ledger events (subject: the incident id):
- incident_opened: incident_id, severity, summary, owner (the contract's incident owner),
  escalation_path, runbook, rollback_targets, source ("manual" | "regression"), regression_seq.
- incident_linked: incident_id, action (model_rollback | prompt_rollback | tool_policy_rollback),
  ledger_seq (the `rolled_back` row), target, from_version, to_version.
- incident_closed: incident_id, resolution, closed_by, time_to_restore_s.
- regression_detected (subject: champion entry): champion, alias, verdict_path, verdict,
  verdict_reason, report_path, incident_id.
Open and close times (the events' created_at) give the time to restore; MTTR is their mean.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from releasegate.core import InputError, Refused, load_json_bounded
from releasegate.scenarios import load_contract

from ._events import IncidentClosed, IncidentLinked, IncidentOpened, RegressionDetected, append_event, event_types
from ._ledger import Ledger, LedgerEvent
from ._operating import (
    _ID_LOCK,
    check_text,
    fold_register,
    next_id,
    parse_time,
    utc_now,
)

SEVERITIES = ("sev1", "sev2", "sev3", "sev4")
REGRESSION_SEVERITY = "sev2"  # a champion failing its own gate: degraded, not down
ACTIONS = {"model_rollback": "model", "prompt_rollback": "prompt", "tool_policy_rollback": "tool_policy"}
INCIDENT_EVENTS = event_types("incident")


@dataclass
class IncidentRecord:
    incident_id: str
    scenario_id: str
    severity: str
    summary: str
    owner: str
    escalation_path: list[str]
    opened_at: dt.datetime
    opened_by: str | None
    source: str
    runbook: str | None = None
    actions: list[dict[str, Any]] = field(default_factory=list)  # {action, ledger_seq, from, to}
    closed_at: dt.datetime | None = None
    resolution: str | None = None

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    @property
    def time_to_restore(self) -> dt.timedelta | None:
        return self.closed_at - self.opened_at if self.closed_at else None

    def to_dict(self) -> dict[str, Any]:
        ttr = self.time_to_restore
        return {
            "incident_id": self.incident_id, "scenario_id": self.scenario_id, "severity": self.severity,
            "summary": self.summary, "owner": self.owner, "escalation_path": self.escalation_path,
            "runbook": self.runbook, "source": self.source, "opened_at": self.opened_at.isoformat(),
            "opened_by": self.opened_by, "actions": self.actions,
            "closed_at": self.closed_at.isoformat() if self.closed_at else None,
            "resolution": self.resolution, "state": "open" if self.is_open else "closed",
            "time_to_restore_s": ttr.total_seconds() if ttr is not None else None,
        }


def fold_incidents(events: list[LedgerEvent]) -> dict[str, IncidentRecord]:
    """Incident id -> record, from incident_* events (others are ignored), oldest first."""
    def opened(e: LedgerEvent) -> IncidentRecord:
        p = e.payload
        return IncidentRecord(
            incident_id=p["incident_id"], scenario_id=e.scenario_id, severity=str(p.get("severity")),
            summary=str(p.get("summary") or ""), owner=str(p.get("owner") or ""),
            escalation_path=list(p.get("escalation_path") or []), opened_at=parse_time(e.created_at),
            opened_by=e.actor, source=str(p.get("source") or "manual"), runbook=p.get("runbook"))

    def linked(record: IncidentRecord, e: LedgerEvent) -> None:
        record.actions.append({k: e.payload.get(k) for k in ("action", "ledger_seq", "target", "from_version",
                                                             "to_version")})

    return fold_register(events, "incident_id", "incident_opened", opened, "incident_closed",
                         {"incident_linked": linked})


def list_incidents(ledger: Ledger, *, scenario_id: str | None = None, open_only: bool = False) -> list[IncidentRecord]:
    records = fold_incidents(ledger.events(scenario_id=scenario_id, event_type=INCIDENT_EVENTS))
    return [r for r in records.values() if r.is_open or not open_only]


def get_incident(ledger: Ledger, incident_id: str, conn: Any = None) -> IncidentRecord:
    records = fold_incidents(ledger.events(event_type=INCIDENT_EVENTS, conn=conn))
    if incident_id not in records:
        raise Refused([f"no incident {incident_id} in the ledger"], code="operating")
    return records[incident_id]


def _check_severity(severity: str) -> str:
    sev = severity.strip().lower()
    if sev.isdigit():
        sev = f"sev{sev}"
    if sev not in SEVERITIES:
        raise InputError(f"unknown severity {severity!r}", field="--severity", fix=f"use one of: {', '.join(SEVERITIES)}")
    return sev


def open_incident(
    scenario: str, *, severity: str, summary: str, ledger: Ledger | str | None = None, actor: str | None = None,
    source: str = "manual", conn: Any = None, extra: dict[str, Any] | None = None,
) -> IncidentRecord:
    """Open an incident assigned to the contract's incident owner, with its escalation path."""
    sev = _check_severity(severity)
    summary = check_text(summary, "--summary", "what is wrong")
    loaded = load_contract(scenario)
    s = loaded.scenario
    if s.owners.incident is None:
        raise loaded.error("owners.incident", "the scenario has no incident owner to assign",
                           "add owners.incident.id")
    ledger = Ledger.of(ledger)
    fields = {"severity": sev, "summary": summary, "owner": s.owners.incident.id,
              "escalation_path": list(s.escalation_path), "runbook": s.incident_process.runbook,
              "rollback_targets": list(s.incident_process.rollback_targets), "source": source,
              "context": extra or None}

    def write(c: Any) -> str:
        iid = next_id(ledger, c, "INC", "incident_opened")
        append_event(ledger, s.id, IncidentOpened(incident_id=iid, **fields), subject=iid, actor=actor, conn=c)
        return iid

    if conn is not None:
        return get_incident(ledger, write(conn), conn)
    with ledger.scenario_lock(_ID_LOCK) as c:
        iid = write(c)
    return get_incident(ledger, iid)


def check_incident_open(ledger: Ledger, incident_id: str, scenario_id: str | None = None,
                        conn: Any = None) -> IncidentRecord:
    """The incident, if it is open (and on `scenario_id`), else Refused."""
    record = get_incident(ledger, incident_id, conn)
    if not record.is_open:
        raise Refused([f"{incident_id} is closed ({record.resolution})"], code="operating")
    if scenario_id is not None and record.scenario_id != scenario_id:
        raise Refused([f"{incident_id} is an incident of {record.scenario_id}, not {scenario_id}"], code="operating")
    return record


def link_action(
    incident_id: str, *, action: str, ledger_seq: int | None = None, ledger: Ledger | str | None = None,
    actor: str | None = None,
) -> IncidentRecord:
    """Link a rollback to an open incident: the `rolled_back` row `ledger_seq`, or the latest
    rollback of that target on the scenario since the incident opened."""
    if action not in ACTIONS:
        raise InputError(f"unknown action {action!r}", field="--action", fix=f"use one of: {', '.join(ACTIONS)}")
    target = ACTIONS[action]
    ledger = Ledger.of(ledger)
    with ledger.transaction() as conn:
        record = check_incident_open(ledger, incident_id, conn=conn)
        rollbacks = [e for e in ledger.events(scenario_id=record.scenario_id, event_type="rolled_back", conn=conn)
                     if e.payload.get("target", "model") == target]
        if ledger_seq is not None:
            found = [e for e in rollbacks if e.seq == ledger_seq]
            if not found:
                raise Refused([f"ledger row {ledger_seq} is not a {target} rollback of {record.scenario_id}"], code="operating")
            event = found[0]
        else:
            since = [e for e in rollbacks if parse_time(e.created_at) >= record.opened_at]
            if not since:
                raise Refused([f"no {target} rollback of {record.scenario_id} since {incident_id} opened: "
                               f"run `releasegate rollback --target {target} --incident {incident_id}` "
                               "or pass --ledger-seq"], code="operating")
            event = since[-1]
        if any(a["ledger_seq"] == event.seq for a in record.actions):
            raise Refused([f"ledger row {event.seq} is already linked to {incident_id}"], code="operating")
        append_event(ledger, record.scenario_id, IncidentLinked(
            incident_id=incident_id, action=action, ledger_seq=event.seq, target=target,
            from_version=event.payload.get("from_version"), to_version=event.payload.get("to_version"),
        ), subject=incident_id, actor=actor, conn=conn)
    return get_incident(ledger, incident_id)


def close_incident(incident_id: str, *, resolution: str, ledger: Ledger | str | None = None,
                   actor: str | None = None, now: dt.datetime | None = None) -> IncidentRecord:
    resolution = check_text(resolution, "--resolution", "how it was resolved")
    ledger = Ledger.of(ledger)
    with ledger.transaction() as conn:
        record = check_incident_open(ledger, incident_id, conn=conn)
        ttr = ((now or utc_now()) - record.opened_at).total_seconds()
        append_event(ledger, record.scenario_id, IncidentClosed(
            incident_id=incident_id, resolution=resolution, closed_by=actor, time_to_restore_s=round(ttr, 3),
        ), subject=incident_id, actor=actor, conn=conn)
    return get_incident(ledger, incident_id)


def rollback_for_incident(
    incident_id: str, scenario: str, *, reason: str, to: str | None = None, target: str = "model",
    alias: str = "champion", ledger: Ledger | str | None = None, mlflow_uri: str | None = None,
    actor: str | None = None,
) -> tuple[Any, IncidentRecord]:
    """`rollback`, linked to an open incident of the same scenario (checked before moving)."""
    from ._promotion import rollback

    ledger = Ledger.of(ledger)
    sid = load_contract(scenario).scenario.id
    check_incident_open(ledger, incident_id, sid)
    result = rollback(scenario, reason=reason, to=to, target=target, alias=alias, ledger=ledger,
                      mlflow_uri=mlflow_uri, actor=actor)
    action = {v: k for k, v in ACTIONS.items()}[result.target]
    return result, link_action(incident_id, action=action, ledger_seq=result.event.seq, ledger=ledger, actor=actor)


# --------------------------------------------------------------------------- the flows' hooks
def champion_entry(scenario_id: str, alias: str = "champion", *, mlflow_uri: str | None = None,
                   ledger: Ledger | str | None = None) -> str | None:
    """The contract model entry of the registered model version at `alias` (None: no alias).

    Read from the version's `candidate_entry` tag (set by the registry push); a version without
    it falls back to the promotion's decision in the ledger.
    """
    from . import _registry as reg

    mv = reg.get_alias_version(reg.client(mlflow_uri), scenario_id, alias)
    if mv is None:
        return None
    entry = (mv.tags or {}).get("candidate_entry")
    if entry:
        return str(entry)
    from ._decision import statement_of

    ledger = Ledger.of(ledger)
    for e in reversed(ledger.events(scenario_id=scenario_id, event_type="promoted")):
        if e.payload.get("version") == str(mv.version) and e.payload.get("envelope"):
            return str(statement_of(e.payload["envelope"])["predicate"]["candidate"]["entry"])
    return None


def open_regression_alert(
    scenario_id: str, *, champion: str, verdict_path: str | Path | None, report_path: str | Path | None,
    severity: str = REGRESSION_SEVERITY, alias: str = "champion", ledger: Ledger | str | None = None,
    actor: str | None = "regression-check", reason: str | None = None, signal: dict[str, Any] | None = None,
) -> str:
    """A champion failed its gate: `regression_detected` plus an incident for the incident owner,
    in one transaction. Returns the incident id. `reason` + `signal`: a production regression (the
    gateway's traces) rather than a verdict file; it is a FAIL with that reason."""
    verdict: dict[str, Any] = {"decision": "FAIL", "reason": reason} if reason else {}
    if verdict_path and Path(verdict_path).is_file():
        try:
            loaded = load_json_bounded(verdict_path, what="verdict")
        except InputError:
            loaded = {}
        verdict = loaded if isinstance(loaded, dict) else {}
    decision = verdict.get("decision", "FAIL")
    ledger = Ledger.of(ledger)
    with ledger.scenario_lock(_ID_LOCK) as conn:
        incident = open_incident(
            scenario_id, severity=severity, ledger=ledger, actor=actor, source="regression", conn=conn,
            extra=signal,
            summary=f"regression: {alias} {champion} in production: {reason}" if reason else
                    f"regression: {alias} {champion} is {decision} on the current dataset"
                    + (f" ({verdict['reason']})" if verdict.get("reason") else ""))
        append_event(ledger, incident.scenario_id, RegressionDetected(
            champion=champion, alias=alias, verdict_path=str(verdict_path) if verdict_path else None,
            verdict=decision, verdict_reason=verdict.get("reason"),
            report_path=str(report_path) if report_path else None, incident_id=incident.incident_id,
            signal=signal), subject=champion, actor=actor, conn=conn)
    return incident.incident_id
