"""Trust roots: who may sign for a scenario is decided by signatures, never by the working tree.

The model is TUF's root rotation and in-toto's layout, built on python-tuf's Metadata API
(`tuf.api.metadata.Root`: versions, per-role key thresholds, expiry, `verify_delegate`):

    RELEASEGATE_TRUST_ROOT=sha256:<digest>        (a protected CI variable, outside the repository)
        | pins
    portfolio root v1 -> v2 ...    platform root keys, threshold (e.g. 2 of 3); its `timestamp`
        |                          role names the ledger checkpoint key(s). Ledger event
        |                          `trust_portfolio_root`; the first one is the pin.
        | threshold signs
    scenario root v1 -> v2 -> ...  owners by role with their keys and thresholds, the
                                   pre-registered gate criteria, the release policy, expiry.
                                   vN+1 is valid only when signed by vN's product AND platform
                                   thresholds, and accepted by vN+1's own (new keys sign too).
                                   Ledger event `trust_scenario_root`.

Documents are TUF root metadata (`Metadata[Root]`, JSON, Ed25519 signatures over TUF's canonical
JSON), so any TUF or securesystemslib implementation verifies them. releasegate's own content sits
in the signed part under the `x-releasegate` field. TUF's canonical JSON has no floats, so the
criteria (margins are floats) are carried as their RFC 8785 text plus its sha256.

Key ids are releasegate fingerprints (sha256 of the raw public key), the same ids as the DSSE
`keyid` of decision signatures. `keyring.yaml` and the contract's owners only *propose* a version
(`propose_scenario_root`); a version counts once `apply_*` has verified it and appended it to the
ledger. `current_scenario_root(ledger, scenario_id)` replays and re-verifies the whole chain on
every call, so an edited or inserted ledger row cannot bring a root in.
"""
from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from securesystemslib.signer import CryptoSigner, SSlibKey
from tuf.api.exceptions import UnsignedMetadataError
from tuf.api.metadata import DelegatedRole, Delegations, Metadata, Role, Root, Targets
from tuf.api.serialization import DeserializationError, SerializationError
from tuf.api.serialization.json import JSONSerializer

from releasegate.core import (
    InputError,
    Refused,
    atomic_write_bytes,
    canonical_json,
    canonical_sha256,
    load_json_bounded,
    state_dir,
)
from releasegate.scenarios import LoadedScenario

from ._events import TrustPortfolioRoot, TrustScenarioRoot, append_event, event_types
from ._keys import Keyring, PublicKeyEntry, fingerprint, public_pem
from ._ledger import Ledger, LedgerEvent

EXT = "x-releasegate"
PORTFOLIO_SCOPE = "portfolio"  # the ledger's scenario_id for portfolio-root events
PORTFOLIO_EVENT = "trust_portfolio_root"
SCENARIO_EVENT = "trust_scenario_root"
TRUST_EVENTS = event_types("trust")  # (PORTFOLIO_EVENT, SCENARIO_EVENT)
PIN_ENV = "RELEASEGATE_TRUST_ROOT"
# Root-required mode before the portfolio is pinned (a pinned portfolio always requires roots).
REQUIRE_ENV = "RELEASEGATE_REQUIRE_TRUST_ROOT"
OWNER_ROLES = ("product", "platform", "quality", "cost", "incident", "escalation")
CHAIN_ROLES = ("product", "platform")  # their thresholds sign the next version
DEFAULT_EXPIRY_DAYS = 365


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _expiry(days: float) -> dt.datetime:
    if days <= 0:
        raise InputError(f"expiry must be in the future, got {days} days", field="--expires-days",
                         fix="pass a positive number of days")
    return (_now() + dt.timedelta(days=days)).replace(microsecond=0)


def root_digest(md: Metadata[Root]) -> str:
    """sha256 of the canonical JSON (RFC 8785) of the whole document, signatures included."""
    return canonical_sha256(md.to_dict())


def _sslib_key(public_key: Ed25519PublicKey) -> SSlibKey:
    return SSlibKey.from_crypto(public_key, keyid=fingerprint(public_key))


def _entry_key(entry: PublicKeyEntry) -> SSlibKey:
    return _sslib_key(entry.key())


def _pem_of(key: SSlibKey) -> str:
    return public_pem(_public(key))


def criteria_of(loaded: LoadedScenario) -> dict[str, Any]:
    """The gate criteria a root pre-registers: what decides PASS/FAIL, nothing about candidates."""
    s = loaded.scenario
    return {
        "task": s.task.model_dump(mode="json"),
        "scoring": s.scoring.model_dump(mode="json"),
        "success_criteria": s.success_criteria.model_dump(mode="json"),
        "dataset": {"sha256": s.dataset.sha256, "id_field": s.dataset.id_field,
                    "reference_field": s.dataset.reference_field, "slice_fields": list(s.dataset.slice_fields)},
    }


