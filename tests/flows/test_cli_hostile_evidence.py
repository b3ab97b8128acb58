"""`releasegate score` checks its evidence before scoring (issue 13): each bad record set is exit 2
with one line naming the file, the column and the row; nothing is written; never a PASS."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner, Result

import releasegate.flows._cli_gate as cli_gate
from releasegate.scenarios import RECORD_COLUMNS, write_records


def frame_for(cases: pd.DataFrame, entry: str) -> pd.DataFrame:
    frame = pd.DataFrame({
        "example_id": cases["id"].astype(str), "model_entry": entry, "model": entry, "model_digest": "",
        "prompt_version": "v1", "output": cases["reference"],
        "prompt_tokens": 100, "completion_tokens": 2, "ttft_s": 0.2, "latency_s": 1.0,
        "finish_reason": "stop", "cached": False, "error": None, "cost_usd": 1e-5, "tool_calls": None,
    })
    for column, dtype in RECORD_COLUMNS.items():
        frame[column] = frame[column].astype(dtype)
    return frame


def meta_for(entry: str, **extra: object) -> dict:
    return {"scenario_id": "support-triage", "model_entry": entry, "prompt_version": "v1",
            "cost": {"pricing": "gpu", "total_usd": 0.01}, **extra}


def invoke(*args: str) -> Result:
    app = typer.Typer()
    cli_gate.register(app)

    @app.callback()
    def _root() -> None:
        pass

    return CliRunner().invoke(app, list(args), env={"COLUMNS": "250"})


def score(scenario_dir: Path, cand: Path, inc: Path, *extra: str) -> Result:
    return invoke("score", "--scenario", str(scenario_dir), "--candidate", str(cand),
                  "--incumbent", str(inc), *extra)


def one_clean_line(result: Result) -> str:
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "(fix: " in lines[0], result.output
    assert "Traceback" not in result.output
    return lines[0]


def _raw_parquet(path: Path, frame: pd.DataFrame, meta_bytes: bytes | None) -> Path:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if meta_bytes is not None:
        table = table.replace_schema_metadata({b"releasegate": meta_bytes})
    pq.write_table(table, path)
    return path


@pytest.mark.parametrize("column, value, says", [
    ("cost_usd", -0.5, "cost_usd is -0.5; it must be a finite, non-negative number"),
    ("cost_usd", float("nan"), "cost_usd is missing on a request that did not fail"),
    ("cost_usd", None, "cost_usd is missing on a request that did not fail"),
    ("cost_usd", float("inf"), "cost_usd is inf"),
    ("latency_s", -1.0, "latency_s is -1.0"),
    ("ttft_s", -0.1, "ttft_s is -0.1"),
    ("prompt_tokens", -5, "prompt_tokens is -5.0"),
    ("completion_tokens", -1, "completion_tokens is -1.0"),
])
def test_bad_amounts_are_refused_not_scored(scenario_dir: Path, cases: pd.DataFrame, tmp_path: Path,
                                            column: str, value: object, says: str) -> None:
    bad = frame_for(cases, "gemma3-v1")
    bad[column] = bad[column].astype("object")
    bad.loc[3, column] = value
    bad[column] = bad[column].astype(RECORD_COLUMNS[column])
    cand = write_records(bad, tmp_path / "cand.parquet", meta_for("gemma3-v1"))
    inc = write_records(frame_for(cases, "smollm2-v1"), tmp_path / "inc.parquet", meta_for("smollm2-v1"))
    out = tmp_path / "verdict.json"
    line = one_clean_line(score(scenario_dir, cand, inc, "--out", str(out)))
    assert f"{cand}: {column}: records: row 4 (example_id " in line and says in line
    assert not out.exists()


@pytest.mark.parametrize("meta_change, field, says", [
    ({"scenario_id": "invoice-extraction"}, "scenario_id", "made for scenario 'invoice-extraction'"),
    ({"dataset_sha256": "0" * 64}, "dataset_sha256", "made on dataset '" + "0" * 64),
    ({"model_entry": "nope-v9"}, "model_entry", "mix model entries: gemma3-v1, nope-v9"),
    ({"prompt_version": "v3"}, "prompt_version", "mix prompt versions"),
])
def test_records_for_another_scenario_dataset_or_entry_are_refused(
        scenario_dir: Path, cases: pd.DataFrame, tmp_path: Path, meta_change: dict, field: str, says: str) -> None:
    cand = write_records(frame_for(cases, "gemma3-v1"), tmp_path / "cand.parquet",
                         meta_for("gemma3-v1", **meta_change))
    inc = write_records(frame_for(cases, "smollm2-v1"), tmp_path / "inc.parquet", meta_for("smollm2-v1"))
    line = one_clean_line(score(scenario_dir, cand, inc))
    assert f"{cand}: {field}: candidate records: " in line and says in line


def test_unknown_entry_is_refused(scenario_dir: Path, cases: pd.DataFrame, tmp_path: Path) -> None:
    cand = write_records(frame_for(cases, "nope-v9"), tmp_path / "cand.parquet", meta_for("nope-v9"))
    inc = write_records(frame_for(cases, "smollm2-v1"), tmp_path / "inc.parquet", meta_for("smollm2-v1"))
    assert "model entry 'nope-v9' is not in the contract" in one_clean_line(score(scenario_dir, cand, inc))


def test_prompt_version_must_be_the_entrys(scenario_dir: Path, cases: pd.DataFrame, tmp_path: Path) -> None:
    frame = frame_for(cases, "smollm2-v2")  # the contract's smollm2-v2 entry uses prompt v2
    cand = write_records(frame, tmp_path / "cand.parquet", meta_for("smollm2-v2"))
    inc = write_records(frame_for(cases, "smollm2-v1"), tmp_path / "inc.parquet", meta_for("smollm2-v1"))
    line = one_clean_line(score(scenario_dir, cand, inc))
    assert "prompt version 'v1' is not the 'smollm2-v2' entry's 'v2'" in line


@pytest.mark.parametrize("column, value, says", [
    ("latency_s", "fast", "column 'latency_s' must hold numbers at row 1"),
    ("prompt_tokens", "many", "column 'prompt_tokens' must hold whole numbers at row 1"),
    ("example_id", None, "row 1: example_id is null"),
    ("example_id", "x" * 600, "row 1: example_id is longer than 512 characters"),
])
def test_wrong_dtypes_are_one_line(scenario_dir: Path, cases: pd.DataFrame, tmp_path: Path,
                                   column: str, value: object, says: str) -> None:
    frame = frame_for(cases, "gemma3-v1").astype("object")
    if isinstance(value, str) and column != "example_id":  # a text column where numbers belong
        frame[column] = frame[column].astype(str)
    frame.loc[0, column] = value
    cand = _raw_parquet(tmp_path / "cand.parquet", frame, json.dumps(meta_for("gemma3-v1")).encode())
    inc = write_records(frame_for(cases, "smollm2-v1"), tmp_path / "inc.parquet", meta_for("smollm2-v1"))
    line = one_clean_line(score(scenario_dir, cand, inc))
    assert says in line and f"{cand}: " in line


@pytest.mark.parametrize("meta_bytes, says", [
    (b"[1, 2]", "records metadata must be a JSON object, not list"),
    (b"not json", "invalid JSON"),
    (b'{"cost": {"total_usd": NaN}}', "contains NaN"),
    (b'{"cost": {"total_usd": -3}}', "cost.total_usd is -3"),
    (b"[" * 5000 + b"]" * 5000, "nested deeper than 64 levels"),
])
def test_metadata_must_be_a_json_object(scenario_dir: Path, cases: pd.DataFrame, tmp_path: Path,
                                        meta_bytes: bytes, says: str) -> None:
    cand = _raw_parquet(tmp_path / "cand.parquet", frame_for(cases, "gemma3-v1"), meta_bytes)
    inc = write_records(frame_for(cases, "smollm2-v1"), tmp_path / "inc.parquet", meta_for("smollm2-v1"))
    assert says in one_clean_line(score(scenario_dir, cand, inc))


def test_seed_minus_one_and_out_folder_are_clean(scenario_dir: Path, cases: pd.DataFrame, tmp_path: Path) -> None:
    cand = write_records(frame_for(cases, "gemma3-v1"), tmp_path / "cand.parquet", meta_for("gemma3-v1"))
    inc = write_records(frame_for(cases, "smollm2-v1"), tmp_path / "inc.parquet", meta_for("smollm2-v1"))
    assert "--seed: seed -1 is not a non-negative whole number" in one_clean_line(
        score(scenario_dir, cand, inc, "--seed", "-1"))
    folder = tmp_path / "out"
    folder.mkdir()
    assert f"{folder}: --out: is a folder, not a file" in one_clean_line(
        score(scenario_dir, cand, inc, "--out", str(folder)))
    assert list(folder.iterdir()) == [] and not list(tmp_path.glob("*.tmp"))


def _non_utf8_copy(scenario_dir: Path, tmp_path: Path, encoding: str) -> Path:
    """support-triage with its cases re-encoded (an accent on line 3), the contract's digest updated."""
    folder = tmp_path / "support-triage"
    shutil.copytree(scenario_dir, folder)
    text = (folder / "cases.jsonl").read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    lines[2] = lines[2].replace('"', '"\u00e9', 1)
    data = "".join(lines).encode(encoding)
    (folder / "cases.jsonl").write_bytes(data)
    import hashlib
    import re
    contract = (folder / "scenario.yaml").read_text(encoding="utf-8")
    contract = re.sub(r'sha256: "?[0-9a-f]{64}"?', f'sha256: "{hashlib.sha256(data).hexdigest()}"', contract, count=1)
    (folder / "scenario.yaml").write_text(contract, encoding="utf-8")
    return folder


