"""Helpers for the stack tests: deployments run with the `prefect` CLI, everything checked over
the services' own APIs (Prefect REST, MLflow REST) and in PostgreSQL directly."""
from __future__ import annotations

import json
import os
import re
import subprocess
import time
from typing import Any

import httpx
import psycopg

from releasegate.flows.stack import StackConfig, cli_command

FINAL_STATES = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def cli_env(cfg: StackConfig) -> dict[str, str]:
    return {**os.environ, **cfg.client_env(), "PREFECT_HOME": str(cfg.stack_dir / "prefect-home")}


def cli(cfg: StackConfig, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`prefect ...` / `releasegate ...` with this interpreter, against the stack."""
    return subprocess.run([*cli_command(args[0]), *args[1:]], env=cli_env(cfg),
                          capture_output=True, text=True, timeout=timeout)


def run_deployment(cfg: StackConfig, name: str, params: dict[str, Any]) -> str:
    """`prefect deployment run NAME --params JSON`; returns the flow run's id."""
    done = cli(cfg, "prefect", "deployment", "run", name, "--params", json.dumps(params))
    assert done.returncode == 0, done.stdout + done.stderr
    match = re.search(r"UUID: ([0-9a-f-]{36})", done.stdout)
    assert match, done.stdout
    return match.group(1)


def flow_run(cfg: StackConfig, run_id: str) -> dict[str, Any]:
    response = httpx.get(f"{cfg.prefect_api_url}/flow_runs/{run_id}", timeout=10)
    response.raise_for_status()
    return response.json()


def wait_final(cfg: StackConfig, run_id: str, timeout_s: float = 300) -> dict[str, Any]:
    """Poll the Prefect API until the flow run reaches a final state."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        run = flow_run(cfg, run_id)
        if run["state_type"] in FINAL_STATES:
            return run
        time.sleep(1)
    raise AssertionError(f"flow run {run_id} still {flow_run(cfg, run_id)['state_type']} after {timeout_s} s")


def wait_state(cfg: StackConfig, run_id: str, states: set[str], timeout_s: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        run = flow_run(cfg, run_id)
        if run["state_type"] in states:
            return run
        time.sleep(0.5)
    raise AssertionError(f"flow run {run_id} never reached {states}")


def run_logs(cfg: StackConfig, run_id: str, last: int = 40) -> str:
    """The flow run's last log lines from the Prefect API (for assertion messages)."""
    response = httpx.post(f"{cfg.prefect_api_url}/logs/filter", timeout=10, json={
        "logs": {"flow_run_id": {"any_": [run_id]}}, "sort": "TIMESTAMP_DESC", "limit": last})
    response.raise_for_status()
    return "\n".join(f"{r['level']} {r['message']}" for r in reversed(response.json()))


def artifacts(cfg: StackConfig, run_id: str) -> dict[str, dict[str, Any]]:
    response = httpx.post(f"{cfg.prefect_api_url}/artifacts/filter", timeout=10,
                          json={"artifacts": {"flow_run_id": {"any_": [run_id]}}})
    response.raise_for_status()
    return {a["key"]: a for a in response.json()}


def ledger_rows(cfg: StackConfig) -> list[dict[str, Any]]:
    with psycopg.connect(cfg.ledger_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        rows = conn.execute("SELECT seq, event_type, subject, actor, payload FROM ledger_events ORDER BY seq")
        return [{"seq": s, "event_type": t, "subject": sub, "actor": a, "payload": json.loads(p)}
                for s, t, sub, a, p in rows]


def alias_version(cfg: StackConfig, model: str, alias: str) -> str | None:
    """The alias over MLflow's REST API (None when it does not exist)."""
    response = httpx.get(f"{cfg.mlflow_url}/api/2.0/mlflow/registered-models/alias",
                         params={"name": model, "alias": alias}, timeout=10)
    if response.status_code in (400, 404):  # MLflow 3.17.2 answers 400 for an alias that is not set
        assert "alias" in response.text.lower(), response.text
        return None
    response.raise_for_status()
    return response.json()["model_version"]["version"]


def set_alias_behind_our_back(cfg: StackConfig, model: str, alias: str, version: str) -> None:
    response = httpx.post(f"{cfg.mlflow_url}/api/2.0/mlflow/registered-models/alias", timeout=10,
                          json={"name": model, "alias": alias, "version": version})
    response.raise_for_status()


def model_versions(cfg: StackConfig, model: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{cfg.mlflow_url}/api/2.0/mlflow/model-versions/search",
                         params={"filter": f"name='{model}'"}, timeout=10)
    response.raise_for_status()
    return response.json().get("model_versions", [])


def wait_for(predicate: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
