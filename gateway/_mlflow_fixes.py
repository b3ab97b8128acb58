"""Three fixes to the request path of MLflow 3.17.2's AI Gateway, applied only inside the `mlflow server`
that releasegate starts (`GatewayServer`, through the `releasegate-gateway` app: _mlflow_app.py), only on
the exact MLflow code they were written and tested against, and otherwise not at all.

Why: with usage tracking on, one gateway process as released carried 20-33 tracked requests/s on a core
at 36-61 ms of CPU each (two machines); with `memo` and `trace-once` 40-50/s at 21-32 ms; and with the
trace writes in the worker's process, tracked requests waited to be scheduled, so through an upstream
that is not saturated the gateway lost 8-12% of the throughput; `trace-process` brings it to what an
untracked request loses (bench/RESULTS.md, docs/GATEWAY.md).
`memo` and `trace-once` are proposed to MLflow (docs/GATEWAY.md); each comes out when MLflow has it.

`trace-once`: each usage trace written once, when its root span ends: `start_trace`, then all its spans
in one `log_spans`. MLflow's order is `log_spans` as each span ends (the first call creates the trace
row), then `start_trace`, which finds the row and takes its merge path (a SELECT and an upsert per tag
and metadata key). The same trace is stored either way (tests/gateway/test_mlflow_fixes.py compares what
`mlflow.search_traces` reads back). Traces continued from another process (a `traceparent` header) keep
MLflow's incremental path.

`memo`: three per-request costs, kept:
- `ChatCompletionRequest.model_json_schema()`, computed for every chat request (handed to the guardrail
  runner even when the endpoint has none): a pure function of the class;
- the endpoint's guardrail configs, a database read per request: kept as long as the endpoint config
  itself (`--secrets-cache-ttl`, MLFLOW_SERVER_SECRETS_CACHE_TTL), and only on the request path; the
  store itself (the REST API, `audit`) still reads the database;
- `KEKManager._derive_kek`: PBKDF2 (600,000 iterations) each time the endpoint config cache expires: a
  pure function of passphrase and KEK version, both already in the process.

`trace-process` (on top of `trace-once`): those writes done by a sink process per worker
(_trace_sink.py, at idle priority), which the worker hands each trace as one JSON line on a pipe
(1.4 ms of CPU instead of 12-20, none of it at the store): the worker's event loop is neither behind
the GIL of MLflow's export threads nor behind their CPU on its core. Traces with prompts to link or a
workspace, a store other than the sink's, or no sink (it did not start, or died: a new one at most
once a minute) are written in the worker, as with `trace-once` alone. At shutdown the worker drains
MLflow's export queue, then the sink (_mlflow_app.py).

The guard: MLflow's version must be MLFLOW_VERSION and the source of every function a fix replaces or
relies on must hash to FINGERPRINTS. Anything else (an upgrade, a local patch) leaves that fix off, with
the reason, and the gateway runs as released: slower, never different. Changing the pin means re-reading
those functions, re-running tests/gateway/test_mlflow_fixes.py and updating the hashes
(`python -m releasegate.gateway._mlflow_fixes` prints them).
"""
from __future__ import annotations

import functools
import hashlib
import importlib
import inspect
import json
import logging
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

_log = logging.getLogger(__name__)

MLFLOW_VERSION = "3.17.2"
FIXES_ENV = "RELEASEGATE_MLFLOW_FIXES"  # comma-separated names; unset: all of FIXES; empty: none
FIXES = ("memo", "trace-once", "trace-process")
FIXES_ROUTE = "/releasegate/mlflow-fixes"  # _mlflow_app.py: GET -> state() of the worker that answers

