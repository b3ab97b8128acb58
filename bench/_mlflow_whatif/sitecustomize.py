"""What-ifs for bench/gateway_overhead.py only (never on releasegate's own servers): MLflow 3.17.2's
gateway with per-request costs removed, to measure what they take. Imported at start-up by every
Python process whose PYTHONPATH starts with this folder; RELEASEGATE_BENCH_WHATIF names which
(comma-separated).

`memo`: three per-request costs memoized
- `ChatCompletionRequest.model_json_schema()`: computed for every chat request (passed to the
  guardrail runner even when the endpoint has no guardrails); a pure function of the class;
- `list_endpoint_guardrail_configs(endpoint_id)`: a database read per request; kept 10 s, as the
  endpoint config itself is (`--secrets-cache-ttl 10`);
- `KEKManager._derive_kek`: PBKDF2 (600,000 iterations) each time the endpoint config cache
  expires; a pure function of passphrase and version.

`trace-once`: each usage trace written once, when its root span ends (`start_trace`, then all its
spans in one `log_spans`), instead of MLflow's order: `log_spans` as each span ends (the first call
creates the trace row), then `start_trace`, which finds the row and takes its merge path (a
SELECT and an upsert per tag and metadata key). The same trace is stored
(tests/gateway/test_mlflow_whatif.py compares what `mlflow.search_traces` reads back). Traces
continued from another process (a `traceparent` header) keep MLflow's incremental path.
"""
import functools
import os
import time

_WHATIFS = set(filter(None, os.environ.get("RELEASEGATE_BENCH_WHATIF", "").split(",")))

if "memo" in _WHATIFS:
    from mlflow.store.tracking.gateway.sqlalchemy_mixin import SqlAlchemyGatewayStoreMixin
    from mlflow.types.chat import ChatCompletionRequest
    from mlflow.utils import crypto

    _schema = ChatCompletionRequest.model_json_schema()
    ChatCompletionRequest.model_json_schema = classmethod(lambda cls, *a, **k: _schema)

    _derive = crypto.KEKManager._derive_kek
    _kek = functools.lru_cache(maxsize=8)(lambda passphrase, version: _derive(None, passphrase, version))
    crypto.KEKManager._derive_kek = lambda self, passphrase, version: _kek(passphrase, version)

    _list = SqlAlchemyGatewayStoreMixin.list_endpoint_guardrail_configs
    _configs: dict = {}

    def _cached_configs(self, endpoint_id, *args, **kwargs):
        hit = _configs.get(endpoint_id)
        if hit is None or time.monotonic() - hit[0] > 10:
            hit = _configs[endpoint_id] = (time.monotonic(), _list(self, endpoint_id, *args, **kwargs))
        return hit[1]

    SqlAlchemyGatewayStoreMixin.list_endpoint_guardrail_configs = _cached_configs

if "trace-once" in _WHATIFS:
    from mlflow.tracing.export.mlflow_v3 import MlflowV3SpanExporter
    from mlflow.tracing.trace_manager import InMemoryTraceManager

    _incremental = MlflowV3SpanExporter._export_spans_incrementally
    _log_trace = MlflowV3SpanExporter._log_trace

    def _remote_spans_only(self, spans):
        manager = InMemoryTraceManager.get_instance()
        remote = []
        for span in spans:
            trace_id = manager.get_mlflow_trace_id_from_otel_id(span.context.trace_id)
            with manager.get_trace(trace_id) as trace:
                if trace is not None and trace.is_remote_trace:
                    remote.append(span)
        if remote:
            _incremental(self, remote)

    def _trace_then_spans(self, trace, prompts, workspace=None):
        _log_trace(self, trace, prompts, workspace)  # start_trace: the row is new, no merge
        if trace is not None and self._store_supports_log_spans:
            self._log_spans(trace.info.experiment_id, trace.data.spans, workspace)

    MlflowV3SpanExporter._export_spans_incrementally = _remote_spans_only
    MlflowV3SpanExporter._log_trace = _trace_then_spans
    MlflowV3SpanExporter._should_log_spans_to_artifacts = lambda self, info: not self._store_supports_log_spans
