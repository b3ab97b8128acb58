"""The release decision: an in-toto Statement v1 in a DSSE envelope, and its approvals.

The statement's subject is the candidate model (name + sha256 of its weights); the predicate
pins everything the decision was made on (contract, dataset, incumbent, prompt version, serving
settings, the embedded verdict, the report digest, an exception if one is cited) and the
identities whose signatures it needs. Roles are derived from identities, never stored beside a
signature, so a signature cannot claim a role its signer does not hold.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from releasegate.evals import Verdict, check_verdict_document
from releasegate.core import (
    CANONICAL_JSON_SCHEME,
    InputError,
    Refused,
    atomic_write_text,
    canonical_json,
    canonical_sha256,
    load_json_bounded,
    state_dir,
)
from releasegate.scenarios import STATEMENT_TYPE, LoadedScenario

from ._dsse import PAYLOAD_TYPE, check_signatures, envelope_payload, make_envelope, sign_envelope, signature_valid
from ._exceptions import exception_status
from ._keys import Keyring, fingerprint
from ._predicate import check_predicate

if TYPE_CHECKING:
    from ._ledger import Ledger

PREDICATE_TYPE = "https://releasegate.dev/decision/v1"
SIGNING_ROLES = ("product", "platform")
ESCALATION_ROLE = "escalation"  # the escalation path's first approver, for a release despite a FAIL


def _legacy_canonical_json(obj: Any) -> bytes:
    """How decisions were serialised before they recorded `canonicalization` (sorted keys, no
    whitespace): kept only to check those decisions' verdict digest. New ones use RFC 8785."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False,
                      ensure_ascii=False).encode()


def verdict_digest(verdict: dict[str, Any], canonicalization: str | None) -> str:
    """sha256 of the verdict as the predicate's `canonicalization` writes it (None: the legacy scheme)."""
    if canonicalization == CANONICAL_JSON_SCHEME:
        return canonical_sha256(verdict)
    return hashlib.sha256(_legacy_canonical_json(verdict)).hexdigest()


def verdict_digest_reasons(predicate: dict[str, Any]) -> list[str]:
    """[] when `verdict_sha256` is the digest of the embedded verdict under the recorded scheme."""
    scheme = predicate.get("canonicalization")
    if scheme not in (None, CANONICAL_JSON_SCHEME):
        return [f"unknown canonicalization {scheme!r}: releasegate writes {CANONICAL_JSON_SCHEME}"]
    try:
        digest = verdict_digest(predicate["verdict"], scheme)
    except ValueError as exc:
        return [f"the embedded verdict cannot be canonicalised: {exc}"]
    if digest != predicate.get("verdict_sha256"):
        return [f"verdict_sha256 is not the digest of the embedded verdict ({scheme or 'legacy'} "
                "canonicalization): the decision was not built by releasegate"]
    return []


def _hex64(value: str, name: str) -> str:
    value = value.removeprefix("sha256:").lower()
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise InputError(f"{name} must be a sha256 (64 hex characters), got {value!r}", field=name,
                         fix="pass the sha256 of the model weights")
    return value


