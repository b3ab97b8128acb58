"""`releasegate score`: exit codes 0 PASS, 1 FAIL, 3 INCONCLUSIVE, 2 bad input, and the verdict file."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner, Result

import releasegate.flows._cli_gate as cli_gate
from releasegate.scenarios import RECORD_COLUMNS, write_records


def write(path: Path, cases: pd.DataFrame, correct: np.ndarray, entry: str, **columns: object) -> Path:
    n = len(cases)
    wrong = np.where(cases["reference"] == "other", "billing", "other")
    frame = pd.DataFrame({
        "example_id": cases["id"].astype(str), "model_entry": entry, "model": entry, "model_digest": "",
        "prompt_version": "v1", "output": np.where(correct, cases["reference"], wrong),
        "prompt_tokens": 100, "completion_tokens": 2, "ttft_s": 0.2, "latency_s": 1.0,
        "finish_reason": "stop", "cached": False, "error": None, "cost_usd": 1e-5, "tool_calls": None,
    })
    for key, value in columns.items():
        frame[key] = value
    for column, dtype in RECORD_COLUMNS.items():
        frame[column] = frame[column].astype(dtype)
    return write_records(frame, path, {"scenario_id": "support-triage", "model_entry": entry,
                                       "cost": {"pricing": "gpu", "total_usd": 1e-5 * n}})


def outcomes(n: int, rate: float, seed: int) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    mask[: round(rate * n)] = True
    return np.random.default_rng(seed).permutation(mask)


def invoke(*args: str) -> Result:
    app = typer.Typer()
    cli_gate.register(app)

    @app.callback()
    def _root() -> None:  # keep `score` a subcommand, as in the real app
        pass

    return CliRunner().invoke(app, list(args), env={"COLUMNS": "250"})


def test_pass_writes_the_verdict_and_exits_0(scenario_dir: Path, cases: pd.DataFrame, tmp_path: Path) -> None:
    n = len(cases)
    same = outcomes(n, 0.8, 1)
    cand = write(tmp_path / "cand.parquet", cases, same, "gemma3-v1")
    inc = write(tmp_path / "inc.parquet", cases, same, "smollm2-v1")
    out = tmp_path / "verdict.json"
    result = invoke("score", "--scenario", str(scenario_dir), "--candidate", str(cand),
                    "--incumbent", str(inc), "--out", str(out))
    assert result.exit_code == 0, result.output
    verdict = json.loads(out.read_text())
    assert verdict["decision"] == "PASS" and verdict["n"] == n
    assert verdict["candidate"]["entry"] == "gemma3-v1" and len(verdict["candidate"]["records_sha256"]) == 64
    assert "non_inferiority" in result.output and "PASS" in result.output


def test_worse_candidate_exits_1(scenario_dir: Path, cases: pd.DataFrame, tmp_path: Path) -> None:
    n = len(cases)
    inc_ok = outcomes(n, 0.9, 1)
    cand_ok = inc_ok & outcomes(n, 0.6, 2)
    cand = write(tmp_path / "cand.parquet", cases, cand_ok, "gemma3-v1")
    inc = write(tmp_path / "inc.parquet", cases, inc_ok, "smollm2-v1")
    result = invoke("score", "--scenario", str(scenario_dir), "--candidate", str(cand), "--incumbent", str(inc))
    assert result.exit_code == 1, result.output
    assert "FAIL" in result.output


def test_undecidable_difference_exits_3(scenario_dir: Path, cases: pd.DataFrame, tmp_path: Path) -> None:
    n = len(cases)
    inc_ok = outcomes(n, 0.7, 1)
    cand_ok = inc_ok.copy()
    flip = np.random.default_rng(3).permutation(n)[:40]  # 40 discordant pairs, half each way
    cand_ok[flip] = ~cand_ok[flip]
    cand = write(tmp_path / "cand.parquet", cases, cand_ok, "gemma3-v1")
    inc = write(tmp_path / "inc.parquet", cases, inc_ok, "smollm2-v1")
    result = invoke("score", "--scenario", str(scenario_dir), "--candidate", str(cand), "--incumbent", str(inc))
    assert result.exit_code == 3, result.output
    assert "INCONCLUSIVE" in result.output


def test_bad_input_exits_2_and_names_the_problem(scenario_dir: Path, cases: pd.DataFrame, tmp_path: Path) -> None:
    n = len(cases)
    ok = outcomes(n, 0.8, 1)
    cand = write(tmp_path / "cand.parquet", cases, ok, "gemma3-v1")
    short = write(tmp_path / "short.parquet", cases.iloc[:-1], ok[:-1], "smollm2-v1")
    result = invoke("score", "--scenario", str(scenario_dir), "--candidate", str(cand), "--incumbent", str(short))
    assert result.exit_code == 2
    last_id = str(cases["id"].iloc[-1])
    assert "incumbent records lack example ids of the dataset" in result.output and last_id in result.output
    broken = tmp_path / "broken.parquet"
    pd.DataFrame({"example_id": ["x"]}).to_parquet(broken)
    result = invoke("score", "--scenario", str(scenario_dir), "--candidate", str(broken), "--incumbent", str(cand))
    assert result.exit_code == 2 and "missing columns" in result.output


def test_score_files_is_the_library_under_the_command(scenario_dir: Path, cases: pd.DataFrame, tmp_path: Path) -> None:
    from releasegate.core import InputError
    from releasegate.flows.gate import score_files

    same = outcomes(len(cases), 0.8, 1)
    cand = write(tmp_path / "cand.parquet", cases, same, "gemma3-v1")
    inc = write(tmp_path / "inc.parquet", cases, same, "smollm2-v1")
    out = tmp_path / "verdict.json"
    verdict = score_files(str(scenario_dir), cand, inc, out=out)
    assert verdict.decision == "PASS" and out.read_text() == verdict.to_json()
    assert [c.name for c in verdict.checks if c.name == "exceptions"] == ["exceptions"]  # releases' extra check
    assert verdict.candidate.evidence is not None and verdict.candidate.evidence.status == "self-declared"
    with pytest.raises(InputError, match="is a folder") as refused:
        score_files(str(scenario_dir), cand, inc, out=tmp_path)
    assert refused.value.field == "--out"
