"""Evidence provenance (issue 15): runner-signed generation records. Real Ed25519 keys; the
attestation envelope is verified independently by securesystemslib; every attack must fail."""
from __future__ import annotations

import base64
import copy
import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest
from releases_fixtures import PLATFORM, PRODUCT, Keys, attested, make_verdict, weights_digest, write_scenario
from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey
from trust_fixtures import BOT, key, onboard

from releasegate.core import InputError, Refused, canonical_json
from releasegate.releases import (
    Keyring,
    Ledger,
    attest_records,
    build_decision,
    check_runner_trusted,
    generate_key,
    record_approval,
    record_evaluation,
    records_evidence,
    runner_signer,
)
from releasegate.releases._dsse import make_envelope, sign_envelope
from releasegate.releases._keys import private_key_path
from releasegate.releases._policy import evaluate_policy
from releasegate.scenarios import (LoadedScenario, attestation_path, file_sha256, load_dataset_for, load_scenario,
                                   write_records)

RUNNER = "runner@platform.example"
ROGUE = "rogue-runner@platform.example"
STARTED = "2026-12-01T10:00:00+00:00"


def _records(path: Path, loaded: LoadedScenario, entry: str = "gemma3-v1") -> Path:
    """Records of the 3-case test scenario in the shape `generate` writes them."""
    m = loaded.scenario.models[entry]
    dataset = load_dataset_for(loaded)
    frame = pd.DataFrame({"example_id": dataset.ids, "output": "billing", "prompt_tokens": 50,
                          "completion_tokens": 2, "latency_s": 0.4, "error": None, "cost_usd": 1e-6,
                          "model_entry": entry, "model": m.model, "model_digest": weights_digest(m.model),
                          "prompt_version": m.prompt_version})
    meta = {"scenario_id": loaded.scenario.id, "model_entry": entry, "model": m.model,
            "model_digest": weights_digest(m.model), "prompt_version": m.prompt_version,
            "dataset_sha256": dataset.sha256, "contract_sha256": loaded.contract_sha256,
            "serving": {"endpoints": ["http://10.0.0.7:8000/v1"], "endpoint_kind": "vllm"}}
    return write_records(frame, path, meta)


