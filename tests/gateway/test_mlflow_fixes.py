"""releasegate's three fixes to MLflow 3.17.2's gateway request path (gateway/_mlflow_fixes.py): each
stores and answers what MLflow as released does, applies only on the code it was written for, and
is what a server started by releasegate runs (and says it runs).

Every fix patches MLflow classes process-wide, so each case that applies one runs in its own process."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx
import psutil
import pytest
from hypothesis import given, settings
from fake_upstream import Upstream
from hypothesis import strategies as st

from releasegate.core import InputError
from releasegate.gateway import MLFLOW_FIXES, GatewayServer
from releasegate.gateway._mlflow_fixes import (
    FINGERPRINTS,
    FIXES_ROUTE,
    MLFLOW_VERSION,
    FixesState,
    _GuardrailConfigsKept,
    fingerprint,
)

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _run(code: str) -> dict:
    """`code` in a process of its own, from a file (so inspect can read what it defines)."""
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as script:
        script.write(textwrap.dedent(code))
    done = subprocess.run([sys.executable, script.name], capture_output=True, text=True, timeout=300)
    Path(script.name).unlink()
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _written(tmp_path: Path, name: str, fixes: str) -> dict:
    done = subprocess.run([sys.executable, str(BENCH / "_trace_writer.py"), f"sqlite:///{tmp_path / name}.db", "3",
                           "--warm", "1", "--read-back", "--fixes", fixes], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_trace_once_and_the_trace_sink_store_what_mlflow_stores(tmp_path: Path) -> None:
    mlflow_order = _written(tmp_path, "mlflow", "")
    once = _written(tmp_path, "once", "trace-once")
    sink = _written(tmp_path, "sink", "trace-once,trace-process")
    # a log_spans per span end in MLflow's order, one per trace with the fix: it is on
    assert (mlflow_order["_log_spans_once_calls"], once["_log_spans_once_calls"]) == (2, 1)
    traces = mlflow_order["traces"]
    assert [t["token_usage"]["input_tokens"] for t in traces] == [80, 81, 82]
    assert traces[0]["spans"][0]["name"] == "gateway/support-triage" and traces[0]["spans"][0]["root"]
    assert traces[0]["metadata"]["mlflow.gateway.endpointId"] == "e-1" and traces[0]["state"] == "OK"
    assert once["traces"] == traces
    # trace-process: nothing written by this process's store, all by its sink, the same traces
    assert sink["_start_trace_once_calls"] == sink["_log_spans_once_calls"] == 0 and sink["sink_ms"] > 0
    assert sink["traces"] == traces


def test_the_trace_sink_needs_trace_once() -> None:
    state = _run("""
        import json
        from releasegate.gateway._mlflow_fixes import apply
        print(json.dumps(apply(("trace-process", "memo")).to_json()))
    """)
    assert state["applied"] == ["memo"] and state["refused"] == {"trace-process": "needs trace-once, which is not applied"}


def test_every_fix_applies_on_the_pinned_mlflow() -> None:
    """Fails on a change of the MLflow pin until the patched functions are re-read and re-hashed."""
    state = _run("""
        import json
        from releasegate.gateway._mlflow_fixes import apply
        print(json.dumps(apply().to_json()))
    """)
    assert state == {"mlflow": MLFLOW_VERSION, "applied": list(MLFLOW_FIXES), "refused": {}}


def test_changed_mlflow_code_leaves_that_fix_off_and_says_which_function() -> None:
    state = _run("""
        import json
        from mlflow.tracing.export.mlflow_v3 import MlflowV3SpanExporter
        def _log_trace(self, trace, prompts, workspace=None):  # "an upgrade": another body
            return None
        MlflowV3SpanExporter._log_trace = _log_trace
        from releasegate.gateway._mlflow_fixes import apply
        print(json.dumps({**apply().to_json(), "still_mlflows": MlflowV3SpanExporter._log_trace is _log_trace}))
    """)
    assert state["applied"] == ["memo"] and state["still_mlflows"]
    assert "MlflowV3SpanExporter._log_trace is not the code the fix was written for" in state["refused"]["trace-once"]


def test_another_mlflow_version_gets_no_fix_at_all() -> None:
    state = _run("""
        import json
        import mlflow
        mlflow.__version__ = "3.18.0"
        from releasegate.gateway._mlflow_fixes import apply
        print(json.dumps(apply().to_json()))
    """)
    assert state["applied"] == []
    assert state["refused"] == {name: f"MLflow 3.18.0, the fix is for {MLFLOW_VERSION}" for name in MLFLOW_FIXES}


def test_fingerprints_name_real_functions() -> None:
    for targets in FINGERPRINTS.values():
        for target, expected in targets.items():
            assert len(expected) == 64 and fingerprint(target) == expected, target


def test_memo_answers_what_mlflow_computes() -> None:
    """The schema (a fresh copy each call), the KEK (derived once per passphrase and version): equal to
    MLflow's own results, computed in the same process before the fix."""
    out = _run("""
        import json
        from mlflow.types.chat import ChatCompletionRequest
        from mlflow.utils import crypto
        schema = ChatCompletionRequest.model_json_schema()
        serialization = ChatCompletionRequest.model_json_schema(mode="serialization")
        kek = crypto.KEKManager._derive_kek(None, "pass-1", 2)
        from releasegate.gateway._mlflow_fixes import apply
        assert apply(("memo",)).applied == ("memo",)
        first = ChatCompletionRequest.model_json_schema()
        first["mutated"] = True
        manager = object.__new__(crypto.KEKManager)
        keks = [manager._derive_kek("pass-1", 2), manager._derive_kek("pass-1", 2), manager._derive_kek("pass-2", 2)]
        print(json.dumps({"same_schema": ChatCompletionRequest.model_json_schema() == schema,
                          "by_mode": ChatCompletionRequest.model_json_schema(mode="serialization") == serialization,
                          "kek": [k == kek for k in keks], "same_object": keks[0] is keks[1]}))
    """)
    assert out["same_schema"] and out["by_mode"]  # other arguments are pydantic's to answer
    assert out["kek"] == [True, True, False] and out["same_object"]  # derived once, then kept


