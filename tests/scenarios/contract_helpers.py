"""Paths and small builders shared by the scenario tests (a plain module: tests/ has no packages)."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SUPPORT_TRIAGE = REPO / "datasets" / "support-triage"
INVOICE_EXTRACTION = REPO / "datasets" / "invoice-extraction"

Contract = dict[str, Any]
WriteContract = Callable[..., Path]
Mutation = Callable[[Contract], Any]


def set_field(path: str, value: Any) -> Mutation:
    """A mutation that sets a dotted path (list indices as numbers) to `value`."""

    def mutate(data: Contract) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return mutate


def delete_field(path: str) -> Mutation:
    def mutate(data: Contract) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for part in parents:
            node = node[part]
        del node[last]

    return mutate