@pytest.mark.parametrize("encoding", ["utf-16", "latin-1"])
def test_non_utf8_dataset_names_the_line(scenario_dir: Path, tmp_path: Path, encoding: str) -> None:
    folder = _non_utf8_copy(scenario_dir, tmp_path, encoding)
    line = one_clean_line(score(folder, tmp_path / "x.parquet", tmp_path / "y.parquet"))
    expected_line = 1 if encoding == "utf-16" else 3
    assert f"cases.jsonl:{expected_line}: dataset is " in line and "save the file as UTF-8" in line


@pytest.mark.parametrize("command", [
    ["evaluate", "--scenario", "{folder}", "--candidate", "gemma3-v1", "--candidate-records", "{x}",
     "--incumbent-records", "{x}"],
    ["plan", "--scenario", "{folder}", "--incumbent-rate", "0.5", "--discordance", "0.1", "--sequential-runs", "0"],
], ids=["evaluate", "plan"])
def test_utf16_dataset_is_one_line_in_every_command_that_loads_it(scenario_dir: Path, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch,
                                                                    command: list[str]) -> None:
    """Issue 13: a UTF-16 dataset raised UnicodeDecodeError in every command that loads it (score
    above; `scenarios validate` checks the contract only)."""
    from hostile_cli import refused_cleanly, run_main

    monkeypatch.setenv("RELEASEGATE_HOME", str(tmp_path / "state"))
    folder = _non_utf8_copy(scenario_dir, tmp_path, "utf-16")
    records = write_records(frame_for(pd.DataFrame({"id": ["a"], "reference": ["x"]}), "gemma3-v1"),
                            tmp_path / "x.parquet", meta_for("gemma3-v1"))
    line = refused_cleanly(run_main(*[a.format(folder=folder, x=records) for a in command]))
    assert f"{folder / 'cases.jsonl'}:1: dataset is " in line and "save the file as UTF-8" in line
    assert not (tmp_path / "state" / "runs").exists()  # refused before any flow run