class _Store:
    def __init__(self) -> None:
        self.reads: list[str] = []
        self.other = "forwarded"

    def list_endpoint_guardrail_configs(self, endpoint_id: str) -> list[str]:
        self.reads.append(endpoint_id)
        return [f"config-of-{endpoint_id}-{len(self.reads)}"]


def test_guardrail_configs_are_kept_for_the_ttl_on_the_request_path_only() -> None:
    _GuardrailConfigsKept._kept.clear()
    store = _Store()
    kept = _GuardrailConfigsKept(store, ttl_s=0.3)
    assert kept.list_endpoint_guardrail_configs("e-1") == ["config-of-e-1-1"]
    assert kept.list_endpoint_guardrail_configs("e-1") == ["config-of-e-1-1"]  # kept
    assert kept.list_endpoint_guardrail_configs("e-2") == ["config-of-e-2-2"]  # per endpoint
    assert store.list_endpoint_guardrail_configs("e-1") == ["config-of-e-1-3"]  # the store itself: read
    assert kept.other == "forwarded"
    time.sleep(0.35)
    assert kept.list_endpoint_guardrail_configs("e-1") == ["config-of-e-1-4"]  # TTL over: read again
    assert store.reads == ["e-1", "e-2", "e-1", "e-1"]
    _GuardrailConfigsKept._kept.clear()


def test_an_unknown_fix_is_refused_before_a_server_starts() -> None:
    with pytest.raises(InputError) as caught:
        GatewayServer(mlflow_uri="sqlite:///unused.db", mlflow_fixes=("memo", "trace-twice"))
    assert caught.value.field == "mlflow_fixes" and "trace-twice" in str(caught.value)


@pytest.mark.parametrize("fixes", [MLFLOW_FIXES, ()], ids=["with-fixes", "as-released"])
def test_the_server_runs_and_reports_the_fixes_asked_for(isolated_home: Path, fixes: tuple[str, ...]) -> None:
    server = GatewayServer(cache_ttl_s=10, mlflow_fixes=fixes)
    with server as url:
        assert server.fixes.applied == fixes and server.fixes.refused == {}
        reported = httpx.get(url + FIXES_ROUTE, timeout=10)
        if fixes:
            assert FixesState.from_json(reported.json()) == server.fixes
            assert server.fixes_line() == f"MLflow {MLFLOW_VERSION} with releasegate's fixes: memo, trace-once, trace-process"
        else:  # MLflow's own app: the route is not there (its UI answers unknown paths)
            assert "applied" not in reported.text
            assert server.fixes_line() == "MLflow as released"
        assert httpx.get(url + "/health", timeout=10).status_code == 200


fix_names = st.text(min_size=0, max_size=20)