@pytest.fixture
def runner(home: Path, keys: Keys, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    for ident in (RUNNER, ROGUE, BOT):
        generate_key(ident)
    monkeypatch.setenv("RELEASEGATE_RUNNER", RUNNER)
    monkeypatch.delenv("RELEASEGATE_RUNNER_KEY", raising=False)
    signer = runner_signer()
    assert signer is not None and signer.identity == RUNNER
    return signer


def _evidence(path: Path, loaded: LoadedScenario):  # noqa: ANN202
    return records_evidence(path, loaded, load_dataset_for(loaded).sha256)


def test_signed_records_are_attested_and_verify_independently(scenario, runner, tmp_path: Path) -> None:
    records = _records(tmp_path / "cand.parquet", scenario)
    att = attest_records(records, runner, started_at=STARTED)
    assert att == attestation_path(records) == tmp_path / "cand.parquet.att.json"

    envelope = json.loads(att.read_text())
    pub = Keyring.load().entries[RUNNER]
    verified = Envelope.from_dict(copy.deepcopy(envelope)).verify(
        [SSlibKey.from_crypto(pub.key(), keyid=pub.fingerprint)], threshold=1)
    assert list(verified) == [pub.fingerprint]
    statement = json.loads(base64.b64decode(envelope["payload"]))
    assert statement["subject"] == [{"name": "cand.parquet", "digest": {"sha256": file_sha256(records)}}]
    assert statement["predicateType"] == "https://releasegate.dev/generation/v1"
    pred = statement["predicate"]
    assert (pred["runner"], pred["scenario_id"], pred["model_entry"], pred["cases"]) == (
        RUNNER, "support-triage", "gemma3-v1", 3)
    assert pred["endpoints"] == ["http://10.0.0.7:8000/v1"]
    assert pred["model_digest"] == weights_digest("gemma3-270m")
    assert pred["dataset_sha256"] == scenario.scenario.dataset.sha256 and pred["started_at"] == STARTED

    ev = _evidence(records, scenario)
    assert (ev.status, ev.runner, ev.runner_keyid, ev.records_sha256) == (
        "attested", RUNNER, pub.fingerprint, file_sha256(records))
    assert ev.attestation_sha256 and len(ev.attestation_sha256) == 64
    assert "RELEASEGATE_RUNNER" in str(ev.trusted_by)


def test_records_without_attestation_are_self_declared(scenario, runner, tmp_path: Path) -> None:
    records = _records(tmp_path / "made-up.parquet", scenario)
    ev = _evidence(records, scenario)
    assert (ev.status, ev.runner, ev.records_sha256) == ("self-declared", None, file_sha256(records))


def test_records_edited_after_signing_are_refused(scenario, runner, tmp_path: Path) -> None:
    records = _records(tmp_path / "cand.parquet", scenario)
    attest_records(records, runner, started_at=STARTED)
    from releasegate.scenarios import read_records
    frame, meta = read_records(records)
    frame.loc[0, "output"] = "technical"  # a better answer, written after the runner signed
    write_records(frame, records, meta)
    with pytest.raises(InputError, match="records edited after signing") as refused:
        _evidence(records, scenario)
    assert refused.value.file == str(attestation_path(records)) and refused.value.exit_code == 2


def test_attestation_by_another_key_is_refused(scenario, runner, tmp_path: Path) -> None:
    """Signed by a key in the keyring but not the configured runner's, even if it claims to be."""
    from releasegate.releases._actors import ActorSigner
    from releasegate.releases import load_private_key
    records = _records(tmp_path / "cand.parquet", scenario)
    attest_records(records, ActorSigner(load_private_key(private_key_path(ROGUE)), RUNNER), started_at=STARTED)
    with pytest.raises(InputError, match=f"no valid signature by runner {RUNNER}"):
        _evidence(records, scenario)


def test_attestation_contradicting_the_records_is_refused(scenario, runner, tmp_path: Path) -> None:
    """A valid signature over a predicate that lies about what the records are (another entry)."""
    records = _records(tmp_path / "cand.parquet", scenario)
    attest_records(records, runner, started_at=STARTED)
    path = attestation_path(records)
    statement = json.loads(base64.b64decode(json.loads(path.read_text())["payload"]))
    statement["predicate"]["model_entry"] = "smollm2-v1"
    path.write_text(json.dumps(sign_envelope(make_envelope(canonical_json(statement)), runner.key)))
    with pytest.raises(InputError, match="model_entry: attested 'smollm2-v1', the records say 'gemma3-v1'"):
        _evidence(records, scenario)


def test_with_a_root_only_its_runners_are_trusted(scenario, runner, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A runner key added to the working-tree keyring is not trusted once the scenario has a root;
    the runner named by the root's release policy is."""
    ledger = Ledger.open()
    records = _records(tmp_path / "cand.parquet", scenario)
    attest_records(records, runner, started_at=STARTED)
    policy = {"identity": BOT, "expires": (dt.date.today() + dt.timedelta(days=30)).isoformat(),
              "runners": [ROGUE]}
    root = onboard(ledger, scenario, policy=policy)
    assert root.release_policy["runners"] == {ROGUE: Keyring.load().entries[ROGUE].fingerprint}
    with pytest.raises(InputError, match="not trusted by the runners of signed root v1"):
        check_runner_trusted(scenario, runner)  # refused before any generation
    with pytest.raises(InputError, match=f"no valid signature by runner {RUNNER} with a key named by the runners "
                                         "of signed root v1"):
        _evidence(records, scenario)
    # The root's runner signs: attested, and the root is what trusted it.
    monkeypatch.setenv("RELEASEGATE_RUNNER", ROGUE)
    rogue = runner_signer()
    assert rogue is not None
    check_runner_trusted(scenario, rogue)
    attest_records(records, rogue, started_at=STARTED)
    ev = _evidence(records, scenario)
    assert (ev.status, ev.runner, ev.trusted_by) == ("attested", ROGUE, "the runners of signed root v1's release policy")


def test_policy_requiring_attested_evidence_refuses_self_declared(scenario, runner, tmp_path: Path) -> None:
    """require_attested_evidence in the signed release policy: approve refuses a decision whose
    evidence is self-declared, naming the side; --by-policy always requires it."""
    ledger = Ledger.open()
    policy = {"identity": BOT, "expires": (dt.date.today() + dt.timedelta(days=30)).isoformat(),
              "runners": [RUNNER], "require_attested_evidence": True}
    root = onboard(ledger, scenario, policy=policy)
    cand = _records(tmp_path / "cand.parquet", scenario)
    attest_records(cand, runner, started_at=STARTED)
    inc = _records(tmp_path / "inc.parquet", scenario, "smollm2-v1")  # fabricated: no attestation
    verdict = make_verdict(scenario).with_evidence(_evidence(cand, scenario), _evidence(inc, scenario))
    assert (verdict.candidate.evidence.status, verdict.incumbent.evidence.status) == ("attested", "self-declared")
    env = build_decision(scenario, verdict, candidate_model_digest=weights_digest("gemma3-270m"), trust_root=root)
    pred = json.loads(base64.b64decode(env["payload"]))["predicate"]
    assert pred["verdict"]["incumbent"]["evidence"] == {"status": "self-declared",
                                                        "records_sha256": file_sha256(inc)}
    assert pred["verdict"]["candidate"]["evidence"]["runner"] == RUNNER
    record_evaluation(scenario, verdict, env, ledger=ledger, mlflow_uri="")
    with pytest.raises(Refused) as refused:
        record_approval(env, "product", key(PRODUCT), keyring=Keyring.load(), ledger=ledger,
                        decision_path=tmp_path / "d.json", loaded=scenario)
    assert refused.value.reasons == ["the release policy requires attested evidence: the incumbent records are "
                                     "self-declared (re-run the evaluation with a trusted runner)"]
    assert not (tmp_path / "d.json").exists()
    conditions = {c.name: c for c in evaluate_policy(root.release_policy, pred, open_incident_severities=[],
                                                     subject_digest=weights_digest("gemma3-270m"))}
    assert not conditions["evidence_attested"].passed
    assert conditions["evidence_attested"].detail == "self-declared evidence: incumbent records"


def test_policy_approval_always_requires_attested_evidence(scenario, runner) -> None:
    """Without require_attested_evidence, --by-policy still refuses self-declared evidence."""
    policy = {"identity": BOT, "expires": (dt.date.today() + dt.timedelta(days=30)).isoformat()}
    root = onboard(Ledger.open(), scenario, policy=policy)
    assert "require_attested_evidence" not in root.release_policy and "runners" not in root.release_policy
    env = build_decision(scenario, make_verdict(scenario), candidate_model_digest=weights_digest("gemma3-270m"),
                         trust_root=root)
    pred = json.loads(base64.b64decode(env["payload"]))["predicate"]
    cond = next(c for c in evaluate_policy(root.release_policy, pred, open_incident_severities=[],
                                           subject_digest=weights_digest("gemma3-270m"))
                if c.name == "evidence_attested")
    assert not cond.passed and cond.detail == "self-declared evidence: candidate, incumbent records"


def test_runner_misconfiguration_is_bad_input(home: Path, keys: Keys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELEASEGATE_RUNNER", "nobody@platform.example")
    with pytest.raises(InputError, match="no private key for runner nobody@platform.example"):
        runner_signer()
    monkeypatch.setenv("RELEASEGATE_RUNNER", PLATFORM)
    monkeypatch.setenv("RELEASEGATE_RUNNER_KEY", str(private_key_path(PRODUCT)))
    with pytest.raises(InputError, match=f"is not {PLATFORM}'s key in the keyring"):
        runner_signer()
    monkeypatch.delenv("RELEASEGATE_RUNNER")  # the key alone: its keyring identity
    signer = runner_signer()
    assert signer is not None and signer.identity == PRODUCT


@pytest.mark.parametrize(("signatures", "field"), [
    ("not a list", "signatures"),
    ([{"keyid": "ab" * 32}], "signatures[0].sig"),
    ([{"keyid": "ab" * 32, "sig": "%%%"}], "signatures[0].sig"),
    ([{"keyid": "x", "sig": base64.b64encode(bytes(64)).decode()}], "signatures[0].keyid"),
    (["keyid"], "signatures[0]"),
    ([{"keyid": f"{i:064x}", "sig": base64.b64encode(bytes(64)).decode()} for i in range(3000)], "signatures"),
])
def test_malformed_signature_entries_in_an_attestation_are_bad_input(scenario, runner, tmp_path: Path,
                                                                     signatures: object, field: str) -> None:
    records = _records(tmp_path / "cand.parquet", scenario)
    att = attest_records(records, runner, started_at=STARTED)
    envelope = json.loads(att.read_text())
    att.write_text(json.dumps({**envelope, "signatures": signatures}))
    with pytest.raises(InputError) as refused:
        _evidence(records, scenario)
    assert refused.value.field == field and refused.value.file == str(att), str(refused.value)
    assert "does not verify" in str(refused.value) and "\n" not in str(refused.value)


@pytest.mark.parametrize("content, message", [
    (b"{not json", "attestation"),
    (b"[]", "not a DSSE envelope"),
    (b'{"payloadType": "application/vnd.in-toto+json", "payload": "%%%", "signatures": []}', "payload"),
    (b'{"payloadType": "application/vnd.in-toto+json", "payload": "e30=", "signatures": []}',
     "not an in-toto statement"),
    (b" " * (2 << 20), "attestation"),
])
def test_hostile_attestation_files_are_one_line_exit_2(scenario, runner, tmp_path: Path, content: bytes,
                                                       message: str) -> None:
    records = _records(tmp_path / "cand.parquet", scenario)
    attestation_path(records).write_bytes(content)
    with pytest.raises(InputError, match=message) as refused:
        _evidence(records, scenario)
    assert refused.value.exit_code == 2 and refused.value.file == str(attestation_path(records))


def test_malformed_or_forged_signature_entries_are_refused(scenario, runner, tmp_path: Path) -> None:
    records = _records(tmp_path / "cand.parquet", scenario)
    path = attest_records(records, runner, started_at=STARTED)
    envelope = json.loads(path.read_text())
    keyid = envelope["signatures"][0]["keyid"]
    path.write_text(json.dumps({**envelope, "signatures": ["x", 7]}))
    with pytest.raises(InputError, match="a signature entry is an object with exactly `keyid` and `sig`"):
        _evidence(records, scenario)
    forged = base64.b64encode(b"\0" * 64).decode()  # the runner's key id, a signature it never made
    path.write_text(json.dumps({**envelope, "signatures": [{"keyid": keyid, "sig": forged}]}))
    with pytest.raises(InputError, match="no valid signature by runner"):
        _evidence(records, scenario)


def test_contract_can_require_attested_evidence_without_a_root(home: Path, keys: Keys, tmp_path: Path) -> None:
    """`release_policy.require_attested_evidence: true` in the contract (default false): approve
    refuses self-declared evidence, naming each side; attested evidence is signed as usual."""
    write_scenario(home / "datasets" / "support-triage", release_policy={"require_attested_evidence": True})
    loaded = load_scenario("support-triage")
    assert loaded.scenario.release_policy.require_attested_evidence is True
    ledger = Ledger.open()
    made_up = make_verdict(loaded)
    env = build_decision(loaded, made_up, candidate_model_digest=weights_digest("gemma3-270m"))
    record_evaluation(loaded, made_up, env, ledger=ledger, mlflow_uri="")
    with pytest.raises(Refused) as refused:
        record_approval(env, "product", key(PRODUCT), keyring=Keyring.load(), ledger=ledger,
                        decision_path=tmp_path / "d.json", loaded=loaded)
    assert refused.value.reasons == [
        f"the contract's release_policy requires attested evidence: the {side} records are self-declared "
        "(re-run the evaluation with a trusted runner)" for side in ("candidate", "incumbent")]
    signed_by_runner = attested(make_verdict(loaded))
    env = build_decision(loaded, signed_by_runner, candidate_model_digest=weights_digest("gemma3-270m"))
    record_evaluation(loaded, signed_by_runner, env, ledger=ledger, mlflow_uri="")
    signed, event = record_approval(env, "product", key(PRODUCT), keyring=Keyring.load(), ledger=ledger,
                                    decision_path=tmp_path / "d.json", loaded=loaded)
    assert event.payload["identity"] == PRODUCT and len(signed["signatures"]) == 1
