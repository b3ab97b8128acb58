"""Evidence provenance (issue 15): runners sign the generation records they produce; evaluate
verifies them and says, per side, whether the evidence is attested or self-declared.

The runner: `RELEASEGATE_RUNNER` names its identity (its private key at keys_dir()/<identity>.pem,
made by `releasegate keys generate --identity runner@...`), or `RELEASEGATE_RUNNER_KEY` points at
the key (the identity is then the key's keyring entry). Which runner keys are trusted:
- a scenario with a signed root: only the runners its release policy names (`runners:`, with
  the keys the root carries); a key added to the working-tree keyring is not trusted;
- without a root: the keyring entry of the configured runner identity.
Never a key carried in the attestation itself: the envelope names a key id, the verifier looks it
up in what it trusts.

An attestation beside the records that does not verify (records edited after signing, another
key, a predicate that contradicts the records or the scenario) is bad input: InputError, exit 2.
No attestation: the evidence is self-declared (allowed; a release policy may refuse it).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError

from releasegate.core import InputError, atomic_write_text, canonical_json, load_json_bounded, read_bytes_bounded
from releasegate.evals import Evidence
from releasegate.scenarios import (GenerationPredicate, LoadedScenario, attestation_path, file_sha256,
                                   generation_predicate, generation_statement, predicate_mismatches, read_records)
from releasegate.scenarios import GENERATION_PREDICATE_TYPE, STATEMENT_TYPE

from ._actors import ActorSigner
from ._dsse import PAYLOAD_TYPE, check_signatures, envelope_payload, make_envelope, sign_envelope, signature_valid
from ._keys import Keyring, load_private_key, private_key_path

RUNNER_ENV = "RELEASEGATE_RUNNER"
RUNNER_KEY_ENV = "RELEASEGATE_RUNNER_KEY"
MAX_ATTESTATION_BYTES = 1 << 20
_REGENERATE = "regenerate the records with `releasegate generate` or `releasegate evaluate` (a trusted runner signs them)"


def runner_signer(keyring: Keyring | None = None) -> ActorSigner | None:
    """The configured runner (key and identity), or None when no runner is configured."""
    identity = os.environ.get(RUNNER_ENV) or None
    key_path = os.environ.get(RUNNER_KEY_ENV) or None
    if identity is None and key_path is None:
        return None
    path = Path(key_path) if key_path else private_key_path(str(identity))
    if not path.is_file():
        raise InputError(f"no private key for runner {identity}", file=path, field=RUNNER_ENV,
                         fix=f"run `releasegate keys generate --identity {identity}` or set {RUNNER_KEY_ENV}")
    key = load_private_key(path)
    keyring = keyring or Keyring.load()
    signer = ActorSigner.from_key(key, keyring, source=path) if identity is None else ActorSigner(key, identity)
    entry = keyring.entries.get(signer.identity)
    if identity is not None and entry is not None and entry.fingerprint != signer.keyid:
        raise InputError(f"the runner key {signer.keyid[:16]} is not {identity}'s key in the keyring "
                         f"({entry.fingerprint[:16]})", file=path, field=RUNNER_KEY_ENV,
                         fix=f"point {RUNNER_KEY_ENV} at {identity}'s key, or set {RUNNER_ENV} to the key's identity")
    return signer


@dataclass(frozen=True)
class TrustedRunners:
    """identity -> key id -> public key, and what named them (for messages and the verdict)."""

    keys: dict[str, dict[str, Ed25519PublicKey]]
    source: str

    def identity_of(self, keyid: str) -> str | None:
        return next((ident for ident, ks in self.keys.items() if keyid in ks), None)


def trusted_runners(scenario_id: str, keyring: Keyring | None = None) -> TrustedRunners:
    from ._trust import _public
    from ._trust_checks import signed_root_or_none

    root = signed_root_or_none(scenario_id)
    if root is not None:  # the signed root decides; the working tree's keyring does not
        runners = (root.release_policy or {}).get("runners") or {}
        return TrustedRunners({ident: {kid: _public(root.metadata.signed.keys[kid])} for ident, kid in runners.items()
                               if kid in root.metadata.signed.keys},
                              f"the runners of signed root v{root.version}'s release policy")
    keyring = keyring or Keyring.load()
    identity = os.environ.get(RUNNER_ENV) or None
    if identity is None and os.environ.get(RUNNER_KEY_ENV):
        signer = runner_signer(keyring)
        identity = signer.identity if signer else None
    entry = keyring.entries.get(identity) if identity else None
    return TrustedRunners({entry.identity: {entry.fingerprint: entry.key()}} if entry else {},
                          f"the configured runner ({RUNNER_ENV}) in the keyring {keyring.path}")


def check_runner_trusted(loaded: LoadedScenario, signer: ActorSigner) -> str:
    """Refuse (exit 2, before any generation) a configured runner whose attestations would not verify."""
    trusted = trusted_runners(loaded.scenario.id)
    if signer.keyid not in trusted.keys.get(signer.identity, {}):
        raise InputError(f"runner {signer.identity} (key {signer.keyid[:16]}) is not trusted by {trusted.source}",
                         field=RUNNER_ENV,
                         fix="name it in the release policy's `runners` (trust propose --policy), or unset "
                             f"{RUNNER_ENV}/{RUNNER_KEY_ENV} to evaluate with self-declared evidence")
    return trusted.source


def evidence_inputs(loaded: LoadedScenario, dataset_sha256: str,
                    recorded: dict[str, str | Path | None]) -> tuple[dict[str, Evidence], ActorSigner | None]:
    """Before an evaluation writes anything: the evidence of each recorded side (`recorded`:
    side -> records file, None where the side is generated), and the runner that will sign the
    generated sides (None: they will be self-declared). InputError for an attestation that does
    not verify or a configured runner the scenario does not trust."""
    evidence = {side: records_evidence(path, loaded, dataset_sha256) for side, path in recorded.items() if path}
    runner = runner_signer() if len(evidence) < len(recorded) else None
    if runner is not None:
        check_runner_trusted(loaded, runner)
    return evidence, runner


def attest_records(records: str | Path, signer: ActorSigner, *, started_at: str) -> Path:
    """Sign the records file as `signer` and write `<records>.att.json` beside it (atomically)."""
    records = Path(records)
    frame, meta = read_records(records)
    predicate = generation_predicate(meta, runner=signer.identity, cases=len(frame), started_at=started_at,
                                     finished_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    statement = generation_statement(records, file_sha256(records), predicate)
    envelope = sign_envelope(make_envelope(canonical_json(statement), PAYLOAD_TYPE), signer.key)
    return atomic_write_text(attestation_path(records), json.dumps(envelope, indent=2, sort_keys=True) + "\n")


def records_evidence(records: str | Path, loaded: LoadedScenario, dataset_sha256: str, *,
                     keyring: Keyring | None = None) -> Evidence:
    """Attested when `<records>.att.json` verifies, self-declared when there is none; InputError
    (naming the attestation file and the failure) when one is there and does not verify."""
    records = Path(records)
    sha = file_sha256(records)
    path = attestation_path(records)
    if not path.is_file():
        return Evidence(status="self-declared", records_sha256=sha)
    raw = read_bytes_bounded(path, max_bytes=MAX_ATTESTATION_BYTES, what="attestation")

    def refuse(message: str, field: str) -> InputError:
        return InputError(f"attestation of {records.name} does not verify: {message}", file=path, field=field,
                          fix=_REGENERATE + "; records from elsewhere go without an attestation (self-declared)")

    envelope = load_json_bounded(raw, file=path, what="attestation")
    if not isinstance(envelope, dict) or envelope.get("payloadType") != PAYLOAD_TYPE:
        raise refuse(f"not a DSSE envelope with payloadType {PAYLOAD_TYPE}", "payloadType")
    try:  # well-formed entries only: at most MAX_SIGNATURES, each {keyid, sig} and each keyid once
        check_signatures(envelope)
    except InputError as exc:
        raise refuse(exc.message, exc.field or "signatures") from None
    try:
        statement = load_json_bounded(envelope_payload(envelope), file=path, what="attestation payload")
    except InputError as exc:
        raise refuse(exc.message, "payload") from None
    if (not isinstance(statement, dict) or statement.get("_type") != STATEMENT_TYPE
            or statement.get("predicateType") != GENERATION_PREDICATE_TYPE):
        raise refuse(f"not an in-toto statement of type {GENERATION_PREDICATE_TYPE}", "predicateType")
    subject = statement.get("subject")
    digest = subject[0].get("digest", {}).get("sha256") if isinstance(subject, list) and subject \
        and isinstance(subject[0], dict) and isinstance(subject[0].get("digest"), dict) else None
    if digest != sha:
        raise refuse(f"the records' sha256 is {sha[:12]}, the attestation covers {str(digest)[:12]} "
                     "(records edited after signing)", "subject")
    try:
        stated = GenerationPredicate.model_validate(statement.get("predicate"))
    except ValidationError as exc:
        raise refuse(f"malformed predicate ({exc.errors()[0]['loc']}: {exc.errors()[0]['msg']})", "predicate") from None
    trusted = trusted_runners(loaded.scenario.id, keyring)
    signatures = envelope["signatures"]
    good = [s for s in signatures if trusted.identity_of(s["keyid"]) == stated.runner
            and signature_valid(envelope, s, trusted.keys[stated.runner][s["keyid"]])]
    if not good:
        seen = ", ".join(s["keyid"][:16] for s in signatures) or "none"
        raise refuse(f"no valid signature by runner {stated.runner} with a key named by {trusted.source} "
                     f"(signatures by key(s): {seen})", "signatures")
    frame, meta = read_records(records)
    problems = predicate_mismatches(stated, meta, cases=len(frame), scenario_id=loaded.scenario.id,
                                    dataset_sha256=dataset_sha256)
    if problems:
        raise refuse("; ".join(problems), "predicate")
    return Evidence(status="attested", records_sha256=sha, runner=stated.runner, runner_keyid=good[0]["keyid"],
                    attestation_sha256=hashlib.sha256(raw).hexdigest(), trusted_by=trusted.source)

