"""Fuzzed keys, keyrings, envelopes (decision, checkpoint), trust-root proposals, release policies
and webhook / gateway request bodies (issue 15 item 5): through the real CLI where one reads them,
the documented exit code with one `error: ... (fix: ...)` line, no traceback, nothing written; the
guard answers 400/401/411/413 and the gateway's policy layer 400, never an exception."""
from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import record
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from fuzz_helpers import HOSTILE_YAML_TAILS, JSONISH, Timer, assert_clean_refusal, pass_verdict
from hostile_cli import run_main
from hypothesis import given
from hypothesis import strategies as st

from releasegate.core import InputError
from releasegate.releases import Keyring, PublicKeyEntry, fingerprint, handle_webhook, load_private_key, sign_webhook
from releasegate.releases._dsse import make_envelope, sign_envelope

KEY = Ed25519PrivateKey.generate()
OTHER = Ed25519PrivateKey.generate()
PUBLIC = KEY.public_key().public_bytes(serialization.Encoding.PEM,
                                       serialization.PublicFormat.SubjectPublicKeyInfo).decode()
PRIVATE = KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
EC_PUBLIC = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
SIG64 = base64.b64encode(bytes(64)).decode()


def _mutated(text: str) -> st.SearchStrategy[str]:
    """`text` cut, with a character replaced, with something inserted, or doubled."""
    n = len(text)
    return st.one_of(
        st.integers(0, n).map(lambda i: text[:i]),
        st.tuples(st.integers(0, n - 1), st.characters()).map(lambda t: text[:t[0]] + t[1] + text[t[0] + 1:]),
        st.tuples(st.integers(0, n), st.text(max_size=12)).map(lambda t: text[:t[0]] + t[1] + text[t[0]:]),
        st.just(text + text),
    )


PEMS = st.one_of(st.just(PUBLIC), _mutated(PUBLIC), st.just(EC_PUBLIC), st.just(PRIVATE), st.text(max_size=40))
IDENTITIES = st.sampled_from(["product-owner@support.example", "bot", "a b", "\x1b[2J", "", "x" * 300, "-lead"])


@given(identity=IDENTITIES, pem=PEMS | JSONISH, fp=st.none() | st.sampled_from(["", "0" * 64]) | JSONISH,
       tail=st.none() | st.sampled_from(HOSTILE_YAML_TAILS))
def test_hostile_keyrings(tmp_path_factory: pytest.TempPathFactory, identity: str, pem: object, fp: object,
                          tail: str | None) -> None:
    """`keys generate` reads the keyring before writing anything: a bad one leaves no key behind."""
    work = tmp_path_factory.mktemp("ring")
    entry: dict[str, object] = {"public_key": pem}
    if fp is not None:
        entry["fingerprint"] = fp
    keyring = work / "keyring.yaml"
    keyring.write_text(json.dumps({"identities": {identity: entry}}) + "\n" + (tail or ""), encoding="utf-8")
    before = keyring.read_bytes()
    keys = work / "keys"
    with Timer(), _env(RELEASEGATE_KEYS_DIR=str(keys)):
        run = run_main("keys", "generate", "--identity", "fuzz@support.example", "--keyring", str(keyring))
    if run.code == 0:  # only a sound entry: one Ed25519 PEM (a changed base64 character can still be
        # one: any 32 bytes are a key), a valid identity, a matching or absent fingerprint
        assert isinstance(pem, str) and tail is None, (identity, pem, fp, tail)
        key = serialization.load_pem_public_key(pem.encode())
        assert isinstance(key, Ed25519PublicKey) and pem.count("-----BEGIN ") == 1
        assert fp in (None, fingerprint(key)), (identity, pem, fp)
        ring = Keyring.load(keyring)
        assert set(ring.entries) == {identity, "fuzz@support.example"}
        assert ring.entries[identity].fingerprint == fingerprint(key)
        record("keyrings", "accepted")
        return
    assert_clean_refusal(run)
    assert keyring.read_bytes() == before and not keys.exists()
    record("keyrings", "refused")


@contextlib.contextmanager
def _env(**values: str) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@given(data=st.one_of(_mutated(PRIVATE), st.just(PUBLIC), st.binary(max_size=64), st.just(PRIVATE)),
       mode=st.sampled_from([0o600, 0o400, 0o640, 0o644, 0o604]))