def criteria_sha256(loaded: LoadedScenario) -> str:
    return canonical_sha256(criteria_of(loaded))


# --- the two kinds of root --------------------------------------------------------------------

@dataclass(frozen=True)
class RoleOwners:
    """One role of a scenario root: its identities (each with a key id, or None) and threshold."""

    identities: dict[str, str | None]
    threshold: int

    @property
    def keyids(self) -> list[str]:
        return sorted(k for k in self.identities.values() if k)


@dataclass(frozen=True)
class PortfolioRoot:
    """A verified portfolio root version (the platform organisation's root keys)."""

    metadata: Metadata[Root]
    digest: str
    ledger_seq: int | None = None

    @property
    def version(self) -> int:
        return self.metadata.signed.version

    @property
    def ext(self) -> dict[str, Any]:
        return self.metadata.signed.unrecognized_fields[EXT]

    @property
    def root_identities(self) -> dict[str, str]:
        return dict(self.ext["root_identities"])

    @property
    def threshold(self) -> int:
        return self.metadata.signed.roles[Root.type].threshold

    def ledger_keys(self) -> dict[str, Ed25519PublicKey]:
        """identity -> public key of the ledger checkpoint signer(s) (the TUF `timestamp` role)."""
        return {ident: _public(self.metadata.signed.keys[kid])
                for ident, kid in self.ext.get("ledger_identities", {}).items()}


@dataclass(frozen=True)
class ScenarioRoot:
    """A verified scenario root version: owners, keys, thresholds, criteria, release policy."""

    metadata: Metadata[Root]
    digest: str
    ledger_seq: int | None = None

    @property
    def ext(self) -> dict[str, Any]:
        return self.metadata.signed.unrecognized_fields[EXT]

    @property
    def scenario_id(self) -> str:
        return str(self.ext["scenario_id"])

    @property
    def version(self) -> int:
        return self.metadata.signed.version

    @property
    def expires(self) -> dt.datetime:
        return self.metadata.signed.expires

    def is_expired(self, now: dt.datetime | None = None) -> bool:
        return self.metadata.signed.is_expired(now or _now())

    @property
    def owners(self) -> dict[str, RoleOwners]:
        return {role: RoleOwners(dict(o["identities"]), int(o["threshold"]))
                for role, o in self.ext["owners"].items()}

    def owner(self, role: str) -> str | None:
        """The role's first identity (the contract names one owner per role)."""
        o = self.owners.get(role)
        return next(iter(o.identities), None) if o else None

    def keys_for(self, role: str) -> dict[str, Ed25519PublicKey]:
        """identity -> public key of everyone who may sign for `role` under this version."""
        o = self.owners.get(role)
        if o is None:
            return {}
        return {ident: _public(self.metadata.signed.keys[kid]) for ident, kid in o.identities.items() if kid}

    def identity_of(self, keyid: str) -> str | None:
        for o in self.owners.values():
            for ident, kid in o.identities.items():
                if kid == keyid:
                    return ident
        policy = self.release_policy
        if policy and policy.get("keyid") == keyid:
            return str(policy["identity"])
        return None

    def keyring(self) -> Keyring:
        """The root's keys as a Keyring, for the signature checks that take one."""
        entries: dict[str, PublicKeyEntry] = {}
        for o in self.owners.values():
            for ident, kid in o.identities.items():
                if kid:
                    entries[ident] = PublicKeyEntry(ident, kid, _pem_of(self.metadata.signed.keys[kid]))
        return Keyring(path=Path(f"<signed trust root {self.scenario_id} v{self.version}>"), entries=entries)

    @property
    def criteria(self) -> dict[str, Any]:
        return _criteria_of(self.ext)

    @property
    def criteria_sha256(self) -> str:
        return str(self.ext["criteria_sha256"])

    @property
    def release_policy(self) -> dict[str, Any] | None:
        return self.ext.get("release_policy")

    def ref(self) -> dict[str, Any]:
        """What a decision records about the root it was judged under."""
        return {"scenario_id": self.scenario_id, "version": self.version, "sha256": self.digest,
                "criteria_sha256": self.criteria_sha256}


def _public(key: Any) -> Ed25519PublicKey:
    """The Ed25519 key of a TUF key entry (securesystemslib stores it as 32 raw bytes in hex)."""
    if key.keytype != "ed25519":
        raise Refused([f"key {key.keyid[:16]} in a trust root is {key.keytype}, not ed25519"], code="trust")
    return Ed25519PublicKey.from_public_bytes(bytes.fromhex(key.keyval["public"]))


# --- verification (every rule in one place) ---------------------------------------------------

