"""The production stack, run for real (issue 16): `releasegate.flows.stack` starts a Prefect
server and a process worker, an MLflow tracking server, the ledger (all three on PostgreSQL) and
the guard; the flows run as deployments through the worker; everything is checked over the
services' own APIs; and `down` leaves no process and no database behind, also when a test fails.
"""
from __future__ import annotations

import concurrent.futures
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import psycopg
import pytest

from releasegate.flows import stack as rg_stack
from releasegate.flows.stack import HEARTBEAT_S, ZOMBIE_AFTER_S, StackConfig
from releasegate.gpu import GenerationCache
from releasegate.scenarios import read_records

from flow_fixtures import record_triage
from stack_helpers import (
    alias_version,
    artifacts,
    cli,
    flow_run,
    ledger_rows,
    model_versions,
    run_logs,
    run_deployment,
    set_alias_behind_our_back,
    wait_final,
    wait_for,
)

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = "product-owner@support.example"
PLATFORM = "platform-owner@platform.example"
pytestmark = [pytest.mark.stack, pytest.mark.postgres, pytest.mark.timeout(1200)]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _databases(prefix: str) -> set[str]:
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres") as conn:
        return {r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                                           (f"{prefix}\\_%",))}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackConfig]:
    base = tmp_path_factory.mktemp("stack")
    prefix = f"stacktest{os.getpid()}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RELEASEGATE_STACK_DIR", str(base / "stack"))
        mp.setenv("RELEASEGATE_STACK_DB_PREFIX", prefix)
        for name in ("PREFECT", "MLFLOW", "GUARD", "GATEWAY"):
            mp.setenv(f"RELEASEGATE_STACK_{name}_PORT", str(_free_port()))
        mp.setenv("RELEASEGATE_STACK_TIMEOUT", "300")
        mp.setenv("RELEASEGATE_ACTOR", "stack-test")
        cfg = StackConfig.from_env()
        pids: set[int] = set()
        try:
            record = rg_stack.up(cfg, say=lambda m: None)
            pids = {int(s["pid"]) for s in record.services.values()}
            yield cfg
        finally:
            record = rg_stack.StackRecord.load(cfg)
            if record is not None:
                pids |= {int(s["pid"]) for s in record.services.values()}
            rg_stack.down(cfg, say=lambda m: None)
            # Nothing left behind: no process it started, no database it created.
            alive = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
            assert alive == [], f"processes left running: {alive}"
            assert _databases(prefix) == set()
            assert not cfg.record_path.exists()


def test_stack_runs_the_services_on_postgresql(stack: StackConfig) -> None:
    assert _databases(stack.db_prefix) == {stack.database(r) for r in ("prefect", "mlflow", "ledger")}
    deployments = httpx.post(f"{stack.prefect_api_url}/deployments/filter", json={}, timeout=10).json()
    assert {d["name"] for d in deployments} >= {"evaluate-candidate", "promote", "rollback", "audit-hourly"}
    assert {d["work_pool_name"] for d in deployments} == {stack.work_pool}
    pool = httpx.get(f"{stack.prefect_api_url}/work_pools/{stack.work_pool}", timeout=10).json()
    assert pool["type"] == "process"
    workers = wait_for(lambda: [w for w in httpx.post(
        f"{stack.prefect_api_url}/work_pools/{stack.work_pool}/workers/filter", json={}, timeout=10).json()
        if w["status"] == "ONLINE"], 60, "an online worker")
    assert workers[0]["name"] == f"{stack.db_prefix}-worker"
    # MLflow's backend store is the stack's PostgreSQL database, not a local file.
    with psycopg.connect(stack.db_url("mlflow", "psycopg").replace("postgresql+psycopg://", "postgresql://")) as c:
        hooks = c.execute("SELECT url FROM webhooks").fetchall()
    assert hooks == [(stack.guard_url,)]


