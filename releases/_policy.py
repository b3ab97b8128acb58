"""The platform's release policy: when a CI key (not a person) may sign a decision as platform.

The policy lives in the scenario's signed root (so the platform owner signed it, with the product
owner) and names one policy identity and its key. `evaluate_policy` checks every condition and
returns each one's result; `approve --role platform --by-policy` records them in the ledger and
`promote` evaluates them again. Outside the policy, a person on the platform team signs.

Conditions (all must hold):
- `verdict_pass`: the verdict is PASS;
- `no_exception`: the decision cites no exception;
- `change_kind`: `prompt_only` (the candidate runs on the incumbent's weights: same digest) or
  `weights_allowlist` (the candidate's weight digest is in the policy's allow-list);
- `check:<name>`: each check the policy requires (e.g. cost_ratio, latency_p95) ran and passed;
- `no_open_incident`: no open incident of the listed severities on the scenario;
- `policy_not_expired`: today is on or before the policy's expiry date;
- `evidence_attested`: both sides' generation records were attested by a trusted runner (always
  required for a policy approval, issue 15).

Evidence provenance (issue 15): `runners` lists the runner identities whose attestations of
generation records are trusted (their keys go into the root); `require_attested_evidence: true`
makes approve and promote refuse any decision, signed by people or by policy, whose evidence is
self-declared on either side. Both are left out of the stored policy while unset.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from releasegate.core import InputError, canonical_sha256

from ._keys import Keyring

CHANGE_KINDS = ("prompt_only", "weights_allowlist")
POLICY_FIELDS = ("identity", "expires", "change_kinds", "weights_allowlist", "require_checks",
                 "no_open_incidents", "runners", "require_attested_evidence")
EVIDENCE_SIDES = ("candidate", "incumbent")


@dataclass(frozen=True)
class Condition:
    name: str
    passed: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "detail": self.detail}


def _text_list(policy: dict[str, Any], field: str, default: list[str], source: str, example: str) -> list[str]:
    """A policy field that lists strings (absent or null: `default`); InputError for anything else."""
    value = policy.get(field)
    if value is None:
        return list(default)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(f"{field} must be a list of strings", file=source, field=field, fix=f"e.g. {field}: {example}")
    return list(value)


def normalise_policy(policy: dict[str, Any], keyring: Keyring, *, source: str = "release policy") -> dict[str, Any]:
    """A policy as stored in a root: known fields only, dates as ISO text, the identity's key id."""
    if not isinstance(policy, dict):
        raise InputError("a release policy is a mapping", file=source, fix=f"fields: {', '.join(POLICY_FIELDS)}")
    unknown = sorted(str(k)[:80] for k in policy if k not in POLICY_FIELDS)
    if unknown:
        raise InputError(f"unknown field(s) {', '.join(unknown)}", file=source, field=unknown[0],
                         fix=f"fields: {', '.join(POLICY_FIELDS)}")
    identity = policy.get("identity")
    if not identity or not isinstance(identity, str):
        raise InputError("the policy names no identity", file=source, field="identity",
                         fix="name the CI key's identity, e.g. release-bot@platform.example")
    entry = keyring.entries.get(identity)
    if entry is None:
        raise InputError(f"{identity} has no public key in the keyring", file=source, field="identity",
                         fix=f"run `releasegate keys generate --identity {identity}`")
    try:
        expires = dt.date.fromisoformat(str(policy.get("expires")))
    except ValueError:
        raise InputError(f"expires {policy.get('expires')!r} is not a date", file=source, field="expires",
                         fix="use YYYY-MM-DD") from None
    kinds = _text_list(policy, "change_kinds", ["prompt_only"], source, "[prompt_only]") or ["prompt_only"]
    bad = [k for k in kinds if k not in CHANGE_KINDS]
    if bad:
        raise InputError(f"unknown change kind {bad[0]!r}", file=source, field="change_kinds",
                         fix=f"use {' or '.join(CHANGE_KINDS)}")
    allow = [d.removeprefix("sha256:").lower()
             for d in _text_list(policy, "weights_allowlist", [], source, "[sha256:<64 hex>]")]
    if any(len(d) != 64 for d in allow):
        raise InputError("weights_allowlist holds sha256 digests (64 hex)", file=source,
                         field="weights_allowlist", fix="list the weight digests from `releasegate models list`")
    runners = _text_list(policy, "runners", [], source, "[runner@platform.example]")
    missing = [r for r in runners if r not in keyring.entries]
    if missing:
        raise InputError(f"runner {missing[0]} has no public key in the keyring", file=source, field="runners",
                         fix=f"run `releasegate keys generate --identity {missing[0]}`")
    require_attested = policy.get("require_attested_evidence", False)
    if not isinstance(require_attested, bool):
        raise InputError(f"require_attested_evidence must be true or false, not {require_attested!r}", file=source,
                         field="require_attested_evidence", fix="use true or false")
    evidence: dict[str, Any] = {}  # left out while unset: policies without them keep their digest
    if runners:
        evidence["runners"] = {r: keyring.entries[r].fingerprint for r in runners}
    if require_attested:
        evidence["require_attested_evidence"] = True
    return {
        **evidence,
        "identity": identity, "keyid": entry.fingerprint, "expires": expires.isoformat(),
        "change_kinds": kinds, "weights_allowlist": allow,
        "require_checks": _text_list(policy, "require_checks", ["cost_ratio", "latency_p95"], source,
                                     "[cost_ratio, latency_p95]"),
        "no_open_incidents": _text_list(policy, "no_open_incidents", ["sev1", "sev2"], source, "[sev1, sev2]"),
    }