def _role_result(delegator: Root, role: RoleOwners, role_name: str, md: Metadata[Root]) -> tuple[bool, int]:
    """Does `md` carry `role`'s threshold of signatures (keys as `delegator` lists them)?

    A TUF Root only knows its four top-level roles, so an owner role is checked as a delegated
    role (tuf's `Delegations` + `get_verification_result`), with the same threshold logic."""
    keys = {kid: delegator.keys[kid] for kid in role.keyids if kid in delegator.keys}
    if not keys:
        return False, 0
    targets = Targets(delegations=Delegations(keys, roles={
        role_name: DelegatedRole(role_name, sorted(keys), role.threshold, True, paths=[])}))
    result = targets.get_verification_result(role_name, md.signed_bytes, md.signatures)
    return bool(result), len(result.signed)


def _criteria_of(ext: dict[str, Any]) -> Any:
    """A scenario root's criteria, read with the bounded strict JSON reader; Refused otherwise."""
    text = ext.get("criteria_json")
    if not isinstance(text, str):
        raise Refused([f"{EXT}.criteria_json is not a JSON string"], code="trust")
    try:
        return load_json_bounded(text.encode("utf-8", "surrogatepass"), what="criteria_json")
    except InputError as exc:
        raise Refused([f"{EXT}.criteria_json: {exc.message}"], code="trust") from None


def _ext(md: Metadata[Root], kind: str) -> dict[str, Any]:
    ext = md.signed.unrecognized_fields.get(EXT)
    if not isinstance(ext, dict) or ext.get("kind") != kind:
        raise Refused([f"not a releasegate {kind} root (the signed part has no {EXT}.kind={kind})"], code="trust")
    return ext


def _check_portfolio(md: Metadata[Root], prev: PortfolioRoot | None, *, now: dt.datetime | None,
                     ) -> list[str]:
    reasons: list[str] = []
    try:
        _ext(md, "portfolio")
    except Refused as exc:
        return exc.reasons
    want = 1 if prev is None else prev.version + 1
    if md.signed.version != want:
        reasons.append(f"portfolio root version {md.signed.version} is not the next version ({want})"
                       + (": a replayed older root" if md.signed.version < want else ""))
    if now is not None and md.signed.is_expired(now):
        reasons.append(f"portfolio root v{md.signed.version} expired on {md.signed.expires.isoformat()}")
    if prev is not None:
        try:
            prev.metadata.verify_delegate(Root.type, md)
        except UnsignedMetadataError as exc:
            reasons.append(f"portfolio root v{md.signed.version} is not signed by the threshold of "
                           f"v{prev.version}'s root keys ({exc})")
    try:
        md.verify_delegate(Root.type, md)
    except UnsignedMetadataError as exc:
        reasons.append(f"portfolio root v{md.signed.version} is not signed by its own root keys' threshold ({exc})")
    return reasons


def _check_scenario(md: Metadata[Root], prev: ScenarioRoot | None, portfolio: dict[str, PortfolioRoot],
                    *, now: dt.datetime | None) -> list[str]:
    try:
        ext = _ext(md, "scenario")
        criteria = _criteria_of(ext)
    except Refused as exc:
        return exc.reasons
    reasons: list[str] = []
    v = md.signed.version
    new = ScenarioRoot(md, root_digest(md))
    if canonical_sha256(criteria) != ext.get("criteria_sha256"):
        reasons.append(f"scenario root v{v}: criteria_sha256 does not match its criteria")
    want = 1 if prev is None else prev.version + 1
    if v != want:
        reasons.append(f"scenario root version {v} is not the next version ({want})"
                       + (": a replayed older root" if v < want else ""))
    if prev is not None and ext["scenario_id"] != prev.scenario_id:
        reasons.append(f"root is for scenario {ext['scenario_id']}, not {prev.scenario_id}")
    if now is not None and md.signed.is_expired(now):
        reasons.append(f"scenario root v{v} expired on {md.signed.expires.isoformat()}")
    if prev is None:  # onboarding: the portfolio root's threshold signs version 1
        anchor = portfolio.get(str(ext.get("portfolio_root_sha256")))
        if anchor is None:
            reasons.append("scenario root v1 names a portfolio root that is not in the verified portfolio chain")
        else:
            try:
                anchor.metadata.verify_delegate(Root.type, md)
            except UnsignedMetadataError as exc:
                reasons.append(f"scenario root v1 is not signed by the portfolio root's threshold "
                               f"(portfolio v{anchor.version}: {exc})")
    else:  # rotation: the previous version's product AND platform owners sign
        for role in CHAIN_ROLES:
            owners = prev.owners.get(role)
            ok, n = _role_result(prev.metadata.signed, owners, role, md) if owners else (False, 0)
            if not ok:
                reasons.append(f"scenario root v{v} is not signed by v{prev.version}'s {role} owners "
                               f"({n} of {owners.threshold if owners else '?'} signatures from "
                               f"{', '.join(owners.identities) if owners else 'nobody'})")
    for role in CHAIN_ROLES:  # the new owners accept: their new keys sign too
        owners = new.owners.get(role)
        if not owners or not owners.keyids:
            reasons.append(f"scenario root v{v} has no {role} owner with a key")
            continue
        ok, n = _role_result(md.signed, owners, role, md)
        if not ok:
            reasons.append(f"scenario root v{v} is not accepted by its own {role} owners "
                           f"({n} of {owners.threshold} signatures from {', '.join(owners.identities)})")
    return reasons


