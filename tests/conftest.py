"""Every test runs with its own releasegate state: nothing lands in the repository's
.releasegate/, in ~/.config or in the committed keyring, and no test sees another's ledger.
Prepared models stay shared (converting them takes a minute): `make models` puts them in
.releasegate/models, or RELEASEGATE_MODELS_DIR names another folder."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _isolated_state(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    base = tmp_path_factory.mktemp("rg-state")
    monkeypatch.setenv("RELEASEGATE_HOME", str(base / "home"))
    monkeypatch.setenv("RELEASEGATE_KEYS_DIR", str(base / "keys"))
    monkeypatch.setenv("RELEASEGATE_KEYRING", str(base / "keyring.yaml"))
    monkeypatch.setenv("RELEASEGATE_MODELS_DIR",
                       os.environ.get("RELEASEGATE_MODELS_DIR", str(ROOT / ".releasegate" / "models")))
    for var in ("RELEASEGATE_LEDGER_URL", "RELEASEGATE_MLFLOW_URI"):
        monkeypatch.delenv(var, raising=False)
