"""A configured Prefect server is used by releasegate's flows, not a temporary one per run.

Each case runs a fresh interpreter: Prefect reads its settings once, at import."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROBE = ("from releasegate.flows._prefect_env import configure_prefect; configure_prefect({api!r}); "
         "from prefect.settings import PREFECT_API_URL, PREFECT_HOME; "
         "print(PREFECT_API_URL.value()); print(PREFECT_HOME.value())")


def _settings(tmp_path: Path, *, api: str | None = None, **env: str) -> list[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    done = subprocess.run([sys.executable, "-c", PROBE.format(api=api)], capture_output=True, text=True,
                          env={**base, "HOME": str(tmp_path / "user"), "RELEASEGATE_HOME": str(tmp_path / "rg"),
                               **env}, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def _profile(tmp_path: Path, url: str) -> None:
    folder = tmp_path / "user" / ".prefect"
    folder.mkdir(parents=True)
    (folder / "profiles.toml").write_text(f'active = "team"\n\n[profiles.team]\nPREFECT_API_URL = "{url}"\n')


def test_the_active_user_profile_names_the_server(tmp_path):
    _profile(tmp_path, "http://prefect.internal:4200/api")
    # releasegate's own PREFECT_HOME (temporary server state) used to hide ~/.prefect/profiles.toml
    assert _settings(tmp_path) == ["http://prefect.internal:4200/api", str(tmp_path / "rg" / "prefect")]
    # --prefect-api (or PREFECT_API_URL) still wins over the profile
    assert _settings(tmp_path, api="http://127.0.0.1:4300/api")[0] == "http://127.0.0.1:4300/api"


def test_no_configuration_means_the_temporary_server(tmp_path):
    assert _settings(tmp_path) == ["None", str(tmp_path / "rg" / "prefect")]


def test_a_prefect_home_of_the_users_own_is_left_alone(tmp_path):
    _profile(tmp_path, "http://prefect.internal:4200/api")
    home = tmp_path / "elsewhere"
    assert _settings(tmp_path, PREFECT_HOME=str(home)) == ["None", str(home)]
