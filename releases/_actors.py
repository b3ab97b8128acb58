"""Authenticated actors: privileged ledger events are signed by the acting identity's key.

A free-text actor (`--reviewer`, `$RELEASEGATE_ACTOR`) is a claim anyone with write access to
the database can make. For privileged events (approvals, promotions, rollbacks, alias repairs,
exceptions, incidents, trust changes) the row carries `actor_signature`: an Ed25519 signature by
the actor's key over the DSSE pre-authentication encoding of the row's canonical content,
including its seq and prev_hash (so a signed row cannot be replayed elsewhere in the chain).
`ledger verify` checks it against the keyring entry of the row's `actor`.

The key: passed explicitly (`approve --key`), or `RELEASEGATE_ACTOR_KEY` (a PEM file) for every
privileged event a process appends; the row's actor is then the key's identity in the keyring.
"""
from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from releasegate.core import InputError, canonical_json

from ._dsse import pae, signature_valid
from ._keys import Keyring, fingerprint, load_private_key

if TYPE_CHECKING:
    from ._ledger import LedgerEvent

EVENT_PAYLOAD_TYPE = "application/vnd.releasegate.ledger-event+json"
# Trust changes (`trust_portfolio_root`, `trust_scenario_root`) carry their own TUF signatures by
# the previous owners' thresholds, re-verified on every read (`_trust.py`): they need no more.
PRIVILEGED_EVENTS = frozenset({
    "approved", "promoted", "rolled_back", "alias_repaired", "decision_revoked",
    "exception_opened", "exception_reviewed", "exception_closed",
    "incident_opened", "incident_closed",
})


def is_privileged(event_type: str) -> bool:
    return event_type in PRIVILEGED_EVENTS


@dataclass(frozen=True)
class ActorSigner:
    """A private key and the keyring identity it belongs to."""

    key: Ed25519PrivateKey
    identity: str

    @property
    def keyid(self) -> str:
        return fingerprint(self.key.public_key())

    @classmethod
    def from_key(cls, key: Ed25519PrivateKey, keyring: Keyring | None = None, *,
                 source: str | Path | None = None) -> ActorSigner:
        keyring = keyring or Keyring.load()
        entry = keyring.by_fingerprint(fingerprint(key.public_key()))
        if entry is None:
            raise InputError(f"the key {fingerprint(key.public_key())[:16]} is not in the keyring {keyring.path}",
                             file=source, field="RELEASEGATE_ACTOR_KEY",
                             fix="use a key created by `releasegate keys generate` (its public key is in the keyring)")
        return cls(key, entry.identity)


def default_signer(keyring: Keyring | None = None) -> ActorSigner | None:
    """The acting identity from `RELEASEGATE_ACTOR_KEY`, or None when it is not set."""
    path = os.environ.get("RELEASEGATE_ACTOR_KEY")
    if not path:
        return None
    return ActorSigner.from_key(load_private_key(path), keyring, source=path)


def signed_content(content: dict[str, Any], prev_hash: str) -> bytes:
    body = {k: v for k, v in content.items() if k != "actor_signature"}
    return pae(EVENT_PAYLOAD_TYPE, canonical_json({**body, "prev_hash": prev_hash}))


def sign_event(content: dict[str, Any], prev_hash: str, signer: ActorSigner) -> dict[str, str]:
    sig = signer.key.sign(signed_content(content, prev_hash))
    return {"keyid": signer.keyid, "sig": base64.b64encode(sig).decode()}


ActorKeys = dict[str, dict[str, Ed25519PublicKey]]  # identity -> fingerprint -> public key


def keyring_actor_keys(keyring: Keyring) -> ActorKeys:
    return {ident: {e.fingerprint: e.key()} for ident, e in keyring.entries.items()}


def actor_problem(ev: LedgerEvent, keys: ActorKeys, where_keys: str = "the keyring") -> str | None:
    """Why a privileged row's actor is not authenticated (None when it is, or need not be)."""
    if not is_privileged(ev.event_type) or ev.canon is None:
        return None  # rows written before actors were authenticated verify as they were
    where = f"row {ev.seq} ({ev.event_type}, actor {ev.actor!r})"
    sig = ev.actor_signature
    if not sig:
        return f"{where}: privileged event not signed by its actor"
    if not isinstance(sig, dict) or not isinstance(sig.get("keyid"), str) or not isinstance(sig.get("sig"), str):
        return f"{where}: malformed actor signature"
    mine = keys.get(ev.actor or "")
    if not mine:
        return f"{where}: the actor has no key in {where_keys}"
    key = mine.get(sig["keyid"])
    if key is None:
        return f"{where}: signed by key {sig['keyid'][:16]}, not the actor's key ({', '.join(k[:16] for k in mine)})"
    # signature_valid verifies over PAE(payloadType, payload): give it the same bytes.
    fake = {"payloadType": EVENT_PAYLOAD_TYPE,
            "payload": base64.b64encode(canonical_json({**{k: v for k, v in ev.content().items()
                                                           if k != "actor_signature"},
                                                        "prev_hash": ev.prev_hash})).decode()}
    if not signature_valid(fake, sig, key):
        return f"{where}: the actor signature does not verify (the row was edited or forged)"
    return None
