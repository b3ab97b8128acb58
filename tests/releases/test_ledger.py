"""The ledger's hash chain: intact when untouched, and every edit or deletion is named."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from releasegate.flows.cli import app
from releasegate.releases import Ledger


def _filled(n: int = 5) -> Ledger:
    ledger = Ledger.open()
    for i in range(n):
        ledger.append("evaluated" if i % 2 == 0 else "synced", "support-triage",
                      {"i": i, "rate": 0.5 + i / 10, "note": "ünïcode"}, subject=f"d{i}", actor="tester")
    return ledger


def _verify_cli() -> tuple[int, str]:
    result = CliRunner().invoke(app, ["ledger", "verify", "--no-mlflow"])
    return result.exit_code, result.output


def test_untouched_ledger_verifies(home: Path) -> None:
    ledger = _filled()
    assert ledger.verify() == []
    code, output = _verify_cli()
    assert code == 0 and "ledger intact: 5 rows, 0 checkpoints" in output
    events = ledger.events(scenario_id="support-triage", event_type="synced")
    assert [e.payload["i"] for e in events] == [1, 3]
    assert events[0].prev_hash == ledger.events()[0].hash  # chained to the row before it
    assert (home / "state" / "ledger.db").is_file()


def test_edited_row_is_named(home: Path) -> None:
    ledger = _filled()
    with ledger.engine.begin() as conn:
        conn.execute(text("UPDATE ledger_events SET payload = :p WHERE seq = 3"),
                     {"p": '{"i":2,"note":"ünïcode","rate":0.9}'})
    code, output = _verify_cli()
    assert code == 1
    assert "row 3 (evaluated" in output and "content does not match its hash (edited)" in output


def test_recomputed_hash_still_breaks_the_next_link(home: Path) -> None:
    # A forger who rewrites row 2 and its hash is caught at row 3, whose prev_hash no longer matches.
    from releasegate.releases._ledger import event_hash

    ledger = _filled()
    row = ledger.events()[1]
    forged = {**row.content(), "payload": {**row.payload, "i": 99}}
    with ledger.engine.begin() as conn:
        conn.execute(text("UPDATE ledger_events SET payload = :p, hash = :h WHERE seq = 2"),
                     {"p": '{"i":99,"note":"ünïcode","rate":0.6}', "h": event_hash(row.prev_hash, forged, row.canon)})
    problems = ledger.verify()
    assert problems == ["row 3 (evaluated): prev_hash does not match row 2's hash "
                        "(a row before it was edited or deleted)"]


@pytest.mark.parametrize(("payload", "expected"), [
    ("[" * 100_000 + "]" * 100_000, "row 3's payload is nested too deep to read"),
    ('{"i": 2', "row 3's payload is not JSON"),
])
def test_hostile_row_json_is_named_not_a_crash(home: Path, payload: str, expected: str) -> None:
    # A database writer plants JSON no writer of ours produces: verify names the row, every other
    # reader refuses in one line with exit 1 (no RecursionError traceback).
    ledger = _filled()
    with ledger.engine.begin() as conn:
        conn.execute(text("UPDATE ledger_events SET payload = :p WHERE seq = 3"), {"p": payload})
    code, output = _verify_cli()
    assert code == 1 and f"row 3 (evaluated): unreadable (ledger {expected}" in output
    shown = subprocess.run([sys.executable, "-m", "releasegate.flows.cli", "ledger", "show"],
                           capture_output=True, text=True, timeout=120)
    assert shown.returncode == 1, shown.stderr
    assert expected in shown.stderr and "Traceback" not in shown.stderr and shown.stdout == ""
    assert len(shown.stderr.strip().splitlines()) == 1 and "releasegate ledger verify" in shown.stderr


@pytest.mark.parametrize(("seq", "expected"), [
    (2, "rows 2..2 are missing (deleted)"),
    (5, "the ledger head says the last row is 5, the table ends at 4"),
])
def test_deleted_row_is_found(home: Path, seq: int, expected: str) -> None:
    ledger = _filled()
    with ledger.engine.begin() as conn:
        conn.execute(text("DELETE FROM ledger_events WHERE seq = :s"), {"s": seq})
    code, output = _verify_cli()
    assert code == 1 and expected in output


def test_bad_ledger_url_is_bad_input(home: Path) -> None:
    from releasegate.core import InputError

    with pytest.raises(InputError, match="unsupported ledger database 'mysql'"):
        Ledger.open("mysql://x@localhost/db")


def test_reads_inside_a_held_lock_do_not_wait_for_it(home: Path) -> None:
    import time

    ledger = _filled()
    started = time.monotonic()
    with ledger.scenario_lock("support-triage") as conn:
        ledger.append("promoted", "support-triage", {"version": "1"}, conn=conn)
        assert len(ledger.events()) == 5  # another connection: the uncommitted row is not visible yet
    assert time.monotonic() - started < 10  # the SQLite lock wait is RELEASEGATE_LEDGER_LOCK_WAIT_S (10 s)
    assert [e.event_type for e in ledger.events()][-1] == "promoted"
    assert ledger.verify() == []