# --- the chain in the ledger ------------------------------------------------------------------

def _pin() -> str | None:
    pin = os.environ.get(PIN_ENV, "").strip()
    return pin.removeprefix("sha256:") if pin else None


def root_required() -> str | None:
    """Why every scenario must have a signed scenario root (None when it need not): the portfolio
    root is pinned (`RELEASEGATE_TRUST_ROOT`), or `RELEASEGATE_REQUIRE_TRUST_ROOT=1` asks for it
    before the pin exists. Then a scenario without a root cannot fall back to the contract's owners
    and `keyring.yaml`, which anyone who can edit the repository controls."""
    if _pin():
        return f"{PIN_ENV} pins a portfolio root"
    value = os.environ.get(REQUIRE_ENV, "").strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return None
    if value in ("1", "true", "yes", "on"):
        return f"{REQUIRE_ENV} is set"
    raise InputError(f"{REQUIRE_ENV}={value[:20]!r} is not a switch", field=REQUIRE_ENV,
                     fix="set it to 1 (every scenario needs a signed root) or unset it")


def missing_root_reason(scenario_id: str, why: str) -> str:
    """The refusal for a scenario without a signed root in root-required mode, with the fix."""
    return (f"{scenario_id} has no signed scenario root and {why}: every scenario needs one (the contract's "
            f"owners and keyring.yaml are only a proposal). Onboard it: `releasegate trust propose --scenario "
            f"{scenario_id} --out ROOT.json`, `releasegate trust sign ROOT.json --key KEY` (the portfolio root "
            "threshold and the new product and platform owners), `releasegate trust apply ROOT.json`")


def root_required_reasons(ledger: Ledger, scenario_id: str) -> list[str]:
    """[] unless root-required mode is on and the scenario has no signed root (a broken chain is
    refused by `root_for_check` with its own reason)."""
    why = root_required()
    if why is None or ledger.events(scenario_id=scenario_id, event_type=SCENARIO_EVENT):
        return []
    return [missing_root_reason(scenario_id, why)]


def _load(payload: dict[str, Any]) -> Metadata[Root]:
    return Metadata[Root].from_dict(json.loads(json.dumps(payload["metadata"])))


def portfolio_chain(ledger: Ledger, conn: Any = None, *, allow_empty: bool = False) -> list[PortfolioRoot]:
    """Every portfolio root version in the ledger, re-verified; Refused if any link fails."""
    chain: list[PortfolioRoot] = []
    pin = _pin()
    for ev in ledger.events(scenario_id=PORTFOLIO_SCOPE, event_type=PORTFOLIO_EVENT, conn=conn):
        md = _load(ev.payload)
        prev = chain[-1] if chain else None
        reasons = _check_portfolio(md, prev, now=None)
        digest = root_digest(md)
        if digest != ev.payload.get("sha256"):
            reasons.append(f"ledger row {ev.seq}: the stored digest does not match the document")
        if prev is None and pin and digest != pin:
            reasons.append(f"the ledger's first portfolio root is sha256:{digest[:16]}..., "
                           f"{PIN_ENV} pins sha256:{pin[:16]}...: this is not the pinned trust root")
        if reasons:
            raise Refused([f"ledger row {ev.seq}: {r}" for r in reasons], code="trust")
        chain.append(PortfolioRoot(md, digest, ev.seq))
    if pin and not chain and not allow_empty:
        raise Refused([f"{PIN_ENV} pins a portfolio root but the ledger has none: wrong or replaced ledger"], code="trust")
    return chain


def current_portfolio_root(ledger: Ledger) -> PortfolioRoot | None:
    chain = portfolio_chain(ledger)
    return chain[-1] if chain else None


def scenario_chain(ledger: Ledger, scenario_id: str, conn: Any = None) -> list[ScenarioRoot]:
    """Every version of the scenario's root in the ledger, re-verified link by link."""
    events = ledger.events(scenario_id=scenario_id, event_type=SCENARIO_EVENT, conn=conn)
    if not events:
        portfolio_chain(ledger, conn)  # a pinned but missing portfolio root still refuses
        return []
    portfolio = {p.digest: p for p in portfolio_chain(ledger, conn)}
    chain: list[ScenarioRoot] = []
    for ev in events:
        md = _load(ev.payload)
        reasons = _check_scenario(md, chain[-1] if chain else None, portfolio, now=None)
        if md.signed.unrecognized_fields.get(EXT, {}).get("scenario_id") != scenario_id:
            reasons.append(f"the root is for another scenario than {scenario_id}")
        if root_digest(md) != ev.payload.get("sha256"):
            reasons.append("the stored digest does not match the document")
        if reasons:
            raise Refused([f"ledger row {ev.seq}: {r}" for r in reasons], code="trust")
        chain.append(ScenarioRoot(md, root_digest(md), ev.seq))
    return chain


