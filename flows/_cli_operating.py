"""`releasegate exceptions|incident|governance|decision cite-exception`: the operating model.

Thin: parse options, call `releases`, print. Exit codes: 0 ok, 1 refused (every reason listed),
2 bad input (InputError, printed by `flows.cli.main`; nothing is written).
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from releasegate.core import Refused

from ._cli_common import OPERATING, err, out, refused, shown
from ._cli_releases import LedgerUrl, MlflowUri, _actor

AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")]


@contextmanager
def _refusals(title: str) -> Iterator[None]:
    """A refusal inside the block -> printed with every reason, exit 1."""
    try:
        yield
    except Refused as exc:
        refused(title, exc.reasons)


def _na(value: Any, suffix: str = "") -> str:
    return "n/a" if value is None else f"{value}{suffix}"


def _pct(ratio: dict[str, Any]) -> str:
    rate = ratio.get("rate")
    return f"{ratio['count']}/{ratio['total']}" + ("" if rate is None else f" ({100 * rate:.0f}%)")


def _hours(h: float | None) -> str:
    return "n/a" if h is None else (f"{h:.1f} h" if h >= 1 else f"{60 * h:.0f} min")


def register(app: typer.Typer) -> None:
    exc_app = typer.Typer(help="The exceptions register: leaving the golden path on the record.", no_args_is_help=True)
    inc_app = typer.Typer(help="Incidents: owner, escalation, linked rollbacks, MTTR.", no_args_is_help=True)
    decision_app = typer.Typer(help="Release decisions: cite an exception on a FAIL or INCONCLUSIVE one.",
                                no_args_is_help=True)
    app.add_typer(exc_app, name="exceptions", rich_help_panel=OPERATING)
    app.add_typer(inc_app, name="incident", rich_help_panel=OPERATING)
    app.add_typer(decision_app, name="decision", rich_help_panel=OPERATING)

    # ------------------------------------------------------------------ exceptions
    @exc_app.command("open")
    def exceptions_open(
        scenario: Annotated[str, typer.Option("--scenario")],
        owner: Annotated[str, typer.Option("--owner", help="Who answers for the exception")],
        reason: Annotated[str, typer.Option("--reason", help="Why the scenario leaves the golden path")],
        expires: Annotated[str, typer.Option("--expires", help="Expiry date YYYY-MM-DD (in the future)")],
        kind: Annotated[str, typer.Option("--kind", help="direct_provider_key | skipped_check | "
                                                         "release_despite_fail | other")] = "other",
        ledger_url: LedgerUrl = None,
    ) -> None:
        """Open an exception: owner, reason, expiry; reviewed every REVIEW_INTERVAL_DAYS days."""
        from releasegate.releases import open_exception

        record = open_exception(scenario, owner=owner, reason=reason, expires=expires, kind=kind,
                                ledger=ledger_url, actor=_actor())
        out.print(f"opened {record.exception_id} on {shown(record.scenario_id)} ({shown(record.kind)}); "
                  f"owner {shown(record.owner)}; "
                  f"expires {record.expires}; review due {record.review_due}")

    @exc_app.command("list")
    def exceptions_list(
        overdue: Annotated[bool, typer.Option("--overdue", help="Only open exceptions that are expired or unreviewed")] = False,
        scenario: Annotated[str | None, typer.Option("--scenario")] = None,
        as_json: AsJson = False, ledger_url: LedgerUrl = None,
    ) -> None:
        """List exceptions (open, overdue, closed)."""
        from releasegate.releases import Ledger, list_exceptions

        records = list_exceptions(Ledger.open(ledger_url), scenario_id=scenario, overdue=overdue)
        if as_json:
            out.print(json.dumps([r.to_dict() for r in records], indent=2, sort_keys=True), markup=False)
            return
        table = Table(title="Exceptions" + (" (overdue)" if overdue else ""))
        for col in ("id", "scenario", "kind", "owner", "state", "expires", "review due", "reason / problems"):
            table.add_column(col, overflow="fold")
        for r in records:
            state = r.state()
            style = {"overdue": "bold red", "closed": "dim"}.get(state, "green")
            table.add_row(shown(r.exception_id), shown(r.scenario_id), shown(r.kind), shown(r.owner),
                          f"[{style}]{state}[/]", str(r.expires), str(r.review_due) if r.is_open else "-",
                          shown("; ".join(r.problems()) or r.reason))
        out.print(table if records else "no exceptions")

    @exc_app.command("review")
    def exceptions_review(
        exception_id: Annotated[str, typer.Argument(help="Exception id, e.g. EX-3")],
        reviewer: Annotated[str, typer.Option("--reviewer", help="Reviewer identity (not the owner)")],
        note: Annotated[str | None, typer.Option("--note")] = None,
        ledger_url: LedgerUrl = None,
    ) -> None:
        """Record the periodic review of an open, unexpired exception."""
        from releasegate.releases import review_exception

        with _refusals("review refused:"):
            record = review_exception(exception_id, reviewer=reviewer, note=note,
                                      ledger=ledger_url)
        out.print(f"reviewed {shown(exception_id)} by {shown(reviewer)}; next review due {record.review_due}")

    @exc_app.command("close")
    def exceptions_close(
        exception_id: Annotated[str, typer.Argument(help="Exception id")],
        resolution: Annotated[str | None, typer.Option("--resolution")] = None,
        ledger_url: LedgerUrl = None,
    ) -> None:
        """Close an exception (the scenario is back on the golden path)."""
        from releasegate.releases import close_exception

        with _refusals("close refused:"):
            close_exception(exception_id, resolution=resolution, ledger=ledger_url, actor=_actor())
        out.print(f"closed {shown(exception_id)}")

    # ------------------------------------------------------------------ decision cite-exception
    @decision_app.command("cite-exception")
    def decision_cite(
        decision: Annotated[Path, typer.Argument(help="The decision .dsse.json (FAIL or INCONCLUSIVE)")],
        exception_id: Annotated[str, typer.Option("--exception", help="An open, reviewed exception id")],
        ledger_url: LedgerUrl = None, mlflow_uri: MlflowUri = None,
    ) -> None:
        """Write a new unsigned decision citing an exception; it needs product, platform AND
        escalation signatures before `promote`."""
        from releasegate.releases import read_decision, record_cited_decision, statement_of

        envelope = read_decision(decision)
        with _refusals("citing refused:"):
            result = record_cited_decision(envelope, exception_id, ledger=ledger_url,
                                           mlflow_uri=mlflow_uri)
        approvers = statement_of(result["envelope"])["predicate"]["approvers"]
        out.print(f"new decision {shown(result['decision_path'])} cites {shown(exception_id)}; "
                  f"ledger row {result['ledger_seq']}")
        out.print("sign it: " + shown(", ".join(f"{role} ({who})" for role, who in approvers.items())))
        if result.get("mlflow_error"):
            out.print(f"warning: {shown(result['mlflow_error'])}")

    # ------------------------------------------------------------------ incidents
    @inc_app.command("open")
    def incident_open(
        scenario: Annotated[str, typer.Option("--scenario")],
        severity: Annotated[str, typer.Option("--severity", help="sev1 | sev2 | sev3 | sev4")],
        summary: Annotated[str, typer.Option("--summary")],
        ledger_url: LedgerUrl = None,
    ) -> None:
        """Open an incident: assigned to the contract's incident owner, escalation path shown."""
        from releasegate.releases import open_incident

        record = open_incident(scenario, severity=severity, summary=summary, ledger=ledger_url,
                               actor=_actor())
        out.print(f"opened {record.incident_id} ({shown(record.severity)}) on {shown(record.scenario_id)}: "
                  f"{shown(record.summary)}")
        out.print(f"assigned to: {shown(record.owner)}")
        out.print("escalation path: " + shown(" -> ".join(record.escalation_path) or "none in the contract"))
        if record.runbook:
            out.print(f"runbook: {shown(record.runbook)}")

    @inc_app.command("link")
    def incident_link(
        incident_id: Annotated[str, typer.Argument(help="Incident id, e.g. INC-2")],
        action: Annotated[str, typer.Option("--action", help="model_rollback | prompt_rollback | tool_policy_rollback")],
        ledger_seq: Annotated[int | None, typer.Option("--ledger-seq", help="The rolled_back ledger row "
                                                       "(default: the latest since the incident opened)")] = None,
        ledger_url: LedgerUrl = None,
    ) -> None:
        """Link a recorded rollback to an open incident."""
        from releasegate.releases import link_action

        with _refusals("link refused:"):
            record = link_action(incident_id, action=action, ledger_seq=ledger_seq,
                                 ledger=ledger_url, actor=_actor())
        a = record.actions[-1]
        out.print(shown(f"linked {a['action']} (ledger row {a['ledger_seq']}: {a['from_version']} -> "
                        f"{a['to_version']}) to {incident_id}"))

    @inc_app.command("close")
    def incident_close(
        incident_id: Annotated[str, typer.Argument(help="Incident id")],
        resolution: Annotated[str, typer.Option("--resolution")],
        ledger_url: LedgerUrl = None,
    ) -> None:
        """Close an incident with its resolution; prints its time to restore."""
        from releasegate.releases import close_incident

        with _refusals("close refused:"):
            record = close_incident(incident_id, resolution=resolution, ledger=ledger_url,
                                    actor=_actor())
        ttr = record.time_to_restore
        out.print(f"closed {shown(incident_id)}; time to restore "
                  f"{_hours(ttr.total_seconds() / 3600 if ttr else None)}; {len(record.actions)} linked action(s)")

    @inc_app.command("list")
    def incident_list(
        scenario: Annotated[str | None, typer.Option("--scenario")] = None,
        open_only: Annotated[bool, typer.Option("--open", help="Only open incidents")] = False,
        as_json: AsJson = False, ledger_url: LedgerUrl = None,
    ) -> None:
        """List incidents with owner, actions and time to restore."""
        from releasegate.releases import Ledger, list_incidents

        records = list_incidents(Ledger.open(ledger_url), scenario_id=scenario, open_only=open_only)
        if as_json:
            out.print(json.dumps([r.to_dict() for r in records], indent=2, sort_keys=True), markup=False)
            return
        table = Table(title="Incidents")
        for col in ("id", "scenario", "severity", "owner", "state", "opened", "time to restore", "actions", "summary"):
            table.add_column(col, overflow="fold")
        for r in records:
            ttr = r.time_to_restore
            table.add_row(shown(r.incident_id), shown(r.scenario_id), shown(r.severity), shown(r.owner),
                          "open" if r.is_open else "closed", r.opened_at.strftime("%Y-%m-%d %H:%M"),
                          _hours(ttr.total_seconds() / 3600) if ttr else "-",
                          shown(", ".join(f"{a['action']}@{a['ledger_seq']}" for a in r.actions) or "-"),
                          shown(r.summary))
        out.print(table if records else "no incidents")

    # ------------------------------------------------------------------ governance
    @app.command("governance", rich_help_panel=OPERATING)
    def governance(
        html: Annotated[Path | None, typer.Option("--html", help="Also write the report as HTML here")] = None,
        open_exceptions: Annotated[bool, typer.Option(
            "--open-exceptions", help="First open the direct_provider_key exception each scenario with a hosted "
            "provider key outside the gateway lacks (owned by its platform owner, 90 days, once; recorded)")] = False,
        traffic_days: Annotated[float, typer.Option(
            "--traffic-days", min=0.001, help="Production traffic through the gateway counted over this many "
            "days back from now")] = 30.0,
        as_json: AsJson = False, ledger_url: LedgerUrl = None,
    ) -> None:
        """The portfolio's operating model: owners, coverage, reviews, exceptions, incidents, MTTR,
        production traffic through the gateway, provider keys outside it."""
        from releasegate.reports import governance_report

        metrics = governance_report(ledger=ledger_url, html=html, open_exceptions=open_exceptions, actor=_actor(),
                                    traffic_window_s=traffic_days * 86400)
        if as_json:
            out.print(json.dumps(metrics, indent=2, sort_keys=True))
        else:
            for table in governance_tables(metrics):
                out.print(table)
            for sid, u in sorted(metrics.get("gateway", {}).items()):
                out.print(f"gateway {sid}: " + (u["error"] if "error" in u else
                          f"{u['requests']} requests, {u['input_tokens']}+{u['output_tokens']} tokens, "
                          f"p95 {u['latency_p95_s']} s (SLO {u['latency_slo_p95_s']} s"
                          + (", OVER THE SLO" if u["meets_latency_slo"] is False else "") + "), "
                          + (f"cost {u['cost_usd']:.6f} USD" if u["cost_usd"] is not None else "cost unknown")
                          + f" ({u['cost_basis']}), " + _prefix_cache_text(u["prefix_cache"])))
            for sid, findings in sorted(metrics.get("provider_keys_outside_gateway", {}).items()):
                for finding in findings:
                    out.print(f"PROVIDER KEY OUTSIDE THE GATEWAY {sid}: {finding}"
                              + (f" (covered by {metrics['provider_key_exceptions'][sid]})"
                                 if sid in metrics.get("provider_key_exceptions", {}) else ""))
        if html is not None:  # stderr under --json, so stdout stays one JSON document
            (err if as_json else out).print(f"HTML report written to {html}")



