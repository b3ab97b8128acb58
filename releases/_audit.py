"""Audit of registry aliases against the ledger, and the MLflow webhook guard.

An alias is legitimate when it equals the ledger's expected alias state (the last alias-moving
event) AND the version it points at was promoted with a decision that still verifies: both
owners' signatures valid under the keyring, PASS (or a usable exception), weights matching.
Anything else is drift: reported (ledger `alias_drift_detected`) and, with repair, moved back to
the ledger's state (`alias_repaired`).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from releasegate.core import InputError, load_json_bounded
from releasegate.scenarios import scenario_paths

from . import _registry as reg
from ._checkpoints import CheckpointResult, checkpoint_after_move
from ._decision import approval_status, decision_digest, statement_of, verdict_gate_reasons
from ._events import AliasDriftDetected, AliasRepaired, append_event
from ._keys import Keyring
from ._ledger import Ledger
from ._intent import pending_intents, resolve_pending
from ._prompt_audit import audit_prompt_alias
from ._recording import ALIAS_EVENTS, expected_aliases
from ._trust_checks import released_under_chain, trust_audit

# MLflow 3.17.2 (mlflow/webhooks/constants.py, delivery.py): HMAC-SHA256 over
# "<delivery id>.<timestamp>.<payload>", sent as "v1,<base64>".
SIGNATURE_HEADER = "X-MLflow-Signature"
TIMESTAMP_HEADER = "X-MLflow-Timestamp"
DELIVERY_ID_HEADER = "X-MLflow-Delivery-Id"
MAX_CLOCK_SKEW_S = 300
MAX_WEBHOOK_BYTES = 256 * 1024  # MLflow's alias deliveries are a few hundred bytes


@dataclass
class AliasFinding:
    scenario_id: str
    alias: str
    actual_version: str | None
    expected_version: str | None
    reasons: list[str]
    repaired: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class AuditReport:
    checked: dict[str, dict[str, str]] = field(default_factory=dict)  # scenario -> alias -> version
    findings: list[AliasFinding] = field(default_factory=list)
    # Trust roots (issue 14): problems make the audit fail; notes are what it saw (first-seen
    # signers, owners/keys/criteria the working tree proposes but nobody signed).
    trust_problems: dict[str, list[str]] = field(default_factory=dict)
    trust_notes: dict[str, list[str]] = field(default_factory=dict)
    recovered: dict[str, list[str]] = field(default_factory=dict)  # interrupted promotions resolved
    checkpoint: CheckpointResult | None = None  # written after repairs

    @property
    def clean(self) -> bool:
        return all(f.repaired for f in self.findings) and not any(self.trust_problems.values())

    @property
    def exit_code(self) -> int:
        return 0 if self.clean else 1


def _scenario_ids(ledger: Ledger) -> list[str]:
    ids = set(ledger.scenario_ids(("evaluated", *ALIAS_EVENTS)))  # DISTINCT, no payload parsed
    ids |= {p.parent.name for p in scenario_paths()}
    return sorted(ids)


def _version_problems(ledger: Ledger, keyring: Keyring, sid: str, version: str, mv: Any,
                      conn: Any) -> list[str]:
    """Why `version` is not a legitimately released version ([] when it is)."""
    promos = [e for e in ledger.events(scenario_id=sid, event_type="promoted", conn=conn)
              if e.payload.get("version") == version]
    if not promos:
        return [f"version {version} was never promoted through releasegate"]
    envelope = promos[-1].payload["envelope"]
    problems: list[str] = []
    # With a signed root: the signatures are checked under the root version in force at promotion.
    chained = released_under_chain(ledger, sid, envelope, promos[-1].seq)
    status = approval_status(envelope, keyring)
    if chained is not None:
        problems += [f"its decision does not verify under the signed chain: {r}" for r in chained]
    elif not status.fully_approved:
        problems.append(f"its decision is not fully approved under the current keyring "
                        f"(missing: {', '.join(status.missing_roles) or '-'}; {'; '.join(status.problems)})")
    problems += verdict_gate_reasons(envelope, ledger)
    subject = statement_of(envelope)["subject"][0]["digest"]["sha256"]
    if mv is not None and mv.tags.get("weight_digest") != subject:
        problems.append(f"version {version}'s weight digest no longer matches its decision")
    if mv is not None and mv.tags.get("decision_digest") != decision_digest(envelope):
        problems.append(f"version {version}'s decision tag no longer matches the ledger")
    return problems


def _contract_or_none(sid: str) -> Any:
    from releasegate.scenarios import load_contract

    try:
        return load_contract(sid)
    except Exception:  # a scenario known only to the ledger: nothing in the tree to compare
        return None


def audit(
    scenario_ids: list[str] | None = None, *, repair: bool = False, ledger: Ledger | None = None,
    keyring: Keyring | None = None, mlflow_uri: str | None = None, actor: str | None = None,
) -> AuditReport:
    from mlflow.exceptions import MlflowException

    ledger = ledger or Ledger.open()
    keyring = keyring or Keyring.load()
    for sid in scenario_ids or []:  # a misspelt id must not come out as "all is well"
        if _contract_or_none(sid) is None and not ledger.events(scenario_id=sid, limit=1):
            raise InputError(f"unknown scenario {sid[:80]!r}: no contract and no ledger events",
                             field="--scenario", fix="pass a scenario id from `releasegate scenarios list`")
    c = reg.client(mlflow_uri)  # after the ids are known good: opening MLflow takes seconds
    report = AuditReport()
    for sid in scenario_ids or _scenario_ids(ledger):
        name = reg.registered_model_name(sid)
        problems, notes = trust_audit(ledger, sid, _contract_or_none(sid), keyring)
        if problems:
            report.trust_problems[sid] = problems
        if notes:
            report.trust_notes[sid] = notes
        # Under the scenario lock: a promotion in flight has either committed or not started.
        with ledger.scenario_lock(sid) as conn:
            pending = pending_intents(ledger, sid, conn)
            if pending and repair:  # an interrupted promotion: finish or undo it (model + prompt)
                report.recovered[sid] = resolve_pending(ledger, sid, c, conn, actor=actor)
            elif pending:
                report.trust_problems.setdefault(sid, []).append(
                    f"an interrupted promotion (ledger seq {pending[0].seq}) has no outcome: "
                    "run `releasegate audit --repair` or promote again")
            actual = reg.aliases_of(c, sid)
            expected = expected_aliases(ledger, sid, conn)
            report.checked[sid] = actual
            for alias in sorted(set(actual) | set(expected)):
                have, want = actual.get(alias), expected.get(alias)
                reasons: list[str] = []
                if have != want:
                    reasons.append(f"alias {alias} points at {have or 'nothing'}, the ledger says "
                                   f"{want or 'nothing'}: moved outside releasegate")
                if have is not None:
                    try:
                        mv = c.get_model_version(name, have)
                    except MlflowException:
                        mv = None
                    reasons += _version_problems(ledger, keyring, sid, have, mv, conn)
                if not reasons:
                    continue
                finding = AliasFinding(sid, alias, have, want, reasons)
                append_event(ledger, sid, AliasDriftDetected(
                    alias=alias, actual_version=have, expected_version=want, reasons=reasons,
                ), subject=f"{name}@{alias}", actor=actor, conn=conn)
                if repair and have != want:
                    if want is None:
                        c.delete_registered_model_alias(name, alias)
                    else:
                        c.set_registered_model_alias(name, alias, want)
                    append_event(ledger, sid, AliasRepaired(
                        alias=alias, from_version=have, to_version=want, aliases=expected,
                    ), subject=f"{name}@{alias}", actor=actor, conn=conn)
                    finding.repaired = True
                report.findings.append(finding)
            report.findings += audit_prompt_alias(ledger, c, sid, conn, repair=repair, actor=actor)
    if any(f.repaired for f in report.findings):
        report.checkpoint = checkpoint_after_move(
            ledger, sorted({f.scenario_id for f in report.findings if f.repaired}), mlflow_uri)
    return report


def sign_webhook(secret: str, delivery_id: str, timestamp: str, payload: bytes) -> str:
    """The signature MLflow 3.17.2 sends for a delivery (used by tests and `guard`)."""
    content = f"{delivery_id}.{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify_webhook(secret: str, headers: Mapping[str, str], body: bytes, *, now: float | None = None) -> str | None:
    """None if the delivery is authentic and fresh, else the reason to reject it."""
    h = {k.lower(): v for k, v in headers.items()}
    sig = h.get(SIGNATURE_HEADER.lower())
    delivery = h.get(DELIVERY_ID_HEADER.lower())
    ts = h.get(TIMESTAMP_HEADER.lower())
    if not sig or not delivery or not ts:
        return "missing MLflow signature headers"
    try:
        age = abs((now if now is not None else time.time()) - int(ts))
    except ValueError:
        return "bad timestamp"
    if age > MAX_CLOCK_SKEW_S:  # a replayed old delivery
        return f"timestamp {age:.0f}s away from now"
    expected = sign_webhook(secret, delivery, ts, body)
    if not hmac.compare_digest(expected.encode(), sig.encode()):
        return "signature mismatch"
    return None


def handle_webhook(secret: str, headers: Mapping[str, str], body: bytes,
                   on_alias: Callable[[str, str, str], dict[str, Any]], *,
                   remember: Callable[[str], bool] | None = None,
                   managed: Callable[[str], bool] | None = None) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON answer) for one delivery; `on_alias(model, alias, version)` runs the audit.

    `remember(delivery_id)` is False for a delivery seen before (a replay: ignored);
    `managed(model)` is False for a registered model releasegate does not manage (ignored: the
    guard must never "repair" someone else's model).
    """
    problem = verify_webhook(secret, headers, body)
    if problem:
        return 401, {"error": problem}
    try:  # the same bounded, strict reader as every file: UTF-8 only, depth, no duplicate keys
        message = load_json_bounded(body, max_bytes=MAX_WEBHOOK_BYTES, what="webhook body")
    except InputError as exc:
        return 400, {"error": str(exc)}
    if not isinstance(message, dict) or not isinstance(message.get("data", {}), dict):
        return 400, {"error": "body is not a JSON object with an object `data`"}
    delivery = {k.lower(): v for k, v in headers.items()}.get(DELIVERY_ID_HEADER.lower(), "")
    if remember is not None and not remember(delivery):
        return 200, {"ignored": f"delivery {delivery[:64]} was received before (replay)"}
    # A deleted alias is drift as much as a moved one: both run the audit.
    if message.get("entity") != "model_version_alias" or message.get("action") not in ("created", "deleted"):
        return 200, {"ignored": f"{str(message.get('entity'))[:64]}.{str(message.get('action'))[:64]}"}
    data = message.get("data") or {}
    model = str(data.get("name"))
    if managed is not None and not managed(model):
        return 200, {"ignored": f"model {model[:200]!r} is not managed by releasegate"}
    return 200, on_alias(model, str(data.get("alias")), str(data.get("version")))


