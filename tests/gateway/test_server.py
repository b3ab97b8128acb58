"""`releasegate gateway up --workers N`: the gateway scales by processes (one process is at most one
core: bench/RESULTS.md, "Gateway overhead"), and a setting out of range is refused before anything
starts; its environment (the model catalog its trace costs come from)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from releasegate.core import InputError, state_dir
from releasegate.gateway import GatewayServer
from releasegate.gateway._server import CATALOG_ENV, MAX_WORKERS, gateway_env
from releasegate.gpu import free_port


def test_zero_workers_is_refused_before_a_server_starts(isolated_home: Path) -> None:
    port = free_port()
    result = subprocess.run([sys.executable, "-m", "releasegate.flows.cli", "gateway", "up", "--workers", "0",
                             "--port", str(port)], capture_output=True, text=True, timeout=120)
    said = result.stdout + result.stderr
    assert result.returncode == 2, said
    assert "--workers" in said and "1 to 64" in said and "Traceback" not in said
    assert not (state_dir() / "gateway").exists()  # no log: nothing was started


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=-(2**63), max_value=2**63))
def test_workers_outside_1_to_64_is_one_input_error_naming_the_flag(workers: int) -> None:
    if 1 <= workers <= MAX_WORKERS:
        assert GatewayServer(workers=workers, mlflow_uri="sqlite:///unused.db").workers == workers  # nothing starts
    else:
        with pytest.raises(InputError) as caught:
            GatewayServer(workers=workers, mlflow_uri="sqlite:///unused.db")
        assert caught.value.field == "--workers" and "\n" not in str(caught.value)


def test_two_workers_are_two_gateway_processes_behind_one_port(isolated_home: Path) -> None:
    server = GatewayServer(workers=2, cache_ttl_s=10)
    with server as url:
        assert httpx.get(url + "/health", timeout=10).status_code == 200
        tree = psutil.Process(server.process.pid).children(recursive=True)
        workers = [p for p in tree if "spawn_main" in " ".join(p.cmdline())]
        assert len(workers) == 2, [" ".join(p.cmdline())[:80] for p in tree]
        pid = server.process.pid
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert not any(psutil.pid_exists(p.pid) and p.status() != psutil.STATUS_ZOMBIE for p in workers)


def test_the_gateway_prices_usage_from_mlflows_bundled_catalog_unless_told_otherwise(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset, MLflow fetches its model catalog over the network on the first trace (6-8 s of retries
    where there is none, blocking the cost computation); the gateway uses the pinned MLflow's bundled
    catalog instead, and keeps an operator's mirror."""
    monkeypatch.delenv(CATALOG_ENV, raising=False)
    assert gateway_env()[CATALOG_ENV] == ""
    monkeypatch.setenv(CATALOG_ENV, "file:///srv/catalog")
    assert gateway_env()[CATALOG_ENV] == "file:///srv/catalog"
