"""Fixtures for the releases stage: an isolated home, a scenario, owners' keys."""
from __future__ import annotations

from pathlib import Path

import pytest
from releases_fixtures import ESCALATION, INTRUDER, PLATFORM, PRODUCT, Keys, write_scenario

from releasegate.scenarios import LoadedScenario, load_scenario


@pytest.fixture
def home(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Nothing lands in the repository or ~: state, keys, keyring and datasets under tmp_path."""
    monkeypatch.setenv("RELEASEGATE_DATASETS", str(isolated_home / "datasets"))
    return isolated_home


@pytest.fixture
def scenario(home: Path) -> LoadedScenario:
    write_scenario(home / "datasets" / "support-triage")
    return load_scenario("support-triage")


@pytest.fixture
def keys(home: Path) -> Keys:
    from releasegate.releases import generate_key
    from releasegate.releases._keys import private_key_path

    for identity in (PRODUCT, PLATFORM, INTRUDER, ESCALATION):
        generate_key(identity)
    return Keys(*(private_key_path(i) for i in (PRODUCT, PLATFORM, INTRUDER, ESCALATION)))
