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
