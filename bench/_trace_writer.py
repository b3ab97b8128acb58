"""Write gateway-shaped usage traces to an MLflow store and print one JSON line: the CPU per trace,
per store call (`start_trace`, `log_spans`, `get_experiment`) and their calls per trace, and with
`--read-back` what `mlflow.search_traces` returns. Run in its own process (`--fixes` applies
releasegate's MLflow fixes, gateway/_mlflow_fixes.py, before anything is written) by
bench/trace_write.py and tests/gateway/test_mlflow_fixes.py.

    python bench/_trace_writer.py STORE_URI TRACES [--warm N] [--read-back] [--fixes trace-once[,trace-process]]

With `trace-process` the traces are written by the sink process (gateway/_trace_sink.py): the store
calls here count 0, and `sink_ms` is the sink's CPU per trace, its start (imports) included.

A trace as MLflow's gateway writes one (mlflow/gateway/tracing_utils.py): a root span
`gateway/<endpoint>` with the endpoint's metadata and a child chat span with token usage; exported
synchronously, so the process can read its traces back at once.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import resource
import time

os.environ["MLFLOW_ENABLE_ASYNC_TRACE_LOGGING"] = "false"

import mlflow  # noqa: E402
from mlflow.entities.trace_location import MlflowExperimentLocation  # noqa: E402
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore  # noqa: E402

STORE_CALLS = ("_start_trace_once", "_log_spans_once", "get_experiment")


def _count(cpu: collections.Counter, calls: collections.Counter) -> None:
    for name in STORE_CALLS:
        def timed(*args, _orig=getattr(SqlAlchemyStore, name), _name=name, **kwargs):
            started = time.process_time()
            try:
                return _orig(*args, **kwargs)
            finally:
                cpu[_name] += time.process_time() - started
                calls[_name] += 1
        setattr(SqlAlchemyStore, name, timed)


def _call(i: int) -> dict:
    with mlflow.start_span("provider/openai/smollm2-a", span_type="CHAT_MODEL") as span:
        span.set_inputs({"messages": [{"role": "user", "content": f"Message (email): case {i} " * 8}]})
        span.set_outputs({"choices": [{"message": {"content": "billing"}}]})
        span.set_attribute("mlflow.chat.tokenUsage", {"input_tokens": 80 + i, "output_tokens": 8, "total_tokens": 88 + i})
    mlflow.update_current_trace(metadata={"mlflow.gateway.endpointId": "e-1", "mlflow.gateway.requestType": "chat"})
    return {"choices": [{"message": {"content": "billing"}}]}


def _read_back(experiment_id: str) -> list[dict]:
    out = []
    for trace in sorted(mlflow.search_traces(locations=[experiment_id], return_type="list"),
                        key=lambda t: t.info.token_usage["input_tokens"]):
        out.append({
            "state": str(trace.info.state), "token_usage": trace.info.token_usage,
            "request": trace.info.request_preview, "response": trace.info.response_preview,
            "metadata": {k: v for k, v in trace.info.trace_metadata.items()
                         if k.startswith(("mlflow.gateway.", "mlflow.trace.tokenUsage"))},
            "metadata_keys": sorted(trace.info.trace_metadata), "tags": sorted(trace.info.tags),
            "spans": [{"name": s.name, "type": s.span_type, "root": s.parent_id is None, "inputs": s.inputs,
                       "outputs": s.outputs, "attributes": sorted(s.attributes)}
                      for s in sorted(trace.data.spans, key=lambda s: s.name)],
        })
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("store_uri")
    ap.add_argument("traces", type=int)
    ap.add_argument("--warm", type=int, default=10, help="traces written first, not counted (imports, engine)")
    ap.add_argument("--read-back", action="store_true")
    ap.add_argument("--fixes", default="", help="comma-separated MLflow fixes to apply first (gateway/_mlflow_fixes.py)")
    args = ap.parse_args()
    if args.fixes:
        from releasegate.gateway._mlflow_fixes import apply

        fixes = apply(tuple(args.fixes.split(",")))
        if fixes.refused:
            ap.exit(2, f"MLflow fixes refused: {fixes.refused}\n")
    mlflow.set_tracking_uri(args.store_uri)
    experiment_id = mlflow.create_experiment(f"trace-write-{time.time()}")
    traced = mlflow.trace(_call, name="gateway/support-triage", trace_destination=MlflowExperimentLocation(experiment_id))
    warm = mlflow.trace(_call, name="gateway/warm", trace_destination=MlflowExperimentLocation(
        mlflow.create_experiment(f"trace-write-warm-{time.time()}")))
    for i in range(args.warm):
        warm(i)
    cpu, calls = collections.Counter(), collections.Counter()
    _count(cpu, calls)
    started = time.process_time()
    for i in range(args.traces):
        traced(i)
    total = time.process_time() - started
    n = args.traces
    sink_ms = 0.0
    if "trace-process" in args.fixes.split(","):  # the sink writes them: wait for it, count its CPU
        from releasegate.gateway._mlflow_fixes import flush_trace_sink

        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        flush_trace_sink()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        sink_ms = 1000 * (after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime) / (n + args.warm)
    print(json.dumps({"total_ms": 1000 * total / n, "sink_ms": sink_ms, **{f"{k}_ms": 1000 * cpu[k] / n for k in STORE_CALLS},
                      **{f"{k}_calls": calls[k] / n for k in STORE_CALLS},
                      **({"traces": _read_back(experiment_id)} if args.read_back else {})}, default=str))


if __name__ == "__main__":
    main()
