"""`releasegate evaluate` (the evaluate_candidate flow) and `releasegate regression`.

The contract and dataset are validated before Prefect starts, so bad input exits 2 with nothing
written. Locally the flow runs on Prefect's temporary server; `--prefect-api URL` (or
PREFECT_API_URL, or the active profile of the user's ~/.prefect/profiles.toml) sends it to a
Prefect server instead.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from ._cli_common import FLOWS, shown


def evaluate_command(
    scenario: str, candidate: str, *, incumbent: str | None = None, limit: int | None = None,
    sequential: bool | None = None, batch_size: int = 50, endpoints: list[str] | None = None,
    incumbent_endpoints: list[str] | None = None, candidate_records: Path | None = None,
    incumbent_records: Path | None = None, prefect_api: str | None = None, console: Console | None = None,
) -> int:
    """Check the arguments (flows.gate.check_evaluation), run the flow, print; returns the exit code."""
    from ._cli_gate import checks_table, print_evidence
    from ._prefect_env import configure_prefect
    from .gate import check_evaluation

    console = console or Console()
    loaded, dataset = check_evaluation(scenario, candidate, incumbent=incumbent, limit=limit,
                                       candidate_records=candidate_records, incumbent_records=incumbent_records)
    s = loaded.scenario
    _warn_before_run(loaded, dataset, limit, console)
    configure_prefect(prefect_api)
    from .evaluate import evaluate_candidate

    result = evaluate_candidate(
        scenario=str(loaded.path), candidate=candidate, incumbent=incumbent, limit=limit,
        sequential=sequential, batch_size=batch_size, candidate_endpoints=endpoints or None,
        incumbent_endpoints=incumbent_endpoints or None,
        candidate_records=str(candidate_records) if candidate_records else None,
        incumbent_records=str(incumbent_records) if incumbent_records else None)
    from releasegate.evals import Verdict

    verdict = Verdict.from_json(Path(result.verdict_path).read_text())
    console.print(checks_table(verdict))
    console.print(f"[bold]{verdict.decision}[/]: {shown(verdict.reason)}")
    print_evidence(verdict, console)
    if verdict.sequential:
        console.print(f"sequential: used {result.cases_used} of {result.cases_total} cases "
                      f"({verdict.sequential.stop_reason})")
    # soft_wrap: paths and commands stay on one line, ready to copy
    console.print(f"report:   {result.report_path}", soft_wrap=True)
    console.print(f"decision: {result.decision_path}", soft_wrap=True)
    if result.mlflow_error:  # the gate's exit code still stands: the ledger has the evaluation
        console.print(f"[bold yellow]warning:[/] {result.mlflow_error}", soft_wrap=True)
    if result.decision == "PASS":
        console.print("to approve:\n"
                      f"  releasegate approve {result.decision_path} --role product --key KEYFILE\n"
                      f"  releasegate approve {result.decision_path} --role platform --key KEYFILE\n"
                      f"then: releasegate promote --scenario {s.id} --decision {result.decision_path}",
                      soft_wrap=True)
    return result.exit_code


def _warn_before_run(loaded: Any, dataset: Any, limit: int | None, console: Console) -> None:
    """Said before generating anything: a dataset too small for the margin can never PASS
    (issue 18), and a check this many cases cannot decide, e.g. a p95 latency SLO (issue 13)."""
    from releasegate.evals.planning import undecidable_checks

    criteria = loaded.scenario.success_criteria
    n = min(limit, len(dataset.ids)) if limit else len(dataset.ids)
    for short in undecidable_checks(criteria, n):
        console.print(f"[bold yellow]warning:[/] check {short.check} is {short.reason}; this run cannot PASS "
                      "it" + (" (drop --limit or add cases" if limit else " (add cases") +
                      f"; see `releasegate plan --scenario {loaded.scenario.id}`)", soft_wrap=True)


def register(app: typer.Typer) -> None:
    @app.command("evaluate", rich_help_panel=FLOWS)
    def evaluate(
        scenario: str = typer.Option(..., "--scenario", help="Scenario id or path to its scenario.yaml"),
        candidate: str = typer.Option(..., "--candidate", help="Candidate model entry of the contract"),
        incumbent: str | None = typer.Option(None, "--incumbent", help="Incumbent entry (default: the contract's)"),
        limit: int | None = typer.Option(None, "--limit", help="Evaluate only the first N cases"),
        sequential: bool | None = typer.Option(
            None, "--sequential/--fixed",
            help="Stop as soon as an anytime-valid confidence sequence decides (default: the contract's setting)"),
        batch_size: int = typer.Option(50, "--batch-size", help="Cases per batch in sequential mode"),
        endpoint: list[str] | None = typer.Option(
            None, "--endpoint", help="Candidate endpoint URL; repeat for replicas (cases are split)"),
        incumbent_endpoint: list[str] | None = typer.Option(None, "--incumbent-endpoint", help="Incumbent endpoint URL"),
        candidate_records: Path | None = typer.Option(
            None, "--candidate-records",
            help="Use recorded generations; attested when a trusted runner's <file>.att.json verifies, "
                 "else self-declared"),
        incumbent_records: Path | None = typer.Option(
            None, "--incumbent-records", help="Use recorded generations (attested or self-declared, as above)"),
        prefect_api: str | None = typer.Option(None, "--prefect-api", envvar="PREFECT_API_URL",
                                               help="Prefect server URL (default: the active profile of ~/.prefect/profiles.toml, else a temporary local server)"),
    ) -> None:
        """Evaluate a candidate against the incumbent (a Prefect flow): generate, score, gate,
        report, and record the unsigned decision in the ledger and MLflow.

        MLflow unreachable (RELEASEGATE_MLFLOW_TIMEOUT, default 5 s): a warning, recording skipped,
        `releasegate sync` pushes it later; the exit code is still the gate's.

        Evidence provenance: records generated here are signed by the configured runner
        (RELEASEGATE_RUNNER identity, or RELEASEGATE_RUNNER_KEY) into <records>.att.json;
        recorded ones are verified against theirs. Each side is reported as attested or
        self-declared; an attestation that does not verify is exit 2.

        Exit codes: 0 PASS, 1 FAIL, 3 INCONCLUSIVE, 2 bad input."""
        code = evaluate_command(scenario, candidate, incumbent=incumbent, limit=limit, sequential=sequential,
                                batch_size=batch_size, endpoints=endpoint, incumbent_endpoints=incumbent_endpoint,
                                candidate_records=candidate_records, incumbent_records=incumbent_records,
                                prefect_api=prefect_api)
        raise typer.Exit(code)

    @app.command("regression", rich_help_panel=FLOWS)
    def regression(
        scenario: list[str] | None = typer.Option(None, "--scenario", help="Scenario(s); default: all"),
        limit: int | None = typer.Option(None, "--limit", help="Evaluate only the first N cases"),
        prefect_api: str | None = typer.Option(None, "--prefect-api", envvar="PREFECT_API_URL"),
    ) -> None:
        """Re-evaluate each scenario's champion on its current dataset, and check its production p95
        latency (the gateway's traces, last hour) against the SLO; a FAIL opens an alert (and an
        incident). The `regression-nightly` deployment in prefect.yaml runs this daily."""
        from ._prefect_env import configure_prefect

        configure_prefect(prefect_api)
        from .release import regression_check

        results = regression_check(scenarios=scenario or None, limit=limit)
        console = Console()
        for r in results:
            console.print(f"{r['scenario']}: champion {r['champion']} -> {r['decision']}"
                          + (" in production (gateway traces: p95 over the SLO)" if r.get("production") else "")
                          + (f"  ALERT {r['alert']}" if r.get("alert") else ""))
        raise typer.Exit(1 if any(r["decision"] == "FAIL" for r in results) else 0)
