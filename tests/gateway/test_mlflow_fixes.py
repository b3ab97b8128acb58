"""releasegate's two fixes to MLflow 3.17.2's gateway request path (gateway/_mlflow_fixes.py): each
stores and answers what MLflow as released does, applies only on the code it was written for, and
is what a server started by releasegate runs (and says it runs).

Every fix patches MLflow classes process-wide, so each case that applies one runs in its own process."""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
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


def test_trace_once_stores_what_mlflow_stores(tmp_path: Path) -> None:
    mlflow_order = _written(tmp_path, "mlflow", "")
    once = _written(tmp_path, "once", "trace-once")
    # a log_spans per span end in MLflow's order, one per trace with the fix: it is on
    assert (mlflow_order["_log_spans_once_calls"], once["_log_spans_once_calls"]) == (2, 1)
    traces = mlflow_order["traces"]
    assert [t["token_usage"]["input_tokens"] for t in traces] == [80, 81, 82]
    assert traces[0]["spans"][0]["name"] == "gateway/support-triage" and traces[0]["spans"][0]["root"]
    assert traces[0]["metadata"]["mlflow.gateway.endpointId"] == "e-1" and traces[0]["state"] == "OK"
    assert once["traces"] == traces


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
            assert server.fixes_line() == f"MLflow {MLFLOW_VERSION} with releasegate's fixes: memo, trace-once"
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