def build_decision(
    loaded: LoadedScenario,
    verdict: Verdict,
    *,
    candidate_model_digest: str,
    report_sha256: str | None = None,
    serving: dict[str, Any] | None = None,
    exception_id: str | None = None,
    records: dict[str, str] | None = None,
    created_at: str | None = None,
    trust_root: Any = None,
    aliases: Sequence[str] | None = None,
    valid_days: int | None = None,
) -> dict[str, Any]:
    """An unsigned DSSE envelope around the decision statement for `verdict`.

    `trust_root` (the scenario's current `ScenarioRoot`, when it has one) names the approvers
    instead of the contract. The predicate's `trust_root` (the root version and criteria the
    verdict was judged under) is the verdict's own `trust_root`; a verdict without one (built
    outside the evaluation flow) is taken as judged under `trust_root` with the contract's criteria.

    `records` ({"candidate": path, "incumbent": path}) only locates the generation records for
    the report; their identity is the verdict's `records_sha256`, which the signature covers.
    """
    s = loaded.scenario
    digest = _hex64(candidate_model_digest, "candidate_model_digest")
    if verdict.scenario_id != s.id:
        raise InputError(f"verdict is for scenario {verdict.scenario_id!r}, not {s.id!r}",
                         field="scenario_id", fix="pass the verdict of this scenario")
    if verdict.candidate.model_digest and verdict.candidate.model_digest.removeprefix("sha256:") != digest:
        raise InputError(f"candidate digest {digest} differs from the verdict's "
                         f"{verdict.candidate.model_digest}", field="candidate_model_digest",
                         fix="sign the weights that were evaluated")
    if verdict.contract_sha256 != loaded.contract_sha256:
        raise InputError("the verdict was computed on another version of the contract "
                         f"({verdict.contract_sha256[:12]} != {loaded.contract_sha256[:12]})",
                         file=loaded.path, fix="re-run the evaluation on the current contract")
    if s.owners.product is None or s.owners.platform is None:
        raise loaded.error("owners", "a release needs a product and a platform owner",
                           "add owners.product and owners.platform")
    approvers = {"product": s.owners.product.id, "platform": s.owners.platform.id}
    if trust_root is not None:  # the signed root decides who signs, not the working tree
        approvers = {r: trust_root.owner(r) for r in SIGNING_ROLES}
    if exception_id:
        if not s.escalation_path:
            raise loaded.error("escalation_path", "a decision citing an exception needs an escalation "
                               "approver", "add escalation_path with at least one identity")
        approvers[ESCALATION_ROLE] = (trust_root.owner(ESCALATION_ROLE) if trust_root is not None
                                      else None) or s.escalation_path[0]
    if serving is None:
        serving = s.model_entry(verdict.candidate.entry).serving.model_dump(mode="json")
    verdict_dict = verdict.to_dict()
    from ._binding import DEFAULT_ALIASES, DEFAULT_VALID_DAYS

    created_at = created_at or dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    policy = (trust_root.release_policy or {}) if trust_root is not None else {}
    days = int(valid_days or policy.get("decision_valid_days") or DEFAULT_VALID_DAYS)
    try:
        expires_at = (dt.datetime.fromisoformat(created_at) + dt.timedelta(days=days)).isoformat()
    except ValueError:
        raise InputError(f"created_at {created_at!r} is not an ISO time", field="created_at",
                         fix="pass an ISO 8601 time with its offset") from None
    statement = {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": verdict.candidate.model, "digest": {"sha256": digest}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "scenario_id": s.id,
            "contract_sha256": loaded.contract_sha256,
            "dataset_sha256": verdict.dataset_sha256,
            "candidate": {"entry": verdict.candidate.entry, "model": verdict.candidate.model,
                          "prompt_version": verdict.candidate.prompt_version},
            "incumbent": {"entry": verdict.incumbent.entry, "model": verdict.incumbent.model,
                          "model_digest": verdict.incumbent.model_digest,
                          "prompt_version": verdict.incumbent.prompt_version},
            "prompt_family": {"name": s.prompt_family.name, "version": verdict.candidate.prompt_version},
            "tool_policy_version": s.tool_policy.version,
            "serving": serving,
            "verdict": verdict_dict,
            "canonicalization": CANONICAL_JSON_SCHEME,  # of the payload and verdict_sha256
            "verdict_sha256": canonical_sha256(verdict_dict),
            "report_sha256": report_sha256,
            "exception_id": exception_id,
            "records": {k: str(v) for k, v in records.items()} if records else None,
            "approvers": approvers,
            "created_at": created_at,
            # what it may release, and until when (promote and the gateway refuse beyond either)
            "aliases": list(aliases or DEFAULT_ALIASES),
            "expires_at": expires_at,
        },
    }
    judged = verdict.trust_root  # the root the verdict was judged under (stamped by the evaluation)
    if judged is None and trust_root is not None:  # a verdict built outside the evaluation flow
        from releasegate.evals import TrustRootRef

        from ._trust import criteria_sha256

        judged = TrustRootRef(version=trust_root.version, sha256=trust_root.digest,
                              criteria_sha256=criteria_sha256(loaded))
    if judged is not None:  # absent (not null) without a root: older decisions keep their bytes
        statement["predicate"]["trust_root"] = {"scenario_id": s.id, "version": judged.version,
                                                "sha256": judged.sha256, "criteria_sha256": judged.criteria_sha256}
    check_predicate(statement["predicate"])
    return make_envelope(canonical_json(statement), PAYLOAD_TYPE)