def test_the_gateway_serves_an_endpoint_written_through_the_tracking_server(stack: StackConfig) -> None:
    """Two MLflow servers on one database: the endpoint, its secret (encrypted by the tracking server)
    and its usage trace are the same rows for both, so the KEK passphrase must be the stack's."""
    import importlib.util

    from mlflow.entities import GatewayEndpointModelConfig
    from mlflow.entities.gateway_endpoint import GatewayModelLinkageType

    from releasegate.gateway import MLFLOW_FIXES, chat_url
    from releasegate.gateway._endpoint import gateway_store
    from releasegate.gateway._mlflow_fixes import FIXES_ROUTE, FixesState

    spec = importlib.util.spec_from_file_location("fake_upstream", ROOT / "tests" / "gateway" / "fake_upstream.py")
    fake = sys.modules.setdefault("fake_upstream", importlib.util.module_from_spec(spec))  # its dataclasses look it up
    spec.loader.exec_module(fake)
    upstream = fake.Upstream("stack-upstream", "stack-model", "/weights/stack").start()
    try:
        store = gateway_store(stack.mlflow_url)  # REST, through the tracking server
        secret = store.create_gateway_secret(secret_name="stack/upstream", secret_value={"api_key": "none"},
                                             provider="openai", auth_config={"api_base": upstream.api_base})
        model = store.create_gateway_model_definition(name="stack/upstream", secret_id=secret.secret_id,
                                                      provider="openai", model_name="stack-model")
        store.create_gateway_endpoint(name="stack-endpoint", usage_tracking=True, model_configs=[
            GatewayEndpointModelConfig(model_definition_id=model.model_definition_id,
                                       linkage_type=GatewayModelLinkageType.PRIMARY, weight=1.0)])
        assert stack.client_env()["RELEASEGATE_GATEWAY_URL"] == stack.gateway_url
        answer = httpx.post(chat_url(stack.gateway_url), timeout=60, json={
            "model": "stack-endpoint", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 4})
        assert answer.status_code == 200, answer.text
        assert answer.json()["model"] == "stack-model" and upstream.requests == 1
        fixes = FixesState.from_json(httpx.get(stack.gateway_url + FIXES_ROUTE, timeout=10).json())
        assert fixes.applied == MLFLOW_FIXES and fixes.refused == {}
        # the usage trace, written by the gateway, is a row of the stack's PostgreSQL database
        def traces() -> int:
            with psycopg.connect(stack.db_url("mlflow", "psycopg").replace("postgresql+psycopg://", "postgresql://")) as c:
                return c.execute("SELECT count(*) FROM trace_request_metadata "
                                 "WHERE key = 'mlflow.gateway.endpointId'").fetchone()[0]
        assert wait_for(traces, 30, "the gateway's usage trace in PostgreSQL") == 1
    finally:
        upstream.stop()