# sha256 of inspect.getsource(...) of what each fix replaces or relies on, on MLFLOW_VERSION
FINGERPRINTS: dict[str, dict[str, str]] = {
    "memo": {
        "mlflow.server.gateway_api:_get_guardrails_and_auth":
            "ef19d058423f6b65eb2c98635f3825ba03f089a94cfdefd591ec1b2889dc75a8",
        "mlflow.gateway.guardrail_utils:load_guardrails":
            "0562f591b2d826e4f6e152c282136c495c2753c209ba480f03655244761d6c17",
        "mlflow.store.tracking.gateway.sqlalchemy_mixin:SqlAlchemyGatewayStoreMixin.list_endpoint_guardrail_configs":
            "eb2c33993f76258bd9af3bf2356aba458dd7a322e66c4a36d59e5aa857591844",
        "mlflow.utils.crypto:KEKManager._derive_kek":
            "8793dee192946ef4d4d159fe180b4b4a5a837b8cbebdfe03dc6aaa1b2e478df1",
        "mlflow.store.tracking.gateway.sqlalchemy_mixin:SqlAlchemyGatewayStoreMixin.secret_cache.fget":
            "3257b366cbd0f9a341dcab383b3fbcb463a5e42d7b71f6c36c61e46d04d6a6e5",  # its TTL
    },
    "trace-once": {
        "mlflow.tracing.export.mlflow_v3:MlflowV3SpanExporter.export":
            "8ecbca26b9aa416e4ff74ed04c0fc255009b98bada379d500c93e0ac4ae9674e",
        "mlflow.tracing.export.mlflow_v3:MlflowV3SpanExporter._export_spans_incrementally":
            "bc1aceeb14fb3374c063c6c74e03d9b8ca96d8a73b221d247a4945303d43b5d1",
        "mlflow.tracing.export.mlflow_v3:MlflowV3SpanExporter._do_export_trace":
            "c0b0647266312498020f64a9805574ca80733a47a984b912c6cd13f1b8e1920f",
        "mlflow.tracing.export.mlflow_v3:MlflowV3SpanExporter._log_spans":
            "d3d8c6efbda4cc58c0a5566c43e67acb546764c51d31f4c40ba94ef0c60419bb",
        "mlflow.tracing.export.mlflow_v3:MlflowV3SpanExporter._log_trace":
            "1f3b3a0142ed2081fd5a91c810e09ee5728833a1352c5c78aa21a1efaf63a36b",
        "mlflow.tracing.export.mlflow_v3:MlflowV3SpanExporter._should_log_spans_to_artifacts":
            "c52e5eb765c88039a679d97fce2d5621ee6b02e1f2e2b5b55bd93eb9cf037a8f",
    },
    "trace-process": {  # besides trace-once's: the trace crosses a pipe as JSON
        "mlflow.tracing.export.mlflow_v3:MlflowV3SpanExporter._do_export_trace":
            "c0b0647266312498020f64a9805574ca80733a47a984b912c6cd13f1b8e1920f",
        "mlflow.entities.trace:Trace.to_json":
            "2f4044ba74b26c2c56c8e32c4351271bdbec28f979bbd63534ee647a7fabfca4",
        "mlflow.entities.trace:Trace.from_json":
            "e14dcccd6d8df3f9d0d43c8284f79c73d00630f95e76cbce313d20af2f10b591",
        "mlflow.entities.trace:Trace.from_dict":
            "60106dfc97c07e72d2e56a61ac31f088f4d5e6c04b75bb5c1422b9110ce1c1f4",
        "mlflow.entities.trace_data:TraceData.from_dict":
            "d48f4e7e26317ef6d42df9356e11eac082f0ccc6014d8decebcff20f9069e0dd",
        "mlflow.entities.span:Span.from_dict":
            "7c3540db678e4f315dfac83a4f9e8879f8a7c9cc7577a8d9a6e0f86ec06e1000",
        "mlflow.entities.span:Span.to_dict":
            "220024953ec0dd21971eff4cc0700ec8664358e6f4052787d63904893e659891",
        "mlflow.entities.trace_info:TraceInfo.from_dict":
            "2c009b79e1948dff2bd53940acbcb8afcdd71cc28b5079952e9ff78e6e5e6f6d",
        "mlflow.entities.trace_info:TraceInfo.to_dict":
            "1ed4cad61c07c5353cc14f94cc31cb8b34d9f386ba208bc68bceff38dea5a1e1",
    },
}



