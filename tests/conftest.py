"""The test session runs with its own releasegate state: nothing lands in the repository's
.releasegate/, in ~/.config or in the committed keyring. Tests that need a fresh ledger or store
of their own set RELEASEGATE_HOME again in their fixtures (tests/releases, tests/flows).
Prepared models stay shared (converting them takes a minute): `make models` puts them in
.releasegate/models, or RELEASEGATE_MODELS_DIR names another folder."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def _isolated_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    base = tmp_path_factory.mktemp("rg-state")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RELEASEGATE_HOME", str(base / "home"))
        mp.setenv("RELEASEGATE_KEYS_DIR", str(base / "keys"))
        mp.setenv("RELEASEGATE_KEYRING", str(base / "keyring.yaml"))
        mp.setenv("RELEASEGATE_MODELS_DIR",
                  os.environ.get("RELEASEGATE_MODELS_DIR", str(ROOT / ".releasegate" / "models")))
        for var in ("RELEASEGATE_LEDGER_URL", "RELEASEGATE_MLFLOW_URI", "RELEASEGATE_LEDGER_KEY",
                    "RELEASEGATE_ACTOR_KEY", "RELEASEGATE_CHECKPOINT_DIR", "RELEASEGATE_LEDGER_IDENTITY",
                    "RELEASEGATE_TRUST_ROOT", "RELEASEGATE_REQUIRE_TRUST_ROOT", "RELEASEGATE_LEDGER_PUBKEY"):
            mp.delenv(var, raising=False)
        yield


@pytest.fixture
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh ledger, MLflow store, keys and keyring for one test, all under tmp_path
    (state in tmp_path/state). Returns tmp_path."""
    monkeypatch.setenv("RELEASEGATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("RELEASEGATE_KEYS_DIR", str(tmp_path / "keys"))
    monkeypatch.setenv("RELEASEGATE_KEYRING", str(tmp_path / "keyring.yaml"))
    monkeypatch.setenv("RELEASEGATE_ACTOR", "test-runner")
    for var in ("RELEASEGATE_LEDGER_URL", "RELEASEGATE_MLFLOW_URI", "RELEASEGATE_LEDGER_KEY",
                "RELEASEGATE_ACTOR_KEY", "RELEASEGATE_CHECKPOINT_DIR", "RELEASEGATE_LEDGER_IDENTITY",
                "RELEASEGATE_TRUST_ROOT", "RELEASEGATE_REQUIRE_TRUST_ROOT", "RELEASEGATE_LEDGER_PUBKEY"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def _schema_validator(name: str) -> object:
    import json

    import jsonschema

    schema = json.loads((ROOT / "docs" / "schemas" / name).read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


@pytest.fixture(scope="session", autouse=True)
def _documents_match_their_published_schemas() -> Iterator[None]:
    """Every verdict the suite serialises is validated against docs/schemas/verdict.schema.json
    (the published schema, not the pydantic model it came from): a document that drifts from
    its schema fails the test that produced it."""
    from releasegate.evals import Verdict

    verdict_schema = _schema_validator("verdict.schema.json")
    to_dict = Verdict.to_dict

    def checked(self: Verdict) -> dict:
        data = to_dict(self)
        verdict_schema.validate(data)  # type: ignore[attr-defined]
        return data

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Verdict, "to_dict", checked)
        yield
