"""End to end on a local MLflow store: record, sync after an outage, promote, rollback, audit, guard.

One module-scoped world (MLflow is slow to start): three recorded decisions, two fully approved.
"""
from __future__ import annotations

import datetime as dt
import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from releases_fixtures import INTRUDER, PLATFORM, PRODUCT, make_verdict, weights_digest, write_scenario
from typer.testing import CliRunner

from releasegate.flows.cli import app
from releasegate.releases import (
    Keyring,
    Ledger,
    build_decision,
    decision_digest,
    generate_key,
    load_private_key,
    record_approval,
    record_evaluation,
    serve_guard,
    sign_webhook,
    sync,
)
from releasegate.releases._keys import private_key_path
from releasegate.releases._registry import client
from releasegate.scenarios import load_scenario


@dataclass
class World:
    root: Path
    a: Path  # gemma3-v1 PASS, approved by both owners
    b: Path  # smollm2-v2 PASS, approved by both owners; recorded while MLflow was down
    f: Path  # gemma3-v1 FAIL, unsigned
    versions: dict[str, str]  # "a"/"b"/"f" -> model version


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("world")
    with pytest.MonkeyPatch.context() as mp:
        for var, sub in (("RELEASEGATE_HOME", "state"), ("RELEASEGATE_KEYS_DIR", "keys"),
                         ("RELEASEGATE_KEYRING", "keyring.yaml"), ("RELEASEGATE_DATASETS", "datasets")):
            mp.setenv(var, str(root / sub))
        mp.setenv("RELEASEGATE_ACTOR", "test-runner")
        mp.delenv("RELEASEGATE_LEDGER_URL", raising=False)
        mp.delenv("RELEASEGATE_MLFLOW_URI", raising=False)
        write_scenario(root / "datasets" / "support-triage")
        loaded = load_scenario("support-triage")
        for identity in (PRODUCT, PLATFORM, INTRUDER, RELEASE_CI, "releasegate-ledger"):
            generate_key(identity)
        # Privileged events (promote, rollback, repair) are signed by the CI identity's key;
        # the ledger key signs a checkpoint after every alias move.
        mp.setenv("RELEASEGATE_ACTOR_KEY", str(private_key_path(RELEASE_CI)))
        ledger, ring = Ledger.open(), Keyring.load()
        records = root / "records.parquet"
        records.write_bytes(b"PAR1 stand-in for per-example records PAR1")
        report = root / "report.html"
        report.write_text("<html>report</html>")

        def record(decision: str, entry: str, model: str, mlflow_uri: str | None = None) -> dict:
            verdict = make_verdict(loaded, decision=decision, candidate=entry, model=model)
            # the aliases each decision may move (the CI example promotes to staging)
            env = build_decision(loaded, verdict, candidate_model_digest=weights_digest(model),
                                 created_at=f"{TODAY}T10:00:0{len(decision)}+00:00",
                                 aliases=("champion", "staging"))
            return record_evaluation(loaded, verdict, env, records_paths=[records], report_path=report,
                                     ledger=ledger, mlflow_uri=mlflow_uri)

        a = record("PASS", "gemma3-v1", "gemma3-270m")
        assert a["mlflow_error"] is None and a["model_version"] == "1"
        # MLflow unreachable: the ledger keeps the evaluation, MLflow gets it at the next sync.
        b = record("PASS", "smollm2-v2", "smollm2-135m-instruct",
                   mlflow_uri="sqlite:////proc/no-such-dir/mlflow.db")
        assert b["mlflow_error"] and b["model_version"] is None
        f = record("FAIL", "gemma3-v1", "gemma3-270m")
        pushed = sync(ledger)
        assert [(r["seq"], r["ok"], r.get("model_version")) for r in pushed] == [(b["ledger_seq"], True, "3")]
        assert sync(ledger) == []  # nothing left to push, nothing pushed twice
        for rec in (a, b):
            env = json.loads(Path(rec["decision_path"]).read_text())
            for role, who in (("product", PRODUCT), ("platform", PLATFORM)):
                env, _ = record_approval(env, role, load_private_key(private_key_path(who)), keyring=ring,
                                         ledger=ledger, decision_path=rec["decision_path"], loaded=loaded)
        yield World(root, Path(a["decision_path"]), Path(b["decision_path"]), Path(f["decision_path"]),
                    {"a": "1", "b": "3", "f": "2"})


