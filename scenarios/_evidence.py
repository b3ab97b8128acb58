"""Evidence checks on generation records before anything scores them (issue 13).

The gate must not trust its evidence: a negative or NaN cost, a null id, a string in a numeric
column, or records made for another scenario, dataset, entry or prompt version would otherwise
be scored (a negative cost passes both cost checks). Each problem is one InputError that names
the file, the column (field) and the row.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from releasegate.core import InputError

# Columns whose values are amounts: finite and non-negative wherever present.
AMOUNT_COLUMNS = ("cost_usd", "latency_s", "ttft_s", "prompt_tokens", "completion_tokens")
# ...and present on every row that did not fail (an errored request may lack them).
REQUIRED_ON_SUCCESS = ("cost_usd", "latency_s", "prompt_tokens", "completion_tokens")
MAX_ID_CHARS = 512


def _row_label(frame: Any, position: int) -> str:
    value = frame["example_id"].iloc[position] if "example_id" in frame.columns else None
    shown = "" if value is None or value is _na() else f" (example_id {str(value)[:60]!r})"
    return f"row {position + 1}{shown}"


def _na() -> Any:
    import pandas as pd

    return pd.NA


def cast_record_columns(frame: Any, columns: dict[str, str], *, file: str | Path | None) -> Any:
    """Cast each known column to its dtype; a wrong dtype is one line naming column and row."""
    for column, dtype in columns.items():
        if column not in frame.columns:
            continue
        try:
            frame[column] = frame[column].astype(dtype)
        except (ValueError, TypeError, OverflowError) as exc:
            bad = _first_uncastable(frame[column], dtype)
            where = f" at row {bad + 1}" if bad is not None else ""
            kind = {"Int64": "whole numbers", "Float64": "numbers", "boolean": "true/false",
                    "string": "text"}.get(dtype, dtype)
            raise InputError(f"column {column!r} must hold {kind}{where} "
                             f"({str(exc).splitlines()[0][:120]})", file=file, field=column,
                             fix="regenerate the records with `releasegate generate`") from None
    if "example_id" in frame.columns:
        ids = frame["example_id"]
        nulls = ids.isna().to_numpy()
        if nulls.any():
            raise InputError(f"row {int(nulls.argmax()) + 1}: example_id is null", file=file,
                             field="example_id", fix="every record needs its case id")
        lengths = ids.astype("string").str.len().to_numpy()
        if len(lengths) and int(lengths.max()) > MAX_ID_CHARS:
            row = int(lengths.argmax())
            raise InputError(f"row {row + 1}: example_id is longer than {MAX_ID_CHARS} characters",
                             file=file, field="example_id", fix="use the dataset's case ids")
    return frame


def _first_uncastable(series: Any, dtype: str) -> int | None:
    import pandas as pd

    for position, value in enumerate(series.tolist()):
        if value is None or value is pd.NA:
            continue
        try:
            pd.Series([value]).astype(dtype)
        except (ValueError, TypeError, OverflowError):
            return position
    return None


def check_record_values(frame: Any, *, file: str | Path | None = None, side: str = "records") -> None:
    """Amounts finite and non-negative; present on every row that did not fail."""
    import numpy as np

    error = frame["error"] if "error" in frame.columns else None
    failed = np.zeros(len(frame), dtype=bool)
    if error is not None:
        failed = error.notna().to_numpy() & (error.astype("string").fillna("").str.len().to_numpy() > 0)
    for column in AMOUNT_COLUMNS:
        if column not in frame.columns:
            continue
        values = frame[column].astype("Float64")
        missing = values.isna().to_numpy()
        numbers = values.to_numpy(dtype="float64", na_value=0.0)
        bad_value = ~missing & (~np.isfinite(numbers) | (numbers < 0))
        if bad_value.any():
            row = int(bad_value.argmax())
            raise InputError(f"{side}: {_row_label(frame, row)}: {column} is {float(numbers[row])!r}; "
                             "it must be a finite, non-negative number", file=file, field=column,
                             fix="regenerate the records; a negative or non-finite amount is not evidence")
        if column in REQUIRED_ON_SUCCESS:
            absent = missing & ~failed
            if absent.any():
                row = int(absent.argmax())
                raise InputError(f"{side}: {_row_label(frame, row)}: {column} is missing on a "
                                 "request that did not fail", file=file, field=column,
                                 fix="regenerate the records, or set `error` for a failed request")


def check_record_meta(meta: Any, *, file: str | Path | None = None) -> dict[str, Any]:
    """The records' metadata is a JSON object (or absent)."""
    if meta is None:
        return {}
    if not isinstance(meta, dict):
        raise InputError(f"records metadata must be a JSON object, not {type(meta).__name__}",
                         file=file, field="releasegate", fix="regenerate the records with `releasegate generate`")
    cost = meta.get("cost")
    if cost is not None and not isinstance(cost, dict):
        raise InputError("records metadata: cost must be a JSON object", file=file, field="cost",
                         fix="regenerate the records with `releasegate generate`")
    total = (cost or {}).get("total_usd")
    if total is not None and (isinstance(total, bool) or not isinstance(total, (int, float))
                              or not math.isfinite(total) or total < 0):
        raise InputError(f"records metadata: cost.total_usd is {total!r}; it must be a finite, "
                         "non-negative number", file=file, field="cost.total_usd",
                         fix="regenerate the records; a negative or non-finite amount is not evidence")
    return meta


