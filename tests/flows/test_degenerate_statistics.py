"""Degenerate statistics said plainly (issue 13): a 40-case run of invoice-extraction where the
candidate has 1 accepted outcome of 40. The cost ratio's upper end does not exist and a p95 latency
SLO cannot be decided below the order-statistic bound: the verdict flags both (typed fields, never
1.8e308), and the CLI table, the verdict sentence, the HTML report and the Markdown summary all
say "unbounded" / "needs >= 72 cases" instead of printing a 300-digit number."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from releasegate import evals, reports
from releasegate.core import InputError
from releasegate.flows._cli_flows import _warn_before_run
from releasegate.flows._cli_gate import checks_table
from releasegate.scenarios import load_dataset_for, load_scenario, write_records

CASES = 40
HUGE = re.compile(r"\d{20,}|e\+30\d|1\.79769")  # a 300-digit number, or the largest float


def _record(loaded, dataset, entry: str, accepted: set[int], path: Path) -> Path:
    """Recorded generations (the shape `releasegate generate` writes) for the first 40 invoices:
    the reference JSON where `accepted`, no JSON elsewhere; a p95 latency of about 12.8 s."""
    cases = dataset.to_pandas().iloc[:CASES]
    cfg = loaded.scenario.models[entry]
    refs = [r if isinstance(r, str) else json.dumps(r) for r in cases["reference"]]
    rng = np.random.default_rng(7)
    digest = "d" * 64
    frame = pd.DataFrame({
        "example_id": cases["id"].astype(str).to_numpy(), "model_entry": entry, "model": cfg.model,
        "model_digest": digest, "prompt_version": cfg.prompt_version,
        "output": [refs[i] if i in accepted else "I cannot read this invoice." for i in range(CASES)],
        "prompt_tokens": np.full(CASES, 500), "completion_tokens": np.full(CASES, 60),
        "ttft_s": rng.uniform(0.5, 3.0, CASES), "latency_s": np.linspace(3.0, 13.0, CASES),
        "finish_reason": "stop", "cached": False, "error": None,
        "cost_usd": np.full(CASES, 2e-4), "tool_calls": None,
    })
    meta = {"scenario_id": loaded.scenario.id, "model_entry": entry, "model": cfg.model,
            "model_digest": digest, "prompt_version": cfg.prompt_version, "dataset_sha256": dataset.sha256,
            "cost": {"pricing": "gpu", "total_usd": float(frame["cost_usd"].sum())}}
    return write_records(frame, path, meta)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("degenerate")
    loaded = load_scenario("invoice-extraction")
    dataset = load_dataset_for(loaded)
    cand = _record(loaded, dataset, "gemma3-v1", {3}, folder / "candidate.parquet")  # 1 of 40
    inc = _record(loaded, dataset, "smollm2-v1", {3, 11}, folder / "incumbent.parquet")  # 2 of 40
    verdict = evals.run_gate_on_files(loaded, dataset, cand, inc, require_all_cases=False)
    return {"loaded": loaded, "dataset": dataset, "cand": cand, "inc": inc, "verdict": verdict,
            "checks": {c.name: c for c in verdict.checks}, "folder": folder}


def test_verdict_flags_the_unbounded_end_and_never_stores_the_largest_float(run: dict) -> None:
    checks, verdict = run["checks"], run["verdict"]
    ratio = checks["cost_ratio"]
    assert ratio.value == pytest.approx(2.0)  # $0.008 for 1 accepted against $0.008 for 2
    assert ratio.ci_low is not None and 0.0 < ratio.ci_low < 2.0
    assert ratio.ci_high is None and ratio.unbounded == "high"
    assert ratio.status == "inconclusive" and "unbounded" in ratio.reason
    cost = checks["max_cost_per_accepted"]
    assert cost.ci_high is None and cost.unbounded == "high" and "unbounded" in cost.reason
    # bounded intervals carry no flag (and leave the key out of the JSON)
    assert checks["non_inferiority"].unbounded is None and checks["min_acceptance_rate"].unbounded is None
    text = verdict.to_json()
    assert not HUGE.search(text), HUGE.search(text)
    data = json.loads(text)
    by_name = {c["name"]: c for c in data["checks"]}
    assert by_name["cost_ratio"]["unbounded"] == "high" and by_name["cost_ratio"]["ci_high"] is None
    assert "unbounded" not in by_name["non_inferiority"]
    assert data["metrics"]["cost"]["ratio_ci"][1] is None
    assert evals.Verdict.from_json(text) == verdict  # typed: the schema round-trips the flag
    schema = json.loads((Path(__file__).resolve().parents[2] / "docs/schemas/verdict.schema.json").read_text())
    assert schema["$defs"]["Check"]["properties"]["unbounded"]["anyOf"][0]["enum"] == ["low", "high", "both"]


def test_p95_on_40_cases_says_why_it_is_undecided_and_what_size_decides(run: dict) -> None:
    latency = run["checks"]["latency_p95"]
    assert latency.value == pytest.approx(np.quantile(np.linspace(3.0, 13.0, CASES), 0.95, method="inverted_cdf"))
    assert latency.value < 60.0  # 12.7 s against a 60 s SLO: only the size keeps it undecided
    assert latency.status == "inconclusive" and latency.unbounded == "high"
    assert latency.cases_needed == 72 == evals.stats.quantile_min_cases(0.95, 0.95)
    assert "undecidable with 40 cases" in latency.reason and "needs >= 72 cases" in latency.reason
    assert run["checks"]["ttft_p95"].cases_needed == 72
    assert run["checks"]["non_inferiority"].cases_needed is None


def test_a_check_the_size_can_decide_has_no_cases_needed(run: dict) -> None:
    criteria = run["loaded"].scenario.success_criteria
    assert [u.check for u in evals.planning.undecidable_checks(criteria, 71)] == ["ttft_p95", "latency_p95"]
    assert evals.planning.undecidable_checks(criteria, 72) == []


def test_cli_table_and_sentence_say_unbounded(run: dict) -> None:
    console = Console(record=True, width=250)
    console.print(checks_table(run["verdict"]))  # what `score` and `evaluate` print
    out = console.export_text()
    assert not HUGE.search(out)
    row = next(line for line in out.splitlines() if line.strip("│ ").startswith("cost_ratio"))
    assert re.search(r"\[\d[\d.]*, unbounded\]", row), row
    assert "needs >= 72 cases" in out
    sentence = reports.verdict_sentence(run["verdict"])
    assert run["verdict"].decision == "INCONCLUSIVE" and not HUGE.search(sentence)
    assert re.search(r"cost_ratio \(cost ratio 2\.00x \[\d\.\d\dx, unbounded\]", sentence), sentence
    assert "latency_p95 (p95 end-to-end latency" in sentence and "needs >= 72 cases" in sentence


def test_html_checks_table_and_markdown_say_unbounded(run: dict) -> None:
    verdict, loaded, dataset = run["verdict"], run["loaded"], run["dataset"]
    scored = [evals.score_records(loaded, dataset, pd.read_parquet(p), require_all_cases=False)
              for p in (run["cand"], run["inc"])]
    html = reports.render_report(reports.ReportInput(
        verdict=verdict, scenario=loaded, cases=reports.cases_from_scored(*scored, loaded),
        versions={"releasegate": "0.1.0"}))
    assert not HUGE.search(html), HUGE.search(html)
    rows = dict(re.findall(r'<tr data-check="([^"]+)" class="status-\w+">(.*?)</tr>', html, re.S))
    cells = re.findall(r'<td class="num">([^<]*)</td>', rows["cost_ratio"])
    assert re.fullmatch(r"\d\.\d\d× to unbounded", cells[1]), cells
    assert re.findall(r'<td class="num">([^<]*)</td>', rows["latency_p95"])[1].endswith("s to unbounded")
    assert "needs &gt;= 72 cases" in rows["latency_p95"] or "needs >= 72 cases" in rows["latency_p95"]
    assert re.search(r"candidate: gemma3-v1 \$0\.00800 \(interval \$0\.00\d+ to unbounded\)", html)  # cost figure
    markdown = reports.render_markdown(verdict)
    assert not HUGE.search(markdown)
    assert "× to unbounded" in markdown


def test_evaluate_warns_before_generating_when_the_size_cannot_decide(run: dict) -> None:
    console = Console(record=True, width=400)
    _warn_before_run(run["loaded"], run["dataset"], CASES, console)
    lines = [line for line in console.export_text().splitlines() if line.startswith("warning:")]
    assert len(lines) == 2
    assert lines[1].startswith("warning: check latency_p95 is undecidable with 40 cases") and \
        "needs >= 72 cases" in lines[1] and "drop --limit" in lines[1]
    quiet = Console(record=True)
    _warn_before_run(run["loaded"], run["dataset"], 72, quiet)
    assert "latency" not in quiet.export_text()


def test_a_verdict_that_flags_an_end_unbounded_but_gives_a_number_is_refused(run: dict) -> None:
    data = json.loads(run["verdict"].to_json())
    ratio = next(c for c in data["checks"] if c["name"] == "cost_ratio")
    evals.check_verdict_document(data)
    ratio["ci_high"] = 1.7976931348623157e308
    with pytest.raises(InputError,
                       match="ci_high is 1.79.* but the check says that end is unbounded"):
        evals.check_verdict_document(data, file="verdict.json")
