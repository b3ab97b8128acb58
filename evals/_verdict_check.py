"""A verdict document is checked before any command reads it (issue 13).

`report` must not render PASS, and `verify`/`approve`/`promote` must not act, on a verdict that
says "MAYBE", carries no checks, or claims PASS while one of its critical checks failed (or
while it names vetoing checks). These are the rules a schema alone does not express: they tie
the decision to its own evidence.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from releasegate.core import InputError

DECISIONS = ("PASS", "FAIL", "INCONCLUSIVE")
STATUSES = ("pass", "fail", "inconclusive", "skipped")
_NUMBERS = ("value", "ci_low", "ci_high", "threshold")
_FIX = "regenerate it with `releasegate score` (a verdict is never edited by hand)"


def check_verdict_document(data: Any, *, file: str | Path | None = None,
                           field: str | None = None) -> dict[str, Any]:
    """Raise InputError (naming `field`.x) unless `data` is a self-consistent verdict dict."""
    prefix = f"{field}." if field else ""

    def refuse(name: str, message: str) -> InputError:
        return InputError(message, file=file, field=f"{prefix}{name}", fix=_FIX)

    if not isinstance(data, dict):
        raise InputError(f"a verdict must be a JSON object, not {type(data).__name__}", file=file,
                         field=field, fix=_FIX)
    decision = data.get("decision")
    if decision not in DECISIONS:
        raise refuse("decision", f"decision {str(decision)[:40]!r} is not one of {', '.join(DECISIONS)}")
    checks = data.get("checks")
    if not isinstance(checks, list) or not checks:
        raise refuse("checks", "a verdict needs its list of checks")
    for i, check in enumerate(checks):
        if not isinstance(check, dict):
            raise refuse(f"checks.{i}", "each check must be a JSON object")
        if check.get("status") not in STATUSES:
            raise refuse(f"checks.{i}.status",
                         f"status {str(check.get('status'))[:40]!r} is not one of {', '.join(STATUSES)}")
        if not isinstance(check.get("name"), str) or not check.get("name"):
            raise refuse(f"checks.{i}.name", "each check needs a name")
        for key in _NUMBERS:
            value = check.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not math.isfinite(value)):
                raise refuse(f"checks.{i}.{key}", f"{key} must be a finite number or null, not {value!r}")
        ends = check.get("unbounded")
        if ends is not None and ends not in ("low", "high", "both"):
            raise refuse(f"checks.{i}.unbounded", f"unbounded {str(ends)[:40]!r} is not one of low, high, both")
        for end, key in (("low", "ci_low"), ("high", "ci_high")):
            if ends in (end, "both") and check.get(key) is not None:
                raise refuse(f"checks.{i}.{key}", f"{key} is {check.get(key)!r} but the check says that end is unbounded")
    if decision == "PASS":
        failed = [c["name"] for c in checks if c.get("critical") is True and c["status"] in ("fail", "inconclusive")]
        if failed:
            raise refuse("decision", f"says PASS but its critical check(s) {', '.join(failed[:5])} did not pass")
        if all(c["status"] in ("fail", "inconclusive") for c in checks):
            raise refuse("decision", "says PASS but none of its checks passed")
        if data.get("vetoed_by"):
            raise refuse("vetoed_by", "says PASS but names vetoing checks")
    for side in ("candidate", "incumbent"):
        if not isinstance(data.get(side), dict):
            raise refuse(side, f"a verdict names its {side} (entry, model, digests)")
    if not isinstance(data.get("scenario_id"), str) or not data.get("scenario_id"):
        raise refuse("scenario_id", "a verdict names its scenario")
    return data