def statement_of(envelope: dict[str, Any]) -> dict[str, Any]:
    """The in-toto statement inside an envelope, checked for shape."""
    if envelope.get("payloadType") != PAYLOAD_TYPE:
        raise InputError(f"payloadType is {envelope.get('payloadType')!r}, expected {PAYLOAD_TYPE}",
                         field="payloadType", fix="pass a releasegate decision envelope")
    try:
        statement = load_json_bounded(envelope_payload(envelope), what="decision payload")
    except ValueError:
        raise InputError("payload is not JSON", field="payload", fix="pass a releasegate decision") from None
    except InputError as exc:
        raise InputError(f"decision payload is not a JSON statement: {exc.message}", field=exc.field or "payload",
                         fix=exc.fix) from None
    if (not isinstance(statement, dict) or statement.get("_type") != STATEMENT_TYPE
            or statement.get("predicateType") != PREDICATE_TYPE
            or not isinstance(statement.get("predicate"), dict) or not statement.get("subject")):
        raise InputError("payload is not a releasegate decision statement", field="payload",
                         fix=f"expected _type {STATEMENT_TYPE} and predicateType {PREDICATE_TYPE}")
    subject = statement["subject"]
    if not isinstance(subject, list) or not all(
            isinstance(s, dict) and isinstance(s.get("digest"), dict)
            and re.fullmatch(r"[0-9a-f]{64}", str(s["digest"].get("sha256", ""))) for s in subject):
        raise InputError("subject must list the model with its sha256 digest", field="subject",
                         fix="pass a decision built by `releasegate evaluate`")
    predicate = statement["predicate"]
    if not isinstance(predicate.get("scenario_id"), str) or not predicate["scenario_id"]:
        raise InputError("the decision names no scenario", field="predicate.scenario_id",
                         fix="pass a decision built by `releasegate evaluate`")
    check_verdict_document(predicate.get("verdict"), field="predicate.verdict")
    return statement


def decision_digest(envelope: dict[str, Any]) -> str:
    """sha256 of the signed statement: stable while signatures are added."""
    return hashlib.sha256(envelope_payload(envelope)).hexdigest()


def decision_id(envelope: dict[str, Any]) -> str:
    return decision_digest(envelope)[:16]


def subject_digest(envelope: dict[str, Any]) -> str:
    return statement_of(envelope)["subject"][0]["digest"]["sha256"]


def default_decision_path(envelope: dict[str, Any]) -> Path:
    scenario_id = statement_of(envelope)["predicate"]["scenario_id"]
    return state_dir() / "decisions" / scenario_id / f"{decision_id(envelope)}.dsse.json"


def write_decision(envelope: dict[str, Any], path: str | Path | None = None) -> Path:
    """Write atomically (temp file + fsync + rename): a crash never leaves half an envelope."""
    path = Path(path) if path else default_decision_path(envelope)
    return atomic_write_text(path, json.dumps(envelope, indent=2, sort_keys=True) + "\n")


def read_decision(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    envelope = load_json_bounded(path, what="decision")
    if not isinstance(envelope, dict) or not isinstance(envelope.get("signatures"), list):
        raise InputError("not a DSSE envelope (payload, payloadType, signatures)", file=path,
                         fix="pass a .dsse.json decision file")
    try:
        statement_of(envelope)
        check_signatures(envelope)
    except InputError as exc:
        raise InputError(exc.message, file=path, field=exc.field, fix=exc.fix) from None
    return envelope


@dataclass(frozen=True)
class SignatureCheck:
    """One signature in an envelope: who made it, for which roles, and whether it verifies."""

    keyid: str
    identity: str | None
    roles: tuple[str, ...]
    valid: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"keyid": self.keyid, "fingerprint": self.keyid, "identity": self.identity,
                "roles": list(self.roles), "valid": self.valid, "reason": self.reason}


@dataclass(frozen=True)
class ApprovalStatus:
    """What the report and `promote` need: who signed, for which role, what is missing."""

    decision_digest: str
    required: dict[str, str]  # role -> identity named in the decision
    signatures: list[SignatureCheck]
    approved: dict[str, SignatureCheck]  # role -> the valid signature that covers it
    problems: list[str] = field(default_factory=list)

    @property
    def missing_roles(self) -> list[str]:
        order = [*SIGNING_ROLES, ESCALATION_ROLE]
        roles = sorted(self.required, key=lambda r: (order.index(r) if r in order else len(order), r))
        return [r for r in roles if r not in self.approved]

    @property
    def fully_approved(self) -> bool:
        return not self.problems and not self.missing_roles

    def approval_rows(self) -> list[dict[str, Any]]:
        """One row per (role, signature) for the report: role, identity, fingerprint, valid."""
        rows = [{"role": role, "identity": c.identity or "", "fingerprint": c.keyid, "valid": c.valid}
                for c in self.signatures for role in (c.roles or ("signer",))]
        order = [*SIGNING_ROLES, ESCALATION_ROLE, "signer"]
        return sorted(rows, key=lambda r: order.index(r["role"]) if r["role"] in order else len(order))

    def to_dict(self) -> dict[str, Any]:
        return {"decision_digest": self.decision_digest, "required": self.required,
                "signatures": [s.to_dict() for s in self.signatures],
                "approved": {r: s.to_dict() for r, s in self.approved.items()},
                "missing_roles": self.missing_roles, "problems": self.problems,
                "fully_approved": self.fully_approved}


