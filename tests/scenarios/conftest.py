"""Fixtures for the scenario contract tests: broken contracts built from the support-triage one."""
from __future__ import annotations

import copy
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from contract_helpers import SUPPORT_TRIAGE, Contract, WriteContract


@pytest.fixture(scope="session")
def support_triage_contract() -> Contract:
    return yaml.safe_load((SUPPORT_TRIAGE / "scenario.yaml").read_text(encoding="utf-8"))


@pytest.fixture
def write_contract(tmp_path: Path, support_triage_contract: Contract) -> WriteContract:
    """Write the support-triage contract, changed by `mutate`, next to a copy of its cases."""

    def write(mutate: Callable[[Contract], object] | None = None, *, source: Path = SUPPORT_TRIAGE) -> Path:
        folder = tmp_path / source.name
        folder.mkdir(exist_ok=True)
        shutil.copy(source / "cases.jsonl", folder / "cases.jsonl")
        data = copy.deepcopy(support_triage_contract) if source == SUPPORT_TRIAGE else \
            yaml.safe_load((source / "scenario.yaml").read_text(encoding="utf-8"))
        if mutate is not None:
            mutate(data)
        path = folder / "scenario.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
        return path

    return write
