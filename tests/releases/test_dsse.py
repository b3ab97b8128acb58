"""The signed decision verifies with an independent DSSE implementation, and any change breaks it."""
from __future__ import annotations

import base64
import copy
import json
from pathlib import Path

import pytest
from securesystemslib.dsse import Envelope
from securesystemslib.exceptions import VerificationError
from securesystemslib.signer import SSlibKey

from releasegate.releases import (
    PAYLOAD_TYPE,
    PREDICATE_TYPE,
    STATEMENT_TYPE,
    Keyring,
    approval_status,
    approve,
    build_decision,
    decision_digest,
    load_private_key,
    read_decision,
    statement_of,
    write_decision,
)
from releasegate.core import InputError
from releasegate.scenarios import LoadedScenario

from releases_fixtures import PLATFORM, PRODUCT, Keys, make_verdict, weights_digest


@pytest.fixture
def signed(scenario: LoadedScenario, keys: Keys) -> dict:
    verdict = make_verdict(scenario)
    envelope = build_decision(scenario, verdict, candidate_model_digest=weights_digest("gemma3-270m"),
                              report_sha256="a" * 64)
    ring = Keyring.load()
    envelope = approve(envelope, "product", load_private_key(keys.product), ring)
    return approve(envelope, "platform", load_private_key(keys.platform), ring)


def sslib_keys() -> list[SSlibKey]:
    """Keys built by securesystemslib from the keyring's PEMs, keyed by our fingerprints."""
    ring = Keyring.load()
    return [SSlibKey.from_crypto(ring.entries[i].key(), keyid=ring.entries[i].fingerprint)
            for i in (PRODUCT, PLATFORM)]


def sslib_verify(envelope: dict) -> None:
    Envelope.from_dict(copy.deepcopy(envelope)).verify(sslib_keys(), threshold=2)


def test_statement_shape_and_independent_verification(signed: dict, scenario: LoadedScenario) -> None:
    statement = statement_of(signed)
    assert statement["_type"] == STATEMENT_TYPE
    assert statement["predicateType"] == PREDICATE_TYPE
    assert statement["subject"] == [{"name": "gemma3-270m", "digest": {"sha256": weights_digest("gemma3-270m")}}]
    pred = statement["predicate"]
    assert pred["contract_sha256"] == scenario.contract_sha256
    assert pred["dataset_sha256"] == scenario.scenario.dataset.sha256
    assert pred["incumbent"]["entry"] == "smollm2-v1"
    assert pred["prompt_family"] == {"name": "support-triage-router", "version": "v1"}
    assert pred["verdict"]["decision"] == "PASS" and pred["report_sha256"] == "a" * 64
    assert pred["approvers"] == {"product": PRODUCT, "platform": PLATFORM}
    assert signed["payloadType"] == PAYLOAD_TYPE and len(signed["signatures"]) == 2

    verified = Envelope.from_dict(copy.deepcopy(signed)).verify(sslib_keys(), threshold=2)
    assert set(verified) == {s["keyid"] for s in signed["signatures"]}

    # Written and read back, the file is the same envelope; the digest is of the statement only.
    path = write_decision(signed)
    assert path.name == f"{decision_digest(signed)[:16]}.dsse.json"
    assert read_decision(path) == signed
    status = approval_status(read_decision(path), Keyring.load())
    assert status.fully_approved
    assert {r: s.identity for r, s in status.approved.items()} == {"product": PRODUCT, "platform": PLATFORM}
    ring = Keyring.load()
    assert status.approval_rows() == [
        {"role": "product", "identity": PRODUCT, "fingerprint": ring.entries[PRODUCT].fingerprint, "valid": True},
        {"role": "platform", "identity": PLATFORM, "fingerprint": ring.entries[PLATFORM].fingerprint, "valid": True},
    ]


def _flip(data: bytes, i: int) -> bytes:
    return data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1:]


def test_every_changed_byte_fails_independent_verification(signed: dict) -> None:
    payload = base64.b64decode(signed["payload"])
    variants: list[dict] = []
    for i in range(len(payload)):
        variants.append({**signed, "payload": base64.b64encode(_flip(payload, i)).decode()})
    ptype = signed["payloadType"].encode()
    for i in range(len(ptype)):
        variants.append({**signed, "payloadType": _flip(ptype, i).decode()})
    for n, sig in enumerate(signed["signatures"]):
        raw = base64.b64decode(sig["sig"])
        for i in range(len(raw)):
            sigs = copy.deepcopy(signed["signatures"])
            sigs[n]["sig"] = base64.b64encode(_flip(raw, i)).decode()
            variants.append({**signed, "signatures": sigs})
        for i in range(len(sig["keyid"])):
            sigs = copy.deepcopy(signed["signatures"])
            sigs[n]["keyid"] = _flip(sig["keyid"].encode(), i).decode()
            variants.append({**signed, "signatures": sigs})
    assert len(variants) > 3000
    passed = 0
    for variant in variants:
        try:
            sslib_verify(variant)
            passed += 1
        except (VerificationError, ValueError):
            pass
    assert passed == 0
    sslib_verify(signed)  # the untouched envelope still verifies


def test_every_changed_character_fails_our_verifier(signed: dict) -> None:
    """At the JSON-text level too, including base64 characters lenient decoders would ignore."""
    ring = Keyring.load()
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    fields = [("payload", None), *[("sig", n) for n in range(len(signed["signatures"]))]]
    tried = 0
    for name, n in fields:
        text = signed[name] if n is None else signed["signatures"][n][name]
        for i, ch in enumerate(text):
            if ch == "=":
                continue
            repl = alphabet[(alphabet.index(ch) + 1) % 64]
            variant = copy.deepcopy(signed)
            changed = text[:i] + repl + text[i + 1:]
            if n is None:
                variant["payload"] = changed
            else:
                variant["signatures"][n]["sig"] = changed
            tried += 1
            try:
                status = approval_status(variant, ring)
            except InputError:
                continue  # the statement no longer parses: rejected
            assert not status.fully_approved, (name, i)
    assert tried > 3000


def test_read_decision_rejects_a_non_decision(tmp_path: Path) -> None:
    bad = tmp_path / "x.dsse.json"
    bad.write_text(json.dumps({"payload": base64.b64encode(b"{}").decode(), "payloadType": PAYLOAD_TYPE,
                               "signatures": []}))
    with pytest.raises(InputError, match="not a releasegate decision statement"):
        read_decision(bad)
