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
Then governance over 10 / 100 / 1,000 scenarios and audit over as many registered models
(`measure_portfolio`: each scenario evaluated, approved and promoted through the library, as a
release would be).
Growth factor = time at 10x the events (scenarios) / time at x. Linear growth is 10; a lookup that does not
grow with the ledger stays near 1.

    .venv/bin/python bench/scale.py                       # 10k, 100k, 1M on both (minutes)
    .venv/bin/python bench/scale.py --sizes 10000,100000 --backends sqlite
    .venv/bin/python bench/scale.py --only portfolio --portfolio 10,100   # governance / audit only
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import statistics
import subprocess
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
    return _median_wall_cpu(fn, repeat)[0]


def _median_wall_cpu(fn: Callable[[], Any], repeat: int = 5) -> tuple[float, float]:
    """Median wall seconds and median CPU seconds of this process (all its threads) per call.
    On the shared 2-core machine the wall clock follows the load; the CPU time is the work done."""
    walls, cpus = [], []
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus)


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



# ---- portfolio: governance over N scenarios, audit over N registered models ---------------------

PRODUCT, PLATFORM = "product-owner@support.example", "platform-owner@platform.example"
RELEASE_CI, LEDGER_KEY = "release-ci@platform.example", "releasegate-ledger"


def _portfolio_env(root: Path) -> None:
    """A fresh releasegate home (SQLite ledger, SQLite MLflow store, keys, contracts) under root."""
    for var, sub in (("RELEASEGATE_HOME", "state"), ("RELEASEGATE_KEYS_DIR", "keys"),
                     ("RELEASEGATE_KEYRING", "keyring.yaml"), ("RELEASEGATE_DATASETS", "datasets")):
        os.environ[var] = str(root / sub)
    for var in ("RELEASEGATE_LEDGER_URL", "RELEASEGATE_MLFLOW_URI"):
        os.environ.pop(var, None)
    os.environ["RELEASEGATE_ACTOR"] = "bench"


def _add_scenarios(root: Path, first: int, last: int) -> None:
    """Scenarios first..last-1: a contract (support-triage's, own id and prompt family), then the
    release path a real one takes: evaluated (PASS), approved by both owners, promoted."""
    import yaml
    from releases_fixtures import make_verdict, weights_digest, write_scenario

    from releasegate.releases import Keyring, Ledger, build_decision, generate_key, load_private_key, promote
    from releasegate.releases import record_approval, record_evaluation
    from releasegate.releases._keys import private_key_path
    from releasegate.scenarios import load_scenario

    if first == 0:
        for identity in (PRODUCT, PLATFORM, RELEASE_CI, LEDGER_KEY):
            generate_key(identity)
        os.environ["RELEASEGATE_ACTOR_KEY"] = str(private_key_path(RELEASE_CI))
    ledger, ring = Ledger.open(), Keyring.load()
    records = root / "records.parquet"
    records.write_bytes(b"PAR1 stand-in for per-example records PAR1")
    signers = [(role, load_private_key(private_key_path(who))) for role, who in (("product", PRODUCT),
                                                                                 ("platform", PLATFORM))]
    for i in range(first, last):
        sid = f"svc-{i:04d}"
        path = write_scenario(root / "datasets" / sid, cases=sid, id=sid)
        data = yaml.safe_load(path.read_text())
        data["prompt_family"]["name"] = f"{sid}-router"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        loaded = load_scenario(sid)
        verdict = make_verdict(loaded, candidate="gemma3-v1", model="gemma3-270m")
        env = build_decision(loaded, verdict, candidate_model_digest=weights_digest("gemma3-270m"))
        rec = record_evaluation(loaded, verdict, env, records_paths=[records], ledger=ledger)
        for role, key in signers:
            env, _ = record_approval(env, role, key, keyring=ring, ledger=ledger, decision_path=rec["decision_path"],
                                     loaded=loaded)
        result = promote(sid, env, ledger=ledger, keyring=ring)
        assert result.promoted, (sid, result.reasons)
    ledger.close()


def _audit_mlflow_reads(n: int) -> None:
    """The MLflow reads `audit` makes for each of the n models, alone: the registered model (its
    aliases), the version each alias points at, the prompt family's champion alias."""
    from releasegate.releases import _registry as reg

    c = reg.client(None)
    for i in range(n):
        sid = f"svc-{i:04d}"
        for version in reg.aliases_of(c, sid).values():
            c.get_model_version(reg.registered_model_name(sid), version)
        c.get_prompt_version_by_alias(f"{sid}-router", "champion")


