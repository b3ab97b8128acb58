"""Run the real console entry point in-process (fast enough for many hostile inputs) and check
the contract for bad input: the documented exit code, one line naming the problem with a fix, no
traceback."""
from __future__ import annotations

import contextlib
import io
import sys
from dataclasses import dataclass
from unittest import mock


@dataclass(frozen=True)
class CliRun:
    code: int
    out: str
    err: str


def run_main(*args: str) -> CliRun:
    from releasegate.flows.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with mock.patch.object(sys, "argv", ["releasegate", *args]), \
            contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return CliRun(code, out.getvalue(), err.getvalue())


def refused_cleanly(run: CliRun, code: int = 2) -> str:
    """The one error line of a refused command (asserting the contract)."""
    text = run.out + run.err
    assert run.code == code, text
    assert "Traceback" not in text, text
    lines = [line for line in run.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "(fix: " in lines[0], text
    return lines[0]
