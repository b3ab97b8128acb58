"""The hook through which a cited exception can allow releasing a FAIL/INCONCLUSIVE verdict.

The operating model (exceptions register) owns exceptions. Until it installs its own resolver
with `set_exception_resolver`, the default reads the ledger's `exception_opened` /
`exception_reviewed` / `exception_closed` events (payload: `exception_id`, `expires` ISO date),
so an exception recorded there is honoured as soon as it exists.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._ledger import Ledger


@dataclass(frozen=True)
class ExceptionStatus:
    exception_id: str
    usable: bool
    reason: str  # why it cannot be used, or "open until <date>"


ExceptionResolver = Callable[["Ledger | None", str, str], ExceptionStatus]


def ledger_exception_resolver(ledger: Ledger | None, scenario_id: str, exception_id: str) -> ExceptionStatus:
    if ledger is None:
        return ExceptionStatus(exception_id, False, "no ledger to look the exception up in")
    opened = None
    closed = False
    for event in ledger.events(scenario_id=scenario_id):
        if event.payload.get("exception_id") != exception_id:
            continue
        if event.event_type == "exception_opened":
            opened = event
        elif event.event_type == "exception_closed":
            closed = True
    if opened is None:
        return ExceptionStatus(exception_id, False, f"no exception {exception_id} on scenario {scenario_id}")
    if closed:
        return ExceptionStatus(exception_id, False, "the exception is closed")
    expires = opened.payload.get("expires")
    try:
        expiry = dt.date.fromisoformat(str(expires)[:10])
    except ValueError:
        return ExceptionStatus(exception_id, False, f"the exception has no valid expiry ({expires!r})")
    if expiry < dt.datetime.now(dt.timezone.utc).date():
        return ExceptionStatus(exception_id, False, f"the exception expired on {expiry}")
    return ExceptionStatus(exception_id, True, f"open until {expiry}")


_resolver: ExceptionResolver = ledger_exception_resolver


def set_exception_resolver(resolver: ExceptionResolver | None) -> None:
    """Install the exceptions register's resolver (None restores the ledger default)."""
    global _resolver
    _resolver = resolver or ledger_exception_resolver


def current_exception_resolver() -> ExceptionResolver:
    """The installed resolver (so a caller can put it back after swapping in another)."""
    return _resolver


def resolve_exception(ledger: Ledger | None, scenario_id: str, exception_id: str) -> ExceptionStatus:
    return _resolver(ledger, scenario_id, exception_id)
