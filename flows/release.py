"""Release flows: promote, roll back and audit as Prefect flows, and the scheduled regression check.

The CLI commands `releasegate promote|rollback|audit` call the releases stage directly (fast, for
CI); these flows wrap the same functions so that a Prefect deployment (prefect.yaml) can run them
on a schedule or from the UI with the run, its state and its artifact on record.

Import this module only after `flows._prefect_env.configure_prefect()`.
"""
from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from releasegate import releases
from releasegate.scenarios import load_dataset_for, load_scenario, scenario_paths

from releasegate.flows.evaluate import evaluate_candidate


@flow(name="promote")
def promote_flow(scenario: str, decision: str, alias: str = "champion") -> dict[str, Any]:
    result = releases.promote(scenario, releases.read_decision(decision), alias=alias)
    lines = [f"promoted {result.alias} -> version {result.version}"] if result.promoted else \
        ["blocked:"] + [f"- {r}" for r in result.reasons]
    create_markdown_artifact(markdown="\n".join(lines), key=f"promote-{result.scenario_id}")
    return {"promoted": result.promoted, "reasons": result.reasons, "version": result.version}


@flow(name="rollback")
def rollback_flow(scenario: str, reason: str, to: str | None = None, target: str = "model") -> dict[str, Any]:
    result = releases.rollback(scenario, reason=reason, to=to, target=target)
    return {"target": result.target, "from": result.from_version, "to": result.to_version}


@flow(name="audit")
def audit_flow(repair: bool = False) -> dict[str, Any]:
    report = releases.audit(repair=repair)
    return {"clean": report.clean, "findings": [f.__dict__ for f in report.findings]}


@flow(name="regression-check")
def regression_check(scenarios: list[str] | None = None, limit: int | None = None,
                     alias: str = "champion", production_window_s: float = 3600.0) -> list[dict[str, Any]]:
    """Re-evaluate each scenario's champion against the contract's incumbent entry on its current
    dataset; a FAIL opens an alert (a `regression_detected` ledger event and a Prefect artifact)
    and, where the operating model is present, an incident assigned to the incident owner.
    Production first: where releasegate manages the scenario's gateway endpoint, the champion's p95
    latency over the last `production_window_s` seconds of its traces against the contract's SLO
    (gateway.production_regressions: over it, the same alert with the traces' numbers)."""
    from releasegate.gateway import production_regressions

    logger = get_run_logger()
    results = []
    for path in scenario_paths() if not scenarios else [load_scenario(s).path for s in scenarios]:
        loaded = load_scenario(path)
        s = loaded.scenario
        for prod in production_regressions([s.id], ledger=releases.Ledger.open(), since_s=production_window_s):
            logger.info("%s production: %s", s.id, prod.get("error") or prod["usage"])
            if prod["alert"]:
                results.append({"scenario": s.id, "champion": prod["champion"], "decision": "FAIL", "report": None,
                                "alert": prod["alert"], "production": prod["usage"]})
        load_dataset_for(loaded)  # the current dataset must still match its digest
        champion = releases.champion_entry(s.id, alias=alias)
        if champion is None:
            logger.info("%s: no %s yet, nothing to re-evaluate", s.id, alias)
            continue
        result = evaluate_candidate(scenario=str(path), candidate=champion, limit=limit, progress=False)
        entry = {"scenario": s.id, "champion": champion, "decision": result.decision,
                 "report": result.report_path}
        if result.decision == "FAIL":
            entry["alert"] = releases.open_regression_alert(
                s.id, champion=champion, verdict_path=result.verdict_path, report_path=result.report_path)
            create_markdown_artifact(
                markdown=f"**Regression** on `{s.id}`: champion `{champion}` failed its gate.\n\n{result.markdown}",
                key=f"regression-{s.id}")
        results.append(entry)
    return results