@settings(max_examples=200, deadline=None)
@given(st.builds(FixesState, mlflow=st.none() | fix_names, applied=st.lists(fix_names, max_size=4).map(tuple),
                 refused=st.dictionaries(fix_names, st.text(max_size=80), max_size=3)))
def test_the_fixes_state_survives_its_json(state: FixesState) -> None:
    assert FixesState.from_json(json.loads(json.dumps(state.to_json()))) == state


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                    max_leaves=10))
def test_anything_but_a_fixes_state_is_refused_in_one_line(data: object) -> None:
    try:
        state = FixesState.from_json(data)
    except ValueError as exc:
        assert "\n" not in str(exc)
    else:  # only the exact shape gets through
        assert data == state.to_json()


def _sinks(server: GatewayServer) -> list[psutil.Process]:
    assert server.process is not None
    return [p for p in psutil.Process(server.process.pid).children(recursive=True)
            if "releasegate.gateway._trace_sink" in " ".join(p.cmdline())]


def _traces(uri: str, experiment_id: str, n: int, timeout_s: float = 60.0) -> list:
    """The endpoint's traces once there are `n` (MLflow writes them after the answer), else fail."""
    from mlflow import MlflowClient

    deadline = time.monotonic() + timeout_s
    while True:
        found = MlflowClient(tracking_uri=uri).search_traces(locations=[experiment_id], max_results=100,
                                                             include_spans=False)
        if len(found) >= n or time.monotonic() > deadline:
            assert len(found) == n, f"{len(found)} traces, expected {n}"
            return list(found)
        time.sleep(0.5)


def test_the_trace_sink_writes_every_usage_trace_at_idle_priority_and_none_is_lost(isolated_home: Path) -> None:
    """A real server with the fixes: its usage traces are written by one sink process at SCHED_IDLE,
    those of the last answers before a shutdown included; when the sink is killed, the traces go on
    being stored (by the gateway process itself until a new sink may start)."""
    from mlflow.entities import GatewayEndpointModelConfig
    from mlflow.entities.gateway_endpoint import GatewayModelLinkageType

    from releasegate.gateway import chat_url
    from releasegate.gateway._endpoint import gateway_store

    upstream = Upstream(name="up", model="up", root="/models/up").start()
    uri = f"sqlite:///{isolated_home / 'gateway.db'}"

    def ask(url: str, n: int) -> None:
        for i in range(n):
            answer = httpx.post(chat_url(url), timeout=30, json={
                "model": "traced", "messages": [{"role": "user", "content": f"case {i}"}]})
            assert answer.status_code == 200, answer.text

    try:
        with GatewayServer(mlflow_uri=uri, cache_ttl_s=10) as url:
            store = gateway_store(url)
            secret = store.create_gateway_secret(secret_name="up", secret_value={"api_key": "none"}, provider="openai",
                                                 auth_config={"api_base": upstream.api_base})
            model = store.create_gateway_model_definition(name="up", secret_id=secret.secret_id, provider="openai",
                                                          model_name="up")
            ep = store.create_gateway_endpoint(name="traced", usage_tracking=True, model_configs=[
                GatewayEndpointModelConfig(model_definition_id=model.model_definition_id,
                                           linkage_type=GatewayModelLinkageType.PRIMARY, weight=1.0)])
            ask(url, 6)
        traces = _traces(uri, ep.experiment_id, 6)  # stopped right after the answers: none lost
        assert {t.info.trace_metadata["mlflow.gateway.endpointId"] for t in traces} == {ep.endpoint_id}

        server = GatewayServer(mlflow_uri=uri, cache_ttl_s=10)
        with server as url:
            ask(url, 1)
            _traces(uri, ep.experiment_id, 7)
            [sink] = _sinks(server)
            assert os.sched_getscheduler(sink.pid) == os.SCHED_IDLE
            cpu = sum(sink.cpu_times()[:2])
            ask(url, 1)
            _traces(uri, ep.experiment_id, 8)
            assert sum(sink.cpu_times()[:2]) > cpu  # it wrote that trace (idle, it waits on its pipe)
            sink.kill()
            deadline = time.monotonic() + 10
            while sink.is_running() and sink.status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
                time.sleep(0.1)
            ask(url, 2)  # written by the gateway process (a new sink may start a minute after the last)
            _traces(uri, ep.experiment_id, 10)
            assert _sinks(server) == []
    finally:
        upstream.stop()