def test_hostile_private_key_files(data: object, mode: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "key.pem"
        path.write_bytes(data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data)
        os.chmod(path, mode)
        try:
            with Timer():
                key = load_private_key(path)
        except InputError as exc:
            text = str(exc)
            assert "\n" not in text and "(fix: " in text and text.startswith(str(path)), text
            if mode & 0o077:
                assert f"chmod 600 {path}" in text
            record("private keys", "refused")
            return
    assert mode & 0o077 == 0 and isinstance(key, Ed25519PrivateKey), (data, mode)
    if data == PRIVATE:
        assert key.public_key().public_bytes_raw() == KEY.public_key().public_bytes_raw()
    record("private keys", "accepted")


def _decision_envelope() -> dict:
    statement = {"_type": "https://in-toto.io/Statement/v1",
                 "subject": [{"name": "gemma3-270m", "digest": {"sha256": "a" * 64}}],
                 "predicateType": "https://releasegate.dev/decision/v1",
                 "predicate": {"scenario_id": "support-triage", "verdict": pass_verdict()}}
    return sign_envelope(make_envelope(json.dumps(statement).encode()), KEY)


SIGNATURE_ENTRIES = st.one_of(
    st.just({"keyid": fingerprint(OTHER.public_key()), "sig": SIG64}),
    st.fixed_dictionaries({"keyid": st.text(max_size=70) | JSONISH, "sig": st.text(max_size=90) | JSONISH}),
    st.fixed_dictionaries({"sig": st.just(SIG64)}),
    st.fixed_dictionaries({"keyid": st.just("a" * 64)}),
    JSONISH,
)
ENVELOPE_EDITS = st.one_of(
    st.tuples(st.just("signatures"), st.lists(SIGNATURE_ENTRIES, max_size=4) | JSONISH),
    st.tuples(st.just("signatures.many"), st.integers(33, 5000)),
    st.tuples(st.sampled_from(["payload", "payloadType"]), JSONISH | st.text(max_size=30)),
    st.tuples(st.just("payload.json"), JSONISH),
    st.tuples(st.just("whole"), JSONISH),
)


@given(edit=ENVELOPE_EDITS)
def test_hostile_decision_envelopes(tmp_path_factory: pytest.TempPathFactory, edit: tuple[str, object]) -> None:
    """`verify` reads the envelope strictly: malformed entries are exit 2; a well-formed entry by a
    key outside the keyring is exit 1 (listed as unknown), never a traceback."""
    envelope: object = _decision_envelope()
    field, value = edit
    if field == "signatures":
        envelope["signatures"] = envelope["signatures"] + (value if isinstance(value, list) else [value])  # type: ignore[index]
    elif field == "signatures.many":
        envelope["signatures"] = [{"keyid": f"{i:064x}", "sig": SIG64} for i in range(int(value))]  # type: ignore[index]
    elif field == "payload.json":
        envelope["payload"] = base64.b64encode(json.dumps(value).encode()).decode()  # type: ignore[index]
    elif field == "whole":
        envelope = value
    else:
        envelope[field] = value  # type: ignore[index]
    work = tmp_path_factory.mktemp("decision")
    path = work / "d.dsse.json"
    path.write_text(json.dumps(envelope), encoding="utf-8")
    with Timer():
        run = run_main("verify", str(path), "--keyring", str(work / "none.yaml"))
    if run.code == 2:
        assert_clean_refusal(run)
        record("decision envelopes", "refused")
        return
    assert run.code == 1 and "Traceback" not in run.out + run.err, run.out + run.err
    assert "(unknown key)" in run.out and "not fully approved" in run.out
    record("decision envelopes", "exit 1 (unknown signer)")


CHECKPOINT_BODY = {"_type": "https://releasegate.dev/ledger-checkpoint/v1", "ledger": "releasegate-ledger",
                   "seq": 1, "head_hash": "b" * 64, "time": "2026-12-01T00:00:00+00:00", "previous": None,
                   "previous_seq": 0, "rows": ["b" * 64]}


@given(key=st.sampled_from(sorted(CHECKPOINT_BODY)) | st.text(max_size=8), value=JSONISH,
       signatures=st.none() | st.lists(SIGNATURE_ENTRIES, max_size=3),
       raw=st.none() | st.binary(max_size=40) | st.sampled_from([b"[" * 5000, b'{"seq": 1e400}', b"\xff\xfe{}"]))
def test_hostile_checkpoint_files(tmp_path_factory: pytest.TempPathFactory, key: str, value: object,
                                  signatures: list | None, raw: bytes | None) -> None:
    """`ledger verify --checkpoint F` on an auditor's copy: exit 2 for a malformed file, exit 1 for a
    well-formed one the ledger key did not sign (or that does not match), never a traceback."""
    from releasegate.releases._checkpoints import CHECKPOINT_PAYLOAD_TYPE

    body = {**CHECKPOINT_BODY, key: value}
    envelope = sign_envelope(make_envelope(json.dumps(body).encode(), CHECKPOINT_PAYLOAD_TYPE), OTHER)
    if signatures is not None:
        envelope["signatures"] = signatures
    work = tmp_path_factory.mktemp("cp")
    path = work / "cp.json"
    path.write_bytes(raw if raw is not None else json.dumps(envelope).encode())
    with Timer(), _env(RELEASEGATE_HOME=str(work / "state"), RELEASEGATE_LEDGER_URL=f"sqlite:///{work}/l.db"):
        run = run_main("ledger", "verify", "--no-mlflow", "--checkpoint", str(path), "--keyring", str(work / "k.yaml"))
    text = run.out + run.err
    if run.code == 2:
        assert_clean_refusal(run)
        record("checkpoint files", "refused")
        return
    assert run.code == 1 and "Traceback" not in text and "ledger tampered" in text, text
    record("checkpoint files", "exit 1 (not the ledger's)")


ROOT_EDITS = st.one_of(
    st.tuples(st.sampled_from(["signed", "signatures", "signed.version", "signed.expires", "signed.keys",
                               "signed.roles", "signed._type", "signed.x-releasegate", "signed.spec_version"]),
              JSONISH),
    st.tuples(st.just("raw"), st.binary(max_size=40) | st.sampled_from([b"[]", b"{" * 3000, b'{"signed": 1e999}'])),
)


@given(edit=ROOT_EDITS)
def test_hostile_trust_proposals(tmp_path_factory: pytest.TempPathFactory, edit: tuple[str, object]) -> None:
    """`trust sign PROPOSAL --key K` reads the proposal strictly: a malformed one is exit 2 and
    the file is left as it was; one that parses is signed (signing trusts nothing)."""
    from releasegate.releases._trust import sign_root, write_root
    from tuf.api.metadata import Metadata, Root

    work = tmp_path_factory.mktemp("root")
    base = Metadata(Root(version=1))
    base.signed.unrecognized_fields["x-releasegate"] = {"kind": "portfolio"}
    proposal = work / "root.json"
    write_root(sign_root(base, OTHER), proposal)
    field, value = edit
    if field == "raw":
        proposal.write_bytes(value)  # type: ignore[arg-type]
    else:
        doc = json.loads(proposal.read_text())
        if "." in field:
            doc["signed"][field.split(".", 1)[1]] = value
        else:
            doc[field] = value
        proposal.write_text(json.dumps(doc))
    before = proposal.read_bytes()
    key = work / "k.pem"
    key.write_text(PRIVATE)
    os.chmod(key, 0o600)
    with Timer():
        run = run_main("trust", "sign", str(proposal), "--key", str(key))
    if run.code == 2:
        assert_clean_refusal(run)
        assert proposal.read_bytes() == before
        record("trust proposals", "refused")
        return
    assert run.code == 0 and "Traceback" not in run.out + run.err, run.out + run.err
    record("trust proposals", "signed")


POLICY_FIELDS = ["identity", "expires", "change_kinds", "weights_allowlist", "runners", "require_attested_evidence",
                 "require_checks", "no_open_incidents"]


@given(policy=st.dictionaries(st.sampled_from(POLICY_FIELDS) | JSONISH.filter(lambda v: isinstance(v, (str, int))),
                              JSONISH, max_size=4) | JSONISH)
def test_hostile_release_policies(policy: object) -> None:
    """A release policy proposal (`trust propose --policy F`): normalised or one InputError line."""
    from releasegate.releases._policy import normalise_policy

    bot = "release-bot@platform.example"
    ring = Keyring(Path("k.yaml"), {bot: PublicKeyEntry(bot, fingerprint(KEY.public_key()), PUBLIC)})
    if isinstance(policy, dict) and "identity" not in policy:
        policy = {"identity": bot, "expires": "2099-01-01", **policy}
    try:
        with Timer():
            out = normalise_policy(policy, ring, source="policy.yaml")  # type: ignore[arg-type]
    except InputError as exc:
        text = str(exc)
        assert "\n" not in text and "(fix: " in text and text.startswith("policy.yaml"), text
        record("release policies", "refused")
        return
    assert out["identity"] == bot and out["keyid"] == fingerprint(KEY.public_key())
    json.dumps(out, allow_nan=False)  # what goes into the signed root is plain JSON
    record("release policies", "accepted")


WEBHOOK_BODIES = st.one_of(
    JSONISH.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=60),
    st.sampled_from([b"[" * 10000, b'{"a": 1, "a": 2}', '{"entity": "x"}'.encode("utf-16"), b'{"n": 1e400}']),
    st.fixed_dictionaries({"entity": st.just("model_version_alias"), "action": st.sampled_from(["created", "deleted"]),
                           "data": st.dictionaries(st.sampled_from(["name", "alias", "version"]), JSONISH)})
    .map(lambda v: json.dumps(v).encode()),
)


