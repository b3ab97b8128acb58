"""The process that writes one gateway worker's usage traces (the `trace-process` fix, _mlflow_fixes.py).

Spawned by the gateway worker as it loads (`python -m releasegate.gateway._trace_sink`, the store's
URI in SINK_URI_ENV, not on the command line: a PostgreSQL URI can carry a password), it
reads one trace per line on stdin (`Trace.to_json()`), and writes each as the worker would have with
`trace-once`: MlflowV3SpanExporter._log_trace, i.e. `start_trace`, then one `log_spans`. So the
SQLAlchemy work (12-20 ms of CPU per trace) holds this process's GIL, not the one the worker's event
loop needs between a request's socket events, and runs at idle priority (SCHED_IDLE), so it does not
delay the worker on a shared core either. Measured (docs/GATEWAY.md, one core for the gateway, an
upstream holding 32 requests for 3.7 s): tracked 7.9 requests/s with the traces written in the worker,
7.9 with this process at normal priority on the same core, 8.4 at idle priority, as untracked (8.4);
direct 8.6. Under sustained overload of the gateway's core it writes only what the worker leaves:
traces wait in the pipe, then in MLflow's export queue (1,000), which drops beyond that with a warning,
as MLflow does when its own writers fall behind.

It runs in a session of its own (the gateway's process group gets SIGTERM on shutdown, while the
worker still flushes MLflow's export queue into the pipe) and exits at the end of its input, i.e. once
the worker has closed the pipe or died, after writing every trace it was sent. A trace it cannot
write is logged (stderr, the gateway's log) and dropped, as MLflow's export queue does.
"""
from __future__ import annotations

import logging
import os
import sys

SINK_URI_ENV = "RELEASEGATE_TRACE_SINK_URI"
READY = b"ready\n"  # written to stdout once the store is open and the fixes applied


def _idle_priority() -> None:
    """SCHED_IDLE: this process runs on CPU the gateway worker leaves idle, so the worker's event loop
    is never queued behind a trace write on a shared core (nice 19 where SCHED_IDLE is refused)."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        os.nice(19)


def main() -> int:
    _idle_priority()
    os.environ["MLFLOW_ENABLE_ASYNC_TRACE_LOGGING"] = "false"
    from mlflow.entities import Trace
    from mlflow.tracing.export.mlflow_v3 import MlflowV3SpanExporter

    from ._mlflow_fixes import apply

    log = logging.getLogger("releasegate.trace_sink")
    state = apply(("trace-once",))
    if "trace-once" not in state.applied:
        print(f"releasegate trace sink: trace-once refused ({state.refused}); not writing", file=sys.stderr, flush=True)
        return 2
    exporter = MlflowV3SpanExporter(tracking_uri=os.environ[SINK_URI_ENV])
    sys.stdout.buffer.write(READY)
    sys.stdout.buffer.flush()
    for line in sys.stdin.buffer:
        try:
            exporter._log_trace(Trace.from_json(line.decode()), prompts=[], workspace=None)
        except Exception:  # noqa: BLE001  (one trace lost, as MLflow's own export loses it: logged)
            log.exception("releasegate trace sink: a usage trace could not be written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