RELEASE_CI = "release-ci@platform.example"
# Decisions expire (30 days by default): the world's decisions are made today, not on a fixed date.
TODAY = dt.date.today().isoformat()


def aliases(c: object) -> dict[str, str]:
    return {k: str(v) for k, v in c.get_registered_model("support-triage").aliases.items()}  # type: ignore[attr-defined]


def rg(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_mlflow_holds_the_evaluation(world: World) -> None:
    c = client()
    exp = c.get_experiment_by_name("releasegate/support-triage")
    assert exp.artifact_location == (world.root / "state" / "mlartifacts" / "support-triage").as_uri()
    env = json.loads(world.a.read_text())
    mv = c.get_model_version("support-triage", world.versions["a"])
    assert mv.tags["weight_digest"] == weights_digest("gemma3-270m")
    assert mv.tags["decision_digest"] == decision_digest(env)
    assert mv.tags["verdict"] == "PASS"
    assert mv.tags["approval.product"].startswith(PRODUCT)
    assert mv.source.startswith("models:/")  # the registered version is the logged external model
    run = c.get_run(mv.run_id)
    assert run.data.params["candidate_weight_digest"] == weights_digest("gemma3-270m")
    assert run.data.params["prompt_version"] == "v1"
    assert run.data.metrics["check.non_inferiority.ci_low"] == pytest.approx(0.001)
    artifacts = {a.path for a in c.list_artifacts(mv.run_id)} | {
        a.path for d in ("records", "report") for a in c.list_artifacts(mv.run_id, d)}
    assert {"verdict.json", "decision.dsse.json", "records/records.parquet", "report/report.html"} <= artifacts
    # Prompt family versions live in MLflow's prompt registry, tagged with the contract version.
    v2 = c.get_model_version("support-triage", world.versions["b"]).tags["prompt_uri"]
    prompt = c.get_prompt_version("support-triage-router", int(v2.rsplit("/", 1)[1]))
    assert prompt.tags["releasegate.prompt_version"] == "v2"
    assert prompt.model_config["extra_params"]["compatible_models"] == ["smollm2-135m-instruct"]


def test_promote_rollback_and_audit(world: World) -> None:
    c = client()
    # The FAIL decision is blocked with every reason, exit 1.
    code, out = rg("promote", "--scenario", "support-triage", "--decision", str(world.f))
    assert code == 1
    assert "verdict is FAIL" in out and f"no valid product signature from {PRODUCT}" in out
    # A's decision replayed onto B's version (other weights) is blocked.
    code, out = rg("promote", "--scenario", "support-triage", "--decision", str(world.a),
                   "--version", world.versions["b"])
    assert code == 1 and "decision replayed onto another model" in out

    assert rg("promote", "--scenario", "support-triage", "--decision", str(world.a))[0] == 0
    code, out = rg("promote", "--scenario", "support-triage", "--decision", str(world.b))
    assert code == 0 and "champion -> version 3 (previous: 1)" in out
    assert aliases(c) == {"champion": "3", "previous": "1"}
    assert c.get_prompt_version_by_alias("support-triage-router", "champion").tags[
        "releasegate.prompt_version"] == "v2"
    assert rg("audit")[0] == 0

    # Prompt rollback is a prompt-registry alias move; model rollback restores the last approved.
    code, out = rg("rollback", "--scenario", "support-triage", "--target", "prompt", "--reason", "v2 misroutes refunds")
    assert code == 0
    assert c.get_prompt_version_by_alias("support-triage-router", "champion").tags[
        "releasegate.prompt_version"] == "v1"
    code, out = rg("rollback", "--scenario", "support-triage", "--reason", "latency regression")
    assert code == 0 and "3 -> 1" in out
    assert aliases(c) == {"champion": "1"}
    code, out = rg("rollback", "--scenario", "support-triage", "--to", world.versions["f"], "--reason", "x")
    assert code == 1 and "version 2 was never promoted" in out
    code, out = rg("rollback", "--scenario", "support-triage", "--target", "tool_policy", "--to", "v1",
                   "--reason", "new tool misbehaves")
    assert code == 0
    assert rg("audit")[0] == 0

    # An alias moved behind releasegate's back (straight to the FAIL version) is found and repaired.
    c.set_registered_model_alias("support-triage", "champion", world.versions["f"])
    code, out = rg("audit")
    assert code == 1
    assert "DRIFT support-triage champion: alias champion points at 2, the ledger says 1" in out
    assert "version 2 was never promoted through releasegate" in out
    code, out = rg("audit", "--repair")
    assert code == 0 and "repaired to 1" in out
    assert aliases(c) == {"champion": "1"}

    events = [e.event_type for e in Ledger.open().events(scenario_id="support-triage")]
    assert events.count("promoted") == 2 and events.count("rolled_back") == 3
    assert events.count("decision_revoked") == 1  # B's, when the model was rolled back from it
    assert events[-3:] == ["alias_drift_detected", "alias_drift_detected", "alias_repaired"]
    # Every alias move left a signed checkpoint in the folder and on the registered model.
    folder = sorted((world.root / "state" / "checkpoints").glob("checkpoint-*.json"))
    tags = c.get_registered_model("support-triage").tags
    assert len(folder) == 6 and len([t for t in tags if t.startswith("releasegate.checkpoint.")]) == 6
    promoted = Ledger.open().events(event_type="promoted")
    assert promoted[-1].actor == RELEASE_CI and promoted[-1].actor_signature is not None
    code, out = rg("ledger", "verify")
    assert code == 0 and "ledger intact" in out and "6 checkpoints" in out, out


def test_promote_with_mlflow_down_is_blocked_and_records_nothing(world: World) -> None:
    from releasegate.releases import promote

    before = len(Ledger.open().events())
    result = promote("support-triage", json.loads(world.a.read_text()),
                     mlflow_uri="sqlite:////proc/no-such-dir/mlflow.db")
    assert not result.promoted and result.exit_code == 1
    assert result.reasons[0].startswith("MLflow registry unavailable: ")
    assert result.refused is not None and result.refused.code == "promotion"
    assert len(Ledger.open().events()) == before


def _post(port: int, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_guard_repairs_an_alias_set_outside_releasegate(world: World) -> None:
    c = client()
    # B's release was rolled back (test above): its decision is revoked, re-promoting it is refused.
    code, out = rg("promote", "--scenario", "support-triage", "--decision", str(world.b))
    assert code == 1 and "was revoked" in out
    assert aliases(c) == {"champion": "1"}
    c.set_registered_model_alias("support-triage", "champion", world.versions["f"])
    server = serve_guard("s3cret", port=0, log=lambda m: None)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        body = json.dumps({"entity": "model_version_alias", "action": "created", "timestamp": "now",
                           "data": {"name": "support-triage", "alias": "champion", "version": "2"}}).encode()
        delivery, ts = str(uuid.uuid4()), str(int(time.time()))
        headers = {"Content-Type": "application/json", "X-MLflow-Delivery-Id": delivery,
                   "X-MLflow-Timestamp": ts}
        status, answer = _post(port, body, {**headers, "X-MLflow-Signature": sign_webhook("wrong", delivery, ts, body)})
        assert (status, answer) == (401, {"error": "signature mismatch"})
        assert aliases(c)["champion"] == world.versions["f"]
        status, answer = _post(port, body, {**headers, "X-MLflow-Signature": sign_webhook("s3cret", delivery, ts, body)})
        assert status == 200 and answer["clean"] is True
        assert [(f["alias"], f["actual_version"], f["expected_version"], f["repaired"])
                for f in answer["findings"]] == [("champion", "2", "1", True)]
        # The same delivery again is a replay: acknowledged, not acted on.
        status, answer = _post(port, body, {**headers, "X-MLflow-Signature": sign_webhook("s3cret", delivery, ts, body)})
        assert status == 200 and "replay" in answer["ignored"]
    finally:
        server.shutdown()
        server.server_close()
    assert aliases(c) == {"champion": "1"}


def test_approve_and_verify_commands(world: World) -> None:
    intruder = str(private_key_path(INTRUDER))
    code, out = rg("approve", str(world.f), "--role", "product", "--key", intruder)
    assert code == 1
    assert f"intern@support.example is not the product owner ({PRODUCT})" in out and "verdict is FAIL" in out
    code, out = rg("verify", str(world.a))
    assert code == 0
    assert f"{PRODUCT}  role=product" in out and f"{PLATFORM}  role=platform" in out
    assert out.count("valid: valid") == 2 and out.rstrip().endswith("fully approved")
    code, out = rg("verify", str(world.f))
    assert code == 0 and "missing: product" in out and out.rstrip().endswith("not fully approved")


def test_ci_example_fails_the_job_when_the_gate_blocks(world: World, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[2] / "examples" / "ci" / "release-gate.sh"
    env = {**os.environ, "RELEASEGATE": str(Path(sys.executable).with_name("releasegate")),
           "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")}
    blocked = subprocess.run(["bash", str(script), "support-triage", str(world.f)], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=300)
    assert blocked.returncode == 1, blocked.stdout + blocked.stderr
    assert "::error title=release blocked::" in blocked.stdout
    summary = (tmp_path / "summary.md").read_text()
    assert "verdict is FAIL" in summary and f"missing approval: no valid product signature from {PRODUCT}" in summary
    # The passing run promotes world.a to another alias its decision names.
    passed = subprocess.run(["bash", str(script), "support-triage", str(world.a), "staging"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "release gate passed" in passed.stdout
    client().delete_registered_model_alias("support-triage", "staging")  # later tests compare aliases


PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture
def pg_ledger_url() -> Iterator[str]:
    """A fresh schema per run, dropped afterwards: concurrent runs never share tables."""
    import os

    import psycopg

    base = os.environ.get("RELEASEGATE_TEST_PG_URL", PG_URL)
    schema = f"rg_test_{uuid.uuid4().hex[:10]}"
    dsn = base.replace("postgresql+psycopg://", "postgresql://")
    try:
        conn = psycopg.connect(dsn, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL not reachable at {dsn}: {exc}")
    conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{base}?options=-csearch_path%3D{schema}"
    finally:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")
        conn.close()


@pytest.mark.postgres
def test_ten_concurrent_promotions_leave_one_consistent_state(world: World, pg_ledger_url: str) -> None:
    from releasegate.releases import promote

    c = client()
    pg = Ledger.open(pg_ledger_url)
    sqlite_ledger = Ledger.open()
    for ev in sqlite_ledger.events(event_type="evaluated"):  # the decisions' evaluations, on this ledger too
        pg.append("evaluated", ev.scenario_id, ev.payload, subject=ev.subject)
    # The champion holds the older decision (a); five workers promote a, five the newer b.
    for ev in sqlite_ledger.events(event_type=("promoted", "rolled_back")):  # the alias history too
        pg.append(ev.event_type, ev.scenario_id, ev.payload, subject=ev.subject)
    if aliases(c).get("champion") != world.versions["a"]:
        from releasegate.releases import rollback
        rollback("support-triage", reason="start the race from decision a", to=world.versions["a"], ledger=pg)
    start = {k: str(v) for k, v in c.get_registered_model("support-triage").aliases.items()}["champion"]
    assert start == world.versions["a"]
    race_start = pg.events()[-1].seq
    envelopes = [json.loads(p.read_text()) for p in (world.a, world.b)]
    barrier = threading.Barrier(10)
    results: list[object] = [None] * 10

    def worker(i: int) -> None:
        ledger = Ledger.open(pg_ledger_url)  # its own engine and connections, like a separate CI job
        barrier.wait()
        try:
            results[i] = promote("support-triage", envelopes[i % 2], ledger=ledger, actor=f"ci-{i}")
        except Exception as exc:  # noqa: BLE001 - recorded and asserted below
            results[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    older = "an older decision does not replace a newer one"
    assert all(getattr(r, "reasons", ["error"]) == [] or (i % 2 == 0 and older in r.reasons[0])  # type: ignore[attr-defined]
               for i, r in enumerate(results)), results
    promoted = [e for e in pg.events(scenario_id="support-triage", event_type="promoted")
                if e.seq > race_start]  # this race's promotions
    assert len(promoted) == sum(r.promoted for r in results) == 1  # type: ignore[attr-defined]
    assert promoted[0].payload["version"] == world.versions["b"]  # the newer decision holds
    assert pg.events(scenario_id="support-triage", event_type="promotion_intent")[-1].seq < promoted[-1].seq
    # No lost update: each promotion saw the one before it as the champion it replaced.
    chain = [start] + [e.payload["version"] for e in promoted]
    assert [e.payload["from_version"] for e in promoted] == chain[:-1]
    assert all(a != b for a, b in zip(chain, chain[1:]))
    last = promoted[-1].payload
    now = {k: v for k, v in aliases(c).items() if k != "staging"}  # staging: the CI example's
    assert now == {"champion": last["version"], "previous": last["from_version"]}
    assert {k: v for k, v in last["aliases"].items() if k != "staging"} == now
    assert pg.verify() == []
    assert pg.engine.dialect.name == "postgresql"


@pytest.mark.postgres
@pytest.mark.parametrize("kill_at", ["append", "commit"])
def test_connection_killed_during_promote_loses_and_duplicates_nothing(world: World, pg_ledger_url: str,
                                                                        kill_at: str) -> None:
    """pg_terminate_backend on promote's own connection: during the `promoted` INSERT (nothing
    moved, nothing recorded), or just before COMMIT (MLflow's alias already moved, the row rolled
    back). Either way promote fails, and running it again leaves exactly one `promoted` row that
    matches the alias."""
    import psycopg
    from sqlalchemy import event

    from releasegate.releases import promote

    c = client()
    pg = Ledger.open(pg_ledger_url)
    for ev in Ledger.open().events(event_type="evaluated"):
        pg.append("evaluated", ev.scenario_id, ev.payload, subject=ev.subject)
    start = aliases(c)["champion"]
    # This ledger's view of the alias state: what an audit repair records.
    pg.append("alias_repaired", "support-triage", {"target": "model", "alias": "champion", "from_version": None,
                                                   "to_version": start, "aliases": aliases(c)})
    target = world.a if start != world.versions["a"] else world.b
    envelope = json.loads(target.read_text())
    want = world.versions["a"] if target == world.a else world.versions["b"]
    admin = psycopg.connect(pg_ledger_url.split("?")[0].replace("postgresql+psycopg://", "postgresql://"),
                            autocommit=True)
    ledger = Ledger.open(pg_ledger_url)
    killed: list[int] = []

    commits: list[int] = []

    def terminate(conn: object) -> None:
        if kill_at == "commit":  # the outcome's commit: promote first commits its intent (issue 13)
            commits.append(1)
            if len(commits) < 2:
                return
        if not killed:
            pid = conn.connection.dbapi_connection.info.backend_pid  # type: ignore[attr-defined]
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            killed.append(pid)

    def before_insert(conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO LEDGER_EVENTS"):  # the `promoted` row
            terminate(conn)

    hook = ("before_cursor_execute", before_insert) if kill_at == "append" else ("commit", terminate)
    event.listen(ledger.engine, *hook)
    try:
        with pytest.raises(Exception) as failed:
            promote("support-triage", envelope, ledger=ledger, actor="ci-killed")
        assert "terminat" in str(failed.value).lower() or "closed" in str(failed.value).lower(), failed.value
    finally:
        event.remove(ledger.engine, *hook)
    assert killed
    assert pg.events(event_type="promoted") == []  # rolled back with the connection
    assert aliases(c)["champion"] == (start if kill_at == "append" else want)
    again = promote("support-triage", envelope, ledger=Ledger.open(pg_ledger_url), actor="ci-retry")
    assert again.promoted and again.reasons == []
    promoted = pg.events(event_type="promoted")
    assert len(promoted) == 1
    assert promoted[0].payload["version"] == want and promoted[0].payload["from_version"] == start
    assert aliases(c) == {"champion": want, "previous": start} == promoted[0].payload["aliases"]
    assert pg.verify() == []
    admin.close()
