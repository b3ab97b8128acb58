"""Hostile keys, keyrings, envelopes, checkpoints, trust roots and webhook bodies (issue 15 item 5):
each is refused with one InputError line naming the file, the field and the fix (or HTTP 400 for
a webhook), never a traceback, and nothing is written."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from releases_fixtures import PRODUCT, Keys, make_verdict, weights_digest

from releasegate.core import InputError
from releasegate.releases import (
    Keyring,
    build_decision,
    generate_key,
    handle_webhook,
    load_private_key,
    read_decision,
    sign_webhook,
    write_decision,
)
from releasegate.releases._checkpoints import read_checkpoint_file
from releasegate.releases._dsse import MAX_SIGNATURES, sign_envelope
from releasegate.releases._trust import read_root
from releasegate.scenarios import LoadedScenario


def _one_line(exc: pytest.ExceptionInfo[InputError], *, file: Path | None, field: str | None) -> str:
    text = str(exc.value)
    assert "\n" not in text and "(fix: " in text, text
    if file is not None:
        assert text.startswith(str(file)), text
    if field is not None:
        assert exc.value.field == field, text
    return text


def _ed25519_public_pem() -> str:
    return Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _pem(key: object, private: bool = False) -> str:
    if private:
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,  # type: ignore[attr-defined]
                                 serialization.NoEncryption()).decode()
    return key.public_bytes(serialization.Encoding.PEM,  # type: ignore[attr-defined]
                            serialization.PublicFormat.SubjectPublicKeyInfo).decode()


GOOD = _ed25519_public_pem()
RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC = ec.generate_private_key(ec.SECP256R1())

PUBLIC_KEYS = {
    "truncated": ("\n".join(GOOD.splitlines()[:2]), "not one complete PEM block"),
    "rsa": (_pem(RSA.public_key()), "not an Ed25519 public key (RSAPublicKey)"),
    "ec": (_pem(EC.public_key()), "not an Ed25519 public key (ECPublicKey)"),
    "garbage base64": (GOOD.replace(GOOD.splitlines()[1], "MCowBQYDK2Vw!!!!AyEA"), "not one complete PEM block"),
    "bad padding": (GOOD.replace(GOOD.splitlines()[1], "MCowB"), "base64 is corrupt"),
    "two keys in one entry": (GOOD + _ed25519_public_pem(), "holds more than one PEM block"),
    "text around it": (GOOD + "trailing words\n", "has text outside its PEM block"),
    "a private key": (_pem(Ed25519PrivateKey.generate(), private=True), "is a PRIVATE KEY block, expected PUBLIC KEY"),
    "empty body": ("-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n", "public key does not parse"),
}


@pytest.mark.parametrize("case", sorted(PUBLIC_KEYS))
def test_corrupt_pem_in_a_keyring_is_one_line_naming_the_entry(tmp_path: Path, case: str) -> None:
    pem, message = PUBLIC_KEYS[case]
    path = tmp_path / "keyring.yaml"
    path.write_text(json.dumps({"identities": {PRODUCT: {"public_key": pem}}}))
    with pytest.raises(InputError) as exc:
        Keyring.load(path)
    text = _one_line(exc, file=path, field=f"identities.{PRODUCT}.public_key")
    assert message in text


@pytest.mark.parametrize(("content", "message", "field"), [
    ("identities: {x: {public_key: 7}}\n", "entry needs public_key", "identities.x"),
    ("identities: {'a b': {public_key: ''}}\n", "is not an identity", "identities"),
    ("identities: {7: {public_key: ''}}\n", "is not an identity", "identities"),
    ("identities: []\n", "maps `identities:`", "identities"),
    ("- 1\n- 2\n", "maps `identities:`", "identities"),
    ("identities: {}\nidentities: {}\n", "appears twice", "identities"),
    ("identities: !!python/object/apply:os.system [id]\n", "tag", None),
    ("identities: " + "[" * 200 + "]" * 200 + "\n", "nested deeper", None),
])
def test_malformed_keyring_documents_are_refused(tmp_path: Path, content: str, message: str, field: str | None) -> None:
    path = tmp_path / "keyring.yaml"
    path.write_text(content)
    with pytest.raises(InputError) as exc:
        Keyring.load(path)
    assert message in _one_line(exc, file=path, field=field)


def test_keyring_size_and_encoding_are_bounded(tmp_path: Path) -> None:
    path = tmp_path / "keyring.yaml"
    path.write_bytes(b"# " + b"x" * (2 * 1024 * 1024) + b"\n")
    with pytest.raises(InputError, match="larger than the 1048576 byte limit"):
        Keyring.load(path)
    path.write_bytes("identities: {}\n".encode("utf-16"))
    with pytest.raises(InputError, match="UTF-16"):
        Keyring.load(path)


def _private_file(tmp_path: Path, name: str, data: bytes, mode: int = 0o600) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    os.chmod(path, mode)
    return path


def test_private_keys_that_are_not_usable_ed25519_are_refused(tmp_path: Path) -> None:
    ed = Ed25519PrivateKey.generate()
    cases = {
        "rsa.pem": (_pem(RSA, private=True).encode(), "not an Ed25519 private key (RSAPrivateKey)"),
        "ec.pem": (_pem(EC, private=True).encode(), "not an Ed25519 private key (ECPrivateKey)"),
        "pkcs1.pem": (RSA.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                        serialization.NoEncryption()),
                      "is a RSA PRIVATE KEY block, expected PRIVATE KEY"),
        "encrypted.pem": (ed.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.BestAvailableEncryption(b"pw")), "is encrypted"),
        "public.pem": (_ed25519_public_pem().encode(), "is a PUBLIC KEY block, expected PRIVATE KEY"),
        "two.pem": ((_pem(ed, private=True) + _pem(Ed25519PrivateKey.generate(), private=True)).encode(),
                    "holds more than one PEM block"),
        "truncated.pem": (_pem(ed, private=True).encode()[:60], "not one complete PEM block"),
        "binary.pem": (b"\x00\x01\x02", "NUL"),
        "huge.pem": (b"x" * (64 * 1024), "larger than the 16384 byte limit"),
        "latin1.pem": (b"-----BEGIN PRIVATE KEY-----\n\xe9\n-----END PRIVATE KEY-----\n", "not valid UTF-8"),
    }
    for name, (data, message) in cases.items():
        path = _private_file(tmp_path, name, data)
        with pytest.raises(InputError) as exc:
            load_private_key(path)
        assert message in _one_line(exc, file=path, field=None), name
    good = _private_file(tmp_path, "good.pem", _pem(ed, private=True).encode())
    assert load_private_key(good).public_key().public_bytes_raw() == ed.public_key().public_bytes_raw()


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o666])
def test_a_private_key_readable_by_others_is_refused_with_the_chmod_fix(tmp_path: Path, mode: int) -> None:
    path = _private_file(tmp_path, "k.pem", _pem(Ed25519PrivateKey.generate(), private=True).encode(), mode)
    with pytest.raises(InputError) as exc:
        load_private_key(path)
    text = _one_line(exc, file=path, field="--key")
    assert f"readable by group or others (mode {mode:04o})" in text and f"(fix: chmod 600 {path})" in text
    os.chmod(path, 0o400)  # read-only for the owner is fine
    load_private_key(path)


def test_generated_keys_are_0600_in_a_0700_folder(home: Path) -> None:
    entry = generate_key(PRODUCT)
    key = home / "keys" / f"{PRODUCT}.pem"
    assert (key.stat().st_mode & 0o777, key.parent.stat().st_mode & 0o777) == (0o600, 0o700)
    assert Keyring.load().entries[PRODUCT].fingerprint == entry.fingerprint


@pytest.mark.parametrize("marker", ["folder", "file"])  # a clone has a .git folder, a worktree a .git file
def test_a_keys_folder_inside_any_git_work_tree_is_refused(home: Path, monkeypatch: pytest.MonkeyPatch,
                                                          marker: str) -> None:
    other = home / "some-other-repo"
    other.mkdir()
    if marker == "folder":
        (other / ".git").mkdir()
    else:
        (other / ".git").write_text("gitdir: /elsewhere/.git/worktrees/x\n")
    keys = other / "deep" / "keys"
    monkeypatch.setenv("RELEASEGATE_KEYS_DIR", str(keys))
    with pytest.raises(InputError) as exc:
        generate_key(PRODUCT)
    text = _one_line(exc, file=None, field="RELEASEGATE_KEYS_DIR")
    assert f"inside the git work tree {other}" in text
    assert not keys.exists() and not (home / "keyring.yaml").exists()
    # A key already there is not used either (it may be one `git add -A` from being published).
    keys.mkdir(parents=True)
    planted = _private_file(keys, "x.pem", _pem(Ed25519PrivateKey.generate(), private=True).encode())
    with pytest.raises(InputError, match="inside the git work tree"):
        load_private_key(planted)


@pytest.fixture
def decision_file(scenario: LoadedScenario, keys: Keys, home: Path) -> Path:
    envelope = build_decision(scenario, make_verdict(scenario), candidate_model_digest=weights_digest("gemma3-270m"))
    envelope = sign_envelope(envelope, load_private_key(keys.product))
    return write_decision(envelope, home / "d.dsse.json")


def _with_signatures(path: Path, signatures: object) -> Path:
    envelope = json.loads(path.read_text())
    envelope["signatures"] = signatures
    out = path.with_name("edited.dsse.json")
    out.write_text(json.dumps(envelope))
    return out


def test_malformed_signature_entries_are_refused(decision_file: Path) -> None:
    [real] = json.loads(decision_file.read_text())["signatures"]
    sig64 = base64.b64encode(b"\x01" * 64).decode()
    cases = [
        ([{"sig": real["sig"]}], "signatures[0].keyid", "keyid is not a key fingerprint"),
        ([{"keyid": real["keyid"]}], "signatures[0].sig", "sig is not the base64"),
        ([real, {"keyid": "a" * 64, "sig": "not base64!"}], "signatures[1].sig", "sig is not the base64"),
        # the same 64 bytes in a non-canonical spelling (unused low bits set): refused, not decoded
        ([{"keyid": "a" * 64, "sig": base64.b64encode(bytes(64)).decode()[:-3] + "B=="}], "signatures[0].sig",
         "sig is not the base64"),
        ([{"keyid": "a" * 64, "sig": base64.b64encode(b"x" * 10).decode()}], "signatures[0].sig", "64 bytes"),
        ([{"keyid": 7, "sig": sig64}], "signatures[0].keyid", "keyid is not a key fingerprint"),
        ([{"keyid": "A" * 64, "sig": sig64}], "signatures[0].keyid", "keyid is not a key fingerprint"),
        ([{"keyid": "a" * 64, "sig": ["x"]}], "signatures[0].sig", "sig is not the base64"),
        (["just a string"], "signatures[0]", "exactly `keyid` and `sig`"),
        ([None], "signatures[0]", "exactly `keyid` and `sig`"),
        ([{**real, "extra": 1}], "signatures[0]", "exactly `keyid` and `sig`"),
        ([real, real], "signatures[1].keyid", "two signatures by keyid"),
        ([{"keyid": f"{i:064x}", "sig": sig64} for i in range(5000)], "signatures",
         f"5000 signatures, more than {MAX_SIGNATURES}"),
    ]
    for signatures, field, message in cases:
        path = _with_signatures(decision_file, signatures)
        started = time.monotonic()
        with pytest.raises(InputError) as exc:
            read_decision(path)
        assert time.monotonic() - started < 2
        assert message in _one_line(exc, file=path, field=field), field
    assert read_decision(decision_file)["signatures"] == [real]


@pytest.mark.parametrize(("content", "message"), [
    (b"[]", "the JSON is not an object"),
    (b"[" * 5000 + b"]" * 5000, "nested deeper than 64 levels"),
    (b'{"payloadType": 1e400}', "beyond the largest float"),
    (b'{"a": 1, "a": 2}', "has the key 'a' twice"),
    (b"\xff\xfe{\x00}\x00", "UTF-16"),
    (b'{"payloadType": "application/vnd.releasegate.checkpoint+json", "payload": "", "signatures": [{"keyid": 1}]}',
     "signatures[0]"),
])
def test_malformed_checkpoint_files_are_bad_input(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "cp.json"
    path.write_bytes(content)
    with pytest.raises(InputError) as exc:
        read_checkpoint_file(path)
    assert message in _one_line(exc, file=path, field="--checkpoint")


@pytest.mark.parametrize(("content", "message"), [
    (b"[1, 2]", "a trust root is a JSON object"),
    (b"{" + b'"a":{' * 100 + b"}" * 101, "nested deeper than 64 levels"),
    (b'{"signed": {}, "signed": {}}', "twice"),
    (b'{"signed": [], "signatures": "x"}', "not TUF root metadata"),
    (b"\xc3\x28", "not valid UTF-8"),
])
def test_malformed_trust_proposals_are_bad_input(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "root.json"
    path.write_bytes(content)
    with pytest.raises(InputError) as exc:
        read_root(path)
    assert message in _one_line(exc, file=path, field=None)


def _signed_headers(secret: str, body: bytes, delivery: str = "d-1") -> dict[str, str]:
    ts = str(int(time.time()))
    content = f"{delivery}.{ts}.".encode() + body
    assert sign_webhook(secret, delivery, ts, body) == "v1," + base64.b64encode(
        hmac.new(secret.encode(), content, hashlib.sha256).digest()).decode()
    return {"X-MLflow-Signature": sign_webhook(secret, delivery, ts, body), "X-MLflow-Delivery-Id": delivery,
            "X-MLflow-Timestamp": ts}


@pytest.mark.parametrize(("body", "message"), [
    (b"[]", "not a JSON object"),
    (b'"alias"', "not a JSON object"),
    (b'{"data": []}', "object `data`"),
    (b"[" * 10000 + b"]" * 10000, "nested deeper than 64 levels"),
    (json.dumps({"entity": "model_version_alias"}).encode("utf-16"), "UTF-16"),
    (b'{"entity": "x", "entity": "model_version_alias"}', "twice"),
    (b'{"entity": "\xff"}', "not valid UTF-8"),
    (b'{"n": NaN}', "NaN"),
    (b"{", "invalid JSON"),
])
def test_hostile_webhook_bodies_are_http_400(body: bytes, message: str) -> None:
    called: list[str] = []
    status, answer = handle_webhook("s3cret", _signed_headers("s3cret", body), body,
                                    lambda *a: called.append("audit") or {})
    assert (status, called) == (400, []), answer
    assert message in answer["error"] and "\n" not in answer["error"]


@pytest.mark.parametrize("case", ["two keys in one entry", "rsa", "text around it"])
def test_a_pinned_ledger_public_key_is_read_as_strictly_as_the_keyring(monkeypatch: pytest.MonkeyPatch,
                                                                       case: str) -> None:
    from releasegate.releases._checkpoints import LEDGER_PUBKEY_ENV, pinned_ledger_keys

    pem, message = PUBLIC_KEYS[case]
    monkeypatch.setenv(LEDGER_PUBKEY_ENV, pem)
    with pytest.raises(InputError) as exc:
        pinned_ledger_keys(Keyring(Path("k.yaml"), {}))
    text = _one_line(exc, file=None, field=LEDGER_PUBKEY_ENV)
    assert "not an Ed25519 public key in PEM" in text and message in text


@pytest.mark.parametrize(("extra", "field"), [
    ({"change_kinds": True}, "change_kinds"), ({"weights_allowlist": True}, "weights_allowlist"),
    ({"runners": "runner@platform.example"}, "runners"), ({"require_checks": 5}, "require_checks"),
    ({"no_open_incidents": [1]}, "no_open_incidents"), ({1: "x", "zz": 2}, "1"),
    ({"\n": None}, "\n"),  # found by make fuzz: the key's newline split the error line in two
])
def test_release_policy_fields_of_the_wrong_type_are_one_line(extra: dict, field: str) -> None:
    """Found by the fuzz suite: `change_kinds: true` raised TypeError (a traceback) in normalise_policy."""
    from releasegate.releases import PublicKeyEntry, fingerprint
    from releasegate.releases._policy import normalise_policy

    key = Ed25519PrivateKey.generate().public_key()
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    ring = Keyring(Path("k.yaml"), {"bot@platform.example": PublicKeyEntry("bot@platform.example", fingerprint(key), pem)})
    with pytest.raises(InputError) as exc:
        normalise_policy({"identity": "bot@platform.example", "expires": "2099-01-01", **extra}, ring,
                         source="policy.yaml")
    _one_line(exc, file=Path("policy.yaml"), field=field)


def test_a_trust_proposal_tuf_cannot_encode_is_bad_input(tmp_path: Path) -> None:
    """Found by make fuzz: a float in the signed part parsed, then `trust sign` crashed with
    SerializationError (canonical JSON, which signatures cover, has no floats)."""
    from tuf.api.metadata import Metadata, Root

    md = Metadata(Root(version=1))
    md.signed.unrecognized_fields["x-releasegate"] = {"kind": "portfolio", "margin": 0.5}
    path = tmp_path / "root.json"
    path.write_text(json.dumps(md.to_dict()))
    with pytest.raises(InputError) as exc:
        read_root(path)
    assert "not TUF root metadata" in _one_line(exc, file=path, field=None)
