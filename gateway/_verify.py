"""Verify before serve: only the version the ledger released, under a decision that still holds,
with the very weights that decision names.

`verify_servable(scenario, alias)` is the one door: `releasegate serve --scenario S --alias A`,
the gateway endpoint and the demo all go through it. It answers a `ServableRelease` or raises
`Refused` with every reason. The weight check hashes the folder vLLM will load with OpenSSF
`model_signing` (a manifest of per-file sha256 digests, the format a publisher's model signature
covers) and derives releasegate's weight digest from that manifest: sha256 over
"<relative path>\\0<file sha256>\\n" in path order, which is exactly `gpu.weight_digest`.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from releasegate.core import InputError, Refused
from releasegate.releases import (
    Keyring,
    Ledger,
    decision_digest,
    event_types,
    expected_aliases,
    mlflow_uri as resolve_mlflow_uri,
    registered_model_name,
    release_signature_reasons,
    signing_authority,
    statement_of,
    verdict_gate_reasons,
)
from releasegate.scenarios import LoadedScenario, load_contract

# Ledger event types that withdraw a decision (registered in releases/_events.py).
REVOCATION_EVENTS = event_types("revocation")


@dataclass(frozen=True)
class ServableRelease:
    """What may serve `alias` of a scenario, and the evidence it was checked against."""

    scenario_id: str
    alias: str
    version: str
    decision_digest: str
    weight_digest: str
    entry: str  # the contract's model entry the decision released
    model: str  # that entry's model reference
    weights_path: str  # the folder that was hashed (what vLLM must load)
    prompt_version: str
    manifest: dict[str, str] = field(repr=False)  # relative path -> sha256 (model_signing)
    envelope: dict[str, Any] = field(repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {"scenario_id": self.scenario_id, "alias": self.alias, "version": self.version,
                "decision_digest": self.decision_digest, "weight_digest": self.weight_digest,
                "entry": self.entry, "model": self.model, "weights_path": self.weights_path,
                "prompt_version": self.prompt_version, "files": len(self.manifest)}


def weights_manifest(folder: str | Path) -> dict[str, str]:
    """model_signing's manifest of `folder`: relative path -> sha256 hex of the file's bytes.

    Symlinks are refused by model_signing (a link could point the server at other bytes).
    """
    from model_signing import hashing

    manifest = hashing.Config().set_ignored_paths(paths=[], ignore_git_paths=False).hash(Path(folder))
    return {str(r.identifier): r.digest.digest_value.hex() for r in manifest.resource_descriptors()}


def manifest_weight_digest(manifest: dict[str, str]) -> str:
    """releasegate's weight digest (gpu.weight_digest's format) from a model_signing manifest."""
    outer = hashlib.sha256()
    for rel in sorted(manifest):
        outer.update(f"{rel}\0{manifest[rel]}\n".encode())
    return outer.hexdigest()


def weight_reasons(folder: str | Path, expected: str) -> tuple[list[str], dict[str, str]]:
    """Why the weights in `folder` are not the ones with digest `expected` ([] when they are)."""
    folder = Path(folder)
    if not folder.is_dir():
        return [f"weights folder {folder} does not exist"], {}
    try:
        manifest = weights_manifest(folder)
    except Exception as exc:  # model_signing refuses symlinks, unreadable files, ...
        return [f"weights folder {folder} cannot be hashed: {type(exc).__name__}: {exc}"], {}
    actual = manifest_weight_digest(manifest)
    if actual != expected:
        return [f"weights in {folder} have digest {actual[:16]}, the decision released {expected[:16]}: "
                "refusing to load them"], manifest
    return [], manifest


def decision_reasons(loaded: LoadedScenario, envelope: dict[str, Any], *, keyring: Keyring,
                     ledger: Ledger, now: dt.datetime | None = None) -> list[str]:
    """Why this released decision may not serve now ([] when it may)."""
    s = loaded.scenario
    reasons: list[str] = []
    try:
        statement = statement_of(envelope)
    except Exception as exc:
        return [f"the decision envelope cannot be read: {exc}"]
    pred = statement["predicate"]
    if pred.get("scenario_id") != s.id:
        reasons.append(f"the decision is for scenario {pred.get('scenario_id')}, not {s.id}")
    # Who may sign: the check promote makes (owners and keys from the scenario's signed root in the
    # ledger, or the contract's without one; platform by its owner or by the signed release policy's
    # key). The policy's conditions are not checked again: they held at promote, and an incident
    # opened since must not stop the serving champion (the incident owner rolls back instead).
    auth = signing_authority(ledger, loaded, keyring)
    reasons += release_signature_reasons(auth, None, envelope, ledger, recheck_policy=False)[0]
    reasons += verdict_gate_reasons(envelope, ledger)
    digest = decision_digest(envelope)
    for ev in ledger.events(scenario_id=s.id, event_type=REVOCATION_EVENTS):
        if digest in (ev.subject, ev.payload.get("decision_digest")):
            reasons.append(f"decision {digest[:12]} was revoked (ledger seq {ev.seq}): "
                           f"{ev.payload.get('reason', 'no reason given')}")
    expires = pred.get("expires_at") or pred.get("expires")
    if expires:
        try:
            when = dt.datetime.fromisoformat(str(expires))
            if when.tzinfo is None:
                when = when.replace(tzinfo=dt.timezone.utc)
        except ValueError:
            reasons.append(f"the decision's expiry {expires!r} is not an ISO date")
        else:
            if when <= (now or dt.datetime.now(dt.timezone.utc)):
                reasons.append(f"decision {digest[:12]} expired at {when.isoformat()}")
    return reasons


def _released_envelope(ledger: Ledger, sid: str, version: str) -> dict[str, Any] | None:
    promos = [e for e in ledger.events(scenario_id=sid, event_type="promoted")
              if e.payload.get("target", "model") == "model" and str(e.payload.get("version")) == version]
    return promos[-1].payload.get("envelope") if promos else None


def _alias_version(sid: str, alias: str, uri: str | None) -> Any | None:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    uri = resolve_mlflow_uri(uri)
    try:
        return MlflowClient(tracking_uri=uri, registry_uri=uri).get_model_version_by_alias(
            registered_model_name(sid), alias)
    except MlflowException as exc:
        if "RESOURCE_DOES_NOT_EXIST" in str(exc.error_code) or "INVALID_PARAMETER_VALUE" in str(exc.error_code):
            return None
        raise


def verify_servable(
    scenario: str, alias: str = "champion", *, ledger: Ledger | None = None,
    keyring: Keyring | None = None, mlflow_uri: str | None = None, check_weights: bool = True,
    now: dt.datetime | None = None,
) -> ServableRelease:
    """The release `alias` may serve, after every check; `Refused` lists what failed.

    Order matters: the ledger says which version the alias holds (MLflow must agree, else it is
    drift for `audit --repair`), the ledger's promotion of that version gives the signed decision,
    and the decision's subject is the only weight digest that may load.
    """
    from releasegate.gpu import resolve_model

    loaded = load_contract(scenario)
    sid = loaded.scenario.id
    ledger = ledger or Ledger.open()
    keyring = keyring or Keyring.load()
    expected = expected_aliases(ledger, sid).get(alias)
    if expected is None:
        raise Refused([f"the ledger has no {alias} for {sid}: nothing was promoted through releasegate"], code="serve")
    reasons: list[str] = [f"the ledger does not verify: {p}" for p in ledger.verify()]
    try:
        mv = _alias_version(sid, alias, mlflow_uri)
    except Exception as exc:  # registry down: the ledger alone does not say which weights are tagged
        raise Refused([f"MLflow registry unavailable: {type(exc).__name__}: {exc}"], code="serve") from None
    if mv is None or str(mv.version) != expected:
        reasons.append(f"{registered_model_name(sid)}@{alias} points at "
                       f"{mv.version if mv is not None else 'nothing'}, the ledger says {expected}: "
                       "drift (run `releasegate audit --repair`)")
    envelope = _released_envelope(ledger, sid, expected)
    if envelope is None:
        raise Refused(reasons + [f"version {expected} of {sid} has no promotion in the ledger"], code="serve")
    reasons += decision_reasons(loaded, envelope, keyring=keyring, ledger=ledger, now=now)
    statement = statement_of(envelope)
    pred = statement["predicate"]
    subject = statement["subject"][0]["digest"]["sha256"]
    if mv is not None and mv.tags.get("weight_digest") != subject:
        reasons.append(f"model version {mv.version}'s weight digest tag differs from its decision's subject")
    entry_name = pred["candidate"]["entry"]
    entry = loaded.scenario.models.get(entry_name)
    if entry is None:
        raise Refused(reasons + [f"the released entry {entry_name} is not in {loaded.path}"], code="serve")
    manifest: dict[str, str] = {}
    weights_path = ""
    try:
        resolved = resolve_model(entry.model)
    except InputError as exc:
        reasons.append(f"the released model {entry.model} cannot be found: {exc}")
    else:
        weights_path = resolved.path
        if resolved.source == "hub":
            reasons.append(f"{entry.model} is a hub id: its weights cannot be checked before loading")
        elif check_weights:
            problems, manifest = weight_reasons(resolved.path, subject)
            reasons += problems
    if reasons:
        raise Refused(reasons, code="serve")
    return ServableRelease(sid, alias, expected, decision_digest(envelope), subject, entry_name,
                           entry.model, weights_path, pred["candidate"]["prompt_version"], manifest,
                           envelope)