def current_scenario_root(ledger: Ledger, scenario_id: str, conn: Any = None) -> ScenarioRoot | None:
    """The scenario's current signed root, verified from the pinned portfolio root; None when the
    scenario has none. Raises Refused when the chain in the ledger does not verify.

    The entry point for other stages: `root.keys_for("product")`, `root.owner("platform")`,
    `root.identity_of(keyid)`, `root.criteria_sha256`, `root.release_policy`, `root.is_expired()`.
    """
    chain = scenario_chain(ledger, scenario_id, conn)
    return chain[-1] if chain else None


# --- building, signing, applying --------------------------------------------------------------

def _root_md(*, version: int, expires: dt.datetime, keys: dict[str, SSlibKey], root_keyids: list[str],
             threshold: int, ext: dict[str, Any], timestamp_keyids: list[str] | None = None) -> Metadata[Root]:
    roles = {r: Role([], 1) for r in ("targets", "snapshot", "timestamp")}
    roles["root"] = Role(sorted(set(root_keyids)), threshold)
    if timestamp_keyids:
        roles["timestamp"] = Role(sorted(set(timestamp_keyids)), 1)
    return Metadata(Root(version=version, expires=expires, keys=keys, roles=roles,
                         consistent_snapshot=False, unrecognized_fields={EXT: ext}))


def _keyring_entry(keyring: Keyring, identity: str, what: str) -> PublicKeyEntry:
    entry = keyring.entries.get(identity)
    if entry is None:
        raise InputError(f"{identity} ({what}) has no public key in the keyring", file=keyring.path,
                         field=f"identities.{identity}", fix=f"run `releasegate keys generate --identity {identity}`")
    return entry


def propose_portfolio_root(ledger: Ledger, root_identities: list[str], threshold: int, *,
                           keyring: Keyring, expires_days: float = DEFAULT_EXPIRY_DAYS,
                           ledger_identities: list[str] = (), name: str = "portfolio") -> Metadata[Root]:
    """The next portfolio root (v1 at `trust init`), keys taken from the keyring, unsigned."""
    if len(set(root_identities)) != len(root_identities) or not root_identities:
        raise InputError("root identities must be distinct and at least one", field="--root",
                         fix="name each root key holder once")
    if not 1 <= threshold <= len(root_identities):
        raise InputError(f"threshold {threshold} is not between 1 and {len(root_identities)}",
                         field="--threshold", fix="e.g. 2 of 3 root keys")
    keys: dict[str, SSlibKey] = {}
    idents: dict[str, str] = {}
    ledger_ids: dict[str, str] = {}
    for ident in root_identities:
        k = _entry_key(_keyring_entry(keyring, ident, "portfolio root key"))
        keys[k.keyid], idents[ident] = k, k.keyid
    for ident in ledger_identities:
        k = _entry_key(_keyring_entry(keyring, ident, "ledger key"))
        keys[k.keyid], ledger_ids[ident] = k, k.keyid
    if len({*idents.values()}) != len(idents):
        raise InputError("two root identities share one key", field="--root", fix="one key per person")
    chain = portfolio_chain(ledger, allow_empty=True)
    return _root_md(version=(chain[-1].version + 1) if chain else 1, expires=_expiry(expires_days),
                    keys=keys, root_keyids=list(idents.values()), threshold=threshold,
                    timestamp_keyids=list(ledger_ids.values()),
                    ext={"kind": "portfolio", "name": name, "root_identities": idents,
                         "ledger_identities": ledger_ids})


def _owners_from(loaded: LoadedScenario) -> dict[str, list[str]]:
    o = loaded.scenario.owners
    owners = {role: [getattr(o, role).id] for role in ("product", "platform", "quality", "cost", "incident")
              if getattr(o, role) is not None}
    if loaded.scenario.escalation_path:
        owners["escalation"] = list(loaded.scenario.escalation_path)
    return owners


def _check_policy(policy: dict[str, Any], keyring: Keyring) -> dict[str, Any]:
    from ._policy import normalise_policy

    return normalise_policy(policy, keyring)