@dataclass(frozen=True)
class FixesState:
    """What a gateway process runs: MLflow's version (None: MLflow's own app, no fix asked for), the
    fixes applied, and the fixes refused with the reason. GET FIXES_ROUTE answers `to_json()`."""

    mlflow: str | None = None
    applied: tuple[str, ...] = ()
    refused: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"mlflow": self.mlflow, "applied": list(self.applied), "refused": dict(self.refused)}

    @classmethod
    def from_json(cls, data: Any) -> FixesState:
        """Refuses (ValueError) anything but exactly the three keys with their types."""
        if not isinstance(data, dict) or set(data) != {"mlflow", "applied", "refused"}:
            raise ValueError(f"not a fixes state: {repr(data)[:200]}")
        mlflow, applied, refused = data["mlflow"], data["applied"], data["refused"]
        if not (mlflow is None or isinstance(mlflow, str)) or not isinstance(applied, list) \
                or not all(isinstance(n, str) for n in applied) or not isinstance(refused, dict) \
                or not all(isinstance(k, str) and isinstance(v, str) for k, v in refused.items()):
            raise ValueError(f"fixes state with a wrongly typed field: {repr(data)[:200]}")
        return cls(mlflow, tuple(applied), dict(refused))

    def line(self) -> str:
        """One line for logs and reports."""
        if not (self.applied or self.refused):
            return "MLflow as released"
        line = f"MLflow {self.mlflow} with releasegate's fixes: {', '.join(self.applied) or 'none'}"
        refused = "; ".join(f"{name} refused ({why})" for name, why in self.refused.items())
        return f"{line}; {refused}" if refused else line


_lock = threading.Lock()
_state: dict[str, Any] = {"mlflow": None, "applied": [], "refused": {}}  # this process's, under _lock


def _resolve(target: str) -> Any:
    module, _, qualname = target.partition(":")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def fingerprint(target: str) -> str:
    return hashlib.sha256(inspect.getsource(_resolve(target)).encode()).hexdigest()


def _mismatch(name: str) -> str | None:
    import mlflow

    if mlflow.__version__ != MLFLOW_VERSION:
        return f"MLflow {mlflow.__version__}, the fix is for {MLFLOW_VERSION}"
    for target, expected in FINGERPRINTS[name].items():
        try:
            found = fingerprint(target)
        except (ImportError, AttributeError, OSError, TypeError) as exc:
            return f"{target}: {type(exc).__name__}: {exc}"
        if found != expected:
            return f"{target} is not the code the fix was written for (sha256 {found[:12]}, expected {expected[:12]})"
    return None


def _cache_ttl_s() -> float:
    """The endpoint config cache's TTL, read as SqlAlchemyGatewayStoreMixin.secret_cache reads it."""
    from mlflow.store.tracking import _secret_cache

    return float(os.environ.get(_secret_cache.SECRETS_CACHE_TTL_ENV_VAR, _secret_cache._DEFAULT_CACHE_TTL))


class _GuardrailConfigsKept:
    """The store, with `list_endpoint_guardrail_configs` kept `ttl_s` per endpoint (request path only)."""

    _kept: dict[str, tuple[float, Any]] = {}
    _kept_lock = threading.Lock()

    def __init__(self, store: Any, ttl_s: float) -> None:
        self._store, self._ttl_s = store, ttl_s

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def list_endpoint_guardrail_configs(self, endpoint_id: str) -> Any:
        now = time.monotonic()
        with self._kept_lock:
            hit = self._kept.get(endpoint_id)
        if hit is None or now - hit[0] >= self._ttl_s:
            hit = (now, self._store.list_endpoint_guardrail_configs(endpoint_id))
            with self._kept_lock:
                self._kept[endpoint_id] = hit
        return hit[1]


