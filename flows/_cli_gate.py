"""`releasegate score`: run the gate on two record files and print the checks.

Exit codes: 0 PASS, 1 FAIL, 3 INCONCLUSIVE, 2 bad input (one line naming the file and field).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from releasegate.core import InputError

from ._cli_common import GATE, print_error, shown

_STYLE = {"pass": "green", "fail": "bold red", "inconclusive": "yellow", "skipped": "dim"}


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}"


def checks_table(verdict: Any) -> Table:
    """The verdict's checks as a rich table (also used by other commands that show a verdict)."""
    table = Table(title=f"{shown(verdict.scenario_id)}: {verdict.decision}  (n={verdict.n}, "
                        f"confidence {verdict.confidence:g}, seed {verdict.seed})")
    for column in ("check", "status", "value", "interval", "threshold", "reason"):
        table.add_column(column, overflow="fold")
    for check in verdict.checks:
        ends = check.unbounded or ""
        interval = "-" if check.ci_low is None and check.ci_high is None and not ends else \
            f"[{'unbounded' if ends in ('low', 'both') else _fmt(check.ci_low)}, " \
            f"{'unbounded' if ends in ('high', 'both') else _fmt(check.ci_high)}]"
        threshold = "-" if check.threshold is None else f"{check.direction} {_fmt(check.threshold)}"
        name = check.name + (" (critical)" if check.critical else "")
        table.add_row(shown(name), f"[{_STYLE[check.status]}]{check.status}[/]", _fmt(check.value),
                      escape(interval), threshold, shown(check.reason))  # slice names come from the dataset
    return table


def print_evidence(verdict: Any, console: Console) -> None:
    """Each side's evidence provenance (issue 15): attested by a trusted runner, or self-declared."""
    from releasegate.reports import evidence_words

    for side in ("candidate", "incumbent"):
        console.print(f"evidence: {side} records {evidence_words(getattr(verdict, side).evidence)}",
                      soft_wrap=True, highlight=False)


def score_command(scenario: str, candidate: Path, incumbent: Path, out: Path | None = None,
                  seed: int | None = None, console: Console | None = None) -> int:
    """`flows.gate.score_files`, printed; returns the exit code (InputError on bad input)."""
    from releasegate.evals import DECISION_EXIT_CODES

    from .gate import score_files

    console = console or Console()
    verdict = score_files(scenario, candidate, incumbent, out=out, seed=seed)
    console.print(checks_table(verdict))
    console.print(f"[bold]{verdict.decision}[/]: {shown(verdict.reason)}")
    print_evidence(verdict, console)
    if out is not None:
        console.print(f"verdict written to {out}")
    return DECISION_EXIT_CODES[verdict.decision]


def register(app: typer.Typer) -> None:
    @app.command("score", rich_help_panel=GATE)
    def score(
        scenario: str = typer.Option(..., "--scenario", help="Scenario id or path to its scenario.yaml"),
        candidate: Path = typer.Option(..., "--candidate", help="Candidate generation records (Parquet)"),
        incumbent: Path = typer.Option(..., "--incumbent", help="Incumbent generation records (Parquet)"),
        out: Path | None = typer.Option(None, "--out", help="Write the verdict JSON here"),
        seed: int | None = typer.Option(None, "--seed", help="Bootstrap seed (default: the contract's)"),
    ) -> None:
        """Score two record sets against the scenario and run the gate (exit 0 PASS, 1 FAIL,
        3 INCONCLUSIVE, 2 bad input)."""
        try:
            code = score_command(scenario, candidate, incumbent, out, seed)
        except InputError as exc:
            print_error(exc)
            raise typer.Exit(exc.exit_code) from None
        raise typer.Exit(code)
