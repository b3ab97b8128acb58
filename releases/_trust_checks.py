"""Signature checks against the signed chain: approve, promote, audit, cite-exception use these.

For a scenario with a signed root, who may sign (owners, keys), the gate criteria and the release
policy come from the root's current version in the ledger; the working tree (`keyring.yaml`,
`--keyring`, `--scenario PATH`, the contract's owners, `RELEASEGATE_KEYRING`) can only be
reported as different. A scenario without a root keeps the working tree's rules.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from releasegate.core import InputError, Refused
from releasegate.evals import TrustRootRef
from releasegate.scenarios import LoadedScenario, load_contract

from ._actors import ActorSigner
from ._decision import (
    SIGNING_ROLES,
    ApprovalStatus,
    SignatureCheck,
    approval_status,
    decision_digest,
    statement_of,
    write_decision,
)
from ._dsse import sign_envelope, signature_valid
from ._keys import Keyring, fingerprint
from ._events import Approved, append_event
from ._ledger import Ledger, LedgerEvent
from ._policy import Condition, evaluate_policy, evidence_refusals, policy_digest
from ._trust import (
    SCENARIO_EVENT,
    ScenarioRoot,
    _public,
    criteria_sha256,
    root_for_check,
    root_required_reasons,
    scenario_chain,
    working_tree_differences,
)


@dataclass
class SigningAuthority:
    """Who may sign for a scenario right now, and where that answer came from."""

    scenario_id: str
    root: ScenarioRoot | None
    keyring: Keyring
    owners: dict[str, str | None]
    source: str
    refusals: list[str] = field(default_factory=list)  # broken chain, expired root
    notes: list[str] = field(default_factory=list)  # the working tree differs from the root
    signed_criteria: dict[int, str] = field(default_factory=dict)  # root version -> its criteria digest


def signing_authority(ledger: Ledger, loaded: LoadedScenario, keyring: Keyring) -> SigningAuthority:
    s = loaded.scenario
    root, refusals = root_for_check(ledger, s.id)
    if root is None and not refusals:
        return SigningAuthority(s.id, None, keyring, {
            "product": s.owners.product.id if s.owners.product else None,
            "platform": s.owners.platform.id if s.owners.platform else None,
            "escalation": s.escalation_path[0] if s.escalation_path else None,
        }, "contract")
    if root is None:  # the chain does not verify: nobody may sign
        return SigningAuthority(s.id, None, Keyring(Path("<no verified trust root>"), {}),
                                {r: None for r in (*SIGNING_ROLES, "escalation")}, "no verified root", refusals)
    return SigningAuthority(s.id, root, root.keyring(), {r: root.owner(r) for r in (*SIGNING_ROLES, "escalation")},
                            f"signed root v{root.version}", refusals,
                            working_tree_differences(root, loaded, keyring),
                            {r.version: r.criteria_sha256 for r in scenario_chain(ledger, s.id)})


def signed_root_or_none(scenario_id: str, ledger: Ledger | None = None) -> ScenarioRoot | None:
    """For building a decision: the current signed root, or None (no root, or a chain that does
    not verify, which promote then refuses with its reason)."""
    try:
        from ._trust import current_scenario_root

        return current_scenario_root(ledger or Ledger.open(), scenario_id)
    except Refused:
        return None


def verdict_trust_root(loaded: LoadedScenario, ledger: Ledger | None = None) -> TrustRootRef | None:
    """What the evaluation stamps on its verdict: the current signed root's version and digest and
    the digest of the criteria the gate applied (the contract's; promote refuses the verdict when
    they are not the root's). None without a root (or with a chain that does not verify, which
    approve and promote then refuse with its reason)."""
    root = signed_root_or_none(loaded.scenario.id, ledger)
    if root is None:
        return None
    return TrustRootRef(version=root.version, sha256=root.digest, criteria_sha256=criteria_sha256(loaded))


def criteria_reasons(auth: SigningAuthority, loaded: LoadedScenario, predicate: dict[str, Any]) -> list[str]:
    """A decision judged under criteria that are not the root's current ones is refused."""
    root = auth.root
    if root is None:
        return []
    reasons: list[str] = []
    judged = predicate.get("trust_root")
    if criteria_sha256(loaded) != root.criteria_sha256:
        reasons.append(f"the decision was judged under criteria {criteria_sha256(loaded)[:12]} (the contract's), "
                       f"not the current signed criteria {root.criteria_sha256[:12]} of root v{root.version}: "
                       "criteria change only by a new root version signed by the product and platform owners")
    elif not judged:
        reasons.append(f"the decision names no signed root it was judged under (evaluated before {root.scenario_id} "
                       f"had one): evaluate again under root v{root.version}")
    elif judged.get("criteria_sha256") != root.criteria_sha256:
        reasons.append(f"the decision was judged under root v{judged.get('version')} with criteria "
                       f"{str(judged.get('criteria_sha256'))[:12]}, not the current signed criteria "
                       f"{root.criteria_sha256[:12]} of root v{root.version}: evaluate again")
    elif auth.signed_criteria and auth.signed_criteria.get(judged.get("version")) != judged.get("criteria_sha256"):
        reasons.append(f"the decision was judged under criteria {str(judged.get('criteria_sha256'))[:12]} that root "
                       f"v{judged.get('version')} did not sign (the contract differed from the signed criteria when "
                       f"it was evaluated): evaluate again under root v{root.version}")
    return reasons


