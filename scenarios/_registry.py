"""Find scenarios: every `datasets/<id>/scenario.yaml` under the project root."""
from __future__ import annotations

from pathlib import Path

from releasegate.core import InputError
from ._load import LoadedScenario, parse_scenario
from releasegate.core import datasets_dir
from ._rules import validate_scenario


def scenario_paths(root: Path | None = None) -> list[Path]:
    root = root or datasets_dir()
    return sorted(root.glob("*/scenario.yaml"))


def resolve_scenario_path(ref: str | Path) -> Path:
    """A scenario id (`support-triage`), a folder, or a scenario.yaml path -> the YAML path."""
    candidate = Path(ref)
    if candidate.is_file():
        return candidate
    if candidate.is_dir() and (candidate / "scenario.yaml").is_file():
        return candidate / "scenario.yaml"
    by_id = datasets_dir() / str(ref) / "scenario.yaml"
    if by_id.is_file():
        return by_id
    known = ", ".join(p.parent.name for p in scenario_paths()) or "none"
    raise InputError(f"unknown scenario {str(ref)!r}", field="--scenario",
                     fix=f"use one of: {known}, or a path to a scenario.yaml")


def load_contract(ref: str | Path) -> LoadedScenario:
    """Resolve and schema-check a contract, without its dataset or the cross-field rules: for
    readers that must work while a dataset is being fixed (a stale dataset is then their reason
    to refuse, not a bad-input error)."""
    return parse_scenario(resolve_scenario_path(ref))


def load_scenario(ref: str | Path) -> LoadedScenario:
    """Resolve and fully validate a scenario contract."""
    return validate_scenario(resolve_scenario_path(ref))