@pytest.fixture(scope="module")
def recorded(stack: StackConfig, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """evaluate-candidate through the worker on recorded generations: a known PASS."""
    folder = tmp_path_factory.mktemp("records")
    cand = record_triage(folder / "candidate.parquet", "gemma3-v1", 0.92, seed=1)
    inc = record_triage(folder / "incumbent.parquet", "smollm2-v1", 0.60, seed=2)
    run_id = run_deployment(stack, "evaluate-candidate/evaluate-candidate", {
        "scenario": "support-triage", "candidate": "gemma3-v1", "sequential": False, "progress": False,
        "candidate_records": str(cand), "incumbent_records": str(inc),
        "candidate_endpoints": None, "incumbent_endpoints": None})
    return {"run_id": run_id, "run": wait_final(stack, run_id, 600)}


def test_evaluate_candidate_deployment_on_recorded_generations(stack: StackConfig, recorded: dict) -> None:
    run = recorded["run"]
    assert run["state_type"] == "COMPLETED", run["state"]
    assert run["work_pool_name"] == stack.work_pool
    evaluated = [r for r in ledger_rows(stack) if r["event_type"] == "evaluated"]
    assert len(evaluated) == 1 and evaluated[0]["payload"]["verdict"] == "PASS"
    assert evaluated[0]["payload"]["candidate_entry"] == "gemma3-v1"
    found = artifacts(stack, recorded["run_id"])
    assert "verdict-support-triage" in found and "PASS" in found["verdict-support-triage"]["data"]
    versions = model_versions(stack, "support-triage")
    assert [v["version"] for v in versions] == ["1"]
    assert {t["key"]: t["value"] for t in versions[0]["tags"]}["decision_digest"] == evaluated[0]["subject"]


@pytest.fixture(scope="module")
def promoted(stack: StackConfig, recorded: dict) -> dict:
    """Both owners approve with their own keys; the promote deployment moves the alias."""
    assert recorded["run"]["state_type"] == "COMPLETED", (recorded["run"]["state"], run_logs(stack, recorded["run_id"]))
    decision = next(r for r in ledger_rows(stack) if r["event_type"] == "evaluated")["payload"]["decision_path"]
    for identity, role in ((PRODUCT, "product"), (PLATFORM, "platform")):
        done = cli(stack, "releasegate", "keys", "generate", "--identity", identity, "--force")
        assert done.returncode == 0, done.stderr
        key = Path(os.environ["RELEASEGATE_KEYS_DIR"]) / f"{identity}.pem"
        done = cli(stack, "releasegate", "approve", decision, "--role", role, "--key", str(key))
        assert done.returncode == 0, done.stdout + done.stderr
    run_id = run_deployment(stack, "promote/promote", {"scenario": "support-triage", "decision": decision})
    return {"run_id": run_id, "run": wait_final(stack, run_id, 300), "decision": decision}


def test_approve_then_promote_through_the_promote_deployment(stack: StackConfig, promoted: dict) -> None:
    assert promoted["run"]["state_type"] == "COMPLETED", promoted["run"]["state"]
    assert alias_version(stack, "support-triage", "champion") == "1"
    rows = ledger_rows(stack)
    kinds = [r["event_type"] for r in rows]
    assert kinds.count("approved") == 2 and kinds.count("promoted") == 1
    promo = next(r for r in rows if r["event_type"] == "promoted")
    assert promo["payload"]["version"] == "1" and promo["payload"]["alias"] == "champion"
    assert {s["role"] for s in promo["payload"]["signers"]} == {"product", "platform"}
    assert "promoted champion -> version 1" in artifacts(stack, promoted["run_id"])["promote-support-triage"]["data"]
    # The promotion's own alias webhook reached the guard, which found nothing to repair.
    assert "alias_drift_detected" not in kinds


@pytest.fixture(scope="module")
def replicas(stack: StackConfig) -> Iterator[list[str]]:
    """Two vLLM replicas of SmolLM2 (CPU build), started in parallel, stopped at the end."""
    from releasegate.gpu._server import ServerSpec, VllmServer
    from releasegate.scenarios import load_scenario

    entry = load_scenario("support-triage").scenario.models["smollm2-v1"]
    servers = [VllmServer(ServerSpec.from_entry(entry), startup_timeout_s=600) for _ in range(2)]
    try:
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            endpoints = list(pool.map(lambda s: s.start(), servers))
        yield [e.base_url for e in endpoints]
    finally:
        for server in servers:
            server.stop()


def _served(base_url: str) -> float:
    text = httpx.get(base_url.removesuffix("/v1") + "/metrics", timeout=10).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("vllm:request_success_total"))


@pytest.fixture(scope="module")
def vllm_run(stack: StackConfig, promoted: dict, replicas: list[str]) -> dict:
    """evaluate-candidate through the worker on two real vLLM replicas (8 cases, both entries)."""
    versions = len(model_versions(stack, "support-triage"))
    run_id = run_deployment(stack, "evaluate-candidate/evaluate-candidate", {
        "scenario": "support-triage", "candidate": "smollm2-v2", "limit": 8, "sequential": False,
        "progress": False, "candidate_endpoints": replicas, "incumbent_endpoints": replicas})
    return {"run_id": run_id, "run": wait_final(stack, run_id, 600), "versions_before": versions}


