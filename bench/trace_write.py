"""What one gateway usage trace costs MLflow 3.17.2's SQL store to write, in MLflow's order and with
releasegate's fix `trace-once` (gateway/_mlflow_fixes.py: the trace written once, at its end), on SQLite
and PostgreSQL.

The gateway's tracked requests cost 25-40 ms more CPU than untracked ones (bench/gateway_overhead.py),
most of it in the store's `start_trace` and `log_spans` (docs/GATEWAY.md). This isolates that write:
each variant runs bench/_trace_writer.py in its own process (with the fix applied or not), which writes
gateway-shaped traces with synchronous export (tests/gateway/test_mlflow_fixes.py shows both orders
store the same trace), and reports the
process CPU per trace and per store call (`start_trace`, `log_spans`, and `get_experiment`, which
each of them calls).

    .venv/bin/python bench/trace_write.py [--traces 200] [--rounds 3] [--store sqlite,postgresql]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._results import write_section  # noqa: E402

WRITER = Path(__file__).resolve().parent / "_trace_writer.py"
VARIANTS = {"": "MLflow 3.17.2's order: `log_spans` as each span ends, then `start_trace` (merge path)",
            "trace-once": "releasegate's fix `trace-once`: `start_trace`, then all spans in one `log_spans`"}


def _measure(uri: str, fixes: str, traces: int) -> dict:
    done = subprocess.run([sys.executable, str(WRITER), uri, str(traces), "--fixes", fixes], capture_output=True,
                          text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--traces", type=int, default=200, help="traces written per variant and round")
    ap.add_argument("--rounds", type=int, default=3, help="rounds per variant (medians are reported)")
    ap.add_argument("--store", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    args = ap.parse_args()
    stores = [s for s in args.store.split(",") if s]
    if args.traces < 1 or args.rounds < 1 or not stores or set(stores) - {"sqlite", "postgresql"}:
        ap.error("--traces and --rounds must be >= 1, --store one or both of sqlite,postgresql")
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    home = Path(tempfile.mkdtemp(prefix="rg-trace-write-"))
    rows = []
    for store in stores:
        for fixes, label in VARIANTS.items():
            runs = []
            for r in range(args.rounds):
                name = f"{fixes or 'mlflow'}-{r}".replace("-", "_")
                if store == "sqlite":
                    uri, drop = f"sqlite:///{home}/{name}.db", None
                else:
                    from bench.scale import _postgres

                    uri, drop = _postgres(f"trace_write_{os.getpid()}_{name}")
                try:
                    runs.append(_measure(uri, fixes, args.traces))
                finally:
                    if drop:
                        drop()
            med = {k: statistics.median(run[k] for run in runs) for k in runs[0]}
            print(f"{store} {fixes or 'mlflow'}: {med['total_ms']:.1f} ms CPU per trace", flush=True)
            rows.append((store, label, med))
    load = os.getloadavg()
    lines = [
        "## Trace write: one gateway usage trace in MLflow's SQL store (issue 17)", "",
        f"`.venv/bin/python bench/trace_write.py --traces {args.traces} --rounds {args.rounds} --store {args.store}` "
        f"({started}; MLflow 3.17.2, synchronous export in one process, a root span and a chat span per trace; "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the end). CPU ms per trace, medians of "
        f"{args.rounds} rounds; the store calls' columns are their own CPU (`get_experiment` is inside the other two):", "",
        "| store | order | total | `start_trace` | `log_spans` (calls per trace) | `get_experiment` (calls) |",
        "|---|---|---|---|---|---|",
        *[f"| {'SQLite' if store == 'sqlite' else 'PostgreSQL 15'} | {label} | {m['total_ms']:.1f} | "
          f"{m['_start_trace_once_ms']:.1f} | {m['_log_spans_once_ms']:.1f} ({m['_log_spans_once_calls']:.0f}) | "
          f"{m['get_experiment_ms']:.1f} ({m['get_experiment_calls']:.0f}) |" for store, label, m in rows],
    ]
    write_section("trace_write", "\n".join(lines))


if __name__ == "__main__":
    main()
