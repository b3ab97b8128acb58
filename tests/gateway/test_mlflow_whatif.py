"""bench/_mlflow_whatif's `trace-once` (a usage trace written once, at its root span's end) stores
the same trace as MLflow 3.17.2's own order, so bench/gateway_overhead.py's and bench/trace_write.py's
what-if rows measure the same work done in fewer statements, not less work. Each side runs
bench/_trace_writer.py in its own process (the what-if patches MLflow at start-up) on its own SQLite
store and prints what `mlflow.search_traces` reads back."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bench._whatif import whatif_env

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _written(tmp_path: Path, name: str, whatif: str) -> dict:
    done = subprocess.run([sys.executable, str(BENCH / "_trace_writer.py"), f"sqlite:///{tmp_path / name}.db", "3",
                           "--warm", "1", "--read-back"], env={**os.environ, **whatif_env(whatif)}, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_trace_once_stores_what_mlflow_stores(tmp_path: Path) -> None:
    mlflow_order = _written(tmp_path, "mlflow", "")
    once = _written(tmp_path, "once", "trace-once")
    # a log_spans per span end in MLflow's order, one per trace with the what-if: it is on
    assert (mlflow_order["_log_spans_once_calls"], once["_log_spans_once_calls"]) == (2, 1)
    traces = mlflow_order["traces"]
    assert [t["token_usage"]["input_tokens"] for t in traces] == [80, 81, 82]
    assert traces[0]["spans"][0]["name"] == "gateway/support-triage" and traces[0]["spans"][0]["root"]
    assert traces[0]["metadata"]["mlflow.gateway.endpointId"] == "e-1" and traces[0]["state"] == "OK"
    assert once["traces"] == traces
