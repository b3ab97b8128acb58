"""The `releasegate` command line: one typer app, commands registered by each stage's module.

Each `_cli_<area>.py` module defines `register(app)` and adds its commands (simonw/llm style),
so areas are added without editing a central switch. Commands stay thin: they parse options,
call library functions and print. Heavy imports (mlflow, prefect, datasets) happen inside the
commands so that `--help` is fast.
"""
from __future__ import annotations

import importlib
import sys

import typer

from releasegate.core import InputError, Refused

from ._cli_common import print_error, print_refusal

app = typer.Typer(
    name="releasegate",
    help="Evaluation gate and two-key release pipeline for self-hosted LLM scenarios.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    add_completion=False,
)

_COMMAND_MODULES = (
    "releasegate.flows._cli_scenarios",
    "releasegate.flows._cli_serving",
    "releasegate.flows._cli_gate",
    "releasegate.flows._cli_plan",
    "releasegate.flows._cli_releases",
    "releasegate.flows._cli_gateway",
    "releasegate.flows._cli_reports",
    "releasegate.flows._cli_operating",
    "releasegate.flows._cli_trust",
    "releasegate.flows._cli_flows",
)

for _name in _COMMAND_MODULES:
    importlib.import_module(_name).register(app)


def main() -> None:
    """Console-script entry point: bad input is one line on stderr and exit code 2; a refusal no
    command caught is printed like every other (each reason) with exit code 1."""
    try:
        app()
    except Refused as exc:
        print_refusal(f"refused ({exc.code}):", exc.reasons)
        sys.exit(exc.exit_code)
    except InputError as exc:
        print_error(exc)
        sys.exit(exc.exit_code)
    except OSError as exc:  # a path the user named cannot be read or written (too long, no such folder)
        where = str(exc.filename or "")[:200] + ("..." if len(str(exc.filename or "")) > 200 else "")
        print_error(f"{where + ': ' if where else ''}{exc.strerror or exc} "
                    "(fix: choose a shorter name or a writable location)")
        sys.exit(2)


if __name__ == "__main__":
    main()