def test_guard_restores_an_alias_deleted_behind_releasegates_back(stack: StackConfig, promoted: dict) -> None:
    before = len(ledger_rows(stack))
    response = httpx.request("DELETE", f"{stack.mlflow_url}/api/2.0/mlflow/registered-models/alias", timeout=10,
                             json={"name": "support-triage", "alias": "champion"})
    response.raise_for_status()
    # MLflow's server signs and delivers model_version_alias.deleted; the guard puts it back
    # (the alias moves inside the guard's ledger transaction: wait for its commit too).
    wait_for(lambda: alias_version(stack, "support-triage", "champion") == "1" and any(
        r["event_type"] == "alias_repaired" for r in ledger_rows(stack)[before:]), 120, "the guard's repair")
    new = ledger_rows(stack)[before:]
    drift = [r for r in new if r["event_type"] == "alias_drift_detected"]
    repaired = [r for r in new if r["event_type"] == "alias_repaired"]
    assert drift and drift[0]["actor"] == "releasegate-guard" and drift[0]["payload"]["actual_version"] is None
    assert len(repaired) == 1 and repaired[0]["payload"]["to_version"] == "1"


def test_mlflow_down_during_record_loses_nothing_and_sync_catches_up(
        stack: StackConfig, promoted: dict, tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = tmp_path_factory.mktemp("records-outage")
    cand = record_triage(folder / "candidate.parquet", "gemma3-v1", 0.95, seed=3)
    inc = record_triage(folder / "incumbent.parquet", "smollm2-v1", 0.60, seed=4)
    versions_before = len(model_versions(stack, "support-triage"))
    rg_stack.stop_service(stack, "mlflow")
    try:
        run_id = run_deployment(stack, "evaluate-candidate/evaluate-candidate", {
            "scenario": "support-triage", "candidate": "gemma3-v1", "sequential": False, "progress": False,
            "candidate_records": str(cand), "incumbent_records": str(inc),
            "candidate_endpoints": None, "incumbent_endpoints": None})
        run = wait_final(stack, run_id, 600)
    finally:
        rg_stack.start_service(stack, "mlflow")
    assert run["state_type"] == "COMPLETED", run["state"]  # the ledger is written first
    evaluated = [r for r in ledger_rows(stack) if r["event_type"] == "evaluated"]
    digest = evaluated[-1]["subject"]
    assert len(evaluated) == 2 and evaluated[-1]["payload"]["verdict"] == "PASS"
    assert len(model_versions(stack, "support-triage")) == versions_before  # MLflow missed it
    done = cli(stack, "releasegate", "sync")
    assert done.returncode == 0, done.stdout + done.stderr
    versions = model_versions(stack, "support-triage")
    assert len(versions) == versions_before + 1
    assert digest in {{t["key"]: t["value"] for t in v["tags"]}.get("decision_digest") for v in versions}
    synced = [r for r in ledger_rows(stack) if r["event_type"] == "synced"]
    assert cli(stack, "releasegate", "sync").returncode == 0  # again: nothing left, nothing doubled
    assert len(model_versions(stack, "support-triage")) == versions_before + 1
    assert [r for r in ledger_rows(stack) if r["event_type"] == "synced"] == synced


@pytest.mark.vllm
def test_evaluate_candidate_deployment_on_two_vllm_replicas(stack: StackConfig, vllm_run: dict,
                                                            replicas: list[str]) -> None:
    run = vllm_run["run"]
    assert run["state_type"] == "COMPLETED", run["state"]
    evaluated = [r for r in ledger_rows(stack) if r["event_type"] == "evaluated"]
    assert evaluated[-1]["payload"]["candidate_entry"] == "smollm2-v2"
    assert evaluated[-1]["payload"]["verdict"] in ("PASS", "FAIL", "INCONCLUSIVE")
    # 8 cases x 2 entries split across both replicas: each served some, together all 16.
    served = [_served(url) for url in replicas]
    assert all(n > 0 for n in served) and sum(served) == 16, served
    assert len(model_versions(stack, "support-triage")) == vllm_run["versions_before"] + 1
    assert "verdict-support-triage" in artifacts(stack, vllm_run["run_id"])


@pytest.mark.vllm
def test_guard_reverts_an_alias_moved_behind_releasegates_back(stack: StackConfig, promoted: dict,
                                                               vllm_run: dict) -> None:
    other = max((v["version"] for v in model_versions(stack, "support-triage")), key=int)  # the vLLM run's
    assert other != "1"
    before = len(ledger_rows(stack))
    # Straight to the MLflow server's REST API: no releasegate code on this path.
    set_alias_behind_our_back(stack, "support-triage", "champion", other)
    # MLflow's server signs and delivers the webhook; the guard audits and moves the alias back.
    wait_for(lambda: alias_version(stack, "support-triage", "champion") == "1" and any(
        r["event_type"] == "alias_repaired" for r in ledger_rows(stack)[before:]), 120, "the guard's repair")
    new = ledger_rows(stack)[before:]
    drift = [r for r in new if r["event_type"] == "alias_drift_detected"]
    repaired = [r for r in new if r["event_type"] == "alias_repaired"]
    assert drift and drift[0]["actor"] == "releasegate-guard"
    assert drift[0]["payload"]["actual_version"] == other and drift[0]["payload"]["expected_version"] == "1"
    assert len(repaired) == 1 and repaired[0]["payload"]["to_version"] == "1"



def _cached_generations() -> int:
    """Rows in the generation cache the worker's flow runs share (RELEASEGATE_HOME/cache)."""
    store = GenerationCache()
    try:
        return len(store)
    finally:
        store.close()


@pytest.mark.vllm
def test_worker_killed_mid_evaluation_is_crashed_and_a_rerun_generates_only_what_is_missing(
        stack: StackConfig, promoted: dict, replicas: list[str]) -> None:
    limit = 24  # 48 requests (both entries); earlier tests may have cached some of them
    params = {"scenario": "support-triage", "candidate": "smollm2-v2", "limit": limit, "sequential": False,
              "progress": False, "candidate_endpoints": replicas, "incumbent_endpoints": replicas}
    before = _cached_generations()
    run_id = run_deployment(stack, "evaluate-candidate/evaluate-candidate", params)
    wait_for(lambda: _cached_generations() >= before + 4, 300, "the evaluation's first generations")
    # The node goes away: SIGKILL to the worker and the flow-run process it started (no clean-up,
    # no final state reported by the dying process).
    rg_stack.stop_service(stack, "worker", kill=True)
    killed_at = time.monotonic()
    finished_before_kill = _cached_generations() - before
    assert flow_run(stack, run_id)["state_type"] == "RUNNING"
    # The zombie automation fires ZOMBIE_AFTER_S after the last heartbeat (sent <= HEARTBEAT_S
    # before the kill); 60 s more for the server's proactive-trigger loop on a loaded machine.
    run = wait_final(stack, run_id, ZOMBIE_AFTER_S + 60)
    crashed_after_s = time.monotonic() - killed_at
    assert run["state_type"] == "CRASHED", run["state"]
    assert "no heartbeat" in run["state"]["message"], run["state"]
    assert crashed_after_s >= ZOMBIE_AFTER_S - HEARTBEAT_S  # the automation, not an exit report
    assert _cached_generations() - before == finished_before_kill  # nothing ran on after the kill
    assert 0 < finished_before_kill < 2 * limit, "the kill did not land mid-evaluation"

    rg_stack.start_service(stack, "worker")
    served_before = sum(_served(url) for url in replicas)
    rerun_id = run_deployment(stack, "evaluate-candidate/evaluate-candidate", params)
    rerun = wait_final(stack, rerun_id, 600)
    assert rerun["state_type"] == "COMPLETED", (rerun["state"], run_logs(stack, rerun_id))
    evaluated = [r for r in ledger_rows(stack) if r["event_type"] == "evaluated"][-1]
    counts = [read_records(path)[1]["counts"] for path in evaluated["payload"]["records_paths"]]
    generated = sum(c["generated"] for c in counts)
    assert sum(c["cases"] for c in counts) == 2 * limit
    assert sum(c["cached"] for c in counts) + generated == 2 * limit
    # Only what was missing went to the servers: every generation the killed run finished came
    # from the cache, and the replicas served exactly the rerun's `generated` requests.
    assert sum(_served(url) for url in replicas) - served_before == generated
    assert _cached_generations() - before == finished_before_kill + generated
    assert generated > 0
    print(f"killed after {finished_before_kill} generations; CRASHED {crashed_after_s:.0f} s after the kill; "
          f"rerun generated {generated}, cached {2 * limit - generated}")
