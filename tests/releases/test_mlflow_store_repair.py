"""A half-migrated MLflow SQLite store (issue 13): a disk filling during an MLflow migration left
`alembic_version` one revision behind with part of the next migration applied; MLflow then fails
on every open ("table ... already exists") and `sync` failed for ever. `sync` now detects it and
repairs it: MLflow's own migration when that works, else the store moved aside and rebuilt from
the ledger, said on stdout."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from releases_fixtures import make_verdict, weights_digest
from releasegate.releases import Ledger, build_decision, record_evaluation
from releasegate.releases._mlflow_store import store_problem
from releasegate.scenarios import LoadedScenario

BEFORE_HEAD = "75868b020152"  # MLflow 3.17.2's head dc11669786a5 creates scheduler_leases, job_locks


def _store(home: Path) -> Path:
    return home / "state" / "mlflow.db"


def _downgrade_one(path: Path) -> None:
    """The store as an MLflow one release older left it (MLflow's own alembic downgrade)."""
    import sqlalchemy
    from alembic import command
    from mlflow.store.db.utils import _get_alembic_config

    engine = sqlalchemy.create_engine(f"sqlite:///{path}")
    config = _get_alembic_config(str(engine.url))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, BEFORE_HEAD)
    engine.dispose()


@pytest.fixture
def recorded(home: Path, scenario: LoadedScenario) -> Ledger:
    """Two evaluations in the ledger and in the local MLflow store."""
    ledger = Ledger.open()
    for i, (entry, model) in enumerate((("gemma3-v1", "gemma3-270m"), ("smollm2-v2", "smollm2-135m-instruct"))):
        verdict = make_verdict(scenario, decision="PASS", candidate=entry, model=model)
        env = build_decision(scenario, verdict, candidate_model_digest=weights_digest(model),
                             created_at=f"2026-12-01T10:00:0{i}+00:00")
        assert record_evaluation(scenario, verdict, env, ledger=ledger)["mlflow_error"] is None
    assert store_problem(_store(home)) is None
    return ledger


def _sync() -> tuple[int, list[str]]:
    """`releasegate sync` as the operator runs it: its own process (MLflow caches stores per URI)."""
    proc = subprocess.run([str(Path(sys.executable).with_name("releasegate")), "sync"], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "COLUMNS": "400"})
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    return proc.returncode, proc.stdout.splitlines()


def _versions(path: Path) -> list[str]:
    """The candidate entries of the registered versions, read from the file (not a cached store)."""
    with sqlite3.connect(path) as db:
        return sorted(r[0] for r in db.execute(
            "SELECT value FROM model_version_tags WHERE key = 'candidate_entry'"))


def _runs(path: Path) -> set[str]:
    with sqlite3.connect(path) as db:
        return {r[0] for r in db.execute("SELECT run_uuid FROM runs")}


def test_half_migrated_store_is_moved_aside_and_rebuilt_from_the_ledger(home: Path, recorded: Ledger) -> None:
    path = _store(home)
    _downgrade_one(path)
    with sqlite3.connect(path) as db:  # the interrupted migration's first step, then the disk was full
        db.execute("CREATE TABLE scheduler_leases (lease_key VARCHAR(255) NOT NULL, acquired_at BIGINT "
                   "NOT NULL, ttl_seconds INTEGER NOT NULL, CONSTRAINT scheduler_leases_pk PRIMARY KEY (lease_key))")
    assert store_problem(path) == f"schema revision {BEFORE_HEAD}, this MLflow needs dc11669786a5"
    opened = subprocess.run([sys.executable, "-c", "import mlflow; mlflow.MlflowClient("
                             f"tracking_uri='sqlite:///{path}').search_experiments()"],
                            capture_output=True, text=True, timeout=300)
    assert opened.returncode != 0 and "already exists" in opened.stderr  # what `sync` hit for ever

    code, lines = _sync()
    assert code == 0, lines
    [note] = [line for line in lines if line.startswith("repaired: ")]
    assert note.startswith(f"repaired: MLflow store {path}: schema revision {BEFORE_HEAD}, this MLflow needs "
                           "dc11669786a5; MLflow's migration failed (")
    assert "already exists" in note and "rebuilt from the ledger (2 event(s) pushed again)" in note
    aside = [p for p in path.parent.iterdir() if p.name.endswith(".broken")]
    assert len(aside) == 1 and f"moved aside to {aside[0]}" in note
    assert lines[-1] == "2 pushed, 0 failed"
    assert store_problem(path) is None
    assert _versions(path) == ["gemma3-v1", "smollm2-v2"]
    assert _sync() == (0, ["0 pushed, 0 failed"])  # repaired once; nothing pushed twice


def test_store_one_migration_behind_is_migrated_in_place(home: Path, recorded: Ledger) -> None:
    path = _store(home)
    _downgrade_one(path)
    run_ids = _runs(path)
    assert len(run_ids) == 2
    code, lines = _sync()
    assert code == 0, lines
    [note] = [line for line in lines if line.startswith("repaired: ")]
    assert note.startswith(f"repaired: MLflow store {path}: schema revision {BEFORE_HEAD}, this MLflow needs "
                           "dc11669786a5; migrated with MLflow's own migration (the store before it is ")
    assert store_problem(path) is None
    assert _runs(path) == run_ids and _versions(path) == ["gemma3-v1", "smollm2-v2"]
    assert lines[-1] == "0 pushed, 0 failed"  # nothing lost, nothing to push again


def test_a_file_that_is_not_a_database_is_rebuilt(home: Path, recorded: Ledger) -> None:
    path = _store(home)
    path.write_bytes(b"\0" * 4096)  # a write that never finished
    assert store_problem(path).startswith("unreadable (")
    code, lines = _sync()
    assert code == 0, lines
    assert any(line.startswith("repaired: ") and "rebuilt from the ledger (2 event(s)" in line for line in lines)
    assert lines[-1] == "2 pushed, 0 failed"
    assert _versions(path) == ["gemma3-v1", "smollm2-v2"]