def _open_severities(ledger: Ledger, scenario_id: str) -> list[str]:
    from ._incidents import list_incidents

    return [i.severity for i in list_incidents(ledger, scenario_id=scenario_id, open_only=True)]


def policy_conditions(auth: SigningAuthority, envelope: dict[str, Any], ledger: Ledger,
                      today: dt.date | None = None) -> list[Condition]:
    root = auth.root
    assert root is not None and root.release_policy
    statement = statement_of(envelope)
    return evaluate_policy(root.release_policy, statement["predicate"],
                           open_incident_severities=_open_severities(ledger, auth.scenario_id),
                           subject_digest=statement["subject"][0]["digest"]["sha256"], today=today)


def policy_signature(auth: SigningAuthority, envelope: dict[str, Any]) -> bool:
    """Does the envelope carry a valid signature by the root's release-policy key?"""
    root = auth.root
    if root is None or not root.release_policy:
        return False
    kid = root.release_policy["keyid"]
    key = _public(root.metadata.signed.keys[kid])
    return any(s.get("keyid") == kid and signature_valid(envelope, s, key) for s in envelope.get("signatures", []))


def release_signature_reasons(auth: SigningAuthority, loaded: LoadedScenario | None, envelope: dict[str, Any],
                              ledger: Ledger, *, recheck_policy: bool = True) -> tuple[list[str], list[dict[str, Any]]]:
    """(reasons, signers) for promote: owners and keys from the signed root (or the contract
    without one), platform by a person or by the release policy, criteria pre-registered."""
    pred = statement_of(envelope)["predicate"]
    reasons = list(auth.refusals)
    status = approval_status(envelope, auth.keyring)
    for role in SIGNING_ROLES:
        if status.required.get(role) != auth.owners.get(role):
            reasons.append(f"the decision names {status.required.get(role)} as {role} owner, "
                           f"the {auth.source} names {auth.owners.get(role)}")
    by_policy = False
    if "platform" in status.missing_roles and policy_signature(auth, envelope):
        failed = [c for c in policy_conditions(auth, envelope, ledger) if not c.passed] if recheck_policy else []
        if failed:
            reasons.append("the platform policy's signature no longer holds: "
                           + "; ".join(f"{c.name}: {c.detail}" for c in failed))
        by_policy = True
    for role in status.missing_roles:
        if role == "platform" and by_policy:
            continue
        bad = [f"{c.identity or c.keyid[:16]}: {c.reason}" for c in status.signatures
               if role in c.roles or not c.roles or not c.valid]
        reasons.append(f"missing approval: no valid {role} signature from {status.required[role]}"
                       + (f" under the {auth.source}" if auth.root else "")
                       + (f" (signatures seen: {'; '.join(bad)})" if bad else ""))
    reasons += status.problems
    reasons += evidence_refusals(auth.root.release_policy if auth.root else None, pred, contract_requires=bool(
        loaded is not None and loaded.scenario.release_policy.require_attested_evidence))
    signer_ids = {c.identity for c in status.approved.values()}
    if len(status.approved) >= 2 and len(signer_ids) < len(status.approved):
        reasons.append("one identity signed for two roles: two keys need two different people")
    if loaded is not None:
        reasons += criteria_reasons(auth, loaded, pred)
    signers = [{"role": r, "identity": c.identity, "fingerprint": c.keyid}
               for r, c in sorted(status.approved.items())]
    if by_policy and auth.root and auth.root.release_policy:
        p = auth.root.release_policy
        signers.append({"role": "platform", "identity": p["identity"], "fingerprint": p["keyid"],
                        "by_policy": True, "policy_sha256": policy_digest(p)})
    return reasons, sorted(signers, key=lambda s: s["role"])


