"""Fuzzed generation records, decisions and CLI arguments through the real entry point: the
documented exit code, one line, no traceback, nothing written; hostile evidence never scores."""
from __future__ import annotations

import base64
import contextlib
import json
import math
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import record
from fuzz_helpers import JSONISH, Timer, assert_clean_refusal, files_under, pass_verdict, scenario_copy
from hostile_cli import run_main
from hypothesis import given
from hypothesis import strategies as st

from releasegate.core import InputError
from releasegate.evals import check_verdict_document
from releasegate.scenarios import RECORD_COLUMNS, load_dataset_for, load_scenario, write_records

AMOUNTS = ["cost_usd", "latency_s", "ttft_s", "prompt_tokens", "completion_tokens"]
BAD_AMOUNTS = [-1, -1e-9, float("nan"), float("inf"), float("-inf"), None]


@pytest.fixture(scope="module")
def triage(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    folder = scenario_copy(tmp_path_factory.mktemp("fuzz"))
    cases = load_dataset_for(load_scenario(folder / "scenario.yaml")).to_pandas()
    return folder, cases


def _frame(cases: pd.DataFrame, entry: str) -> pd.DataFrame:
    frame = pd.DataFrame({
        "example_id": cases["id"].astype(str), "model_entry": entry, "model": entry, "model_digest": "",
        "prompt_version": "v1", "output": cases["reference"], "prompt_tokens": 100, "completion_tokens": 2,
        "ttft_s": 0.2, "latency_s": 1.0, "finish_reason": "stop", "cached": False, "error": None,
        "cost_usd": 1e-5, "tool_calls": None})
    for column, dtype in RECORD_COLUMNS.items():
        frame[column] = frame[column].astype(dtype)
    return frame


META = {"scenario_id": "support-triage", "prompt_version": "v1", "cost": {"pricing": "gpu", "total_usd": 0.01}}


@given(column=st.sampled_from(AMOUNTS), value=st.sampled_from(BAD_AMOUNTS), rows=st.sets(st.integers(0, 239), min_size=1,
                                                                                       max_size=3))
def test_bad_amounts_never_score(triage: tuple[Path, pd.DataFrame], column: str, value: object, rows: set[int]) -> None:
    folder, cases = triage
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        bad = _frame(cases, "gemma3-v1")
        bad[column] = bad[column].astype("object")
        for row in rows:
            bad.loc[row % len(bad), column] = value
        if column in ("prompt_tokens", "completion_tokens") and value is not None and not (
                isinstance(value, float) and not math.isfinite(value)) and value != int(value):
            bad[column] = bad[column].astype("Float64")
        cand = tmp / "cand.parquet"
        pq.write_table(pa.Table.from_pandas(bad, preserve_index=False).replace_schema_metadata(
            {b"releasegate": json.dumps({**META, "model_entry": "gemma3-v1"}).encode()}), cand)
        inc = write_records(_frame(cases, "smollm2-v1"), tmp / "inc.parquet", {**META, "model_entry": "smollm2-v1"})
        before = files_under(tmp)
        with Timer():
            run = run_main("score", "--scenario", str(folder), "--candidate", str(cand), "--incumbent", str(inc),
                           "--out", str(tmp / "verdict.json"))
        if column == "ttft_s" and (value is None or (isinstance(value, float) and math.isnan(value))):
            # ttft may be missing (non-streaming requests); Parquet's NaN in a float column is missing
            record("records", f"exit {run.code}")
            assert run.code in (0, 1, 3), run.err
            return
        assert_clean_refusal(run)
        assert files_under(tmp) == before
    record("records", "refused")


@given(meta=JSONISH, entry=st.sampled_from(["gemma3-v1", "nope", "", "x" * 600]))
def test_hostile_record_metadata(triage: tuple[Path, pd.DataFrame], meta: object, entry: str) -> None:
    folder, cases = triage
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        frame = _frame(cases, entry or "gemma3-v1")
        cand = tmp / "cand.parquet"
        raw = json.dumps(meta, allow_nan=True).encode()
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(
            {b"releasegate": raw}), cand)
        inc = write_records(_frame(cases, "smollm2-v1"), tmp / "inc.parquet", {**META, "model_entry": "smollm2-v1"})
        with Timer():
            run = run_main("score", "--scenario", str(folder), "--candidate", str(cand), "--incumbent", str(inc))
        if run.code == 2:
            assert_clean_refusal(run)
            record("records", "refused")
        else:
            assert run.code in (0, 1, 3) and "Traceback" not in run.err, run.err
            assert isinstance(meta, dict) and (entry or "gemma3-v1") == "gemma3-v1", (meta, entry)
            record("records", f"exit {run.code}")


