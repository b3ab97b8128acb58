"""DSSE (Dead Simple Signing Envelope) v1: encoding, signing and verifying with Ed25519.

Signatures cover the pre-authentication encoding (PAE), never the JSON around it, so adding a
signature never invalidates another one, and any DSSE implementation can verify them.
"""
from __future__ import annotations

import base64
import binascii
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from releasegate.core import InputError

from ._keys import fingerprint

PAYLOAD_TYPE = "application/vnd.in-toto+json"
# Two owners, an escalation and a policy signer; far more than that is not a releasegate envelope
# (and would make every reader loop over attacker-chosen entries).
MAX_SIGNATURES = 32
_ED25519_SIGNATURE_BYTES = 64
_FIX = "pass an envelope written and signed by releasegate; remove the malformed signature entry"


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSEv1 <len(type)> <type> <len(payload)> <payload> (lengths in ASCII decimal)."""
    t = payload_type.encode()
    return b"DSSEv1 %d %b %d %b" % (len(t), t, len(payload), payload)


def strict_b64decode(text: str) -> bytes:
    """Decode base64, refusing any encoding but the canonical one.

    Lenient decoders ignore the unused low bits of the last character, so two different strings
    decode to the same bytes; refusing them means any changed character fails verification.
    """
    data = base64.b64decode(text, validate=True)
    if base64.b64encode(data).decode() != text:
        raise binascii.Error("non-canonical base64")
    return data


def envelope_payload(envelope: dict[str, Any]) -> bytes:
    try:
        return strict_b64decode(envelope["payload"])
    except (KeyError, TypeError, binascii.Error):
        raise InputError("envelope has no valid base64 `payload`", field="payload",
                         fix="pass a .dsse.json written by releasegate") from None


def check_signatures(envelope: dict[str, Any]) -> None:
    """InputError unless `signatures` lists at most MAX_SIGNATURES `{keyid, sig}` objects, each keyid
    a key fingerprint (64 hex) named once, each sig the canonical base64 of an Ed25519 signature.

    Checked when an envelope is read, so every later reader can index the entries without a
    traceback, and a hand-made entry is refused rather than silently skipped."""
    signatures = envelope.get("signatures")
    if not isinstance(signatures, list):
        raise InputError("envelope has no `signatures` list", field="signatures", fix=_FIX)
    if len(signatures) > MAX_SIGNATURES:
        raise InputError(f"envelope has {len(signatures)} signatures, more than {MAX_SIGNATURES}",
                         field="signatures", fix=_FIX)
    seen: set[str] = set()
    for i, entry in enumerate(signatures):
        where = f"signatures[{i}]"
        if not isinstance(entry, dict) or set(entry) - {"keyid", "sig"}:
            raise InputError("a signature entry is an object with exactly `keyid` and `sig`", field=where, fix=_FIX)
        keyid, sig = entry.get("keyid"), entry.get("sig")
        if not isinstance(keyid, str) or len(keyid) != 64 or keyid.strip("0123456789abcdef"):
            raise InputError("keyid is not a key fingerprint (64 lowercase hex)", field=f"{where}.keyid", fix=_FIX)
        if keyid in seen:
            raise InputError(f"two signatures by keyid {keyid[:16]}...", field=f"{where}.keyid", fix=_FIX)
        seen.add(keyid)
        try:
            raw = strict_b64decode(sig) if isinstance(sig, str) else None
        except (binascii.Error, ValueError):
            raw = None
        if raw is None or len(raw) != _ED25519_SIGNATURE_BYTES:
            raise InputError("sig is not the base64 of an Ed25519 signature (64 bytes)", field=f"{where}.sig",
                             fix=_FIX)


def make_envelope(payload: bytes, payload_type: str = PAYLOAD_TYPE) -> dict[str, Any]:
    return {"payloadType": payload_type, "payload": base64.b64encode(payload).decode(), "signatures": []}


def sign_envelope(envelope: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """A new envelope with this key's signature added (replacing an older one by the same key)."""
    payload = envelope_payload(envelope)
    sig = key.sign(pae(envelope["payloadType"], payload))
    keyid = fingerprint(key.public_key())
    others = [s for s in envelope.get("signatures", []) if s.get("keyid") != keyid]
    return {**envelope, "signatures": [*others, {"keyid": keyid, "sig": base64.b64encode(sig).decode()}]}


def signature_valid(envelope: dict[str, Any], signature: dict[str, Any], key: Ed25519PublicKey) -> bool:
    try:
        sig = strict_b64decode(signature["sig"])
        key.verify(sig, pae(envelope["payloadType"], envelope_payload(envelope)))
        return True
    except (InvalidSignature, KeyError, TypeError, binascii.Error, InputError):
        return False
