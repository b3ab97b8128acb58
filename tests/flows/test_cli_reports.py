"""`releasegate report`: from a verdict JSON or a DSSE decision, with or without records.

The end-to-end test runs the real gate (evals.run_gate) on a small generated scenario, so the
report is checked against the verdict format evals actually writes.
"""
from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner, Result

import releasegate.flows._cli_reports as cli_reports
from releasegate.evals import run_gate
from releasegate.core import InputError
from releasegate.scenarios import file_sha256, load_dataset_for, load_scenario, write_records

# the report tests' builders (tests/ has no packages: pytest puts each test folder on the path)
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reports"))
from report_fixtures import make_verdict, ni_check, records_for, write_scenario  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
RELEASEGATE = REPO / ".venv" / "bin" / "releasegate"


def invoke(*args: str) -> Result:
    app = typer.Typer()
    cli_reports.register(app)

    @app.callback()
    def _root() -> None:  # keep `report` a subcommand, as in the real app
        pass

    return CliRunner().invoke(app, list(args))


# A well-formed DSSE entry (the report shows it as present, not verified).
SIGNATURE = {"keyid": "1" * 64, "sig": base64.b64encode(b"s" * 64).decode()}


def envelope(verdict_dict: dict, **predicate: object) -> str:
    statement = {"_type": "https://in-toto.io/Statement/v1",
                 "subject": [{"name": "gemma3-270m", "digest": {"sha256": "a" * 64}}],
                 "predicateType": "https://releasegate.dev/decision/v1",
                 "predicate": {"verdict": verdict_dict, **predicate}}
    return json.dumps({"payloadType": "application/vnd.in-toto+json",
                       "payload": base64.b64encode(json.dumps(statement).encode()).decode(),
                       "signatures": [SIGNATURE]})


