"""Helpers for the operating-model tests: a ledger clock the test controls.

The ledger stamps each event with the wall clock; exceptions age and incidents take time, so
tests move the ledger's clock instead of sleeping (a uniquely named module: test folders are not
packages).
"""
from __future__ import annotations

import datetime as dt
import types

import pytest

UTC = dt.timezone.utc


class LedgerClock:
    """`set(when)` makes the next ledger rows carry `when` as created_at."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now: dt.datetime | None = None
        clock = self

        class _DateTime(dt.datetime):
            @classmethod
            def now(cls, tz: dt.tzinfo | None = None) -> dt.datetime:  # type: ignore[override]
                return clock.now if clock.now is not None else dt.datetime.now(tz)

        import releasegate.releases._ledger as ledger_module

        fake = types.SimpleNamespace(datetime=_DateTime, timezone=dt.timezone, date=dt.date,
                                     timedelta=dt.timedelta)
        monkeypatch.setattr(ledger_module, "dt", fake)

    def set(self, when: dt.datetime) -> None:
        self.now = when


def at(text: str) -> dt.datetime:
    """'2026-11-05 10:00' as an aware UTC datetime."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)
