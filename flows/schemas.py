"""The JSON Schemas of the documents that pass between stages, published under docs/schemas/.

`python -m releasegate.flows.schemas` rewrites them from the typed models; the test suite fails
when a published schema differs from its model (tests/flows/test_schemas.py).
"""
from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from releasegate.core import atomic_write_text, project_root
from releasegate.evals import verdict_json_schema
from releasegate.releases import EVENTS, predicate_json_schema
from releasegate.scenarios import records_meta_json_schema


def schemas() -> dict[str, Callable[[], dict[str, Any]]]:
    """Relative path under docs/schemas/ -> a function returning that schema."""
    out: dict[str, Callable[[], dict[str, Any]]] = {
        "verdict.schema.json": verdict_json_schema,
        "decision-predicate.schema.json": predicate_json_schema,
        "records-meta.schema.json": records_meta_json_schema,
    }
    for name, spec in EVENTS.items():
        out[f"events/{name}.schema.json"] = spec.json_schema
    return out


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def schemas_dir() -> Path:
    return project_root() / "docs" / "schemas"


def stale(folder: Path | None = None) -> list[str]:
    """Published schemas that differ from their model (or are missing); [] when all are current."""
    folder = folder or schemas_dir()
    return [rel for rel, make in schemas().items()
            if not (folder / rel).is_file() or (folder / rel).read_text(encoding="utf-8") != render(make())]


def write_schemas(folder: Path | None = None) -> list[Path]:
    folder = folder or schemas_dir()
    written = []
    for rel, make in schemas().items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, render(make()))
        written.append(path)
    return written


if __name__ == "__main__":  # pragma: no cover
    for path in write_schemas(Path(sys.argv[1]) if len(sys.argv) > 1 else None):
        print(path)