def _apply_memo() -> None:
    from mlflow.server import gateway_api
    from mlflow.types.chat import ChatCompletionRequest
    from mlflow.utils import crypto

    schema = json.dumps(ChatCompletionRequest.model_json_schema())  # 5 ms to build; 0.1 ms to copy from this

    def model_json_schema(cls: type, *args: Any, **kwargs: Any) -> dict[str, Any]:
        if cls is ChatCompletionRequest and not args and not kwargs:
            return json.loads(schema)
        return super(ChatCompletionRequest, cls).model_json_schema(*args, **kwargs)

    ChatCompletionRequest.model_json_schema = classmethod(model_json_schema)

    derive = crypto.KEKManager._derive_kek
    kek = functools.lru_cache(maxsize=8)(lambda passphrase, version: derive(None, passphrase, version))
    crypto.KEKManager._derive_kek = lambda self, passphrase, kek_version: kek(passphrase, kek_version)

    load = gateway_api.load_guardrails
    ttl_s = _cache_ttl_s()
    gateway_api.load_guardrails = lambda store, endpoint_config, request: load(
        _GuardrailConfigsKept(store, ttl_s), endpoint_config, request)


def _apply_trace_once() -> None:
    from mlflow.tracing.export.mlflow_v3 import MlflowV3SpanExporter
    from mlflow.tracing.trace_manager import InMemoryTraceManager

    incremental = MlflowV3SpanExporter._export_spans_incrementally
    log_trace = MlflowV3SpanExporter._log_trace

    def remote_spans_only(self: Any, spans: Any) -> None:
        manager = InMemoryTraceManager.get_instance()
        remote = []
        for span in spans:
            trace_id = manager.get_mlflow_trace_id_from_otel_id(span.context.trace_id)
            with manager.get_trace(trace_id) as trace:
                if trace is not None and trace.is_remote_trace:
                    remote.append(span)
        if remote:
            incremental(self, remote)

    def trace_then_spans(self: Any, trace: Any, prompts: Any, workspace: str | None = None) -> None:
        log_trace(self, trace, prompts, workspace)  # start_trace: the row is new, no merge
        if trace is not None and self._store_supports_log_spans:
            self._log_spans(trace.info.experiment_id, trace.data.spans, workspace)

    MlflowV3SpanExporter._export_spans_incrementally = remote_spans_only
    MlflowV3SpanExporter._log_trace = trace_then_spans
    # the spans go to the store (above), not to artifacts, wherever the store can take them
    MlflowV3SpanExporter._should_log_spans_to_artifacts = lambda self, trace_info: not self._store_supports_log_spans


class _Sink:
    """This worker's trace sink process (_trace_sink.py). `start` spawns it when the server's worker
    loads (_mlflow_app.py), so it imports while the server starts; the first `send` waits until it is
    ready. It is in a session of its own: the signals sent to the gateway's process group do not reach
    it, and it exits at the end of its input (this process closed the pipe, or died), after writing
    everything sent. `send` returns False when no sink takes the trace (another store, a sink that did
    not start or died: a new one is spawned at most once a minute); the caller then writes the trace
    in this process, as trace-once alone does."""

    RETRY_S = 60.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._uri: str | None = None
        self._ready = False
        self._retry_at = 0.0

    def start(self, uri: str) -> None:
        with self._lock:
            if self._proc is None:
                self._spawn(uri)

    def _spawn(self, uri: str) -> bool:
        from ._trace_sink import SINK_URI_ENV

        if time.monotonic() < self._retry_at:
            return False
        self._retry_at = time.monotonic() + self.RETRY_S
        self._uri, self._ready = uri, False
        self._proc = subprocess.Popen([sys.executable, "-m", "releasegate.gateway._trace_sink"], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, env={**os.environ, SINK_URI_ENV: uri},
                                      start_new_session=True)
        return True

    def _wait_ready(self) -> bool:
        from ._trace_sink import READY

        assert self._proc is not None and self._proc.stdout is not None
        first = self._proc.stdout.readline()
        if first == READY:
            self._ready = True
            return True
        self._proc.kill()
        _log.warning("releasegate: the trace sink did not start (exit code %s, said %r; it logs why); usage traces "
                     "are written in the gateway process", self._proc.wait(), first[:200])
        self._proc = None
        return False

    def send(self, uri: str, line: bytes) -> bool:
        with self._lock:
            if self._proc is not None and self._ready and self._proc.poll() is not None:
                _log.warning("releasegate: the trace sink exited with %s", self._proc.returncode)
                self._proc = None
            if self._proc is None and not self._spawn(uri):
                return False
            if uri != self._uri or not (self._ready or self._wait_ready()):
                return False
            assert self._proc is not None and self._proc.stdin is not None
            try:
                self._proc.stdin.write(line)
                self._proc.stdin.flush()
                return True
            except OSError:  # it died (BrokenPipeError): this trace goes in process
                _log.warning("releasegate: the trace sink exited with %s", self._proc.poll())
                self._proc = None
                return False

    def close(self, timeout_s: float = 120.0) -> int | None:
        """End of input: the sink writes what it has and exits (its exit code; None if none ran)."""
        with self._lock:
            proc, self._proc, self._retry_at = self._proc, None, 0.0
        if proc is None or proc.stdin is None:
            return None
        proc.stdin.close()
        return proc.wait(timeout=timeout_s)


