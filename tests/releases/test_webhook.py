"""The guard accepts MLflow 3.17.2's own webhook signature and rejects anything else."""
from __future__ import annotations

import json
import time

from mlflow.webhooks.delivery import _generate_hmac_signature

from releases import handle_webhook, verify_webhook

BODY = json.dumps({"entity": "model_version_alias", "action": "created", "timestamp": "2026-11-27T16:00:00Z",
                   "data": {"name": "support-triage", "alias": "champion", "version": "7"}})


def _headers(secret: str, body: str = BODY, ts: int | None = None, delivery: str = "d-1") -> dict[str, str]:
    stamp = str(ts if ts is not None else int(time.time()))
    # Signed by MLflow's delivery code, not ours: the guard must accept what MLflow really sends.
    return {"X-MLflow-Signature": _generate_hmac_signature(secret, delivery, stamp, body),
            "X-MLflow-Delivery-Id": delivery, "X-MLflow-Timestamp": stamp, "Content-Type": "application/json"}


def test_accepts_mlflow_signed_delivery_and_runs_the_audit() -> None:
    seen: list[tuple[str, str, str]] = []

    def on_alias(model: str, alias: str, version: str) -> dict:
        seen.append((model, alias, version))
        return {"clean": True}

    status, answer = handle_webhook("s3cret", _headers("s3cret"), BODY.encode(), on_alias)
    assert (status, answer, seen) == (200, {"clean": True}, [("support-triage", "champion", "7")])


def test_rejects_wrong_secret_changed_body_stale_or_missing_headers() -> None:
    good = _headers("s3cret")
    assert verify_webhook("s3cret", good, BODY.encode()) is None
    assert verify_webhook("other", good, BODY.encode()) == "signature mismatch"
    assert verify_webhook("s3cret", good, BODY.replace('"7"', '"8"').encode()) == "signature mismatch"
    assert verify_webhook("s3cret", {**good, "X-MLflow-Delivery-Id": "d-2"}, BODY.encode()) == "signature mismatch"
    now = int(time.time())
    old = _headers("s3cret", ts=now - 3600)  # a replayed delivery an hour later
    assert verify_webhook("s3cret", old, BODY.encode(), now=now) == "timestamp 3600s away from now"
    assert verify_webhook("s3cret", {"Content-Type": "application/json"}, BODY.encode()) == \
        "missing MLflow signature headers"
    called: list[str] = []
    status, answer = handle_webhook("other", good, BODY.encode(), lambda *a: called.append("x") or {})
    assert (status, answer, called) == (401, {"error": "signature mismatch"}, [])


def test_other_events_are_acknowledged_and_ignored() -> None:
    body = json.dumps({"entity": "model_version", "action": "created", "data": {}})
    status, answer = handle_webhook("k", _headers("k", body), body.encode(), lambda *a: {"ran": True})
    assert (status, answer) == (200, {"ignored": "model_version.created"})