def measure_built_portfolio(n: int, repeat: int) -> dict[str, Any]:
    """Governance, audit and audit's MLflow reads alone over the portfolio in this process's
    environment (n scenarios), as a fresh `releasegate governance` / `audit` process meets it:
    a first call of each (imports, store setup) is left out of the timing."""
    from releasegate.reports import governance_report
    from releasegate.releases import audit

    html = Path(os.environ["RELEASEGATE_HOME"]) / "governance.html"
    portfolio = governance_report(html=html)["portfolio"]
    assert portfolio["scenarios"] == n and portfolio["releases"] == n, portfolio
    report = audit()  # what is timed does the whole job: every model checked, all in order
    assert len(report.checked) == n and report.findings == [] and not report.trust_problems, \
        (len(report.checked), report.findings[:2], list(report.trust_problems.items())[:2])
    _audit_mlflow_reads(n)
    row: dict[str, Any] = {"load_1min": os.getloadavg()[0]}
    row["governance_s"], row["governance_cpu_s"] = _median_wall_cpu(lambda: governance_report(html=html), repeat)
    row["audit_s"], row["audit_cpu_s"] = _median_wall_cpu(audit, repeat)
    row["mlflow_s"], row["mlflow_cpu_s"] = _median_wall_cpu(lambda: _audit_mlflow_reads(n), repeat)
    return row