def propose_scenario_root(ledger: Ledger, loaded: LoadedScenario, *, keyring: Keyring,
                          expires_days: float = DEFAULT_EXPIRY_DAYS,
                          release_policy: dict[str, Any] | None | bool = True) -> Metadata[Root]:
    """The scenario's next root built from what the working tree proposes (contract owners,
    keyring keys, criteria), unsigned. `release_policy`: a policy dict, None for none, or True to
    carry the current version's over."""
    sid = loaded.scenario.id
    chain = scenario_chain(ledger, sid)
    prev = chain[-1] if chain else None
    if prev is None:
        portfolio = portfolio_chain(ledger)
        if not portfolio:
            raise Refused(["no portfolio root in the ledger: run `releasegate trust init` first"], code="trust")
        anchor = portfolio[-1].digest
    else:
        anchor = prev.ext["portfolio_root_sha256"]
    keys: dict[str, SSlibKey] = {}
    owners: dict[str, dict[str, Any]] = {}
    for role, identities in _owners_from(loaded).items():
        ids: dict[str, str | None] = {}
        for ident in identities:
            entry = keyring.entries.get(ident)
            if entry is None and role in CHAIN_ROLES:
                _keyring_entry(keyring, ident, f"{role} owner")  # raises: product/platform need keys
            if entry is not None:
                k = _entry_key(entry)
                keys[k.keyid] = k
                ids[ident] = k.keyid
            else:
                ids[ident] = None
        owners[role] = {"identities": ids, "threshold": 1}
    p, q = owners["product"]["identities"], owners["platform"]["identities"]
    if set(p) & set(q) or set(filter(None, p.values())) & set(filter(None, q.values())):
        raise loaded.error("owners", "product and platform owners share an identity or a key",
                           "two keys need two different people")
    if release_policy is True:
        policy = prev.release_policy if prev else None
    else:
        policy = _check_policy(release_policy, keyring) if release_policy else None
    if policy:
        entry = keyring.entries.get(policy["identity"])
        if prev is not None and prev.release_policy and prev.release_policy["identity"] == policy["identity"] \
                and release_policy is True:
            keys[policy["keyid"]] = prev.metadata.signed.keys[policy["keyid"]]
        elif entry is not None:
            keys[entry.fingerprint] = _entry_key(entry)
        for ident, kid in policy.get("runners", {}).items():  # trusted runners' keys (issue 15)
            runner = keyring.entries.get(ident)
            if prev is not None and kid in prev.metadata.signed.keys:
                keys[kid] = prev.metadata.signed.keys[kid]
            elif runner is not None and runner.fingerprint == kid:
                keys[kid] = _entry_key(runner)
    criteria = criteria_of(loaded)
    ext = {"kind": "scenario", "scenario_id": sid, "portfolio_root_sha256": anchor, "owners": owners,
           "criteria_json": canonical_json(criteria).decode(), "criteria_sha256": canonical_sha256(criteria),
           "release_policy": policy, "proposed_from_contract_sha256": loaded.contract_sha256}
    chain_keyids = [k for r in CHAIN_ROLES for k in owners[r]["identities"].values() if k]
    return _root_md(version=(prev.version + 1) if prev else 1, expires=_expiry(expires_days), keys=keys,
                    root_keyids=chain_keyids, threshold=len(chain_keyids), ext=ext)


def sign_root(md: Metadata[Root], private_key: Ed25519PrivateKey) -> Metadata[Root]:
    """Add (or replace) this key's signature; the signed part is unchanged."""
    md.sign(CryptoSigner(private_key, _sslib_key(private_key.public_key())), append=True)
    return md


def read_root(path: str | Path) -> Metadata[Root]:
    path = Path(path)
    data = load_json_bounded(path, what="trust root")
    if not isinstance(data, dict):
        raise InputError("a trust root is a JSON object (signed, signatures)", file=path,
                         fix="pass a file written by `releasegate trust propose` or `trust init`")
    try:
        md = Metadata[Root].from_dict(data)
        md.signed_bytes  # noqa: B018 (what signatures cover: canonical JSON, which has no floats)
    except (DeserializationError, SerializationError, ValueError, KeyError, TypeError, AttributeError) as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise InputError(f"not TUF root metadata: {first}", file=path,
                         fix="pass a file written by `releasegate trust propose` or `trust init`") from None
    if not isinstance(md.signed, Root) or not isinstance(md.signed.unrecognized_fields.get(EXT), dict):
        raise InputError(f"not a releasegate root (no {EXT} field)", file=path, field=EXT,
                         fix="pass a file written by `releasegate trust propose` or `trust init`")
    return md


def write_root(md: Metadata[Root], path: str | Path) -> Path:
    return atomic_write_bytes(path, md.to_bytes(JSONSerializer(compact=False)) + b"\n")


def proposals_dir() -> Path:
    return state_dir() / "trust" / "proposals"