@pytest.fixture(scope="module")
def gated(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A real verdict on 60 generated cases, its records on disk, and which cases were lost/won."""
    folder = tmp_path_factory.mktemp("gate")
    loaded = load_scenario(write_scenario(folder / "scenario", n=60))
    dataset = load_dataset_for(loaded)
    refs = [row["reference"] for row in dataset.rows]
    rng = np.random.default_rng(5)
    inc_ok = rng.random(60) < 0.7
    cand_ok = np.where(rng.random(60) < 0.8, inc_ok, ~inc_ok)
    paths, frames = {}, {}
    for side, ok in (("candidate", cand_ok), ("incumbent", inc_ok)):
        frames[side] = records_for(refs, ok, {"candidate": "gemma3-v1", "incumbent": "smollm2-v1"}[side])
        meta = {"dataset_sha256": dataset.sha256, "serving": {"vllm_version": "0.32.0"}}
        paths[side] = write_records(frames[side], folder / f"{side}.parquet", meta)
    verdict = run_gate(loaded, dataset,
                       frames["candidate"], {"records_sha256": file_sha256(paths["candidate"])},
                       frames["incumbent"], {"records_sha256": file_sha256(paths["incumbent"])})
    (folder / "verdict.json").write_text(verdict.to_json())
    ids = [f"c{i:03d}" for i in range(60)]
    return {"folder": folder, "scenario": loaded.path, "verdict": verdict, "paths": paths,
            "lost": [i for i, a, b in zip(ids, inc_ok, cand_ok) if a and not b],
            "won": [i for i, a, b in zip(ids, inc_ok, cand_ok) if b and not a]}


def _shown(html: str, table_id: str) -> list[str]:
    table = re.search(rf'<table class="cases" id="{table_id}".*?</table>', html, re.S)
    return re.findall(r'<th scope="row"><code>([^<]+)</code>', table.group(0)) if table else []


def test_report_from_a_real_verdict_and_records_shows_the_lost_and_won_cases(gated: dict) -> None:
    out = gated["folder"] / "out" / "report.html"
    result = invoke("report", str(gated["folder"] / "verdict.json"), "--out", str(out),
                    "--scenario", str(gated["scenario"]),
                    "--candidate-records", str(gated["paths"]["candidate"]),
                    "--incumbent-records", str(gated["paths"]["incumbent"]))
    assert result.exit_code == 0, result.output
    verdict = gated["verdict"]
    assert f"{verdict.decision}: report written to {out}" in " ".join(result.output.split())
    html = out.read_text()
    assert _shown(html, "cases-lost") == gated["lost"] and gated["lost"]
    assert _shown(html, "cases-won") == gated["won"] and gated["won"]
    assert all(f'data-check="{c.name}"' in html for c in verdict.checks)
    assert "<th scope=\"row\">vllm version</th><td><code>0.32.0</code>" in html
    rates = re.search(r'<desc id="fig-acceptance-desc">(.*?)</desc>', html, re.S).group(1)
    rate = verdict.metrics.candidate.acceptance_rate
    assert f"candidate: {verdict.candidate.entry} {rate:.1%}" in rates


def test_markdown_from_a_dsse_decision_goes_to_stdout(tmp_path: Path) -> None:
    verdict = make_verdict("FAIL", [ni_check(-0.09, -0.12, -0.06, "fail")])
    decision = tmp_path / "decision.json"
    decision.write_text(envelope(verdict.to_dict(), scenario_id="support-triage"))
    result = invoke("report", str(decision), "--markdown")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("### releasegate: `support-triage` — gemma3-v1 vs smollm2-v1\n")
    assert "| Failing checks | `non_inferiority` |" in result.output
    assert "| Report | [decision.report.html](" in result.output
    html = (tmp_path / "decision.report.html").read_text()  # default path: beside the decision
    assert "1" * 16 in html and "present, not verified here" in html


def test_only_one_records_file_is_bad_input(tmp_path: Path, gated: dict) -> None:
    result = invoke("report", str(gated["folder"] / "verdict.json"), "--out", str(tmp_path / "r.html"),
                    "--candidate-records", str(gated["paths"]["candidate"]))
    assert isinstance(result.exception, InputError)
    assert "give both --candidate-records and --incumbent-records" in str(result.exception)
    assert not (tmp_path / "r.html").exists()  # nothing half-written


def test_console_script_exits_2_with_one_line_for_a_bad_decision(tmp_path: Path) -> None:
    bad = tmp_path / "decision.json"
    bad.write_text('{"payloadType": "application/vnd.in-toto+json", "payload": "bm90IGpzb24=", "signatures": []}')
    proc = subprocess.run([str(RELEASEGATE), "report", str(bad)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1
    assert "decision payload is not a JSON statement: invalid JSON" in proc.stderr


def test_records_named_in_the_decision_predicate_are_found_beside_it(gated: dict) -> None:
    folder = gated["folder"]
    decision = folder / "decision.json"
    decision.write_text(envelope(gated["verdict"].to_dict(), scenario=str(gated["scenario"]),
                                 scenario_id="support-triage",
                                 records={"candidate": "candidate.parquet",
                                          "incumbent": "incumbent.parquet"}))
    result = invoke("report", str(decision))
    assert result.exit_code == 0, result.output
    html = (folder / "decision.report.html").read_text()
    assert _shown(html, "cases-lost") == gated["lost"]


def test_a_ready_case_table_in_parquet_is_accepted(tmp_path: Path) -> None:
    from releasegate.reports.examples.demo_data import demo_verdict

    verdict, cases = demo_verdict()
    cases.to_parquet(tmp_path / "cases.parquet")  # dict and list columns round-trip as structs
    (tmp_path / "verdict.json").write_text(verdict.to_json())
    result = invoke("report", str(tmp_path / "verdict.json"), "--cases", str(tmp_path / "cases.parquet"),
                    "--out", str(tmp_path / "r.html"))
    assert result.exit_code == 0, result.output
    html = (tmp_path / "r.html").read_text()
    lost = cases[cases.incumbent_accepted & ~cases.candidate_accepted]
    assert _shown(html, "cases-lost") == list(lost.example_id)
    first = lost.iloc[0]
    assert f"message: {first.inputs['message']}" in html
    assert "; ".join(first.candidate_reasons) in html.replace("&#39;", "'")