def measure_portfolio(sizes: list[int]) -> list[dict[str, Any]]:
    """One portfolio grown to each size in turn; governance and audit timed at each in a fresh
    process (the building process holds everything it made: timed there at 300 models, audit took
    55 ms of CPU per model against 48, its MLflow reads 36 against 26-30 in a fresh process)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "releases"))
    root = Path(tempfile.mkdtemp(prefix="rg-portfolio-"))
    _portfolio_env(root)
    results, built = [], 0
    try:
        for n in sizes:
            t0 = time.perf_counter()
            _add_scenarios(root, built, n)
            build_s = time.perf_counter() - t0
            row: dict[str, Any] = {"scenarios": n, "build_per_scenario_s": build_s / (n - built)}
            built = n
            done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--measure-built", str(n),
                                   "--repeat", str(3 if n < 1000 else 1)],
                                  capture_output=True, text=True, env=os.environ.copy(), check=False)
            if done.returncode != 0:
                raise SystemExit(f"measuring the portfolio of {n} failed:\n{done.stderr[-3000:]}")
            row.update(json.loads(done.stdout.strip().splitlines()[-1]))
            print(json.dumps(row), flush=True)
            results.append(row)
    finally:
        import shutil

        shutil.rmtree(root, ignore_errors=True)
    return results


def growth_per_10x(t: float, t_prev: float, n: int, n_prev: int) -> float:
    """The time ratio carried to a 10x step in size: 10 = linear whatever the step (x3 in size and
    x3 in time is 10; x10 and x10 is 10)."""
    return (t / t_prev) ** (1 / math.log10(n / n_prev))


def portfolio_table(results: list[dict[str, Any]], command: str) -> str:
    lines = ["## Portfolio scale: governance and audit (issue 16)", "", f"`{command}`", "",
             "| scenarios (= registered models, each promoted once) | load (1 min) | build per scenario (s) | "
             "`releasegate governance` wall (s) | CPU (s) | `releasegate audit` wall (s) | CPU (s) | "
             "CPU per model (ms) | of which MLflow reads alone, CPU (s) | per model (ms) |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    prev = None
    for r in results:
        def cell(key: str) -> str:
            grow = f" (x{growth_per_10x(r[key], prev[key], r['scenarios'], prev['scenarios']):.1f})" if prev else ""
            return f"{r[key]:.2f}{grow}"
        lines.append(f"| {r['scenarios']:,} | {r['load_1min']:.1f} | {r['build_per_scenario_s']:.2f} | "
                     f"{cell('governance_s')} | {cell('governance_cpu_s')} | {cell('audit_s')} | "
                     f"{cell('audit_cpu_s')} | {1000 * r['audit_cpu_s'] / r['scenarios']:.1f} | {cell('mlflow_cpu_s')} | "
                     f"{1000 * r['mlflow_cpu_s'] / r['scenarios']:.1f} |")
        prev = r
    lines += ["", "One portfolio grown to each size: every scenario has its own contract and dataset, one PASS "
              "evaluation approved by both owners and promoted to champion (its own registered model, version and "
              "prompt alias in a SQLite MLflow store; SQLite ledger). governance = `governance_report` (what "
              "`releasegate governance` prints: contracts read and their datasets hashed, the whole ledger folded, "
              "HTML written); audit = `releasegate audit` over every scenario in the ledger (trust checks, aliases "
              "and versions read from MLflow, decisions re-verified), nothing to repair; MLflow reads alone = the "
              "calls audit makes to MLflow for every model (registered model, aliased version, prompt champion "
              "alias), timed without the rest. Each timed in a fresh process after one untimed call of each "
              "(imports, store setup), as a `releasegate governance` / `audit` process meets the portfolio. Wall = clock time; CPU = this process's CPU time (what the work "
              "costs; the wall clock on the shared 2-core machine also counts waiting for the other jobs, see the "
              "load column). (xF) = growth per 10x in scenarios, carried to 10x for other steps "
              "(ratio ** (1 / log10(size ratio))): 10 = linear. Medians of 3 calls (1 at 1,000)."]
    return "\n".join(lines)


# ---- why verify on PostgreSQL looked worse than linear (x11.0 from 10k to 100k) ------------------


def verify_breakdown(sizes: list[int], repeat: int = 5) -> list[dict[str, Any]]:
    """`Ledger.verify()` on PostgreSQL, `repeat` times per size, split into reading the rows (the
    same streaming select, nothing computed) and the rest (parse, canonical form, sha256)."""
    from sqlalchemy import select

    results = []
    for n in sizes:
        url, drop = _postgres(f"scale_verify_{os.getpid()}_{n}")
        try:
            ledger = Ledger.open(url)
            fill(ledger, n)

            def read_only() -> None:
                with ledger.engine.connect() as conn:
                    for _ in conn.execution_options(yield_per=10_000).execute(
                            select(events_table).order_by(events_table.c.seq)):
                        pass
            verify, read = [], []
            for _ in range(repeat):  # interleaved, so a busy moment on the machine hits both
                t0 = time.perf_counter()
                assert ledger.verify() == []
                verify.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                read_only()
                read.append(time.perf_counter() - t0)
            ledger.close()
        finally:
            drop()
        row = {"events": n, "verify": sorted(verify), "read": sorted(read)}
        print(json.dumps(row), flush=True)
        results.append(row)
    return results


def verify_table(results: list[dict[str, Any]], command: str) -> str:
    lines = ["## Ledger verify on PostgreSQL: where the time goes (issue 16)", "", f"`{command}`", "",
             "| events | verify median (s) | min..max (s) | µs per event | reading rows only (s) | µs per event |",
             "|---:|---:|---:|---:|---:|---:|"]
    prev = None
    for r in results:
        v, rd = statistics.median(r["verify"]), statistics.median(r["read"])
        grow = f" (x{v / prev:.1f})" if prev else ""
        lines.append(f"| {r['events']:,} | {v:.2f}{grow} | {r['verify'][0]:.2f}..{r['verify'][-1]:.2f} | "
                     f"{1e6 * v / r['events']:.0f} | {rd:.2f} | {1e6 * rd / r['events']:.0f} |")
        prev = v
    lines += ["", f"{len(results[0]['verify'])} runs per size, verify and a plain read of the same rows interleaved. "
              "Verify is one streaming pass (a server-side cursor, 10,000 rows per fetch; no query per row, nothing "
              "held in memory); reading the rows is a fifth of it, the rest is Python per row (JSON parse, RFC 8785, "
              "sha256), so its cost per event does not grow with the ledger. Repeated runs of one size differ by up to "
              "x1.8 on this shared machine: the x11.0 from 10k to 100k in the ledger-scale table (one run each) is "
              "that spread, not a worse-than-linear step."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--portfolio", default="10,100,1000", help="scenario counts for governance/audit")
    parser.add_argument("--measure-built", type=int, help=argparse.SUPPRESS)  # measure_portfolio's child
    parser.add_argument("--repeat", type=int, default=3, help=argparse.SUPPRESS)
    parser.add_argument("--only", choices=("ledger", "portfolio", "verify"),
                        help="one part; `verify`: repeated PostgreSQL verify at --sizes, read vs compute")
    args = parser.parse_args()
    if args.measure_built:  # in the environment measure_portfolio set up; one JSON line back
        print(json.dumps(measure_built_portfolio(args.measure_built, args.repeat)))
        return
    if args.only == "verify":
        sizes = [int(s) for s in args.sizes.split(",")]
        body = verify_table(verify_breakdown(sizes), f"python bench/scale.py --only verify --sizes {args.sizes}")
        print(body)
        write_section("ledger-verify-pg", body)
        return
    if args.only != "portfolio":
        sizes = [int(s) for s in args.sizes.split(",")]
        results = run(sizes, args.backends.split(","))
        command = "python bench/scale.py --only ledger" + \
            ("" if args.sizes == "10000,100000,1000000" else f" --sizes {args.sizes}") + \
            ("" if args.backends == "sqlite,postgresql" else f" --backends {args.backends}")
        body = table(results, command)
        print(body)
        write_section("ledger-scale", body)
    if args.only != "ledger":
        counts = [int(s) for s in args.portfolio.split(",")]
        body = portfolio_table(measure_portfolio(counts), "python bench/scale.py --only portfolio" +
                               ("" if args.portfolio == "10,100,1000" else f" --portfolio {args.portfolio}"))
        print(body)
        write_section("portfolio-scale", body)


if __name__ == "__main__":
    main()
