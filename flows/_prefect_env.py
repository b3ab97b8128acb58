"""Prefect settings for the embedded default, applied before Prefect is imported.

A configured Prefect server is used: `--prefect-api` / PREFECT_API_URL, else the active profile of
the user's Prefect configuration (`prefect config set PREFECT_API_URL=...` or `prefect cloud login`
write it to ~/.prefect/profiles.toml; releasegate keeps its own PREFECT_HOME, which would otherwise
hide that file). With none, a flow run starts Prefect's temporary local server (SQLite under
`state_dir()/prefect`): on 2 cores it takes 10-20 s to start (FACTS.md; about 23 s of a fully
cached `releasegate evaluate`, bench/RESULTS.md), so the startup timeout is raised; analytics are
off (else a telemetry error prints on every run).
"""
from __future__ import annotations

import os
from pathlib import Path

from releasegate.core import state_dir


def configure_prefect(api_url: str | None = None) -> None:
    """Set Prefect's environment; call before the first `import prefect` of the process."""
    if api_url:
        os.environ["PREFECT_API_URL"] = api_url
    if "PREFECT_HOME" not in os.environ and "PREFECT_PROFILES_PATH" not in os.environ:
        user_profiles = Path.home() / ".prefect" / "profiles.toml"  # Prefect's default location
        if user_profiles.is_file():
            os.environ["PREFECT_PROFILES_PATH"] = str(user_profiles)
    os.environ.setdefault("PREFECT_HOME", str(state_dir() / "prefect"))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("PREFECT_RESULTS_PERSIST_BY_DEFAULT", "true")