@given(body=WEBHOOK_BODIES)
def test_hostile_webhook_bodies(body: bytes) -> None:
    """Authentic (HMAC-signed) but hostile bodies: 400 with one line, or 200 ignored; the audit runs
    only for an alias event on a managed model (none here), never an exception."""
    ts = str(int(time.time()))
    headers = {"X-MLflow-Signature": sign_webhook("s3cret", "d-1", ts, body), "X-MLflow-Delivery-Id": "d-1",
               "X-MLflow-Timestamp": ts}
    called: list[str] = []
    with Timer():
        status, answer = handle_webhook("s3cret", headers, body, lambda *a: called.append("audit") or {},
                                        managed=lambda model: False)
    assert called == []
    if status == 400:
        assert "\n" not in answer["error"], answer
    else:
        assert status == 200 and "ignored" in answer, answer
    record("webhook bodies", f"HTTP {status}")


@pytest.fixture(scope="module")
def guard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    from releasegate.releases import serve_guard

    folder = tmp_path_factory.mktemp("guard")
    server = serve_guard("s3cret", port=0, ledger_url=f"sqlite:///{folder}/ledger.db", log=lambda m: None)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@given(length=st.sampled_from(["", "-1", "abc", "99999999999", "10", "1e3"]) | st.integers(0, 80).map(str),
       body=st.binary(max_size=80), signed=st.booleans())
