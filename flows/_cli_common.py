"""What every CLI module shares: the two consoles, the help panels and the one way a refusal is printed.

`releasegate --help` groups the commands by what a person does: every top-level command and
command group names one of `PANELS` as its `rich_help_panel` (a test checks that none is left out).

A refusal (`releasegate.core.Refused`, or a list of problems such as a tampered ledger's) is
printed the same way by every command: a red title line on stderr, then each reason on its own
`  - ` line, and exit code 1 (the README's exit-code table: 0 done, 1 refused, 2 bad input).

Free text in a printed line (names, reasons, summaries, file names: whatever a contract, a ledger
row or an argument can carry) goes through `shown`: an ANSI escape sequence is printed as `\x1b`,
never run, and rich markup such as `[/x]` is printed as it is, never parsed (or crashed on).
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from releasegate.core import printable

SCENARIOS = "Scenarios"
SERVING = "Serving"
GATE = "Gate"
RELEASES = "Releases"
TRUST = "Trust"
OPERATING = "Operating model"
GATEWAY = "Gateway"
FLOWS = "Flows"
PANELS = (SCENARIOS, SERVING, GATE, RELEASES, TRUST, OPERATING, GATEWAY, FLOWS)

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def shown(value: object) -> str:
    """Free text for a rich print: control characters and ANSI escapes made visible
    (core.printable), rich markup such as `[red]` printed literally."""
    return escape(printable(value))


def print_error(message: object) -> None:
    """The one `error: ... (fix: ...)` line of bad input, on stderr, with its free text escaped."""
    err.print(f"[bold red]error:[/] {shown(message)}")


def print_refusal(title: str, reasons: Iterable[str]) -> None:
    err.print(f"[bold red]{title}[/]")
    for r in reasons:
        err.print(f"  - {shown(r)}")


def refused(title: str, reasons: Iterable[str]) -> NoReturn:
    """Print the refusal (title, then every reason) and exit 1."""
    print_refusal(title, reasons)
    raise typer.Exit(1)