def record_policy_approval(envelope: dict[str, Any], key: Ed25519PrivateKey, *, ledger: Ledger,
                           loaded: LoadedScenario, decision_path: str | Path, keyring: Keyring,
                           today: dt.date | None = None) -> tuple[dict[str, Any], LedgerEvent, list[Condition]]:
    """Sign as platform with the release-policy key when every policy condition holds; record the
    policy digest and each condition's result in the ledger. Refused lists every failure."""
    from ._recording import evaluated_event

    auth = signing_authority(ledger, loaded, keyring)
    pred = statement_of(envelope)["predicate"]
    reasons = list(auth.refusals)
    conditions: list[Condition] = []
    if auth.root is None and not reasons:
        reasons.append(f"{loaded.scenario.id} has no signed root, so no signed release policy: a person on the "
                       "platform team signs")
    elif auth.root is not None and not auth.root.release_policy:
        reasons.append(f"root v{auth.root.version} of {loaded.scenario.id} has no release policy: a person on "
                       "the platform team signs")
    elif auth.root is not None:
        policy = auth.root.release_policy
        fp = fingerprint(key.public_key())
        if fp != policy["keyid"]:
            reasons.append(f"key {fp[:16]} is not the release policy's key ({policy['identity']}, "
                           f"{policy['keyid'][:16]})")
        if pred.get("approvers", {}).get("platform") != auth.owners.get("platform"):
            reasons.append(f"the decision names {pred.get('approvers', {}).get('platform')} as platform owner, "
                           f"the {auth.source} names {auth.owners.get('platform')}")
        conditions = policy_conditions(auth, envelope, ledger, today)
        reasons += [f"policy condition {c.name} failed: {c.detail}" for c in conditions if not c.passed]
        reasons += criteria_reasons(auth, loaded, pred)
    digest = decision_digest(envelope)
    if evaluated_event(ledger, digest) is None:
        reasons.append(f"decision {digest[:12]} is not in the ledger: record the evaluation first")
    if reasons:
        raise Refused(reasons, code="approval")
    assert auth.root is not None and auth.root.release_policy
    policy = auth.root.release_policy
    signed = sign_envelope(envelope, key)
    write_decision(signed, decision_path)
    ev = append_event(ledger, loaded.scenario.id, Approved(
        decision_digest=digest, role="platform", identity=policy["identity"],
        fingerprint=policy["keyid"], by_policy=True, policy_sha256=policy_digest(policy),
        root_version=auth.root.version, conditions=[c.to_dict() for c in conditions],
    ), subject=digest, actor=policy["identity"],
       signer=ActorSigner(key, str(policy["identity"])))
    return signed, ev, conditions


# --- audit: what the ledger's approvals look like against the chain --------------------------