def policy_digest(policy: dict[str, Any]) -> str:
    return canonical_sha256(policy)


def self_declared_sides(predicate: dict[str, Any]) -> list[str]:
    """The sides of a decision whose evidence is not attested (a verdict without the field: both)."""
    verdict = predicate.get("verdict") or {}
    return [side for side in EVIDENCE_SIDES
            if ((verdict.get(side) or {}).get("evidence") or {}).get("status") != "attested"]


def evidence_refusals(policy: dict[str, Any] | None, predicate: dict[str, Any], *,
                      contract_requires: bool = False) -> list[str]:
    """Why attested evidence is required and missing ([] otherwise): the signed root's release
    policy, or the contract's `release_policy.require_attested_evidence` (which can only add)."""
    if policy and policy.get("require_attested_evidence"):
        who = "the release policy"
    elif contract_requires:
        who = "the contract's release_policy"
    else:
        return []
    return [f"{who} requires attested evidence: the {side} records are self-declared "
            "(re-run the evaluation with a trusted runner)" for side in self_declared_sides(predicate)]


def evaluate_policy(policy: dict[str, Any], predicate: dict[str, Any], *, open_incident_severities: list[str],
                    subject_digest: str, today: dt.date | None = None) -> list[Condition]:
    """Every condition of the policy against a decision's predicate; all must pass."""
    today = today or dt.datetime.now(dt.timezone.utc).date()
    verdict = predicate.get("verdict") or {}
    conds = [
        Condition("verdict_pass", verdict.get("decision") == "PASS", f"verdict is {verdict.get('decision')}"),
        Condition("no_exception", not predicate.get("exception_id"),
                  f"cites exception {predicate['exception_id']}" if predicate.get("exception_id") else "no exception cited"),
    ]
    incumbent = str((predicate.get("incumbent") or {}).get("model_digest") or "").removeprefix("sha256:")
    kinds = policy.get("change_kinds", [])
    same_weights = bool(incumbent) and incumbent == subject_digest
    allowed = subject_digest in policy.get("weights_allowlist", [])
    ok = ("prompt_only" in kinds and same_weights) or ("weights_allowlist" in kinds and allowed)
    detail = ("prompt-only change on the incumbent's weights" if same_weights else
              f"weights {subject_digest[:12]} differ from the incumbent's {incumbent[:12] or '?'}"
              + (" and are in the allow-list" if allowed else " and are not in the allow-list"))
    conds.append(Condition("change_kind", ok, f"{detail} (policy allows: {', '.join(kinds)})"))
    checks = {c.get("name"): c for c in verdict.get("checks", [])}
    for name in policy.get("require_checks", []):
        c = checks.get(name)
        conds.append(Condition(f"check:{name}", bool(c) and c.get("status") == "pass",
                               "not run" if c is None else f"{c.get('status')}: {c.get('reason', '')}"))
    blocking = sorted(s for s in open_incident_severities if s in policy.get("no_open_incidents", []))
    conds.append(Condition("no_open_incident", not blocking,
                           f"open incident(s): {', '.join(blocking)}" if blocking else "none open"))
    unattested = self_declared_sides(predicate)
    conds.append(Condition("evidence_attested", not unattested,
                           f"self-declared evidence: {', '.join(unattested)} records" if unattested
                           else "both sides' records attested by a trusted runner"))
    expires = dt.date.fromisoformat(policy["expires"])
    conds.append(Condition("policy_not_expired", today <= expires, f"policy expires {expires.isoformat()}"))
    return conds
