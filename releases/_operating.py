"""Shared by the operating model's registers (exceptions, incidents): times, identities, ids."""
from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import ValidationError

from releasegate.core import InputError
from releasegate.scenarios import Owner

from ._ledger import Ledger

_ID_LOCK = "releasegate:operating-ids"  # serialises id allocation (one counter per prefix)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def parse_time(value: str) -> dt.datetime:
    """A ledger `created_at` (ISO 8601 with offset) as an aware datetime."""
    t = dt.datetime.fromisoformat(value)
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)


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