def released_under_chain(ledger: Ledger, scenario_id: str, envelope: dict[str, Any],
                         promoted_seq: int) -> list[str] | None:
    """Why a promoted decision does not verify under the root version in force when it was
    promoted ([] when it does); None when the scenario has no signed chain (legacy rules)."""
    try:
        chain = scenario_chain(ledger, scenario_id)
    except Refused as exc:
        return [f"trust chain does not verify: {r}" for r in exc.reasons]
    if not chain:
        return None
    in_force = [r for r in chain if (r.ledger_seq or 0) < promoted_seq]
    if not in_force:  # promoted before the scenario had a root: the rules of that time apply
        return None
    root = in_force[-1]
    auth = SigningAuthority(scenario_id, root, root.keyring(),
                            {r: root.owner(r) for r in (*SIGNING_ROLES, "escalation")},
                            f"signed root v{root.version} (in force at promotion)")
    return release_signature_reasons(auth, None, envelope, ledger, recheck_policy=False)[0]


def trust_audit(ledger: Ledger, scenario_id: str, loaded: LoadedScenario | None,
                keyring: Keyring | None) -> tuple[list[str], list[str]]:
    """(problems, notes) for `audit`. Problems: the chain does not verify, an approval by a key
    or identity the root in force did not name. Notes: first-seen signers, working-tree edits."""
    try:
        chain = scenario_chain(ledger, scenario_id)
    except Refused as exc:
        return [f"trust chain does not verify: {r}" for r in exc.reasons], []
    if not chain:  # root-required mode: an un-rooted scenario is a finding, not the legacy rules
        return root_required_reasons(ledger, scenario_id), []
    problems: list[str] = []
    notes: list[str] = []
    seen: set[tuple[str, str]] = set()
    for ev in ledger.events(scenario_id=scenario_id, event_type="approved"):
        in_force = [r for r in chain if (r.ledger_seq or 0) < ev.seq]
        ident, fp, role = ev.payload.get("identity"), ev.payload.get("fingerprint"), ev.payload.get("role")
        if (ident, fp) not in seen:
            seen.add((ident, fp))
            notes.append(f"ledger row {ev.seq}: first signature by {ident} with key {str(fp)[:16]} (role {role})")
        if not in_force:
            continue
        root = in_force[-1]
        if ev.payload.get("by_policy"):
            p = root.release_policy or {}
            if p.get("identity") != ident or p.get("keyid") != fp:
                problems.append(f"ledger row {ev.seq}: policy approval by {ident} ({str(fp)[:16]}) is not "
                                f"root v{root.version}'s release policy key")
            continue
        owners = root.owners.get(str(role))
        if owners is None or ident not in owners.identities:
            problems.append(f"ledger row {ev.seq}: {ident} approved as {role} but is not a {role} owner in "
                            f"root v{root.version}")
        elif owners.identities[ident] != fp:
            problems.append(f"ledger row {ev.seq}: {ident} signed with key {str(fp)[:16]}, root v{root.version} "
                            f"names {str(owners.identities[ident])[:16]}: a key changed outside a signed rotation")
    current = chain[-1]
    if current.is_expired():
        problems.append(f"root v{current.version} expired on {current.expires.isoformat()}")
    notes += working_tree_differences(current, loaded, keyring)
    return problems, notes


@dataclass(frozen=True)
class DecisionVerification:
    """`releasegate verify`: every signature of a decision checked against who may sign for it."""

    scenario_id: str
    verdict: str
    status: ApprovalStatus
    keys_source: str | None  # "signed root vN" when the scenario's signed root gave the keys
    by_policy: dict[str, Any] | None  # the signed release policy whose key signed as platform

    def policy_signed(self, s: SignatureCheck) -> bool:
        """Is this the release-policy key's signature (verified by `policy_signature`)?"""
        return self.by_policy is not None and s.keyid == self.by_policy["keyid"]

    @property
    def any_invalid(self) -> bool:
        return any(not s.valid and not self.policy_signed(s) for s in self.status.signatures)


