"""Where releasegate finds scenarios and keeps its state.

Scenarios live in `datasets/<id>/scenario.yaml` under the project root. State (ledger, MLflow
store, generation cache, prepared models, reports) lives under `RELEASEGATE_HOME`, by default
`.releasegate/` in the working directory. Private keys never live there: see `keys_dir()`.
"""
from __future__ import annotations

import os
from pathlib import Path

# releasegate/_paths.py in a checkout: two levels up is the project root (the folder with datasets/).
_PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def project_root() -> Path:
    """The folder holding `datasets/`: $RELEASEGATE_ROOT, else the cwd if it has one, else the checkout."""
    env = os.environ.get("RELEASEGATE_ROOT")
    if env:
        return Path(env).resolve()
    cwd = Path.cwd()
    if (cwd / "datasets").is_dir():
        return cwd
    return _PACKAGE_ROOT


def datasets_dir() -> Path:
    return Path(os.environ.get("RELEASEGATE_DATASETS", project_root() / "datasets")).resolve()


def state_dir() -> Path:
    """Writable state: ledger, MLflow store, caches, reports. Created on first use."""
    path = Path(os.environ.get("RELEASEGATE_HOME", project_root() / ".releasegate")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def keys_dir() -> Path:
    """Private keys: outside the repository, e.g. ~/.config/releasegate/keys (mode 0700)."""
    default = Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config")) / "releasegate" / "keys"
    return Path(os.environ.get("RELEASEGATE_KEYS_DIR", default)).resolve()