def _prefix_cache_text(pc: dict[str, Any]) -> str:
    rate = "n/a" if pc["hit_rate"] is None else f"{100 * pc['hit_rate']:.0f}%"
    return (f"prefix-cache hit rate {rate} (min {100 * pc['min_hit_rate']:.0f}%, owner {pc['owner']})"
            + (", BELOW THE MINIMUM" if pc["meets_slo"] is False else "")
            + (f", {len(pc['unreachable'])} replica(s) without /metrics" if pc["unreachable"] else ""))


def governance_tables(metrics: dict[str, Any]) -> list[Table]:
    """The metrics as rich tables: the portfolio, one row per scenario, support load per month."""
    p = metrics["portfolio"]
    summary = Table(title=f"Governance: {p['scenarios']} scenarios (generated {metrics['generated_at']})")
    summary.add_column("metric")
    summary.add_column("value", overflow="fold")
    exc, inc, onb, ss = p["exceptions"], p["incidents"], p["onboarding_days"], p["self_service"]
    rows = [
        ("owners complete", _pct(p["owners_complete"])),
        (f"eval coverage (dataset, gate, evaluation within {metrics['recent_days']} days)", _pct(p["eval_coverage"])),
        ("releases with a cost review", _pct(p["cost_review"])),
        ("releases with quality and cost review", _pct(p["quality_and_cost_review"])),
        ("exceptions open / overdue / undocumented",
         f"{exc['open']} / {exc['overdue']} / {exc['undocumented']} (closed {exc['closed']})"),
        ("incidents open / closed", f"{inc['open']} / {inc['closed']}"),
        ("MTTR", _hours(inc["mttr_hours"])),
        ("onboarding (intake to first PASS)",
         "n/a" if onb["mean"] is None else f"mean {onb['mean']} d, median {onb['median']} d over {onb['scenarios']}"),
        ("self-service adoption (template, released without exceptions)",
         f"{_pct(ss)}; {ss['from_template']} from a template"),
    ]
    t = p.get("trust")
    if t:  # issue 14: signed roots, policy vs manual platform approvals, moved goalposts
        lead = t["lead_time_hours"]
        rows += [
            ("scenarios with a signed trust root", str(t["scenarios_with_root"])),
            ("releases approved by policy / by hand", f"{t['releases_by_policy']} / {t['releases_by_hand']}"),
            ("manual platform approvals", str(t["manual_platform_approvals"])),
            ("lead time evaluation -> release (policy / by hand)",
             f"{_hours(lead['policy']['median'])} / {_hours(lead['manual']['median'])} (medians)"),
            ("criteria changed after a non-PASS (moved goalposts, 30 days)", str(t["moved_goalposts"])),
        ]
    for name, value in rows:
        summary.add_row(name, value)
    per = Table(title="Per scenario")
    per.add_column("scenario", no_wrap=True)
    for col in ("owners", "eval coverage", "releases", "cost review", "quality+cost",
                "exceptions open/overdue/undoc.", "incidents", "MTTR", "onboarding", "self-service"):
        per.add_column(col, overflow="fold")
    for sid, m in metrics["scenarios"].items():
        cov = m["eval_coverage"]
        why = [k for k in ("dataset", "gate", "recent_evaluation") if not cov[k]]
        e = m["exceptions"]
        per.add_row(
            sid, "complete" if m["owners"]["complete"] else "missing " + ", ".join(m["owners"]["missing"]),
            "yes" if cov["covered"] else "no: " + ", ".join(w.replace("_", " ") for w in why),
            str(m["releases"]), _pct(m["cost_review"]), _pct(m["quality_and_cost_review"]),
            f"{e['open']}/{e['overdue']}/{e['undocumented']}", f"{m['incidents']['total']} ({m['incidents']['open']} open)",
            _hours(m["incidents"]["mttr_hours"]), _na(m["onboarding"]["days"], " d"),
            "adopted" if m["self_service"]["adopted"] else "no")
    load = Table(title="Platform support load per month")
    for col in ("month", "exceptions", "rollbacks", "alias repairs", "manual platform approvals", "total"):
        load.add_column(col)
    for month, counts in p["support_load"].items():
        load.add_row(month, *(str(counts.get(k, 0)) for k in ("exceptions", "rollbacks", "alias_repairs",
                                                               "manual_platform_approvals", "total")))
    tables = [summary, per, load]
    goalposts = [(sid, g) for sid, m in metrics["scenarios"].items() for g in m.get("trust", {}).get("moved_goalposts", [])]
    if goalposts:
        moved = Table(title="Moved goalposts: gate criteria changed after a non-PASS evaluation")
        for col in ("scenario", "root version", "candidate", "after", "days after", "changes", "signed by"):
            moved.add_column(col, overflow="fold")
        for sid, g in goalposts:
            moved.add_row(sid, f"v{g['root_version']}", str(g["candidate"]), str(g["after_verdict"]),
                          str(g["days_after"]), "; ".join(g["changes"]), ", ".join(g["signed_by"]))
        tables.append(moved)
    if metrics.get("invalid_contracts"):
        bad = Table(title="Contracts that do not parse (left out)")
        bad.add_column("path")
        bad.add_column("error", overflow="fold")
        for item in metrics["invalid_contracts"]:
            bad.add_row(item["path"], item["error"])
        tables.append(bad)
    return tables
