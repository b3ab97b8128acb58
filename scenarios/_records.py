"""Generation records: the Parquet file that flows from serving (gpu/) to scoring (evals/).

Defined here, in the first stage, because both the producer (gpu) and the consumer (evals) use
it and evals must not import gpu. One row per example; the record set's provenance and cost
travel in the Parquet schema metadata under the key `releasegate`.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from releasegate.core import InputError, atomic_write_bytes, load_json_bounded

from ._evidence import cast_record_columns, check_record_meta, check_record_values

# column -> pandas dtype (nullable where a value may be missing)
RECORD_COLUMNS: dict[str, str] = {
    "example_id": "string",
    "model_entry": "string",  # contract entry name, e.g. smollm2-v1
    "model": "string",  # model reference (packaged name, folder, hub id, endpoint model)
    "model_digest": "string",  # sha256 over the weight files ("" when unknown, e.g. hosted API)
    "prompt_version": "string",
    "output": "string",
    "prompt_tokens": "Int64",
    "completion_tokens": "Int64",
    "ttft_s": "Float64",
    "latency_s": "Float64",
    "finish_reason": "string",
    "cached": "boolean",
    "error": "string",  # null when the request succeeded
    "cost_usd": "Float64",  # this example's share of the record set's cost (sums to the total)
    "tool_calls": "string",  # JSON list of {"name", "arguments"} or null
}
REQUIRED_FOR_SCORING = ("example_id", "output", "prompt_tokens", "completion_tokens",
                        "latency_s", "error", "cost_usd")
METADATA_KEY = b"releasegate"


def write_records(frame: Any, path: str | Path, meta: dict[str, Any]) -> Path:
    """Write a records DataFrame with its metadata atomically (temp file + rename)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = frame.copy()
    for column, dtype in RECORD_COLUMNS.items():
        if column not in frame.columns:
            frame[column] = None
        frame[column] = frame[column].astype(dtype)
    frame = frame[list(RECORD_COLUMNS) + [c for c in frame.columns if c not in RECORD_COLUMNS]]
    table = pa.Table.from_pandas(frame, preserve_index=False)
    existing = table.schema.metadata or {}
    table = table.replace_schema_metadata({**existing, METADATA_KEY: json.dumps(meta, sort_keys=True).encode()})
    buffer = pa.BufferOutputStream()
    pq.write_table(table, buffer)
    return atomic_write_bytes(path, buffer.getvalue().to_pybytes())


def read_records(path: str | Path) -> tuple[Any, dict[str, Any]]:
    """Read records and their metadata; missing columns are named in the error."""
    import pyarrow.parquet as pq

    path = Path(path)
    try:
        table = pq.read_table(path)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read generation records: {str(exc).splitlines()[0][:200]}", file=path,
                         fix="pass a Parquet file written by `releasegate generate`") from None
    missing = [c for c in REQUIRED_FOR_SCORING if c not in table.column_names]
    if missing:
        raise InputError(f"missing columns: {', '.join(missing)}", file=path, field="columns",
                         fix="records need " + ", ".join(REQUIRED_FOR_SCORING))
    raw = (table.schema.metadata or {}).get(METADATA_KEY)
    parsed = load_json_bounded(raw, file=path, what="records metadata") if raw else {}
    if not isinstance(parsed, dict):
        raise InputError(f"records metadata must be a JSON object, not {type(parsed).__name__}",
                         file=path, field="releasegate", fix="regenerate the records with `releasegate generate`")
    meta = check_record_meta(parsed, file=path)
    frame = cast_record_columns(table.to_pandas(), RECORD_COLUMNS, file=path)
    check_record_values(frame, file=path)
    return frame, meta
