"""MLflow unreachable during `evaluate` (issue 13): MLflow's HTTP client is bounded by
RELEASEGATE_MLFLOW_TIMEOUT and two quick retries (its defaults retry for about five minutes), the
command says "MLflow at URI unreachable: recording skipped; `releasegate sync` will push it" and
exits with the gate's code; the ledger has the evaluation and `sync` pushes it once MLflow is back."""
from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest
from rich.console import Console

from flow_fixtures import TRIAGE, record_triage

pytestmark = pytest.mark.usefixtures("prefect_harness")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens here once the socket is closed


@pytest.fixture
def mlflow_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """releasegate's limits, not ones an earlier test left in os.environ."""
    for var in ("MLFLOW_HTTP_REQUEST_TIMEOUT", "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
                "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "RELEASEGATE_MLFLOW_TIMEOUT"):
        monkeypatch.delenv(var, raising=False)


def test_evaluate_with_mlflow_down_says_so_keeps_the_gate_code_and_sync_pushes_it(
        tmp_path: Path, rg_home: str, monkeypatch: pytest.MonkeyPatch, mlflow_defaults: None) -> None:
    from mlflow import MlflowClient

    from releasegate import releases
    from releasegate.flows._cli_flows import evaluate_command
    from releasegate.releases import _registry as reg

    down = f"http://127.0.0.1:{_closed_port()}"
    monkeypatch.setenv("RELEASEGATE_MLFLOW_URI", down)
    cand = record_triage(tmp_path / "cand.parquet", "gemma3-v1", 0.80, seed=1)
    inc = record_triage(tmp_path / "inc.parquet", "smollm2-v1", 0.50, seed=2)
    console = Console(record=True, width=400)
    code = evaluate_command(str(TRIAGE), "gemma3-v1", candidate_records=cand, incumbent_records=inc,
                            console=console)
    out = console.export_text()
    assert code == 0, out  # the gate's PASS, not an error because MLflow was down
    warning = next(line for line in out.splitlines() if line.startswith("warning: MLflow"))
    assert warning.startswith(f"warning: MLflow at {down} unreachable (")
    assert warning.endswith("recording skipped; `releasegate sync` will push it")
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "5"
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "2"

    ledger = releases.Ledger.open()
    [event] = ledger.events(scenario_id="support-triage", event_type="evaluated")
    assert event.seq not in ledger.synced()  # recorded in the ledger, not yet in MLflow

    # One MLflow call against the closed port: seconds, not MLflow's ~5 minutes of retries.
    started = time.monotonic()
    with pytest.raises(Exception, match="Max retries exceeded|Connection refused"):
        reg.push_evaluated(event)
    assert time.monotonic() - started < 30

    # MLflow back (here: a local store): sync pushes the evaluation, once.
    monkeypatch.setenv("RELEASEGATE_MLFLOW_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    pushed = releases.sync(ledger)
    assert [(r["seq"], r["ok"]) for r in pushed] == [(event.seq, True)]
    run = MlflowClient(tracking_uri=reg.mlflow_uri()).get_run(pushed[0]["run_id"])
    assert run.data.tags["verdict"] == "PASS"
    assert releases.sync(ledger) == []


def test_mlflow_timeout_setting(monkeypatch: pytest.MonkeyPatch, mlflow_defaults: None) -> None:
    from releasegate.core import InputError
    from releasegate.releases import _registry as reg

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # a user's own MLflow setting is kept
    monkeypatch.setenv("RELEASEGATE_MLFLOW_TIMEOUT", "2.5")
    reg.client("sqlite:///:memory:")
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "3"  # MLflow reads whole seconds
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "0"
    monkeypatch.setenv("RELEASEGATE_MLFLOW_TIMEOUT", "forever")
    with pytest.raises(InputError, match="RELEASEGATE_MLFLOW_TIMEOUT='forever' is not a number of seconds"):
        reg.client()
    assert reg.display_uri("http://bob:s3cret@mlflow.example:5000") == "http://bob:***@mlflow.example:5000"
