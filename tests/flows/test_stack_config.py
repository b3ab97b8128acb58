"""`releasegate.flows.stack` refuses bad settings with exit 2 before it starts anything, and never
drops a database it did not create."""
from __future__ import annotations

import os
from pathlib import Path

import psycopg
import pytest

from releasegate.flows import stack as rg_stack

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def test_bad_port_or_prefix_exits_2_and_starts_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RELEASEGATE_STACK_DIR", str(tmp_path / "stack"))
    monkeypatch.setenv("RELEASEGATE_STACK_MLFLOW_PORT", "fifty")
    assert rg_stack.main(["up"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: RELEASEGATE_STACK_MLFLOW_PORT: 'fifty' is not a port number (fix: set a number, e.g. 4200)"]
    monkeypatch.delenv("RELEASEGATE_STACK_MLFLOW_PORT")
    monkeypatch.setenv("RELEASEGATE_STACK_DB_PREFIX", "x; DROP DATABASE postgres")
    assert rg_stack.main(["up"]) == 2
    assert "is not a plain name" in capsys.readouterr().err
    assert not (tmp_path / "stack").exists()
    assert rg_stack.main(["sideways"]) == 2


def test_down_without_a_stack_does_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELEASEGATE_STACK_DIR", str(tmp_path / "stack"))
    assert rg_stack.down(say=lambda m: None) == {"stopped": [], "dropped": []}


@pytest.mark.postgres
def test_an_existing_database_is_refused_and_never_dropped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    prefix = f"stackcfg{os.getpid()}"
    monkeypatch.setenv("RELEASEGATE_STACK_DIR", str(tmp_path / "stack"))
    monkeypatch.setenv("RELEASEGATE_STACK_DB_PREFIX", prefix)
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{prefix}_mlflow"')  # someone else's, by name
        try:
            assert rg_stack.main(["up"]) == 2  # prefect db created, mlflow refused, then cleaned up
            names = {r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                                                (f"{prefix}%",))}
            assert names == {f"{prefix}_mlflow"}  # its own prefect database dropped, the other kept
            assert not (tmp_path / "stack" / "stack.json").exists()
        finally:
            conn.execute(f'DROP DATABASE IF EXISTS "{prefix}_mlflow" WITH (FORCE)')
            conn.execute(f'DROP DATABASE IF EXISTS "{prefix}_prefect" WITH (FORCE)')


def test_up_over_a_running_stack_is_refused_and_leaves_it_running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess
    import sys

    monkeypatch.setenv("RELEASEGATE_STACK_DIR", str(tmp_path / "stack"))
    cfg = rg_stack.StackConfig.from_env()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        cfg.stack_dir.mkdir(parents=True)
        rg_stack.StackRecord(services={"prefect": {"pid": other.pid}}, databases=["kept"]).save(cfg)
        before = cfg.record_path.read_text()
        assert rg_stack.main(["up"]) == 2
        assert other.poll() is None and cfg.record_path.read_text() == before
    finally:
        other.kill()
        other.wait()
