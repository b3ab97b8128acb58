"""The app `releasegate-gateway` (entry point group `mlflow.app`, pyproject.toml): MLflow's own server app
with _mlflow_fixes applied first, for `mlflow server --app-name releasegate-gateway` (GatewayServer).

Adds one read-only route, GET /releasegate/mlflow-fixes: MLflow's version and the fixes applied or
refused (and why) in this worker, so whoever starts the server can see and report what it runs.
With `trace-process`, spawns the worker's trace sink (_trace_sink.py) as it loads; with `trace-once`,
writes the pending usage traces at shutdown (`_write_pending_traces`).
"""
from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from fastapi.routing import APIRoute

from ._mlflow_fixes import FIXES_ROUTE, apply, flush_trace_sink, start_trace_sink

STATE = apply()
for _name, _reason in STATE.refused.items():
    logging.getLogger(__name__).warning("releasegate: MLflow fix %s not applied: %s", _name, _reason)
_STORE_URI = "_MLFLOW_SERVER_FILE_STORE"  # mlflow.server.BACKEND_STORE_URI_ENV_VAR, set for the server's workers
if "trace-process" in STATE.applied and os.environ.get(_STORE_URI):  # not in `mlflow server` itself, which
    start_trace_sink(os.environ[_STORE_URI])  # loads this app only to find it; spawned now: ready by the first trace

from mlflow.server.fastapi_app import app  # noqa: E402  (after the fixes, as the worker imports it)


def _fixes() -> dict:
    return STATE.to_json()


# before MLflow's catch-all mount of its Flask app at "/", which would answer first
app.router.routes.insert(0, APIRoute(FIXES_ROUTE, _fixes, methods=["GET"]))


def _write_pending_traces() -> None:
    """At shutdown, while the interpreter still runs threads: MLflow's export queue drained (its own
    atexit flush comes after concurrent.futures refuses new work, so a usage trace still queued there
    was lost with trace-once: tests/gateway/test_mlflow_fixes.py), then the sink's input closed and
    waited for, so every answered request's trace is in the store when the worker exits."""
    import mlflow

    mlflow.flush_trace_async_logging()
    flush_trace_sink()


if "trace-once" in STATE.applied:
    _mlflow_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def _lifespan(application: Any) -> AsyncIterator[Any]:
        async with _mlflow_lifespan(application) as state:
            yield state
        await anyio.to_thread.run_sync(_write_pending_traces)

    app.router.lifespan_context = _lifespan
