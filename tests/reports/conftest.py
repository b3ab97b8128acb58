"""Fixtures for the report tests: the seeded support-triage demo evidence and a verdict builder."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from releasegate.evals import Verdict
from releasegate.reports.examples.demo_data import demo_approvals, demo_verdict
from releasegate.scenarios import LoadedScenario, parse_scenario

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def contract() -> LoadedScenario:
    # schema-checked only: the demo dataset file need not exist for owners and RACI to be shown
    return parse_scenario(ROOT / "datasets" / "support-triage" / "scenario.yaml")


@pytest.fixture(scope="session")
def demo() -> tuple[Verdict, pd.DataFrame]:
    return demo_verdict()


@pytest.fixture(scope="session")
def approvals() -> list[dict[str, Any]]:
    return demo_approvals()
