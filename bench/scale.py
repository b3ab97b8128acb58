"""How the release ledger's costs grow: 10k / 100k / 1M events on SQLite and PostgreSQL (issue 16).

For each backend and size the ledger is filled in bulk (the same hash chain `Ledger.append`
writes, computed here and inserted in batches: the benchmark is not a test), then measured:
- append: events/s for single `Ledger.append` calls on top of N events (each its own transaction);
- verify: `Ledger.verify()` over the whole chain;
- promote's ledger work: under the scenario lock, the decision's `evaluated` event, the expected
  alias state, the scenario's promotions, then the `promoted` append (MLflow and signature checks
  do not depend on the ledger's length and are left out);
- audit's lookups: the scenario ids, then per scenario the expected aliases and promotions;
- the same lookups as they were before issue 16 (a scan of every evaluated row / every alias
  event), for the before/after table.
Growth factor = time at 10x the events / time at x. Linear growth is 10; a lookup that does not
grow with the ledger stays near 1.

    .venv/bin/python bench/scale.py                       # 10k, 100k, 1M on both (minutes)
    .venv/bin/python bench/scale.py --sizes 10000,100000 --backends sqlite
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import write_section  # noqa: E402

from releasegate.releases import Ledger  # noqa: E402
from releasegate.releases._ledger import GENESIS_HASH, LedgerEvent, event_hash, events_table, head_table  # noqa: E402

SCENARIOS = 100
ADMIN = os.environ.get("RELEASEGATE_STACK_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def _payload(kind: str, i: int, sid: str) -> tuple[dict[str, Any], str | None]:
    digest = f"{i:064x}"
    if kind == "evaluated":
        return {"decision_digest": digest, "decision_id": digest[:16], "verdict": "PASS",
                "candidate_entry": f"cand-{i % 7}", "weight_digest": f"{i * 7:064x}",
                "records_paths": [f"/runs/{sid}/{i}/candidate.parquet", f"/runs/{sid}/{i}/incumbent.parquet"],
                "report_path": f"/runs/{sid}/{i}/report.html"}, digest
    if kind == "approved":
        return {"decision_digest": digest, "role": "product", "identity": "po@example", "fingerprint": "f" * 64}, digest
    # promoted: the alias state after the move
    return {"target": "model", "alias": "champion", "model_name": sid, "version": str(i),
            "from_version": str(i - 1), "aliases": {"champion": str(i), "previous": str(i - 1)},
            "decision_digest": digest}, digest


def _rows(n: int) -> Any:
    """n chained rows: per 10 events, 6 evaluated, 3 approved, 1 promoted, over SCENARIOS scenarios."""
    prev = GENESIS_HASH
    created = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    for seq in range(1, n + 1):
        kind = ("evaluated",) * 6 + ("approved",) * 3 + ("promoted",)
        event_type = kind[seq % 10]
        sid = f"scenario-{seq % SCENARIOS:04d}"
        payload, subject = _payload(event_type, seq, sid)
        ev = LedgerEvent(seq, str(uuid.UUID(int=seq)), sid, event_type, subject, "bench",
                         (created + dt.timedelta(seconds=seq)).isoformat(timespec="microseconds"),
                         payload, prev, "")
        h = event_hash(prev, ev.content())
        yield {"seq": seq, "event_id": ev.event_id, "scenario_id": sid, "event_type": event_type,
               "subject": subject, "actor": "bench", "created_at": ev.created_at,
               "payload": json.dumps(payload, sort_keys=True, separators=(",", ":")), "prev_hash": prev,
               "hash": h}
        prev = h


def fill(ledger: Ledger, n: int, batch: int = 20_000) -> float:
    """Bulk-insert n chained events; seconds."""
    t0 = time.perf_counter()
    rows = _rows(n)
    last = None
    with ledger.engine.begin() as conn:
        while True:
            chunk = [r for _, r in zip(range(batch), rows)]
            if not chunk:
                break
            conn.execute(events_table.insert(), chunk)
            last = chunk[-1]
        conn.execute(head_table.update().where(head_table.c.id == 1).values(seq=last["seq"], hash=last["hash"]))
    return time.perf_counter() - t0


def _median(fn: Callable[[], Any], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _scan_evaluated_event(ledger: Ledger, digest: str) -> Any:
    """Before issue 16: every evaluated row read and parsed until the digest matched."""
    for ev in ledger.events(event_type="evaluated"):
        if ev.payload.get("decision_digest") == digest:
            return ev
    return None


def _scan_expected_aliases(ledger: Ledger, sid: str) -> dict[str, str]:
    moves = [e for e in ledger.events(scenario_id=sid, event_type=("promoted", "rolled_back", "alias_repaired"))
             if e.payload.get("target", "model") == "model"]
    return dict(moves[-1].payload.get("aliases", {})) if moves else {}


def measure(ledger: Ledger, n: int) -> dict[str, float]:
    from releasegate.releases._audit import _scenario_ids
    from releasegate.releases._recording import evaluated_event, expected_aliases

    target = n // 2 - (n // 2) % 10 + 1  # an evaluated event half-way down the ledger
    while target % 10 not in (1, 2, 3, 4, 5, 6):
        target += 1
    digest, sid = f"{target:064x}", f"scenario-{target % SCENARIOS:04d}"
    assert evaluated_event(ledger, digest) is not None
    out: dict[str, float] = {}
    out["lookup_evaluated_s"] = _median(lambda: evaluated_event(ledger, digest))
    out["lookup_aliases_s"] = _median(lambda: expected_aliases(ledger, sid))
    out["scan_evaluated_s"] = _median(lambda: _scan_evaluated_event(ledger, digest), 3 if n < 1_000_000 else 1)
    out["scan_aliases_s"] = _median(lambda: _scan_expected_aliases(ledger, sid), 3 if n < 1_000_000 else 1)
    assert _scan_expected_aliases(ledger, sid) == expected_aliases(ledger, sid)

    def promote_ledger_work() -> None:
        with ledger.scenario_lock(sid) as conn:
            ev = evaluated_event(ledger, digest, conn)
            aliases = expected_aliases(ledger, sid, conn)
            ledger.events(scenario_id=sid, event_type="promoted", conn=conn, newest_first=True, limit=1)
            ledger.append("promoted", sid, {"target": "model", "alias": "champion", "version": "x",
                                            "aliases": aliases, "decision_digest": ev.subject}, conn=conn)
    out["promote_s"] = _median(promote_ledger_work)

    def audit_lookups() -> None:
        for s in _scenario_ids(ledger):
            expected_aliases(ledger, s)
    out["audit_s"] = _median(audit_lookups, 3)

    appends = 200
    t0 = time.perf_counter()
    for i in range(appends):
        ledger.append("evaluated", sid, {"decision_digest": f"append-{i}"}, subject=f"append-{i}")
    out["append_per_s"] = appends / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    problems = ledger.verify()
    out["verify_s"] = time.perf_counter() - t0
    assert problems == [], problems[:3]
    return out


def _postgres(name: str) -> tuple[str, Callable[[], None]]:
    import psycopg

    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    base = ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    return f"{base}/{name}", drop


def run(sizes: list[int], backends: list[str]) -> list[dict[str, Any]]:
    results = []
    for backend in backends:
        for n in sizes:
            tmp = tempfile.mkdtemp(prefix="rg-scale-")
            if backend == "sqlite":
                url, cleanup = f"sqlite:///{tmp}/ledger.db", (lambda: None)
            else:
                url, cleanup = _postgres(f"scale_bench_{os.getpid()}_{n}")  # a fresh name: Ledger.open migrates a URL once
            try:
                ledger = Ledger.open(url)
                fill_s = fill(ledger, n)
                row = {"backend": backend, "events": n, "fill_s": fill_s, **measure(ledger, n)}
                ledger.close()
            finally:
                cleanup()
                for f in Path(tmp).glob("*"):
                    f.unlink()
                os.rmdir(tmp)
            print(json.dumps(row), flush=True)
            results.append(row)
    return results


def _fmt(x: float) -> str:
    if x >= 100:
        return f"{x:.0f}"
    if x >= 1:
        return f"{x:.2f}"
    return f"{x * 1000:.2f} ms" if x >= 0.001 else f"{x * 1e6:.0f} µs"


def table(results: list[dict[str, Any]], command: str) -> str:
    cols = [("append_per_s", "append (events/s)"), ("verify_s", "verify (s)"), ("promote_s", "promote's ledger work"),
            ("lookup_evaluated_s", "evaluated lookup"), ("lookup_aliases_s", "expected aliases"),
            ("audit_s", f"audit lookups ({SCENARIOS} scenarios)"), ("scan_evaluated_s", "evaluated lookup before (scan)"),
            ("scan_aliases_s", "expected aliases before (scan)")]
    lines = ["## Ledger scale (issue 16)", "", f"`{command}`", "",
             "| backend | events | fill (s) | " + " | ".join(c[1] for c in cols) + " |",
             "|---|---:|---:|" + "---:|" * len(cols)]
    prev: dict[str, dict[str, Any]] = {}
    for r in results:
        cells = []
        for key, _ in cols:
            cell = f"{r[key]:.0f}" if key == "append_per_s" else _fmt(r[key])
            p = prev.get(r["backend"])
            if p is not None and r["events"] == 10 * p["events"] and p[key] > 0:
                cell += f" (x{r[key] / p[key]:.1f})"
            cells.append(cell)
        lines.append(f"| {r['backend']} | {r['events']:,} | {r['fill_s']:.0f} | " + " | ".join(cells) + " |")
        prev[r["backend"]] = r
    lines += ["", "(xF) = growth factor against the row with 10x fewer events. Times are medians of "
              "3-5 calls (scans at 1M: one call). Measured on the shared 2-core development machine."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results = run(sizes, args.backends.split(","))
    command = "python bench/scale.py" + ("" if args.sizes == "10000,100000,1000000" else f" --sizes {args.sizes}") + \
        ("" if args.backends == "sqlite,postgresql" else f" --backends {args.backends}")
    body = table(results, command)
    print(body)
    write_section("ledger-scale", body)


if __name__ == "__main__":
    main()
