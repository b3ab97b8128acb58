"""Fixtures for the releases stage: an isolated home, a scenario, owners' keys."""
from __future__ import annotations

from pathlib import Path

import pytest
from releases_fixtures import ESCALATION, INTRUDER, PLATFORM, PRODUCT, Keys, write_scenario

from scenarios import LoadedScenario, load_scenario


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Nothing lands in the repository or ~: state, keys, keyring and datasets under tmp_path."""
    monkeypatch.setenv("RELEASEGATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("RELEASEGATE_KEYS_DIR", str(tmp_path / "keys"))
    monkeypatch.setenv("RELEASEGATE_KEYRING", str(tmp_path / "keyring.yaml"))
    monkeypatch.setenv("RELEASEGATE_DATASETS", str(tmp_path / "datasets"))
    monkeypatch.setenv("RELEASEGATE_ACTOR", "test-runner")
    for var in ("RELEASEGATE_LEDGER_URL", "RELEASEGATE_MLFLOW_URI"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


@pytest.fixture
def scenario(home: Path) -> LoadedScenario:
    write_scenario(home / "datasets" / "support-triage")
    return load_scenario("support-triage")


@pytest.fixture
def keys(home: Path) -> Keys:
    from releases import generate_key
    from releases._keys import private_key_path

    for identity in (PRODUCT, PLATFORM, INTRUDER, ESCALATION):
        generate_key(identity)
    return Keys(*(private_key_path(i) for i in (PRODUCT, PLATFORM, INTRUDER, ESCALATION)))
