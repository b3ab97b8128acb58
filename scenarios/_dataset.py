"""Scenario datasets: loaded with HF `datasets`, validated row by row, identified by content.

A case is one flat row: an id, one column per prompt variable, a reference column (a label, or
JSON text for structured answers) and one column per slice field. Flat rows load the same way
from JSONL, JSON, Parquet and CSV.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from releasegate.core import InputError, load_json_bounded, read_text_bounded

if TYPE_CHECKING:
    import pandas as pd

    from ._load import LoadedScenario

MAX_DATASET_BYTES = 512 * 1024 * 1024
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
    """Load a cases file with HF `datasets`, offline.

    HF caches a prepared file under a fingerprint of path and mtime, not content (FACTS.md), so
    each load gets a throwaway cache folder: an edited file can never be served stale.
    """
    import tempfile

    import datasets

    path = Path(path)
    builder = _FORMATS.get(path.suffix.lower())
    if builder is None:
        raise InputError(f"unsupported dataset format {path.suffix!r}", file=path,
                         fix="use .jsonl, .json, .parquet or .csv")
    if not path.is_file():
        raise InputError("dataset file does not exist", file=path, fix="check the path")
    if builder == "json":
        _read_json_rows(path)  # names the line of a malformed row before pyarrow's vaguer error
    datasets.disable_progress_bars()
    with tempfile.TemporaryDirectory(prefix="releasegate-hf-") as cache:
        try:
            ds = datasets.load_dataset(builder, data_files=str(path), split="train",
                                       keep_in_memory=True, cache_dir=cache)
        except Exception as exc:  # datasets raises many types for malformed files
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InputError(f"cannot load dataset: {first_line}", file=path,
                             fix="check the file is valid " + path.suffix.lstrip(".").upper()) from None
        return ds.to_list()


def _read_json_rows(path: Path) -> tuple[list[dict[str, Any]], list[int]]:
    """Rows of a JSONL (or JSON array) file with the line each starts on, parsed by the stdlib.

    Used to check rows with exact line numbers; pyarrow's own errors for a mixed-type column or a
    broken line do not say which case it was.
    """
    text = read_text_bounded(path, max_bytes=MAX_DATASET_BYTES, what="dataset")
    if path.suffix.lower() == ".json" and text.lstrip().startswith("["):
        rows = load_json_bounded(text.encode("utf-8"), max_bytes=MAX_DATASET_BYTES, file=path,
                                 what="dataset")
        for number, row in enumerate(rows, start=1):
            if not isinstance(row, dict):
                raise InputError(f"row {number}: a case must be a JSON object, got "
                                 f"{type(row).__name__}", file=path, fix="write one object per case")
        return rows, [0] * len(rows)  # a JSON array has no line per row
    rows, lines = [], []
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = load_json_bounded(line.encode("utf-8"), max_bytes=MAX_DATASET_BYTES, what="case")
        except InputError as exc:
            raise InputError(f"row {len(rows) + 1}: {exc.message}", file=path, line=line_number,
                             field=exc.field, fix=exc.fix or "write one JSON object per line") from None
        if not isinstance(row, dict):
            raise InputError(f"row {len(rows) + 1}: a case must be a JSON object, got {type(row).__name__}",
                             file=path, line=line_number, fix="write one JSON object per line")
        rows.append(row)
        lines.append(line_number)
    return rows, lines


@dataclass(frozen=True)
class RowSpec:
    """What every case of a scenario must carry, derived from its contract."""

    id_field: str
    reference_field: str
    variables: tuple[str, ...] = ()
    slice_fields: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()  # label tasks: the reference is one of these
    json_reference: bool = False  # json tasks: the reference is JSON text of an object
    json_schema: dict | None = None  # ...that matches this schema

    @classmethod
    def for_scenario(cls, loaded: LoadedScenario) -> RowSpec:
        s = loaded.scenario
        return cls(id_field=s.dataset.id_field, reference_field=s.dataset.reference_field,
                   variables=tuple(s.prompt_family.variables), slice_fields=tuple(s.dataset.slice_fields),
                   labels=tuple(s.task.labels) if s.task.kind == "label" else (),
                   json_reference=s.task.kind == "json", json_schema=s.task.json_schema)

    def roles(self) -> dict[str, str]:
        roles = {self.id_field: "the case id", self.reference_field: "the reference answer"}
        roles.update({v: "a prompt variable" for v in self.variables if v not in roles})
        roles.update({f: "a slice field" for f in self.slice_fields if f not in roles})
        return roles


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
    spec = RowSpec.for_scenario(loaded)
    if path.suffix.lower() == ".csv":  # HF's CSV reader would raise UnicodeDecodeError
        read_text_bounded(path, max_bytes=MAX_DATASET_BYTES, what="dataset")
    if _FORMATS.get(path.suffix.lower()) == "json":
        raw_rows, lines = _read_json_rows(path)
        validate_rows(raw_rows, path, spec, lines)
    rows = load_rows(path)
    validate_rows(rows, path, spec)
    return ScenarioDataset(path=path, sha256=digest, rows=rows, id_field=ref.id_field,
                           reference_field=ref.reference_field, slice_fields=tuple(ref.slice_fields))


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):  # an empty CSV cell
        return True
    return isinstance(value, str) and not value.strip()


def validate_rows(rows: list[dict[str, Any]], path: Path, spec: RowSpec,
                  lines: list[int] | None = None) -> None:
    """Every required column present, of the right type and consistent across rows; references
    valid for the task; ids unique. Row numbers are 1-based; `lines` gives each row's file line."""
    if not rows:
        raise InputError("dataset has no rows", file=path, fix="add at least one case")
    validator = None
    if spec.json_schema:
        import jsonschema

        validator = jsonschema.Draft202012Validator(spec.json_schema)
    first_kind: dict[str, tuple[str, int]] = {}
    seen: dict[str, int] = {}
    for number, row in enumerate(rows, start=1):
        line = lines[number - 1] if lines and lines[number - 1] else None

        def bad(column: str, message: str, fix: str) -> InputError:
            return InputError(f"row {number}: {message}", file=path, line=line, field=column, fix=fix)

        for column, role in spec.roles().items():
            value = row.get(column)
            if _missing(value):
                raise bad(column, f"missing {column!r} ({role})", f"give every row a {column!r} value")
            kind = _kind(value)
            # ids and slice values may be numbers (a CSV reader makes "3" one); prompt text may not
            numeric_ok = column == spec.id_field or (column in spec.slice_fields and column not in spec.variables)
            allowed = ("str", "number") if numeric_ok else ("str",)
            if kind not in allowed:
                raise bad(column, f"{column!r} ({role}) must be {' or '.join(allowed)}, got {kind}",
                          "store structured references as JSON text" if column == spec.reference_field
                          else f"write {column!r} as {allowed[0]}")
            if column in first_kind and first_kind[column][0] != kind:
                was, at = first_kind[column]
                raise bad(column, f"{column!r} is {kind} but row {at} has {was}",
                          f"use one type for {column!r} in every row")
            first_kind.setdefault(column, (kind, number))
        reference = row[spec.reference_field]
        if spec.labels and reference not in spec.labels:
            raise bad(spec.reference_field, f"reference {reference!r} is not one of the labels "
                      f"({', '.join(spec.labels)})", "fix the label or add it to task.labels")
        if spec.json_reference:
            try:
                answer = load_json_bounded(reference.encode("utf-8"), what="reference")
            except InputError as exc:
                raise bad(spec.reference_field, f"reference is not valid JSON ({exc.message})",
                          "store the expected fields as JSON text") from None
            if not isinstance(answer, dict):
                raise bad(spec.reference_field, "reference must be a JSON object",
                          "store the expected fields as a JSON object")
            problem = next(iter(validator.iter_errors(answer)), None) if validator else None
            if problem is not None:
                where = ".".join(str(p) for p in problem.absolute_path) or "(root)"
                raise bad(spec.reference_field, f"reference does not match task.json_schema at "
                          f"{where}: {problem.message}", "fix the reference or the schema")
        key = str(row[spec.id_field])
        if key in seen:
            raise bad(spec.id_field, f"duplicate id {key!r} (first at row {seen[key]})", "make case ids unique")
        seen[key] = number
