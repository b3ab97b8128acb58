"""Fixtures for the serving tests: a fake OpenAI-compatible server and an isolated state dir."""
from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from fake_openai import FakeBehaviour, FakeServer, _Handler

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fake_server() -> Iterator[FakeServer]:
    behaviour = FakeBehaviour()
    handler = type("Handler", (_Handler,), {"behaviour": behaviour})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield FakeServer(f"http://127.0.0.1:{server.server_address[1]}/v1", behaviour, server)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Isolated RELEASEGATE_HOME; prepared models stay shared (converting takes a minute)."""
    monkeypatch.setenv("RELEASEGATE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RELEASEGATE_ROOT", str(ROOT))
    monkeypatch.setenv("RELEASEGATE_MODELS_DIR",
                       os.environ.get("RELEASEGATE_MODELS_DIR", str(ROOT / ".releasegate" / "models")))
    return tmp_path / "home"


@pytest.fixture
def triage():
    """support-triage contract and dataset (loaded once per test: contracts are small)."""
    from releasegate.scenarios import load_dataset_for, load_scenario

    loaded = load_scenario(ROOT / "datasets" / "support-triage" / "scenario.yaml")
    return loaded, load_dataset_for(loaded)