def test_hostile_guard_requests(guard: int, length: str, body: bytes, signed: bool) -> None:
    """The guard's HTTP handler: Content-Length checked before reading (411/413), unsigned 401,
    hostile JSON 400, never a dropped connection."""
    conn = http.client.HTTPConnection("127.0.0.1", guard, timeout=15)
    # exactly as many bytes as announced (a shorter body would wait out the guard's read timeout)
    payload = (body + b" " * 80)[: int(length)] if length.isdigit() and int(length) <= 80 else body
    ts = str(int(time.time()))
    headers = {"X-MLflow-Delivery-Id": f"d-{time.monotonic_ns()}", "X-MLflow-Timestamp": ts}
    if signed:
        headers["X-MLflow-Signature"] = sign_webhook("s3cret", headers["X-MLflow-Delivery-Id"], ts, payload)
    if length:
        headers["Content-Length"] = length
    with Timer():
        conn.putrequest("POST", "/")
        for k, v in headers.items():
            conn.putheader(k, v)
        conn.endheaders(payload)
        try:
            response = conn.getresponse()
            status, answer = response.status, json.loads(response.read() or b"{}")
        finally:
            conn.close()
    assert status in (200, 400, 401, 411, 413), (status, answer)
    if status == 411:
        assert not length.isdigit()
    if status == 413:
        assert int(length) > 256 * 1024
    record("guard requests", f"HTTP {status}")


@pytest.fixture(scope="module")
def policy_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from fastapi.testclient import TestClient

    from releasegate.gateway import policy_app

    folder = tmp_path_factory.mktemp("gateway")
    # Nothing listens on port 9; no body below names a real scenario, so none is forwarded.
    yield TestClient(policy_app("http://127.0.0.1:9", ledger_url=f"sqlite:///{folder}/ledger.db"))


@given(body=WEBHOOK_BODIES | st.fixed_dictionaries({"model": JSONISH, "messages": JSONISH}).map(
    lambda v: json.dumps(v).encode()))
def test_hostile_gateway_request_bodies(policy_client: object, body: bytes) -> None:
    with Timer():
        r = policy_client.post("/v1/chat/completions", content=body)  # type: ignore[attr-defined]
    assert r.status_code == 400, r.text
    message = r.json()["error"]["message"]
    assert isinstance(message, str) and "\n" not in message, message
    record("gateway request bodies", "HTTP 400")