VERDICT_EDITS = st.sampled_from([
    ("decision", "MAYBE"), ("decision", None), ("decision", "pass"), ("checks", []), ("checks", None),
    ("vetoed_by", ["non_inferiority"]), ("scenario_id", ""), ("candidate", None), ("checks.status", "fail"),
    ("checks.status", "MAYBE"), ("checks.value", "0.5"), ("checks.value", True), ("checks.critical", "yes"),
    ("n", -1), ("confidence", 2.0), ("metrics", []),
])


@given(edit=VERDICT_EDITS | st.tuples(st.text(max_size=10), JSONISH),
       envelope=st.booleans(), payload_type=st.sampled_from(["application/vnd.in-toto+json", "text/plain", ""]),
       subject=st.sampled_from(["ok", "empty", "no-digest", "short"]))
def test_hostile_decisions(edit: tuple[str, object], envelope: bool, payload_type: str, subject: str) -> None:
    verdict = pass_verdict()
    key, value = edit
    if key.startswith("checks."):
        verdict["checks"][0][key.split(".", 1)[1]] = value
    else:
        verdict[key] = value
    subjects = {"ok": [{"name": "m", "digest": {"sha256": "a" * 64}}], "empty": [],
                "no-digest": [{"name": "m"}], "short": [{"name": "m", "digest": {"sha256": "abc"}}]}[subject]
    if envelope:
        statement = {"_type": "https://in-toto.io/Statement/v1", "subject": subjects,
                     "predicateType": "https://releasegate.dev/decision/v1",
                     "predicate": {"scenario_id": "support-triage", "verdict": verdict}}
        text = json.dumps({"payloadType": payload_type, "signatures": [],
                           "payload": base64.b64encode(json.dumps(statement).encode()).decode()})
    else:
        text = json.dumps(verdict)
    try:
        check_verdict_document(verdict)
        sound = True
    except InputError:
        sound = False
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        path = tmp / "decision.json"
        path.write_text(text)
        with Timer():
            run = run_main("report", str(path), "--out", str(tmp / "r.html"))
        if run.code == 0:
            # rendered only what is sound (a PASS consistent with its checks, in a proper statement)
            assert sound and (not envelope or (payload_type.startswith("application/") and subject == "ok")), text
            record("decisions", "rendered")
        else:
            assert_clean_refusal(run)
            assert not (tmp / "r.html").exists()
            record("decisions", "refused")
        if envelope:
            with Timer():
                run = run_main("verify", str(path))
            if run.code == 2:
                assert_clean_refusal(run)
            else:
                assert sound and "Traceback" not in run.err, run.err
            record("decisions", f"verify exit {run.code}")


ARGS = st.sampled_from(["-1", "0", "18446744073709551616", "1e3", "", "x" * 5000, "../../etc/passwd",
                        "/dev/null", "/proc/self/mem", "\u202e", "no-such", "support-triage", "--help", "NaN"])


@given(command=st.sampled_from(["score-seed", "audit", "exceptions-open", "report", "scenarios-validate",
                                "datasets-show", "governance-html", "score-out"]),
       value=ARGS)
def test_hostile_arguments(triage: tuple[Path, pd.DataFrame], tmp_path_factory: pytest.TempPathFactory,
                           command: str, value: str) -> None:
    folder, cases = triage
    work = tmp_path_factory.mktemp("args")
    cand = write_records(_frame(cases, "gemma3-v1"), work / "cand.parquet", {**META, "model_entry": "gemma3-v1"})
    inc = write_records(_frame(cases, "smollm2-v1"), work / "inc.parquet", {**META, "model_entry": "smollm2-v1"})
    argv = {
        "score-seed": ["score", "--scenario", str(folder), "--candidate", str(cand), "--incumbent", str(inc),
                       "--seed", value],
        "score-out": ["score", "--scenario", str(folder), "--candidate", str(cand), "--incumbent", str(inc),
                      "--out", value or "."],
        "audit": ["audit", "--scenario", value],
        "exceptions-open": ["exceptions", "open", "--scenario", value, "--owner", "a@b.example",
                            "--reason", "fuzz", "--expires", "2099-01-01"],
        "report": ["report", value],
        "scenarios-validate": ["scenarios", "validate", value],
        "datasets-show": ["datasets", "show", value],
        "governance-html": ["governance", "--html", value or "/proc/x/y.html"],
    }[command]
    with Timer(), contextlib.chdir(work):  # relative paths (`--out -1`) land in the test's folder
        run = run_main(*argv)
    text = run.out + run.err
    assert "Traceback" not in text, text
    assert run.code in (0, 1, 2, 3), text
    if command == "scenarios-validate":  # documented: every violation on its own line, then a count
        assert all("(fix: " in line for line in run.out.splitlines() if line.startswith("error: ")), text
    elif run.code == 2 and not run.err.lstrip().startswith(("Usage:", "╭")):  # click's own usage errors
        assert_clean_refusal(run)
    record("cli arguments", f"exit {run.code}")
