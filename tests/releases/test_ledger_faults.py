"""Ledger faults as designed states (issue 13): a ledger that cannot be written (SQLite file or
folder mode, a PostgreSQL role without write grants) is one line naming it and the fix, exit 2, no
SQLAlchemy traceback; a SQLite ledger whose write lock another process holds waits
RELEASEGATE_LEDGER_LOCK_WAIT_S (default 10 s, not 60) and then says "ledger busy, retry", exit 1."""
from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from releasegate.core import InputError
from releasegate.releases import Ledger
from releasegate.releases._ledger import DEFAULT_LOCK_WAIT_S, LedgerBusy, lock_wait_seconds

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "flows"))  # hostile_cli: the console entry point in-process
from hostile_cli import run_main  # noqa: E402
RELEASEGATE = Path(sys.executable).with_name("releasegate")
INCIDENT = ["incident", "open", "--scenario", "support-triage", "--severity", "sev3", "--summary", "disk full"]


def _one_line(proc: subprocess.CompletedProcess, code: int) -> str:
    text = proc.stdout + proc.stderr
    assert proc.returncode == code, text
    assert "Traceback" not in text and "sqlalchemy" not in text.lower(), text
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "(fix: " in lines[0], text
    return lines[0]


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder another user can enter (pytest's tmp_path is root's, mode 0700)."""
    folder = Path(tempfile.mkdtemp(prefix="rg-ledger-fault-"))
    folder.chmod(0o777)
    try:
        yield folder
    finally:
        for path in (folder, *folder.rglob("*")):
            path.chmod(0o777 if path.is_dir() else 0o666)
        shutil.rmtree(folder)


def _as_unprivileged() -> list[str]:
    """root ignores file modes: run the command as nobody (setpriv) so 0444 / 0555 mean read-only."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: file modes cannot make the ledger read-only")
    cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    reach = subprocess.run([*cmd, str(RELEASEGATE), "--help"], capture_output=True, text=True, timeout=120)
    if reach.returncode != 0:  # e.g. a checkout inside a 0700 folder (mktemp -d): nobody cannot enter it
        pytest.skip(f"nobody cannot run this checkout's CLI ({reach.stderr.strip()[:160]}): "
                    "clone the repository under a folder other users can enter")
    return cmd


@pytest.mark.parametrize("file_mode, folder_mode", [(0o444, 0o755), (0o666, 0o555), (0o444, 0o555)],
                         ids=["file-0444", "folder-0555", "both"])
