"""The guard accepts MLflow 3.17.2's own webhook signature and rejects anything else."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from mlflow.webhooks.delivery import _generate_hmac_signature

from releasegate.releases import handle_webhook, verify_webhook

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


def test_a_real_mlflow_server_delivery_passes_the_guard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """MLflow 3.17.2's server signs and sends the delivery itself (webhooks are server-side only)."""
    import os
    import socket
    import subprocess
    import sys
    import threading
    import urllib.request

    from releasegate.releases import serve_guard
    from releasegate.releases._registry import client

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",  # the guard is local, plain HTTP
           "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("mlflow")), "server", "--backend-store-uri",
         f"sqlite:///{tmp_path}/mlflow.db", "--default-artifact-root", str(tmp_path / "art"),
         "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    guard = None
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("mlflow server did not start within 120 s")
        monkeypatch.setenv("RELEASEGATE_HOME", str(tmp_path / "state"))
        monkeypatch.setenv("RELEASEGATE_KEYRING", str(tmp_path / "keyring.yaml"))
        monkeypatch.setenv("RELEASEGATE_DATASETS", str(tmp_path / "datasets"))
        monkeypatch.setenv("RELEASEGATE_MLFLOW_URI", f"http://127.0.0.1:{port}")
        guard = serve_guard("s3cret", port=0, log=lambda m: None)
        threading.Thread(target=guard.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{guard.server_address[1]}/"
        c = client()
        good = c.create_webhook(name="guard", url=url, events=["model_version_alias.created"], secret="s3cret")
        bad = c.create_webhook(name="forged", url=url, events=["model_version_alias.created"], secret="other")
        accepted = c.test_webhook(good.webhook_id)
        assert accepted.response_status == 200
        # MLflow's test delivery names a model releasegate does not manage: acknowledged, not audited.
        assert json.loads(accepted.response_body) == {
            "ignored": "model 'example_model' is not managed by releasegate"}
        rejected = c.test_webhook(bad.webhook_id)
        assert rejected.response_status == 401
        assert json.loads(rejected.response_body) == {"error": "signature mismatch"}
    finally:
        if guard is not None:
            guard.shutdown()
            guard.server_close()
        server.terminate()
        server.wait(timeout=30)


def _audited(seen: list[str]):  # noqa: ANN202
    def on_alias(model: str, alias: str, version: str) -> dict:
        seen.append(model)
        return {"clean": True}
    return on_alias


def test_a_replayed_delivery_is_ignored(home: Path) -> None:
    from releasegate.releases import Ledger

    ledger, seen = Ledger.open(), []
    headers = _headers("k", delivery="d-replayed")
    first = handle_webhook("k", headers, BODY.encode(), _audited(seen), remember=ledger.remember_delivery)
    again = handle_webhook("k", headers, BODY.encode(), _audited(seen), remember=Ledger.open().remember_delivery)
    assert first == (200, {"clean": True}) and seen == ["support-triage"]
    assert again == (200, {"ignored": "delivery d-replayed was received before (replay)"})
    assert seen == ["support-triage"]  # the audit ran once


def test_a_model_releasegate_does_not_manage_is_ignored() -> None:
    body = BODY.replace("support-triage", "someone-elses-model")
    seen: list[str] = []
    status, answer = handle_webhook("k", _headers("k", body), body.encode(), _audited(seen),
                                    managed=lambda m: m == "support-triage")
    assert (status, answer, seen) == (200, {"ignored": "model 'someone-elses-model' is not managed by releasegate"}, [])


@pytest.mark.parametrize("body", ["[1, 2]", '"text"', '{"entity": "model_version_alias", "data": [1]}'])
def test_non_object_json_is_a_400_not_a_traceback(body: str) -> None:
    status, answer = handle_webhook("k", _headers("k", body), body.encode(), _audited([]))
    assert status == 400 and "not a JSON object" in answer["error"]


def test_the_guard_refuses_an_oversized_body_before_reading_it(home: Path) -> None:
    import socket
    import threading

    from releasegate.releases import serve_guard

    guard = serve_guard("k", port=0, log=lambda m: None)
    threading.Thread(target=guard.serve_forever, daemon=True).start()
    try:
        with socket.create_connection(guard.server_address, timeout=10) as conn:
            # Declares 1 GB and sends nothing: a guard that read the body first would hang here.
            conn.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n")
            chunks = []
            while chunk := conn.recv(4096):  # the guard closes the connection after refusing
                chunks.append(chunk)
            reply = b"".join(chunks).decode()
        assert reply.startswith("HTTP/1.0 413") and "is over 262144" in reply
    finally:
        guard.shutdown()
        guard.server_close()
