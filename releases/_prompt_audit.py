"""Audit of the prompt registry aliases releasegate owns (the prompt family's `champion`).

A promotion to `champion` moves the prompt family's alias to the decision's prompt version;
`rollback --target prompt` moves it back; `audit --repair` restores it. The ledger's last such
event is the expected state: a prompt alias moved directly in MLflow is drift, recorded
(`alias_drift_detected`, target "prompt") and, with repair, reverted (`alias_repaired`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._audit import AliasFinding
    from ._ledger import Ledger

PROMPT_ALIAS = "champion"


def expected_prompt_alias(ledger: Ledger, scenario_id: str, conn: Any = None) -> tuple[str, str | None] | None:
    """(prompt name, MLflow prompt version) the ledger last set the alias to; None if it never did."""
    state: tuple[str, str | None] | None = None
    for e in ledger.events(scenario_id=scenario_id, event_type=("promoted", "rolled_back", "alias_repaired"),
                           conn=conn):
        p = e.payload
        if e.event_type == "promoted" and p.get("alias") == PROMPT_ALIAS and (p.get("prompt") or {}).get("uri"):
            uri = p["prompt"]["uri"]
            state = (p["prompt"]["name"], uri.rsplit("/", 1)[1])
        elif p.get("target") == "prompt" and p.get("alias", PROMPT_ALIAS) == PROMPT_ALIAS and p.get("prompt_name"):
            state = (p["prompt_name"], p.get("to_version"))
    return state


def audit_prompt_alias(ledger: Ledger, c: Any, scenario_id: str, conn: Any, *, repair: bool,
                       actor: str | None) -> list[AliasFinding]:
    from mlflow.exceptions import MlflowException

    from ._audit import AliasFinding

    expected = expected_prompt_alias(ledger, scenario_id, conn)
    if expected is None:
        return []
    name, want = expected
    try:
        have: str | None = str(c.get_prompt_version_by_alias(name, PROMPT_ALIAS).version)
    except MlflowException:
        have = None
    if have == want:
        return []
    label = f"prompt {name}@{PROMPT_ALIAS}"
    reasons = [f"{label} points at version {have or 'nothing'}, the ledger says {want or 'nothing'}: "
               "moved outside releasegate"]
    finding = AliasFinding(scenario_id, label, have, want, reasons)
    ledger.append("alias_drift_detected", scenario_id, {
        "target": "prompt", "prompt_name": name, "alias": PROMPT_ALIAS, "actual_version": have,
        "expected_version": want, "reasons": reasons,
    }, subject=f"prompts:/{name}@{PROMPT_ALIAS}", actor=actor, conn=conn)
    if repair:
        if want is None:
            c.delete_prompt_alias(name, PROMPT_ALIAS)
        else:
            c.set_prompt_alias(name, PROMPT_ALIAS, int(want))
        ledger.append("alias_repaired", scenario_id, {
            "target": "prompt", "prompt_name": name, "alias": PROMPT_ALIAS, "from_version": have,
            "to_version": want,
        }, subject=f"prompts:/{name}@{PROMPT_ALIAS}", actor=actor, conn=conn)
        finding.repaired = True
    return [finding]
