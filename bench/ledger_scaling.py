"""Cost of the tamper-evident ledger: verify time per million events and checkpoint write time,
on ledgers of 10k and 1M events.

    .venv/bin/python bench/ledger_scaling.py [--sizes 10000 1000000]

The ledger is a SQLite file in a temporary folder, filled in bulk with rows built by the
library's own hashing (`event_hash`, RFC 8785 via `releasegate.core.canonical_json`): one row in
50 is a privileged event (`promoted`) signed by its actor's Ed25519 key. Timed:
- `verify`: `verify_ledger` against one signed checkpoint: the hash chain, actor signatures on
  privileged rows, consistency with the checkpoint (the `releasegate ledger verify` work);
- `checkpoint`: `write_checkpoint` after one more append (sign the head, write the folder copy;
  MLflow publication is not part of it), the cost added to every alias move.
Writes its section of bench/RESULTS.md.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._results import write_section  # noqa: E402


def fill(ledger: object, n: int, signer: object) -> float:
    from releasegate.core import canonical_json
    from releasegate.releases._actors import sign_event
    from releasegate.releases._ledger import GENESIS_HASH, LedgerEvent, event_hash, events_table, head_table

    t0 = time.perf_counter()
    prev = GENESIS_HASH
    base = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    batch: list[dict[str, object]] = []
    with ledger.engine.begin() as conn:  # type: ignore[attr-defined]
        for seq in range(1, n + 1):
            privileged = seq % 50 == 0
            ev = LedgerEvent(
                seq, str(uuid.UUID(int=seq)), f"scenario-{seq % 7}", "promoted" if privileged else "evaluated",
                f"decision-{seq}", signer.identity if privileged else "ci",  # type: ignore[attr-defined]
                (base + dt.timedelta(seconds=seq)).isoformat(timespec="microseconds"),
                {"decision_digest": f"{seq:064x}", "verdict": "PASS", "cases_used": 120, "rate": 0.74},
                prev, "", "rfc8785")
            if privileged:
                ev = dataclasses.replace(ev, actor_signature=sign_event(ev.content(), prev, signer))
            ev = dataclasses.replace(ev, hash=event_hash(prev, ev.content(), ev.canon))
            batch.append({"seq": seq, "event_id": ev.event_id, "scenario_id": ev.scenario_id,
                          "event_type": ev.event_type, "subject": ev.subject, "actor": ev.actor,
                          # stored text need not be canonical (verify re-canonicalises what it parses)
                          "created_at": ev.created_at, "payload": json.dumps(ev.payload, sort_keys=True),
                          "prev_hash": prev, "hash": ev.hash, "canon": ev.canon,
                          "actor_signature": canonical_json(ev.actor_signature).decode() if ev.actor_signature else None})
            prev = ev.hash
            if len(batch) >= 20_000:
                conn.execute(events_table.insert(), batch)
                batch = []
        if batch:
            conn.execute(events_table.insert(), batch)
        conn.execute(head_table.update().values(seq=n, hash=prev))
    return time.perf_counter() - t0


def run(n: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.update({"RELEASEGATE_HOME": f"{tmp}/home", "RELEASEGATE_KEYS_DIR": f"{tmp}/keys",
                           "RELEASEGATE_KEYRING": f"{tmp}/keyring.yaml"})
        for var in ("RELEASEGATE_LEDGER_URL", "RELEASEGATE_CHECKPOINT_DIR", "RELEASEGATE_ACTOR_KEY",
                    "RELEASEGATE_LEDGER_KEY"):
            os.environ.pop(var, None)
        from releasegate.releases import Ledger
        from releasegate.releases._actors import ActorSigner
        from releasegate.releases._checkpoints import DEFAULT_LEDGER_IDENTITY, verify_ledger, write_checkpoint
        from releasegate.releases._keys import Keyring, generate_key, load_private_key, private_key_path

        generate_key(DEFAULT_LEDGER_IDENTITY)
        generate_key("release-ci@platform.example")
        signer = ActorSigner.from_key(load_private_key(private_key_path("release-ci@platform.example")))
        ledger = Ledger.open()
        fill_s = fill(ledger, n, signer)
        t0 = time.perf_counter()
        first = write_checkpoint(ledger, mlflow=False)
        checkpoint_s = time.perf_counter() - t0
        assert first.checkpoint is not None and first.checkpoint.seq == n, first
        ledger.append("synced", "scenario-0", {"target": "mlflow", "seqs": [n]}, actor="ci")
        t0 = time.perf_counter()
        second = write_checkpoint(ledger, mlflow=False)
        checkpoint2_s = time.perf_counter() - t0
        assert second.checkpoint is not None and second.checkpoint.seq == n + 1
        keyring = Keyring.load()
        t0 = time.perf_counter()
        result = verify_ledger(ledger, keyring=keyring, use_mlflow=False)
        verify_s = time.perf_counter() - t0
        assert result.problems == [], result.problems[:3]
        size = Path(f"{tmp}/home/ledger.db").stat().st_size
        ledger.close()
    return {"n": n, "fill_s": fill_s, "verify_s": verify_s, "verify_per_million_s": verify_s / n * 1e6,
            "checkpoint_first_s": checkpoint_s, "checkpoint_s": checkpoint2_s, "db_mb": size / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    args = parser.parse_args()
    rows = []
    for n in args.sizes:
        r = run(n)
        print(r, flush=True)
        rows.append(r)
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "## Ledger verification and checkpoints (issue 15)", "",
        f"Measured {when} on {os.cpu_count()} CPU cores shared with other jobs ({platform.machine()}, "
        f"Python {platform.python_version()}), SQLite file ledger; one row in 50 a signed privileged event.", "",
        f"Command: `.venv/bin/python bench/ledger_scaling.py --sizes {' '.join(map(str, args.sizes))}`", "",
        "| events | verify (s) | verify per million events (s) | checkpoint after an append (s) "
        "| first checkpoint of the whole ledger (s) | build (s) | database (MiB) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['n']:,} | {r['verify_s']:.2f} | {r['verify_per_million_s']:.1f} | "
                     f"{r['checkpoint_s']:.4f} | {r['checkpoint_first_s']:.4f} | {r['fill_s']:.1f} | {r['db_mb']:.0f} |")
    lines += ["", "Verify is linear in the ledger (one streaming pass: parse, RFC 8785 canonical form, "
              "sha256, Ed25519 check on privileged rows, checkpoint comparison); a checkpoint costs one "
              "head read, the row hashes since the previous checkpoint, one signature and one file, "
              "whatever the ledger's size."]
    write_section("ledger_scaling", "\n".join(lines))


if __name__ == "__main__":
    main()
