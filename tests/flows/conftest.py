"""Flow tests run on Prefect's test harness (a temporary SQLite-backed server, once per session)
with releasegate's state (ledger, MLflow store, caches) in a temporary folder."""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]


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


@pytest.fixture(scope="module")
def scenario_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of support-triage (contract + cases), so concurrent edits cannot race."""
    folder = tmp_path_factory.mktemp("scn") / "support-triage"
    folder.mkdir()
    for name in ("scenario.yaml", "cases.jsonl"):
        shutil.copy(REPO / "datasets" / "support-triage" / name, folder / name)
    return folder


@pytest.fixture(scope="module")
def cases(scenario_dir: Path) -> pd.DataFrame:
    """support-triage's cases as a frame (from the private copy)."""
    from releasegate.scenarios import load_dataset_for, load_scenario

    return load_dataset_for(load_scenario(scenario_dir / "scenario.yaml")).to_pandas()
