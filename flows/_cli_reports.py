"""`releasegate report DECISION`: the product owner's HTML report (and the CI Markdown summary).

DECISION is a DSSE release-decision envelope (its in-toto Statement's `predicate.verdict`) or a
plain verdict JSON from `releasegate score --out`. The case tables need both models' generation
records: `--candidate-records/--incumbent-records`, else the decision's `predicate.records`
paths when it has them. Exit 0 when the report was written (whatever the verdict), 2 bad input.
"""
from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from ._cli_common import GATE

console = Console(highlight=False, soft_wrap=True)


def default_report_path(decision: Path) -> Path:
    """Beside the decision: decision.json -> decision.report.html."""
    return decision.with_name(decision.name.removesuffix(".json") + ".report.html")


def report_command(decision: Path, out: Path | None = None, markdown: bool = False,
                   candidate_records: Path | None = None, incumbent_records: Path | None = None,
                   cases: Path | None = None, scenario: str | None = None) -> int:
    """Library form of the command: writes the report, prints where (or the Markdown summary)."""
    from releasegate.reports import render_markdown, report_input_from_files, write_report

    report = report_input_from_files(decision, candidate_records, incumbent_records, cases=cases,
                                     scenario=scenario)
    path = out or default_report_path(decision)
    digest = write_report(report, path)
    if markdown:
        # stdout carries only the Markdown, so CI can pipe it into a PR comment as it is
        typer.echo(render_markdown(report.verdict, path), nl=False)
    else:
        console.print(f"{report.verdict.decision}: report written to {path} (sha256 {digest})")
    return 0


def register(app: typer.Typer) -> None:
    @app.command("report", rich_help_panel=GATE)
    def report(
        decision: Path = typer.Argument(..., help="Decision envelope (DSSE JSON) or verdict JSON"),
        out: Path | None = typer.Option(None, "--out", help="HTML file to write "
                                        "(default: beside DECISION, *.report.html)"),
        markdown: bool = typer.Option(False, "--markdown", help="Print the CI Markdown summary "
                                      "to stdout instead of a status line"),
        candidate_records: Path | None = typer.Option(None, "--candidate-records",
                                                      help="Candidate generation records (Parquet)"),
        incumbent_records: Path | None = typer.Option(None, "--incumbent-records",
                                                      help="Incumbent generation records (Parquet)"),
        cases: Path | None = typer.Option(None, "--cases", help="A ready case table (Parquet with "
                                          "reports.CASE_COLUMNS) instead of the two record files"),
        scenario: str | None = typer.Option(None, "--scenario", help="Scenario id or scenario.yaml "
                                            "(default: the verdict's scenario_id)"),
    ) -> None:
        """Render the HTML report of a gate verdict or release decision (exit 0 written, 2 bad input)."""
        raise typer.Exit(report_command(decision, out, markdown, candidate_records, incumbent_records,
                                        cases, scenario))