def approval_status(envelope: dict[str, Any], keyring: Keyring) -> ApprovalStatus:
    predicate = statement_of(envelope)["predicate"]
    required: dict[str, str] = dict(predicate.get("approvers") or {})
    checks: list[SignatureCheck] = []
    for sig in envelope.get("signatures", []):
        keyid = str(sig.get("keyid", ""))
        entry = keyring.by_fingerprint(keyid)
        if entry is None:
            checks.append(SignatureCheck(keyid, None, (), False, "key not in the keyring"))
            continue
        roles = tuple(r for r, who in required.items() if who == entry.identity)
        if not signature_valid(envelope, sig, entry.key()):
            checks.append(SignatureCheck(keyid, entry.identity, roles, False, "signature does not verify"))
        elif not roles:
            checks.append(SignatureCheck(keyid, entry.identity, (), True,
                                         "valid, but the signer holds no role in this decision"))
        else:
            checks.append(SignatureCheck(keyid, entry.identity, roles, True, "valid"))
    approved = {r: c for c in checks if c.valid for r in c.roles}
    problems: list[str] = []
    # A statement without both roles must never count as approved (it would be vacuously so).
    for role in SIGNING_ROLES:
        if not required.get(role):
            problems.append(f"the decision names no {role} approver")
    identities = list(required.values())
    if len(set(identities)) != len(identities):
        problems.append("one identity is named for two roles: two keys need two different people")
    return ApprovalStatus(decision_digest(envelope), required, checks, approved, problems)


def verdict_gate_reasons(envelope: dict[str, Any], ledger: Ledger | None) -> list[str]:
    """Why this decision's verdict does not allow a release ([] when it does).

    PASS allows it. FAIL/INCONCLUSIVE allow it only through a cited exception that the register's
    `exception_status` finds usable (open, of a release kind, unexpired and reviewed).
    """
    predicate = statement_of(envelope)["predicate"]
    mismatch = verdict_digest_reasons(predicate)
    if mismatch:
        return mismatch
    decision = predicate["verdict"].get("decision")
    if decision == "PASS":
        return []
    exception_id = predicate.get("exception_id")
    vetoed = predicate["verdict"].get("vetoed_by") or []
    if vetoed:  # evals: a failing critical check is never waivable, not even by an exception
        return [f"verdict is {decision}: critical checks failed ({', '.join(vetoed)}), "
                "which no exception can waive"]
    if not exception_id:
        return [f"verdict is {decision}: only a PASS (or a cited open exception) can be released"]
    status = exception_status(ledger, predicate["scenario_id"], exception_id)
    if status.usable:
        return []
    return [f"verdict is {decision} and the cited exception {exception_id} cannot be used: {status.reason}"]


def approve(
    envelope: dict[str, Any],
    role: str,
    key: Ed25519PrivateKey,
    keyring: Keyring,
    *,
    ledger: Ledger | None = None,
    contract_owners: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Add `key`'s signature for `role`, or raise Refused with every reason."""
    predicate = statement_of(envelope)["predicate"]
    required: dict[str, str] = predicate.get("approvers") or {}
    fp = fingerprint(key.public_key())
    entry = keyring.by_fingerprint(fp)
    reasons: list[str] = []
    if role not in required:
        reasons.append(f"this decision has no {role!r} role (roles: {', '.join(required)})")
    if entry is None:
        reasons.append(f"the key {fp[:16]} is not in the keyring {keyring.path}")
    else:
        owner = required.get(role)
        if owner is not None and entry.identity != owner:
            reasons.append(f"{entry.identity} is not the {role} owner ({owner})")
        if contract_owners is not None and role in contract_owners and contract_owners[role] != owner:
            reasons.append(f"the contract's {role} owner is now {contract_owners[role]}, "
                           f"the decision names {owner}: re-run the evaluation")
        signed_other = [r for r, who in required.items() if r != role and who == entry.identity]
        status = approval_status(envelope, keyring)
        already = [c for c in status.signatures if c.identity == entry.identity and c.valid
                   and set(c.roles) - {role}]
        if signed_other or already or (status.problems and owner == entry.identity):
            reasons.append(f"{entry.identity} already holds another role in this decision: "
                           "one identity cannot sign both roles")
    reasons += verdict_gate_reasons(envelope, ledger)
    if reasons:
        raise Refused(reasons, code="approval")
    return sign_envelope(envelope, key)
