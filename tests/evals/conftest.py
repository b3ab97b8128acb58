"""Shared fixtures for tests/evals (builders live in evals_fixtures.py)."""
from __future__ import annotations

from typing import Any

import pytest

from evals_fixtures import load_triage


@pytest.fixture(scope="session")
def triage() -> Any:
    return load_triage()
