"""`releasegate plan`: cases (and repeats) a non-inferiority decision needs, before the run.

Assumptions come from earlier evaluations of the scenario in the ledger (the incumbent's
acceptance rate and the discordance of their paired tables, the within-case share where they had
repeats), or from the options, which override them. Thin: `flows.gate.plan_evaluation` makes the plan (the
statistics live in `releasegate.evals.planning`); this module parses the options and prints it.
"""
from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from releasegate.core import InputError

from ._cli_common import GATE, print_error


def _table(result: dict[str, Any]) -> Table:
    d = result["design"]
    table = Table(title=(f"{result['scenario_id']}: non-inferiority at margin {d['margin']:g}, "
                         f"confidence {d['confidence']:g}, power {d['power']:g}"))
    for column in ("repeats", "cases (fixed n)", "generations per model", "sequential cap",
                   "sequential mean cases", "sequential p90 cases"):
        table.add_column(column, justify="right")
    for row in result["rows"]:
        seq = row.get("sequential") or {}
        fmt = (lambda key: "-" if seq.get(key) is None else f"{seq[key]:.0f}")
        cap = "-" if not seq else ("not within " + str(seq["horizon"]) if seq.get("max_cases") is None
                                   else str(seq["max_cases"]))
        table.add_row(str(row["repeats"]), str(row["cases"]), str(row["generations"]), cap,
                      fmt("mean_cases"), fmt("p90_cases"))
    return table


def register(app: typer.Typer) -> None:
    @app.command("plan", rich_help_panel=GATE)
    def plan(
        scenario: Annotated[str, typer.Option("--scenario", help="Scenario id or path to its scenario.yaml")],
        margin: Annotated[float | None, typer.Option("--margin", help="Non-inferiority margin (default: the contract's)")] = None,
        power: Annotated[float, typer.Option("--power", help="Probability of PASS when the assumptions hold")] = 0.8,
        incumbent_rate: Annotated[float | None, typer.Option("--incumbent-rate", help="Assumed incumbent acceptance (default: from the ledger)")] = None,
        discordance: Annotated[float | None, typer.Option("--discordance", help="Assumed share of cases where exactly one model is accepted (default: from the ledger)")] = None,
        difference: Annotated[float, typer.Option("--difference", help="True candidate - incumbent difference to plan for")] = 0.0,
        within_share: Annotated[float | None, typer.Option("--within-share", help="Share of outcome variance within cases across repeats (default: from the ledger, else 0)")] = None,
        repeats: Annotated[str, typer.Option("--repeats", help="Repeat counts to plan for, comma-separated")] = "1,3,5",
        sequential_runs: Annotated[int, typer.Option("--sequential-runs", help="Simulated runs for the sequential plan (0: skip)")] = 200,
        batch_size: Annotated[int, typer.Option("--batch-size", help="Cases per look of a sequential run (as `evaluate --batch-size`)")] = 50,
        as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON")] = False,
        ledger_url: Annotated[str | None, typer.Option("--ledger-url", envvar="RELEASEGATE_LEDGER_URL", help="Ledger database URL")] = None,
    ) -> None:
        """Cases (and repeats) needed for a non-inferiority PASS at the contract's confidence, with
        and without sequential stopping (exit 0; 2 on bad input)."""
        from .gate import plan_evaluation

        try:
            try:
                counts = tuple(int(x) for x in repeats.split(",") if x.strip())
                if not counts or min(counts) < 1:
                    raise ValueError
            except ValueError:
                raise InputError(f"--repeats {repeats!r} is not a list of positive integers", field="--repeats",
                                 fix="e.g. --repeats 1,3,5") from None
            result = plan_evaluation(scenario, margin=margin, power=power, incumbent_rate=incumbent_rate,
                                  discordance=discordance, difference=difference, within_share=within_share,
                                  repeats=counts, sequential_runs=sequential_runs, batch_size=batch_size,
                                  ledger_url=ledger_url)
        except InputError as exc:
            print_error(exc)
            raise typer.Exit(exc.exit_code) from None
        if as_json:
            typer.echo(json.dumps(result, indent=2, sort_keys=True))
            return
        console = Console()
        console.print(_table(result))
        d = result["design"]
        console.print(f"assumptions: incumbent acceptance {d['incumbent_rate']:.3f}, discordance "
                      f"{d['discordance']:.3f}, true difference {d['difference']:+.3f}, within-case share "
                      f"{d['within_share']:.2f} ({result['source']})")
        needed = result["rows"][0]["cases"]
        note = "enough" if result["cases_available"] >= needed else "too few"
        console.print(f"dataset: {result['cases_available']} cases ({note} for {needed} at "
                      f"{result['rows'][0]['repeats']} repeat(s)).")
        if not result["can_ever_pass"]:
            console.print("[bold yellow]warning:[/] even identical answers on every case could not PASS "
                          f"at margin {d['margin']:g}: the dataset is too small.")
        for short in result["undecidable"]:
            if short["check"] == "non_inferiority":  # said above, at the assumed incumbent rate
                continue
            console.print(f"[bold yellow]warning:[/] check {short['check']} is {short['reason']}.", soft_wrap=True)
