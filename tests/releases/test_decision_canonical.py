"""Decisions are RFC 8785 JSON (recorded in the predicate); decisions made before still verify."""
from __future__ import annotations

import base64
import hashlib
import json

import rfc8785
from releases_fixtures import Keys, make_verdict, weights_digest

from releasegate.releases import (
    Keyring,
    approval_status,
    approve,
    build_decision,
    decision_digest,
    load_private_key,
    statement_of,
    verdict_gate_reasons,
)
from releasegate.releases._dsse import make_envelope
from releasegate.scenarios import LoadedScenario


def _payload(envelope: dict) -> bytes:
    return base64.b64decode(envelope["payload"])


def _new(scenario: LoadedScenario) -> dict:
    return build_decision(scenario, make_verdict(scenario), candidate_model_digest=weights_digest("gemma3-270m"))


def _legacy(scenario: LoadedScenario) -> dict:
    """An unsigned decision exactly as releasegate wrote one before it recorded the scheme: no
    `canonicalization`, the payload and verdict_sha256 as sorted-key compact JSON."""
    statement = json.loads(_payload(_new(scenario)))
    del statement["predicate"]["canonicalization"]
    statement["predicate"]["verdict"] = make_verdict(scenario).to_dict()  # floats as Python wrote them (1.0, 1e-05)
    legacy = lambda obj: json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False,  # noqa: E731
                                    ensure_ascii=False).encode()
    statement["predicate"]["verdict_sha256"] = hashlib.sha256(legacy(statement["predicate"]["verdict"])).hexdigest()
    return make_envelope(legacy(statement))


def _both_signed(envelope: dict, keys: Keys) -> dict:
    ring = Keyring.load()
    envelope = approve(envelope, "product", load_private_key(keys.product), ring)
    return approve(envelope, "platform", load_private_key(keys.platform), ring)


def test_a_new_decision_is_rfc8785_that_another_tool_can_recompute(scenario: LoadedScenario) -> None:
    envelope = _new(scenario)
    payload = _payload(envelope)
    statement = json.loads(payload)
    predicate = statement["predicate"]
    assert predicate["canonicalization"] == "rfc8785"
    assert rfc8785.dumps(statement) == payload  # the bytes are the JCS form of their own content
    assert predicate["verdict_sha256"] == hashlib.sha256(rfc8785.dumps(predicate["verdict"])).hexdigest()
    assert verdict_gate_reasons(envelope, None) == []


def test_a_decision_made_the_old_way_still_verifies(scenario: LoadedScenario, keys: Keys) -> None:
    old = _legacy(scenario)
    assert "canonicalization" not in statement_of(old)["predicate"]
    assert _payload(old) != rfc8785.dumps(json.loads(_payload(old)))  # really the other scheme
    signed = _both_signed(old, keys)
    assert decision_digest(signed) == hashlib.sha256(_payload(old)).hexdigest()
    assert approval_status(signed, Keyring.load()).approved
    assert verdict_gate_reasons(signed, None) == []


def test_a_verdict_digest_under_the_wrong_scheme_is_refused(scenario: LoadedScenario) -> None:
    # Claiming RFC 8785 over a legacy digest, an unknown scheme, or a digest of another verdict:
    # each is a decision releasegate did not build, refused before any signature counts.
    statement = json.loads(_payload(_legacy(scenario)))
    statement["predicate"]["canonicalization"] = "rfc8785"
    claimed = make_envelope(rfc8785.dumps(statement))
    assert verdict_gate_reasons(claimed, None) == [
        "verdict_sha256 is not the digest of the embedded verdict (rfc8785 canonicalization): "
        "the decision was not built by releasegate"]
    statement["predicate"]["canonicalization"] = "jcs-v2"
    assert verdict_gate_reasons(make_envelope(rfc8785.dumps(statement)), None) == [
        "unknown canonicalization 'jcs-v2': releasegate writes rfc8785"]
    statement = json.loads(_payload(_new(scenario)))
    statement["predicate"]["verdict"]["n"] += 1  # the verdict edited, its digest left as it was
    assert verdict_gate_reasons(make_envelope(rfc8785.dumps(statement)), None)[0].startswith(
        "verdict_sha256 is not the digest of the embedded verdict (rfc8785")
