"""Flow tests run on Prefect's test harness (a temporary SQLite-backed server, once per session)
with releasegate's state (ledger, MLflow store, caches) in a temporary folder."""
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    home = tempfile.mkdtemp(prefix="rg-prefect-")
    os.environ["PREFECT_HOME"] = home
    from releasegate.flows._prefect_env import configure_prefect

    configure_prefect()
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture()
def rg_home(isolated_home) -> str:
    """A fresh RELEASEGATE_HOME (ledger, MLflow, runs, decisions) for one test."""
    return str(isolated_home / "state")