def test_read_only_sqlite_ledger_is_one_line_exit_2(shared_dir: Path, file_mode: int, folder_mode: int) -> None:
    folder = shared_dir / "ledger"
    folder.mkdir()
    db = folder / "ledger.db"
    ledger = Ledger.open(f"sqlite:///{db}")
    ledger.append("synced", "support-triage", {"note": "before the disk went read-only"})
    ledger.close()
    db.chmod(file_mode)
    folder.chmod(folder_mode)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(shared_dir),
           "RELEASEGATE_HOME": str(shared_dir / "state"), "RELEASEGATE_LEDGER_URL": f"sqlite:///{db}",
           "RELEASEGATE_DATASETS": str(REPO / "datasets")}
    proc = subprocess.run([*_as_unprivileged(), str(RELEASEGATE), *INCIDENT], cwd=shared_dir, env=env,
                          capture_output=True, text=True, timeout=120)
    line = _one_line(proc, 2)
    assert line.startswith(f"error: {db}: the ledger cannot be written"), line
    assert "writable" in line
    # nothing half-written: the ledger still holds its one row and verifies
    assert [e.event_type for e in Ledger.open(f"sqlite:///{db}").events()] == ["synced"]
    if (file_mode, folder_mode) == (0o444, 0o555):  # reading a read-only ledger still works
        proc = subprocess.run([*_as_unprivileged(), str(RELEASEGATE), "ledger", "verify", "--no-mlflow"],
                              cwd=shared_dir, env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0 and "ledger intact: 1 rows" in proc.stdout, proc.stdout + proc.stderr


def test_locked_sqlite_ledger_waits_the_bounded_time_then_says_busy_retry(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = home / "state" / "ledger.db"
    Ledger.open(f"sqlite:///{db}").append("synced", "support-triage", {"note": "first"})
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process mid-write, holding the lock
    monkeypatch.setenv("RELEASEGATE_LEDGER_LOCK_WAIT_S", "1.5")
    monkeypatch.setenv("RELEASEGATE_DATASETS", str(REPO / "datasets"))
    try:
        started = time.monotonic()
        run = run_main(*INCIDENT)
        waited = time.monotonic() - started
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    lines = [line for line in run.err.splitlines() if line.strip()]
    assert run.code == 1, run.out + run.err  # not 2: nothing is wrong with the input
    assert len(lines) == 1 and "Traceback" not in run.out + run.err
    assert lines[0].startswith(f"error: {db}: ledger busy, retry: another process held its write lock for "
                               "more than 1.5 s"), lines[0]
    assert "(fix: retry in a moment (RELEASEGATE_LEDGER_LOCK_WAIT_S" in lines[0]
    assert 1.5 <= waited < 20, waited  # bounded by the setting (plus the command's own start)
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    monkeypatch.setattr("releasegate.releases._ledger._migrated", set())  # opened as by a new process
    try:  # a writer in the middle of its transaction does not block readers (nor their open)
        read = run_main("ledger", "verify", "--no-mlflow")  # waiting would end in "busy", exit 1
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert read.code == 0 and "ledger intact: 1 rows" in read.out, read.out + read.err
    assert len(Ledger.open(f"sqlite:///{db}").events()) == 1


def test_lock_wait_default_and_bad_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RELEASEGATE_LEDGER_LOCK_WAIT_S", raising=False)
    assert lock_wait_seconds() == DEFAULT_LOCK_WAIT_S == 10.0
    for bad in ("-1", "inf", "nan", "soon"):
        monkeypatch.setenv("RELEASEGATE_LEDGER_LOCK_WAIT_S", bad)
        with pytest.raises(InputError, match="RELEASEGATE_LEDGER_LOCK_WAIT_S=.* is not a number of seconds"):
            lock_wait_seconds()
    assert issubclass(LedgerBusy, InputError) and LedgerBusy.exit_code == 1


@pytest.mark.postgres
def test_postgres_role_without_write_grants_is_one_line(home: Path) -> None:
    psycopg = pytest.importorskip("psycopg")
    base = os.environ.get("RELEASEGATE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    dsn = base.replace("postgresql+psycopg://", "postgresql://")
    try:
        admin = psycopg.connect(dsn, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL not reachable at {dsn}: {exc}")
    tag = uuid.uuid4().hex[:10]
    schema, role = f"rg_test_{tag}", f"rg_reader_{tag}"
    admin.execute(f"CREATE SCHEMA {schema}")
    try:
        owner_url = f"{base}?options=-csearch_path%3D{schema}"
        Ledger.open(owner_url).append("synced", "support-triage", {"note": "written by the owner"})
        admin.execute(f"CREATE ROLE {role} LOGIN")
        admin.execute(f"GRANT USAGE ON SCHEMA {schema} TO {role}")
        admin.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {role}")
        reader_url = owner_url.replace("://postgres@", f"://{role}@")
        reader = Ledger.open(reader_url)
        assert [e.event_type for e in reader.events()] == ["synced"]  # reading is allowed
        with pytest.raises(InputError) as info:
            reader.append("synced", "support-triage", {"note": "not allowed"})
        reader.close()
        message = str(info.value)
        assert type(info.value) is InputError and info.value.exit_code == 2
        assert f"{role}@127.0.0.1:5432/test" in message and "may not do this (permission denied" in message
        assert "GRANT SELECT, INSERT, UPDATE, DELETE" in message and "\n" not in message
    finally:
        admin.execute(f"DROP SCHEMA {schema} CASCADE")
        admin.execute(f"DROP ROLE IF EXISTS {role}")
        admin.close()
