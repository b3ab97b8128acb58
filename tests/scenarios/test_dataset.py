"""Datasets: content digests, loading JSONL / JSON / CSV / Parquet, row checks with row numbers."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from contract_helpers import INVOICE_EXTRACTION, SUPPORT_TRIAGE, Contract, WriteContract

from releasegate.core import InputError
from releasegate.scenarios import (
    file_sha256,
    load_dataset_for,
    load_rows,
    load_scenario,
    parse_scenario,
)

GOOD = {"message": "I was charged twice", "channel": "email", "language": "en", "length": "short",
        "template": "clear", "reference": "billing"}


def _rows(n: int = 3) -> list[dict[str, Any]]:
    return [{"id": f"c{i}", **GOOD} for i in range(1, n + 1)]


def _scenario_with(write_contract: WriteContract, cases: Path) -> Path:
    """A support-triage contract pointing at `cases` with the right digest and format."""

    def point(data: Contract) -> None:
        data["dataset"].update(path=cases.name, sha256=file_sha256(cases),
                               format={".jsonl": "jsonl", ".json": "json"}.get(cases.suffix, cases.suffix[1:]))

    return write_contract(point)


def _load(write_contract: WriteContract, cases: Path):
    contract = _scenario_with(write_contract, cases)
    return load_dataset_for(parse_scenario(contract))


def _jsonl(path: Path, rows: list[dict[str, Any]], blank_after: int | None = None) -> Path:
    lines = [json.dumps(r) for r in rows]
    if blank_after is not None:
        lines.insert(blank_after, "")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def cases_dir(write_contract: WriteContract) -> Path:
    return write_contract().parent  # the folder the contracts are written to


def test_digest_ignores_path_and_mtime(tmp_path: Path) -> None:
    original = SUPPORT_TRIAGE / "cases.jsonl"
    copy = tmp_path / "elsewhere" / "renamed.jsonl"
    copy.parent.mkdir()
    shutil.copyfile(original, copy)
    os.utime(copy, (1_000_000_000, 1_000_000_000))  # 2001: another mtime than the checkout's
    assert copy.stat().st_mtime != original.stat().st_mtime
    assert file_sha256(copy) == file_sha256(original) == hashlib.sha256(original.read_bytes()).hexdigest()
    copy.write_bytes(original.read_bytes() + b"\n")
    assert file_sha256(copy) != file_sha256(original)


def test_demo_dataset_loads_with_its_slices() -> None:
    dataset = load_dataset_for(load_scenario("support-triage"))
    assert len(dataset) == len((SUPPORT_TRIAGE / "cases.jsonl").read_text(encoding="utf-8").splitlines())
    assert dataset.sha256 == file_sha256(SUPPORT_TRIAGE / "cases.jsonl")
    assert dataset.slice_fields == ("channel", "language", "length", "template")
    assert len(set(dataset.ids)) == len(dataset)
    assert dataset.slices_of("st-0001").keys() == {"channel", "language", "length", "template"}
    frame = dataset.to_pandas()
    assert list(frame["id"][:2]) == ["st-0001", "st-0002"]


def test_json_references_are_checked_against_the_schema() -> None:
    dataset = load_dataset_for(load_scenario("invoice-extraction"))
    first = json.loads(dataset.rows[0]["reference"])
    assert set(first) == {"invoice_number", "vendor", "date", "currency", "total"}


def test_edited_file_with_the_same_mtime_is_not_served_stale(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "cases.jsonl", _rows(2))
    stat = path.stat()
    assert [r["id"] for r in load_rows(path)] == ["c1", "c2"]
    _jsonl(path, [{"id": "z9", **GOOD}, {"id": "z8", **GOOD}])  # same size, new content
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert [r["id"] for r in load_rows(path)] == ["z9", "z8"]


def test_jsonl_missing_field_names_row_and_line(write_contract: WriteContract, cases_dir: Path) -> None:
    rows = _rows()
    del rows[2]["channel"]
    path = _jsonl(cases_dir / "rows.jsonl", rows, blank_after=1)  # a blank line: row 3 is line 4
    with pytest.raises(InputError) as info:
        _load(write_contract, path)
    assert info.value.line == 4
    assert info.value.field == "channel"
    assert str(info.value).startswith(f"{path}:4: channel: row 3: missing 'channel' (a prompt variable)")


def test_jsonl_ill_typed_field_names_its_row(write_contract: WriteContract, cases_dir: Path) -> None:
    rows = _rows()
    rows[1]["message"] = 42
    path = _jsonl(cases_dir / "rows.jsonl", rows)
    with pytest.raises(InputError, match=r"row 2: 'message' \(a prompt variable\) must be str, got number"):
        _load(write_contract, path)


def test_jsonl_structured_reference_must_be_json_text(write_contract: WriteContract, cases_dir: Path) -> None:
    rows = _rows()
    rows[0]["reference"] = {"queue": "billing"}
    path = _jsonl(cases_dir / "rows.jsonl", rows)
    with pytest.raises(InputError) as info:
        _load(write_contract, path)
    assert "row 1: 'reference' (the reference answer) must be str, got dict" in str(info.value)
    assert info.value.fix == "store structured references as JSON text"


def test_jsonl_column_with_two_types_is_reported(write_contract: WriteContract, cases_dir: Path) -> None:
    rows = _rows()
    rows[0]["id"], rows[1]["id"], rows[2]["id"] = 1, 2, "c3"
    path = _jsonl(cases_dir / "rows.jsonl", rows)
    with pytest.raises(InputError, match="row 3: 'id' is str but row 1 has number"):
        _load(write_contract, path)


def test_jsonl_broken_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "cases.jsonl"
    path.write_text(json.dumps(_rows(1)[0]) + "\n{\"id\": \"c2\", \n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_rows(path)
    assert info.value.line == 2
    assert "row 2: invalid JSON" in info.value.message


def test_label_outside_the_label_set(write_contract: WriteContract, cases_dir: Path) -> None:
    rows = _rows()
    rows[1]["reference"] = "billng"
    path = _jsonl(cases_dir / "rows.jsonl", rows)
    with pytest.raises(InputError, match="row 2: reference 'billng' is not one of the labels"):
        _load(write_contract, path)


def test_duplicate_ids(write_contract: WriteContract, cases_dir: Path) -> None:
    rows = _rows()
    rows[2]["id"] = "c1"
    path = _jsonl(cases_dir / "rows.jsonl", rows)
    with pytest.raises(InputError, match=r"row 3: duplicate id 'c1' \(first at row 1\)"):
        _load(write_contract, path)


def test_csv_rows_load_and_empty_cells_are_reported(write_contract: WriteContract, cases_dir: Path) -> None:
    path = cases_dir / "rows.csv"
    pd.DataFrame(_rows()).to_csv(path, index=False)
    assert [r["id"] for r in _load(write_contract, path).rows] == ["c1", "c2", "c3"]
    rows = _rows()
    rows[1]["language"] = None
    pd.DataFrame(rows).to_csv(path, index=False)
    with pytest.raises(InputError, match=r"row 2: missing 'language' \(a slice field\)") as info:
        _load(write_contract, path)
    assert info.value.line is None  # a CSV cell may span lines: the row number is in the message


def test_parquet_rows_load_and_ill_typed_columns_are_reported(write_contract: WriteContract, cases_dir: Path) -> None:
    path = cases_dir / "rows.parquet"
    pd.DataFrame(_rows()).to_parquet(path)
    assert [r["channel"] for r in _load(write_contract, path).rows] == ["email"] * 3
    rows = _rows()
    for row in rows:
        row["channel"] = ["email", "chat"]
    pd.DataFrame(rows).to_parquet(path)
    with pytest.raises(InputError, match=r"row 1: 'channel' \(a prompt variable\) must be str, got list"):
        _load(write_contract, path)


def test_parquet_null_is_missing(write_contract: WriteContract, cases_dir: Path) -> None:
    path = cases_dir / "rows.parquet"
    rows = _rows()
    rows[2]["message"] = None
    pd.DataFrame(rows).to_parquet(path)
    with pytest.raises(InputError, match=r"row 3: missing 'message'"):
        _load(write_contract, path)


def test_json_array_file_loads(write_contract: WriteContract, cases_dir: Path) -> None:
    path = cases_dir / "rows.json"
    path.write_text(json.dumps(_rows()), encoding="utf-8")
    assert len(_load(write_contract, path)) == 3


def test_invoice_reference_must_match_the_schema(write_contract: WriteContract, cases_dir: Path) -> None:
    contract = write_contract(source=INVOICE_EXTRACTION)
    path = contract.parent / "cases.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()[:3]]
    reference = json.loads(rows[1]["reference"])
    reference["total"] = "12,50"
    rows[1]["reference"] = json.dumps(reference)
    _jsonl(path, rows)
    text = contract.read_text(encoding="utf-8")
    contract.write_text(text.replace(parse_scenario(contract).scenario.dataset.sha256, file_sha256(path)),
                        encoding="utf-8")
    with pytest.raises(InputError, match="row 2: reference does not match task.json_schema at total: "
                                         "'12,50' is not of type 'number'"):
        load_dataset_for(parse_scenario(contract))


def test_digest_mismatch_stops_loading(write_contract: WriteContract, cases_dir: Path) -> None:
    contract = write_contract()
    (contract.parent / "cases.jsonl").write_bytes(b"")
    with pytest.raises(InputError, match="dataset digest mismatch") as info:
        load_dataset_for(parse_scenario(contract))
    assert info.value.field == "dataset.sha256"


def test_unsupported_format(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unsupported dataset format '.xlsx'"):
        load_rows(tmp_path / "cases.xlsx")
