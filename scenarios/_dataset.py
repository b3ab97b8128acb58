"""Scenario datasets: loaded with HF `datasets`, validated row by row, identified by content.

A case is one flat row: an id, one column per prompt variable, a reference column (a label, or
JSON text for structured answers) and one column per slice field. Flat rows load the same way
from JSONL, JSON, Parquet and CSV.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._errors import InputError

if TYPE_CHECKING:
    import pandas as pd

    from ._load import LoadedScenario

_FORMATS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes: the dataset's identity, independent of its path and mtime."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class ScenarioDataset:
    """The validated cases of a scenario, in file order."""

    path: Path
    sha256: str
    rows: list[dict[str, Any]]
    id_field: str
    reference_field: str
    slice_fields: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def ids(self) -> list[str]:
        return [str(r[self.id_field]) for r in self.rows]

    def to_pandas(self) -> pd.DataFrame:
        import pandas as pd

        frame = pd.DataFrame(self.rows)
        frame[self.id_field] = frame[self.id_field].astype(str)
        return frame

    def slices_of(self, example_id: str) -> dict[str, str]:
        row = self._by_id()[example_id]
        return {f: str(row[f]) for f in self.slice_fields}

    def _by_id(self) -> dict[str, dict[str, Any]]:
        return {str(r[self.id_field]): r for r in self.rows}


def load_rows(path: str | Path) -> list[dict[str, Any]]:
    """Load a cases file with HF `datasets` (offline, no cache reuse by path)."""
    import datasets

    path = Path(path)
    builder = _FORMATS.get(path.suffix.lower())
    if builder is None:
        raise InputError(f"unsupported dataset format {path.suffix!r}", file=path,
                         fix="use .jsonl, .json, .parquet or .csv")
    datasets.disable_progress_bars()
    try:
        ds = datasets.load_dataset(builder, data_files=str(path), split="train", keep_in_memory=True)
    except Exception as exc:  # datasets raises many types for malformed files
        raise InputError(f"cannot load dataset: {exc}", file=path,
                         fix="check the file is valid " + builder.upper()) from None
    return ds.to_list()


def load_dataset_for(loaded: LoadedScenario, *, verify_digest: bool = True) -> ScenarioDataset:
    """Load and validate the cases a contract points at (digest checked by default)."""
    ref = loaded.scenario.dataset
    path = loaded.dataset_path
    if not path.is_file():
        raise loaded.error("dataset.path", f"dataset file {path} does not exist",
                           "point dataset.path at the cases file")
    digest = file_sha256(path)
    if verify_digest and digest != ref.sha256:
        raise loaded.error("dataset.sha256", f"dataset digest mismatch: file is {digest}",
                           f"update dataset.sha256 (`releasegate datasets digest {path}`)")
    rows = load_rows(path)
    required = {ref.id_field: "the case id", ref.reference_field: "the reference answer"}
    required.update({v: "a prompt variable" for v in loaded.scenario.prompt_family.variables})
    required.update({s: "a slice field" for s in ref.slice_fields})
    validate_rows(rows, path, required, ref.id_field)
    return ScenarioDataset(path=path, sha256=digest, rows=rows, id_field=ref.id_field,
                           reference_field=ref.reference_field, slice_fields=tuple(ref.slice_fields))


def validate_rows(rows: list[dict[str, Any]], path: Path, required: dict[str, str], id_field: str) -> None:
    """Every required column present and a non-empty scalar; ids unique. Row numbers are 1-based."""
    if not rows:
        raise InputError("dataset has no rows", file=path, fix="add at least one case")
    seen: dict[str, int] = {}
    for number, row in enumerate(rows, start=1):
        for column, role in required.items():
            value = row.get(column)
            if value is None or (isinstance(value, str) and not value.strip()):
                raise InputError(f"row {number}: missing {column!r} ({role})", file=path, line=number,
                                 field=column, fix=f"give every row a {column!r} value")
            if isinstance(value, (dict, list)):
                raise InputError(f"row {number}: {column!r} must be text or a number, got "
                                 f"{type(value).__name__}", file=path, line=number, field=column,
                                 fix="store structured references as JSON text")
        key = str(row[id_field])
        if key in seen:
            raise InputError(f"row {number}: duplicate id {key!r} (first at row {seen[key]})",
                             file=path, line=number, field=id_field, fix="make case ids unique")
        seen[key] = number