def verify_decision(envelope: dict[str, Any], keyring: Keyring, ledger: Ledger | None = None) -> DecisionVerification:
    """Check a decision's signatures: with the keys of its scenario's signed root when it has one
    (and the platform signature of its release policy), else the keyring's. A scenario that is not
    in this checkout, or a ledger that cannot be opened, leaves the keyring alone."""
    pred = statement_of(envelope)["predicate"]
    ring, source, by_policy = keyring, None, None
    try:
        auth = signing_authority(ledger or Ledger.open(), load_contract(pred["scenario_id"]), keyring)
        if auth.root is not None:
            ring, source = auth.keyring, auth.source
            if policy_signature(auth, envelope):
                by_policy = auth.root.release_policy
    except InputError:
        pass
    status = approval_status(envelope, ring)
    if by_policy and "platform" in status.missing_roles:  # policy_signature() verified it
        status.approved["platform"] = next(s for s in status.signatures if s.keyid == by_policy["keyid"])
    return DecisionVerification(pred["scenario_id"], pred["verdict"]["decision"], status, source, by_policy)



def scenario_authority(scenario: str, ledger: Ledger, keyring: Keyring) -> SigningAuthority | None:
    """Who may sign for a scenario named by id or path (`signing_authority`); None when its
    contract does not load (the command that asked reports the bad scenario itself)."""
    try:
        loaded = load_contract(scenario)
    except InputError:
        return None
    return signing_authority(ledger, loaded, keyring)


@dataclass(frozen=True)
class Approval:
    """What `releasegate approve` recorded."""

    event: LedgerEvent  # the `approved` row
    conditions: list[Condition]  # by policy: each condition's result; [] for an owner's signature


def approve_decision(decision: Path, role: str, key: Path, *, by_policy: bool = False,
                     keyring: Path | None = None, ledger_url: str | None = None, mlflow_uri: str | None = None,
                     on_authority: Callable[[SigningAuthority], None] | None = None) -> Approval:
    """Sign a decision file as the scenario's owner for `role` (`record_approval`), or with
    `by_policy` as platform under the signed release policy (`record_policy_approval`, every
    condition checked and recorded). Bad input (role, decision, key, contract) is InputError before
    anything is read from the ledger; a refusal is Refused with every reason. `on_authority` hears
    where an owner's signers and criteria come from before the signature is checked."""
    from ._decision import read_decision
    from ._keys import load_private_key
    from ._recording import record_approval

    if role not in ("product", "platform", "escalation"):
        raise InputError(f"unknown role {role!r}", field="--role", fix="use product or platform")
    if by_policy and role != "platform":
        raise InputError("--by-policy signs only as platform", field="--role", fix="use --role platform")
    envelope = read_decision(decision)
    private = load_private_key(key)
    loaded = load_contract(statement_of(envelope)["predicate"]["scenario_id"])
    if by_policy:
        _, ev, conditions = record_policy_approval(envelope, private, ledger=Ledger.open(ledger_url),
                                                   loaded=loaded, decision_path=decision,
                                                   keyring=Keyring.load(keyring))
        return Approval(ev, conditions)
    if on_authority is not None:
        auth = scenario_authority(str(loaded.path), Ledger.open(ledger_url), Keyring.load(keyring))
        if auth is not None:
            on_authority(auth)
    _, ev = record_approval(envelope, role, private, keyring=Keyring.load(keyring), ledger=Ledger.open(ledger_url),
                            decision_path=decision, loaded=loaded, mlflow_uri=mlflow_uri)
    return Approval(ev, [])

__all__ = ["SCENARIO_EVENT", "Approval", "DecisionVerification", "approve_decision", "scenario_authority", "SigningAuthority", "signed_root_or_none", "verdict_trust_root",
           "criteria_reasons", "policy_conditions", "record_policy_approval", "release_signature_reasons",
           "signing_authority", "trust_audit", "verify_decision"]