def _named_keys(root: Metadata[Root]) -> dict[str, tuple[str, Any]]:
    """keyid -> (identity, key) for every key a root names (root keys, owners, ledger, policy)."""
    ext = root.signed.unrecognized_fields[EXT]
    pairs: dict[str, str | None] = {}
    if ext["kind"] == "portfolio":
        pairs = {**ext.get("root_identities", {}), **ext.get("ledger_identities", {})}
    else:
        for o in ext["owners"].values():
            pairs.update(o["identities"])
        if ext.get("release_policy"):
            pairs[ext["release_policy"]["identity"]] = ext["release_policy"]["keyid"]
    return {kid: (ident, root.signed.keys[kid]) for ident, kid in pairs.items() if kid and kid in root.signed.keys}


def _signer_list(md: Metadata[Root], *roots: Metadata[Root]) -> list[dict[str, str]]:
    """Who signed `md`: each signature that verifies with a key named in `md` or in `roots` (the
    previous version, the portfolio root that onboards), so old and new keys are both listed."""
    known: dict[str, tuple[str, Any]] = {}
    for root in (*roots, md):
        known.update(_named_keys(root))
    out = []
    for kid, sig in md.signatures.items():
        if kid not in known:
            continue
        ident, key = known[kid]
        try:
            key.verify_signature(sig, md.signed_bytes)
        except Exception:
            continue
        out.append({"identity": ident, "fingerprint": kid})
    return sorted(out, key=lambda s: (s["identity"], s["fingerprint"]))


def apply_portfolio_root(ledger: Ledger, md: Metadata[Root], *, actor: str | None = None) -> LedgerEvent:
    """Verify the next portfolio root against the chain and append it (Refused otherwise)."""
    with ledger.scenario_lock(PORTFOLIO_SCOPE) as conn:
        chain = portfolio_chain(ledger, conn, allow_empty=True)  # the pin is checked on the digest below
        prev = chain[-1] if chain else None
        reasons = _check_portfolio(md, prev, now=_now())
        digest = root_digest(md)
        pin = _pin()
        if prev is None and pin and digest != pin:
            reasons.append(f"{PIN_ENV} pins sha256:{pin[:16]}..., this root is sha256:{digest[:16]}...")
        if reasons:
            raise Refused(reasons, code="trust")
        return append_event(ledger, PORTFOLIO_SCOPE, TrustPortfolioRoot(
            version=md.signed.version, sha256=digest, expires=md.signed.expires.isoformat(),
            signers=_signer_list(md, *([prev.metadata] if prev else [])), changes=root_changes(prev, md),
            metadata=md.to_dict(),
        ), subject=f"sha256:{digest}", actor=actor, conn=conn)


def apply_scenario_root(ledger: Ledger, md: Metadata[Root], *, actor: str | None = None) -> LedgerEvent:
    """Verify the scenario's next root against its chain and append it (Refused otherwise)."""
    sid = str(_ext(md, "scenario")["scenario_id"])
    with ledger.scenario_lock(sid) as conn:
        chain = scenario_chain(ledger, sid, conn)
        prev = chain[-1] if chain else None
        portfolio = {p.digest: p for p in portfolio_chain(ledger, conn)}
        reasons = _check_scenario(md, prev, portfolio, now=_now())
        if reasons:
            raise Refused(reasons, code="trust")
        digest = root_digest(md)
        new = ScenarioRoot(md, digest)
        # who signed: the previous version's keys (rotation) or the onboarding portfolio root's
        before = prev.metadata if prev else portfolio[md.signed.unrecognized_fields[EXT]["portfolio_root_sha256"]].metadata
        return append_event(ledger, sid, TrustScenarioRoot(
            version=md.signed.version, sha256=digest, expires=md.signed.expires.isoformat(),
            criteria_sha256=new.criteria_sha256,
            release_policy_sha256=canonical_sha256(new.release_policy) if new.release_policy else None,
            signers=_signer_list(md, before), changes=root_changes(prev, md),
            metadata=md.to_dict(),
        ), subject=f"sha256:{digest}", actor=actor, conn=conn)


def apply_root(ledger: Ledger, md: Metadata[Root], *, actor: str | None = None) -> LedgerEvent:
    kind = md.signed.unrecognized_fields.get(EXT, {}).get("kind")
    if kind == "portfolio":
        return apply_portfolio_root(ledger, md, actor=actor)
    if kind == "scenario":
        return apply_scenario_root(ledger, md, actor=actor)
    raise InputError(f"unknown root kind {kind!r}", field=f"{EXT}.kind", fix="portfolio or scenario")


# --- what changed: between versions, and between the root and the working tree ---------------

def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: obj}


def _owner_view(md: Metadata[Root]) -> dict[str, Any]:
    ext = md.signed.unrecognized_fields[EXT]
    if ext["kind"] == "portfolio":
        return {"root": ext["root_identities"], "ledger": ext.get("ledger_identities", {}),
                "threshold": md.signed.roles[Root.type].threshold}
    return {role: {**o["identities"], "threshold": o["threshold"]} for role, o in ext["owners"].items()}