_sink = _Sink()


def start_trace_sink(uri: str) -> None:
    """Spawn this process's trace sink for the store at `uri` now (a server worker, at load)."""
    _sink.start(uri)


def flush_trace_sink(timeout_s: float = 120.0) -> int | None:
    """Wait until this process's trace sink has written every trace sent to it (bench, tests)."""
    return _sink.close(timeout_s)


def _apply_trace_process() -> None:
    from mlflow.tracing.export.mlflow_v3 import MlflowV3SpanExporter

    in_process = MlflowV3SpanExporter._log_trace  # trace-once's

    def to_sink(self: Any, trace: Any, prompts: Any, workspace: str | None = None) -> None:
        # prompts to link and workspaces stay in process (the gateway's usage traces have neither)
        if trace is not None and not prompts and workspace is None and self._store_supports_log_spans \
                and _sink.send(self._client.tracking_uri, (trace.to_json() + "\n").encode()):
            return
        in_process(self, trace, prompts, workspace)

    MlflowV3SpanExporter._log_trace = to_sink


_APPLY: dict[str, Callable[[], None]] = {"memo": _apply_memo, "trace-once": _apply_trace_once,
                                         "trace-process": _apply_trace_process}
_NEEDS = {"trace-process": "trace-once"}  # applied on top of it


def requested() -> tuple[str, ...]:
    """The fixes FIXES_ENV names (unset: all); unknown names are refused by apply()."""
    raw = os.environ.get(FIXES_ENV)
    return FIXES if raw is None else tuple(filter(None, (n.strip() for n in raw.split(","))))


def apply(names: tuple[str, ...] | None = None) -> FixesState:
    """Apply the named fixes (default: requested()) to this process, each only if its guard holds.
    Idempotent; returns the state: MLflow's version, the fixes applied, the fixes refused and why."""
    import mlflow

    with _lock:
        _state["mlflow"] = mlflow.__version__
        for name in requested() if names is None else names:
            if name in _state["applied"]:
                continue
            if name not in _APPLY:
                _state["refused"][name] = f"unknown fix; known: {', '.join(FIXES)}"
                continue
            reason = _mismatch(name)
            if not reason and name in _NEEDS and _NEEDS[name] not in _state["applied"]:
                reason = f"needs {_NEEDS[name]}, which is not applied"
            if reason:
                _state["refused"][name] = reason
                continue
            _APPLY[name]()
            _state["applied"].append(name)
        return state()


def state() -> FixesState:
    return FixesState(_state["mlflow"], tuple(_state["applied"]), dict(_state["refused"]))


if __name__ == "__main__":  # the hashes of the installed MLflow, to update FINGERPRINTS after re-reading
    for fix, targets in FINGERPRINTS.items():
        for target in targets:
            print(f"{fix}  {target}  {fingerprint(target)}")
