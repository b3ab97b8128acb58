"""Prefect settings for the embedded default, applied before Prefect is imported.

With no PREFECT_API_URL, a flow run starts Prefect's temporary local server (SQLite under
`state_dir()/prefect`). On 2 cores it can take 10-20 s to start (FACTS.md), so the startup
timeout is raised; analytics are off (else a telemetry error prints on every run).
"""
from __future__ import annotations

import os

from releasegate.core import state_dir


def configure_prefect(api_url: str | None = None) -> None:
    """Set Prefect's environment; call before the first `import prefect` of the process."""
    if api_url:
        os.environ["PREFECT_API_URL"] = api_url
    os.environ.setdefault("PREFECT_HOME", str(state_dir() / "prefect"))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("PREFECT_RESULTS_PERSIST_BY_DEFAULT", "true")
