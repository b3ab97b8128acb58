"""How long the designed fault states take (issue 13): MLflow unreachable, a busy ledger, a
half-migrated MLflow store.

    .venv/bin/python bench/faults.py [--mlflow-defaults]

- one MLflow client call against a closed port, with releasegate's limits (RELEASEGATE_MLFLOW_TIMEOUT
  5 s, two quick retries) and, with --mlflow-defaults, with MLflow's own (120 s timeout, 7 retries,
  backoff factor 2: minutes, mostly asleep);
- a ledger write while another connection holds SQLite's write lock, until "ledger busy, retry"
  (RELEASEGATE_LEDGER_LOCK_WAIT_S, default 10 s);
- `sync`'s store check on a healthy local MLflow store (paid on every sync) and the repair of a
  store one migration behind (MLflow's own migration).
Writes its section of bench/RESULTS.md.
"""
from __future__ import annotations

import argparse
import os
import platform
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._results import write_section  # noqa: E402

_MLFLOW_VARS = ("MLFLOW_HTTP_REQUEST_TIMEOUT", "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
                "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "RELEASEGATE_MLFLOW_TIMEOUT")


def closed_port_call(mlflow_defaults: bool) -> float:
    """Seconds one MLflow call takes to fail against a port nobody listens on (own process:
    MLflow reads its settings per request, and the two runs must not share them)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k not in _MLFLOW_VARS}
    if mlflow_defaults:  # what MLflow does on its own
        env.update(MLFLOW_HTTP_REQUEST_TIMEOUT="120", MLFLOW_HTTP_REQUEST_MAX_RETRIES="7",
                   MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR="2")
    code = ("import time; from releasegate.releases._registry import client\n"
            f"c = client('http://127.0.0.1:{port}'); t = time.perf_counter()\n"
            "try:\n    c.get_experiment_by_name('x')\nexcept Exception:\n    pass\n"
            "print(time.perf_counter() - t)")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def busy_ledger(folder: Path) -> tuple[float, str]:
    from releasegate.releases import Ledger
    from releasegate.releases._ledger import LedgerBusy, lock_wait_seconds

    db = folder / "ledger.db"
    ledger = Ledger.open(f"sqlite:///{db}")
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    t = time.perf_counter()
    try:
        ledger.append("synced", "bench", {"n": 1})
        message = "written (no lock?)"
    except LedgerBusy as exc:
        message = exc.message
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    elapsed = time.perf_counter() - t
    assert abs(elapsed - lock_wait_seconds()) < 2, elapsed
    return elapsed, message


def store_check(folder: Path) -> tuple[float, float, list[str]]:
    import sqlalchemy
    from alembic import command
    from mlflow.store.db.utils import _get_alembic_config

    from releasegate.releases import Ledger
    from releasegate.releases._mlflow_store import repair_store, store_problem
    from releasegate.releases._registry import client

    path = folder / "mlflow.db"
    client(f"sqlite:///{path}").search_experiments()  # MLflow creates the store
    t = time.perf_counter()
    assert store_problem(path) is None
    healthy = time.perf_counter() - t
    engine = sqlalchemy.create_engine(f"sqlite:///{path}")
    config = _get_alembic_config(str(engine.url))
    with engine.begin() as connection:  # one migration behind, as an older MLflow left it
        config.attributes["connection"] = connection
        command.downgrade(config, "-1")
    engine.dispose()
    t = time.perf_counter()
    notes = repair_store(Ledger.open(f"sqlite:///{folder / 'ledger.db'}"), f"sqlite:///{path}")
    return healthy, time.perf_counter() - t, notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mlflow-defaults", action="store_true",
                        help="also time MLflow's own retry settings (about four minutes)")
    args = parser.parse_args()
    ours = closed_port_call(False)
    theirs = closed_port_call(True) if args.mlflow_defaults else None
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["RELEASEGATE_HOME"] = tmp
        busy, busy_message = busy_ledger(Path(tmp))
        healthy, repair, notes = store_check(Path(tmp))
    rows = [
        ("MLflow call, closed port, releasegate limits (5 s timeout, 2 retries)", f"{ours:.1f} s"),
        ("MLflow call, closed port, MLflow defaults (120 s, 7 retries, backoff 2)",
         f"{theirs:.1f} s" if theirs is not None else "not run (--mlflow-defaults)"),
        ("ledger write, SQLite lock held elsewhere, until busy (default wait)", f"{busy:.1f} s"),
        ("sync's store check, healthy local MLflow store", f"{healthy * 1000:.0f} ms"),
        ("repair of a store one migration behind (MLflow's migration)", f"{repair:.1f} s"),
    ]
    body = "\n".join([
        "## Fault states (issue 13)", "",
        f"`.venv/bin/python bench/faults.py{' --mlflow-defaults' if theirs is not None else ''}` on "
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}.", "",
        "| fault | time |", "|---|---|", *[f"| {name} | {value} |" for name, value in rows], "",
        f"Busy ledger says: \"{busy_message}\". Store repair says: \"{notes[0] if notes else 'nothing'}\".",
    ])
    write_section("faults", body)
    print(body)


if __name__ == "__main__":
    main()
