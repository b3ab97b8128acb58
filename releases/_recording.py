"""Recording evaluations and approvals in the ledger first, then pushing them to MLflow.

`record_evaluation` appends the `evaluated` event (with the unsigned decision) and logs the MLflow
run; `record_approval` signs for a role and appends `approved`; `sync` pushes what MLflow missed.
`expected_aliases` reads the alias state the ledger says the registered model has.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from releasegate.evals import Verdict
from releasegate.core import InputError, Refused
from releasegate.scenarios import LoadedScenario

from . import _registry as reg
from ._decision import (
    approve,
    decision_digest,
    decision_id,
    statement_of,
    write_decision,
)
from ._events import Approved, Evaluated, Synced, append_event, event_types
from ._actors import ActorSigner
from ._keys import Keyring, fingerprint
from ._ledger import Ledger, LedgerEvent

ALIAS_EVENTS = event_types("alias_move")


def _error_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def evaluated_event(ledger: Ledger, digest: str, conn: Any = None) -> LedgerEvent | None:
    # An indexed lookup by subject (the decision digest), not a scan of every evaluated row.
    for ev in ledger.events(event_type="evaluated", subject=digest, conn=conn):
        if ev.payload.get("decision_digest") == digest:
            return ev
    # Rows appended without a subject (by hand, in tests) still match by payload: also indexed.
    for ev in ledger.events(event_type="evaluated", no_subject=True, conn=conn):
        if ev.payload.get("decision_digest") == digest:
            return ev
    return None


def record_evaluation(
    loaded: LoadedScenario,
    verdict: Verdict,
    envelope: dict[str, Any],
    *,
    records_paths: Sequence[str | Path] = (),
    report_path: str | Path | None = None,
    ledger: Ledger | None = None,
    mlflow_uri: str | None = None,
) -> dict[str, Any]:
    """Write the decision file, append `evaluated` to the ledger, then project it into MLflow.

    MLflow being down is not an error: the result says `mlflow_error` and `releasegate sync`
    pushes it later. Returns ledger_seq, decision_path, decision_digest, run_id, model_version.
    """
    predicate = statement_of(envelope)["predicate"]
    if predicate["scenario_id"] != loaded.scenario.id or predicate["verdict"] != verdict.to_dict():
        raise InputError("the envelope does not carry this scenario's verdict", field="envelope",
                         fix="build it with build_decision(loaded, verdict, ...)")
    ledger = ledger or Ledger.open()
    digest = decision_digest(envelope)
    path = write_decision(envelope)
    ev = evaluated_event(ledger, digest)
    if ev is None:
        ev = append_event(ledger, loaded.scenario.id, Evaluated(
            decision_digest=digest, decision_id=decision_id(envelope), decision_path=str(path),
            verdict=verdict.decision, candidate_entry=verdict.candidate.entry,
            # how much evidence: a sequential run may stop before the dataset is exhausted
            cases_used=verdict.n,
            cases_total=(verdict.sequential.cases_total if verdict.sequential else
                         verdict.metrics.cases_total if verdict.metrics else verdict.n),
            sequential=verdict.sequential is not None,
            weight_digest=statement_of(envelope)["subject"][0]["digest"]["sha256"],
            records_paths=[str(p) for p in records_paths],
            report_path=str(report_path) if report_path else None,
            prompt_family=loaded.scenario.prompt_family.model_dump(mode="json"),
            envelope=envelope,
        ), subject=digest)
    result: dict[str, Any] = {"ledger_seq": ev.seq, "decision_path": str(path), "decision_digest": digest,
                              "run_id": None, "model_version": None, "mlflow_error": None}
    synced = ledger.synced().get(ev.seq)
    if synced:
        return {**result, **{k: synced.get(k) for k in ("run_id", "model_version")}}
    try:
        pushed = reg.push_evaluated(ev, mlflow_uri)
    except InputError:  # e.g. RELEASEGATE_MLFLOW_TIMEOUT is not a number
        raise
    except Exception as exc:  # MLflow down: the ledger has it, `sync` will push it
        return {**result, "mlflow_error": f"MLflow at {reg.display_uri(mlflow_uri)} unreachable "
                                          f"({_error_line(exc)}): recording skipped; `releasegate sync` "
                                          "will push it"}
    ledger.mark_synced(ev.seq, detail=pushed)
    return {**result, "run_id": pushed["run_id"], "model_version": pushed["model_version"]}


def record_approval(
    envelope: dict[str, Any],
    role: str,
    key: Ed25519PrivateKey,
    *,
    keyring: Keyring,
    ledger: Ledger,
    decision_path: str | Path,
    loaded: LoadedScenario | None = None,
    mlflow_uri: str | None = None,
) -> tuple[dict[str, Any], LedgerEvent]:
    """Sign for `role` (refusing with every reason), write the envelope, append `approved`."""
    owners = None
    if loaded is not None:
        # Owners and keys from the scenario's signed root when it has one (issue 14).
        from ._policy import evidence_refusals
        from ._trust_checks import criteria_reasons, signing_authority

        auth = signing_authority(ledger, loaded, keyring)
        pred = statement_of(envelope)["predicate"]
        refusals = (auth.refusals + criteria_reasons(auth, loaded, pred)
                    + evidence_refusals(auth.root.release_policy if auth.root else None, pred,
                                        contract_requires=loaded.scenario.release_policy.require_attested_evidence))
        if refusals:
            raise Refused(refusals, code="approval")
        keyring = auth.keyring
        owners = {r: o for r, o in auth.owners.items() if o is not None and r in ("product", "platform")}
    signed = approve(envelope, role, key, keyring, ledger=ledger, contract_owners=owners)
    digest = decision_digest(signed)
    if evaluated_event(ledger, digest) is None:
        raise Refused([f"decision {digest[:12]} is not in the ledger: record the evaluation first"], code="approval")
    write_decision(signed, decision_path)
    entry = keyring.by_fingerprint(fingerprint(key.public_key()))
    assert entry is not None  # approve() refused otherwise
    ev = append_event(ledger, statement_of(signed)["predicate"]["scenario_id"], Approved(
        decision_digest=digest, role=role, identity=entry.identity, fingerprint=entry.fingerprint,
    ), subject=digest, actor=entry.identity,
       signer=ActorSigner(key, entry.identity))  # the approver signs the row too
    try:
        ledger.mark_synced(ev.seq, detail=reg.push_approved(ev, mlflow_uri))
    except Exception:  # pushed by `sync` later
        pass
    return signed, ev


def sync(ledger: Ledger, *, mlflow_uri: str | None = None, actor: str | None = None,
         notes: list[str] | None = None) -> list[dict[str, Any]]:
    """Push every ledger event MLflow missed, oldest first; record a `synced` event per scenario.

    A half-migrated local MLflow store is repaired first (`_mlflow_store.repair_store`); what was
    done is appended to `notes`."""
    from ._mlflow_store import repair_store

    repairs = repair_store(ledger, mlflow_uri)
    if notes is not None:
        notes.extend(repairs)
    results: list[dict[str, Any]] = []
    for ev in ledger.unsynced(reg.SYNCED_EVENT_TYPES):
        try:
            detail = reg.push_event(ev, mlflow_uri)
        except Exception as exc:
            results.append({"seq": ev.seq, "event_type": ev.event_type, "scenario_id": ev.scenario_id,
                            "ok": False, "error": _error_line(exc)})
            continue
        ledger.mark_synced(ev.seq, detail=detail)
        results.append({"seq": ev.seq, "event_type": ev.event_type, "scenario_id": ev.scenario_id,
                        "ok": True, **detail})
    for scenario_id in sorted({r["scenario_id"] for r in results if r["ok"]}):
        append_event(ledger, scenario_id, Synced(seqs=[
            r["seq"] for r in results if r["ok"] and r["scenario_id"] == scenario_id]), actor=actor)
    return results


def expected_aliases(ledger: Ledger, scenario_id: str, conn: Any = None) -> dict[str, str]:
    """The alias state the ledger says the registered model has (from the last alias-moving event)."""
    latest: LedgerEvent | None = None
    for event_type in ALIAS_EVENTS:  # one indexed, newest-first query per type
        page, offset = 16, 0
        while True:
            batch = ledger.events(scenario_id=scenario_id, event_type=event_type, newest_first=True,
                                  limit=offset + page, conn=conn)[offset:]
            hit = next((e for e in batch if e.payload.get("target", "model") == "model"), None)
            if hit is not None or len(batch) < page:
                break
            offset += page
        if hit is not None and (latest is None or hit.seq > latest.seq):
            latest = hit
    return dict(latest.payload.get("aliases", {})) if latest else {}