def root_changes(prev: PortfolioRoot | ScenarioRoot | None, md: Metadata[Root]) -> list[str]:
    """Human-readable differences from the previous version (owners, keys, criteria, policy)."""
    if prev is None:
        return ["created"]
    changes: list[str] = []
    a, b = _flatten(_owner_view(prev.metadata)), _flatten(_owner_view(md))
    for k in sorted(set(a) | set(b)):
        if a.get(k) != b.get(k):
            what = "threshold" if k.endswith("threshold") else "key"
            if k not in a:
                changes.append(f"owner added: {k} (key {str(b[k])[:16]})")
            elif k not in b:
                changes.append(f"owner removed: {k}")
            else:
                changes.append(f"{what} changed: {k} {str(a[k])[:16]} -> {str(b[k])[:16]}")
    pe, ne = prev.metadata.signed.unrecognized_fields[EXT], md.signed.unrecognized_fields[EXT]
    if pe.get("criteria_sha256") != ne.get("criteria_sha256"):
        ca, cb = _flatten(_criteria_of(pe)), _flatten(_criteria_of(ne))
        for k in sorted(set(ca) | set(cb)):
            if ca.get(k) != cb.get(k):
                changes.append(f"criteria changed: {k} {ca.get(k)!r} -> {cb.get(k)!r}")
    if pe.get("release_policy") != ne.get("release_policy"):
        changes.append("release policy changed")
    if prev.metadata.signed.expires != md.signed.expires:
        changes.append(f"expires {md.signed.expires.date().isoformat()}")
    return changes


def working_tree_differences(root: ScenarioRoot, loaded: LoadedScenario | None,
                             keyring: Keyring | None) -> list[str]:
    """Where the working tree (contract owners, keyring, criteria) differs from the signed root.
    These are proposals at most: they change nothing until signed and applied."""
    diffs: list[str] = []
    if loaded is not None:
        proposed = _owners_from(loaded)
        for role in sorted(set(proposed) | set(root.owners)):
            have = sorted(root.owners[role].identities) if role in root.owners else []
            want = proposed.get(role, [])
            if have != want:
                diffs.append(f"the working tree names {', '.join(want) or 'nobody'} as {role} owner, "
                             f"the signed root v{root.version} names {', '.join(have) or 'nobody'}")
        if criteria_sha256(loaded) != root.criteria_sha256:
            a, b = _flatten(root.criteria), _flatten(criteria_of(loaded))
            changed = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
            diffs.append(f"the working tree's gate criteria differ from the signed root v{root.version} "
                         f"({', '.join(changed[:5])}{'...' if len(changed) > 5 else ''})")
    if keyring is not None:
        for role, o in sorted(root.owners.items()):
            for ident, kid in o.identities.items():
                entry = keyring.entries.get(ident)
                if kid and entry is not None and entry.fingerprint != kid:
                    diffs.append(f"{keyring.path} gives {ident} key {entry.fingerprint[:16]}, the signed root "
                                 f"v{root.version} has {kid[:16]}: a key changed outside a signed rotation")
    return diffs


def history(ledger: Ledger, scenario_id: str | None = None) -> list[LedgerEvent]:
    """The trust events, oldest first: the portfolio's, or one scenario's."""
    if scenario_id is None:
        return ledger.events(scenario_id=PORTFOLIO_SCOPE, event_type=PORTFOLIO_EVENT)
    return ledger.events(scenario_id=scenario_id, event_type=SCENARIO_EVENT)


def root_for_check(ledger: Ledger, scenario_id: str) -> tuple[ScenarioRoot | None, list[str]]:
    """(current root, reasons to refuse) for a signature check: a broken chain or an expired root
    refuses; no root at all is (None, []), or a refusal in root-required mode (`root_required`)."""
    try:
        root = current_scenario_root(ledger, scenario_id)
    except Refused as exc:
        return None, [f"the trust chain of {scenario_id} does not verify: {r}" for r in exc.reasons]
    if root is not None and root.is_expired():
        return root, [f"the signed root v{root.version} of {scenario_id} expired on "
                      f"{root.expires.isoformat()}: its owners must sign a new version"]
    why = root_required() if root is None else None
    return root, [missing_root_reason(scenario_id, why)] if why else []


__all__ = [
    "CHAIN_ROLES", "OWNER_ROLES", "PIN_ENV", "PORTFOLIO_EVENT", "REQUIRE_ENV", "SCENARIO_EVENT", "TRUST_EVENTS",
    "PortfolioRoot", "RoleOwners", "ScenarioRoot", "apply_portfolio_root", "apply_root",
    "apply_scenario_root", "criteria_of", "criteria_sha256", "current_portfolio_root", "current_scenario_root",
    "history", "portfolio_chain", "propose_portfolio_root", "propose_scenario_root", "read_root",
    "root_changes", "root_digest", "root_for_check", "root_required", "root_required_reasons", "scenario_chain", "sign_root", "working_tree_differences",
    "write_root",
]
