"""Shared by the operating model's registers (exceptions, incidents): times, identities, ids."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol, TypeVar

from pydantic import ValidationError

from releasegate.core import InputError
from releasegate.scenarios import Owner

from ._ledger import Ledger, LedgerEvent

_ID_LOCK = "releasegate:operating-ids"  # serialises id allocation (one counter per prefix)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def parse_time(value: str) -> dt.datetime:
    """A ledger `created_at` (ISO 8601 with offset) as an aware datetime."""
    t = dt.datetime.fromisoformat(value)
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)


class _Register(Protocol):
    scenario_id: str
    closed_at: dt.datetime | None
    resolution: str | None


R = TypeVar("R", bound=_Register)


def fold_register(events: Iterable[LedgerEvent], id_field: str, opened_type: str,
                  open_record: Callable[[LedgerEvent], R], closed_type: str,
                  updates: Mapping[str, Callable[[R, LedgerEvent], None]]) -> dict[str, R]:
    """One register's records (id -> record) replayed from its ledger events, oldest first.

    `opened_type` creates a record (`open_record`), `closed_type` closes it (time and resolution),
    each type in `updates` changes it. An event without the id, for an id never opened, or under
    another scenario than the record's is ignored: a row cannot close someone else's record.
    """
    records: dict[str, R] = {}
    for e in events:
        rid = e.payload.get(id_field)
        if not rid:
            continue
        if e.event_type == opened_type:
            records[rid] = open_record(e)
        elif rid in records and records[rid].scenario_id == e.scenario_id:
            record = records[rid]
            if e.event_type == closed_type:
                record.closed_at = parse_time(e.created_at)
                record.resolution = e.payload.get("resolution")
            elif e.event_type in updates:
                updates[e.event_type](record, e)
    return records


def check_identity(value: str, option: str) -> str:
    """An owner identity (e-mail or role alias, no placeholder) or InputError naming the option."""
    try:
        return Owner(id=value).id
    except ValidationError as exc:
        msg = exc.errors()[0].get("msg", "not an identity").removeprefix("Value error, ")
        raise InputError(msg, field=option, fix="pass an identity such as owner@team.example") from None


def check_text(value: str | None, option: str, what: str) -> str:
    if value is None or not value.strip():
        raise InputError(f"{what} is empty", field=option, fix=f"say {what}")
    return value.strip()


def next_id(ledger: Ledger, conn: Any, prefix: str, opened_type: str) -> str:
    """`<prefix>-<n>`: short, sequential ids people can say out loud. Call under `_ID_LOCK`."""
    return f"{prefix}-{len(ledger.events(event_type=opened_type, conn=conn)) + 1}"
