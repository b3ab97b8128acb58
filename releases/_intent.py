"""Promotion as designed states: intent in the ledger, then the alias moves, then the outcome.

`promote` commits a `promotion_intent` event (the full `promoted` payload it plans, and the model
and prompt alias state before it) BEFORE it touches MLflow, then, under the scenario lock again,
moves the model alias(es) and the prompt alias and appends `promoted` in that transaction. A crash
(or kill) anywhere in between leaves an intent with no outcome. The next `promote` or
`audit --repair` recognises it: if every alias already shows the plan, the promotion is finished
(`promoted`); otherwise model and prompt aliases are put back to the state before the intent and
`promotion_abandoned` says so. An intent whose process is alive (same host, pid running) and that
is younger than the lease is in flight: the other command says busy, retry.

Fault injection for tests: RELEASEGATE_FAULT=promote:<step> ends the process (os._exit(137)) at
that step; steps are in `FAULT_STEPS`.
"""
from __future__ import annotations

import datetime as dt
import os
import socket
import threading
from typing import Any


from . import _registry as reg
from ._events import PromotionAbandoned, Promoted, PromotionIntent, append_event  # noqa: F401
from ._ledger import Ledger, LedgerBusy, LedgerEvent, seconds_from_env

FAULT_STEPS = ("after_intent", "after_model_alias", "after_previous_alias", "after_prompt_alias",
               "before_outcome_commit")
DEFAULT_LEASE_S = 300.0
DEFAULT_BUSY_WAIT_S = 30.0
_LIVE: set[int] = set()  # intents this process is carrying out now (threads share a pid)
_LIVE_LOCK = threading.Lock()


def mark_live(seq: int) -> None:
    with _LIVE_LOCK:
        _LIVE.add(seq)


def unmark_live(seq: int) -> None:
    with _LIVE_LOCK:
        _LIVE.discard(seq)


class PromotionBusy(LedgerBusy):
    """Another promotion of this scenario is in flight: retry (exit 1, not bad input)."""


def fault_point(step: str) -> None:
    """End the process here when RELEASEGATE_FAULT names this step (tests kill promote this way)."""
    if os.environ.get("RELEASEGATE_FAULT") == f"promote:{step}":
        os._exit(137)


def lease_seconds() -> float:
    """How long an intent whose process cannot be checked counts as in flight."""
    return seconds_from_env("RELEASEGATE_PROMOTION_LEASE_S", DEFAULT_LEASE_S)


def busy_wait_seconds() -> float:
    """How long promote waits for another promotion in flight before saying busy, retry."""
    return seconds_from_env("RELEASEGATE_BUSY_WAIT_S", DEFAULT_BUSY_WAIT_S)


def owner() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid(),
            "started_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def in_flight(intent: LedgerEvent) -> bool:
    """True while the process that wrote the intent may still finish it."""
    who = intent.payload.get("owner") or {}
    if who.get("host") == socket.gethostname() and isinstance(who.get("pid"), int):
        if who["pid"] == os.getpid():
            with _LIVE_LOCK:  # another thread of this process may be carrying it out now
                return intent.seq in _LIVE
        if not _alive(who["pid"]):
            return False
    try:
        started = dt.datetime.fromisoformat(str(who.get("started_at")))
    except ValueError:
        return False
    age = (dt.datetime.now(dt.timezone.utc) - started).total_seconds()
    return age < lease_seconds()


def pending_intents(ledger: Ledger, scenario_id: str, conn: Any) -> list[LedgerEvent]:
    """Intents with no outcome (`promoted` or `promotion_abandoned` naming their seq)."""
    intents = ledger.events(scenario_id=scenario_id, event_type="promotion_intent", conn=conn)
    if not intents:
        return []
    done = {e.payload.get("intent_seq") for e in ledger.events(
        scenario_id=scenario_id, event_type=("promoted", "promotion_abandoned"), conn=conn)}
    return [e for e in intents if e.seq not in done]


def prompt_alias_version(c: Any, prompt_name: str, alias: str) -> str | None:
    from mlflow.exceptions import MlflowException

    try:
        return str(c.get_prompt_version_by_alias(prompt_name, alias).version)
    except MlflowException:
        return None


def _set_model_alias(c: Any, name: str, alias: str, version: str | None) -> None:
    from mlflow.exceptions import MlflowException

    if version is None:
        try:
            c.delete_registered_model_alias(name, alias)
        except MlflowException:
            pass
    else:
        c.set_registered_model_alias(name, alias, version)


def _set_prompt_alias(c: Any, prompt_name: str, alias: str, version: str | None) -> None:
    from mlflow.exceptions import MlflowException

    if version is None:
        try:
            c.delete_prompt_alias(prompt_name, alias)
        except MlflowException:
            pass
    else:
        c.set_prompt_alias(prompt_name, alias, int(version))


def resolve_pending(ledger: Ledger, scenario_id: str, c: Any, conn: Any, *,
                    actor: str | None = None, finished: list[LedgerEvent] | None = None) -> list[str]:
    """Finish or undo every abandoned intent of the scenario (inside the scenario lock).

    Raises PromotionBusy for an intent still in flight. Returns one line per resolution."""
    notes: list[str] = []
    for intent in pending_intents(ledger, scenario_id, conn):
        if in_flight(intent):
            who = intent.payload.get("owner") or {}
            raise PromotionBusy(
                f"another promotion of {scenario_id} is in flight (ledger seq {intent.seq}, "
                f"pid {who.get('pid')} on {who.get('host')}, since {who.get('started_at')}): busy, retry",
                field="promote", fix="retry in a moment; a crashed one is resolved after "
                                     "RELEASEGATE_PROMOTION_LEASE_S seconds")
        p = intent.payload
        planned = p["planned"]
        name = planned["model_name"]
        before, after = p["aliases_before"], planned["aliases"]
        prompt = p.get("prompt_alias") or {}
        actual = reg.aliases_of(c, scenario_id)
        model_done = all(actual.get(a) == v for a, v in after.items() if a in p["moves"])
        prompt_done = not prompt or prompt_alias_version(c, prompt["name"], prompt["alias"]) == prompt["to"]
        if model_done and prompt_done:
            done = append_event(ledger, scenario_id, Promoted(**{**planned, "intent_seq": intent.seq}),
                                subject=planned["decision_digest"], actor=actor, conn=conn)
            if finished is not None:
                finished.append(done)
            notes.append(f"finished the promotion interrupted at ledger seq {intent.seq} "
                         f"({planned['alias']} -> version {planned['version']})")
            continue
        for alias in p["moves"]:
            _set_model_alias(c, name, alias, before.get(alias))
        if prompt:
            _set_prompt_alias(c, prompt["name"], prompt["alias"], prompt.get("from"))
        append_event(ledger, scenario_id, PromotionAbandoned(
            intent_seq=intent.seq, aliases=before, restored_prompt=prompt.get("from"),
            reason="interrupted before its outcome was recorded; aliases restored to the ledger's state",
        ), subject=planned["decision_digest"], actor=actor, conn=conn)
        notes.append(f"undid the promotion interrupted at ledger seq {intent.seq}: "
                     f"model aliases back to {before or 'none'}"
                     + (f", prompt {prompt['name']}@{prompt['alias']} back to {prompt.get('from')}" if prompt else ""))
    return notes