def check_records_match(scenario: Any, meta: dict[str, Any] | None, frame: Any, *,
                        dataset_sha256: str | None = None, side: str = "records",
                        file: str | Path | None = None) -> None:
    """Records were made for THIS scenario, dataset, entry and prompt version (where they say).

    A field the metadata does not carry is not invented; a field it carries must agree."""
    meta = meta or {}

    def refuse(field: str, message: str, fix: str) -> InputError:
        return InputError(f"{side}: {message}", file=file, field=field, fix=fix)

    said = meta.get("scenario_id")
    if said not in (None, "") and said != scenario.id:
        raise refuse("scenario_id", f"made for scenario {str(said)[:80]!r}, not {scenario.id!r}",
                     f"generate records for {scenario.id!r}")
    said = meta.get("dataset_sha256")
    if dataset_sha256 and said not in (None, "") and str(said) != dataset_sha256:
        raise refuse("dataset_sha256", f"made on dataset {str(said)[:80]!r}, not this scenario's "
                     f"dataset {dataset_sha256}", "regenerate the records on the current dataset")
    entries = _column_values(frame, "model_entry") | ({str(meta["model_entry"])} if meta.get("model_entry") else set())
    if len(entries) > 1:
        raise refuse("model_entry", f"mix model entries: {', '.join(sorted(entries)[:5])}",
                     "one record set per model entry")
    entry_name = next(iter(entries), None)
    entry = None
    if entry_name is not None:
        entry = scenario.models.get(entry_name)
        if entry is None:
            raise refuse("model_entry", f"model entry {entry_name[:80]!r} is not in the contract",
                         "use one of: " + ", ".join(sorted(scenario.models)))
    versions = _column_values(frame, "prompt_version") | (
        {str(meta["prompt_version"])} if meta.get("prompt_version") else set())
    if len(versions) > 1:
        raise refuse("prompt_version", f"mix prompt versions: {', '.join(sorted(versions)[:5])}",
                     "one prompt version per record set")
    if entry is not None and versions and next(iter(versions)) != entry.prompt_version:
        raise refuse("prompt_version", f"prompt version {next(iter(versions))[:80]!r} is not the "
                     f"{entry_name!r} entry's {entry.prompt_version!r}",
                     "regenerate the records with the contract's prompt version")
    digests = _column_values(frame, "model_digest") | (
        {str(meta["model_digest"])} if meta.get("model_digest") else set())
    if len(digests) > 1:
        raise refuse("model_digest", "records name more than one weight digest",
                     "one record set per model")


def _column_values(frame: Any, column: str) -> set[str]:
    if column not in frame.columns or not len(frame):
        return set()
    values = frame[column].dropna().astype("string")
    return {str(v) for v in values.unique() if str(v)}