def serve_guard(secret: str, *, host: str = "127.0.0.1", port: int = 8787, repair: bool = True,
                ledger_url: str | None = None, mlflow_uri: str | None = None,
                log: Callable[[str], None] = print) -> ThreadingHTTPServer:
    """An HTTP server for MLflow's webhook; call `.serve_forever()` on the result."""
    ledger = Ledger.open(ledger_url)

    def on_alias(model: str, alias: str, version: str) -> dict[str, Any]:
        report = audit([model], repair=repair, ledger=ledger, mlflow_uri=mlflow_uri, actor="releasegate-guard")
        for f in report.findings:
            log(f"{f.scenario_id} {f.alias}: {'; '.join(f.reasons)}" + (" -> repaired" if f.repaired else ""))
        return {"model": model, "alias": alias, "version": version, "clean": report.clean,
                "findings": [f.to_dict() for f in report.findings]}

    def managed(model: str) -> bool:
        return model in _scenario_ids(ledger)

    class Handler(BaseHTTPRequestHandler):
        timeout = 10  # seconds per socket read: a client that announces a body and stalls is dropped

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            try:
                length = int(self.headers.get("Content-Length") or "")
            except ValueError:
                length = -1
            if length < 0:
                status, answer = 411, {"error": "Content-Length required"}
                self.close_connection = True
            elif length > MAX_WEBHOOK_BYTES:  # refused before reading a byte of it
                status, answer = 413, {"error": f"body of {length} bytes is over {MAX_WEBHOOK_BYTES}"}
                self.close_connection = True
            else:
                body = self.rfile.read(length)
                status, answer = handle_webhook(secret, dict(self.headers.items()), body, on_alias,
                                                remember=ledger.remember_delivery, managed=managed)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, fmt: str, *args: Any) -> None:
            log(fmt % args)

    return ThreadingHTTPServer((host, port), Handler)
