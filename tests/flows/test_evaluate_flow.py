"""The evaluate_candidate flow on recorded generations: verdict, ledger event, MLflow run, report."""
from __future__ import annotations

from pathlib import Path

import pytest

from releasegate.evals import Verdict

from flow_fixtures import TRIAGE, record_triage

pytestmark = pytest.mark.usefixtures("prefect_harness")


def _run(tmp_path: Path, cand_acc: float, inc_acc: float, **kwargs):
    from releasegate.flows.evaluate import evaluate_candidate

    cand = record_triage(tmp_path / "cand.parquet", "gemma3-v1", cand_acc, seed=1)
    inc = record_triage(tmp_path / "inc.parquet", "smollm2-v1", inc_acc, seed=2)
    return evaluate_candidate(scenario=str(TRIAGE), candidate="gemma3-v1", candidate_records=str(cand),
                              incumbent_records=str(inc), progress=False, **kwargs)


def test_pass_leaves_verdict_ledger_event_mlflow_run_and_report(tmp_path, rg_home):
    import mlflow
    from mlflow import MlflowClient

    from releasegate import releases
    result = _run(tmp_path, 0.80, 0.50)
    verdict = Verdict.from_json(Path(result.verdict_path).read_text())
    assert result.decision == verdict.decision == "PASS"
    assert result.exit_code == 0
    assert verdict.n == result.cases_total == 372
    ni = next(c for c in verdict.checks if c.name == "non_inferiority")
    assert ni.status == "pass" and ni.ci_low > 0.2  # 0.80 vs 0.50: the difference is far above -margin

    ledger = releases.Ledger.open()
    events = ledger.events(scenario_id="support-triage", event_type="evaluated")
    assert len(events) == 1
    assert events[0].payload["verdict"] == "PASS"
    assert events[0].payload["decision_path"] == result.decision_path
    assert ledger.verify() == []

    mlflow.set_tracking_uri(releases.mlflow_uri())
    run = MlflowClient().get_run(result.mlflow_run_id)
    assert run.data.params["candidate_entry"] == "gemma3-v1"
    assert run.data.params["incumbent_entry"] == "smollm2-v1"
    assert run.data.tags["verdict"] == "PASS"
    assert run.data.metrics["check.non_inferiority.ci_low"] == pytest.approx(ni.ci_low)
    assert run.data.metrics["n"] == 372

    html = Path(result.report_path).read_text()
    assert "PASS" in html and "non_inferiority" in html
    assert "| Verdict | ✅ **PASS** |" in result.markdown
    assert f"({result.report_path})" in result.markdown


def test_fail_exit_code_and_ledger(tmp_path, rg_home):
    from releasegate import releases
    result = _run(tmp_path, 0.30, 0.70)
    assert result.decision == "FAIL" and result.exit_code == 1
    events = releases.Ledger.open().events(scenario_id="support-triage", event_type="evaluated")
    assert [e.payload["verdict"] for e in events] == ["FAIL"]


def test_sequential_stops_early_and_says_how_many_cases(tmp_path, rg_home):
    from releasegate import releases
    result = _run(tmp_path, 0.90, 0.40, sequential=True, batch_size=25)
    verdict = Verdict.from_json(Path(result.verdict_path).read_text())
    assert verdict.sequential is not None
    used = verdict.sequential.cases_used
    assert used == result.cases_used < result.cases_total == 372
    assert verdict.n == used
    assert verdict.decision == "PASS"
    event = releases.Ledger.open().events(scenario_id="support-triage", event_type="evaluated")[-1]
    assert (event.payload["cases_used"], event.payload["cases_total"]) == (used, 372)
    assert event.payload["sequential"] is True
    html = Path(result.report_path).read_text()
    assert f"{used} of 372" in html


def test_verdict_and_decision_name_the_signed_root_they_were_judged_under(tmp_path, rg_home):
    """Issue 14: with a signed scenario root the flow stamps the verdict with the root version,
    its digest and the criteria digest it applied; the decision takes them from the verdict."""
    import json

    from releasegate import releases
    from releasegate.releases import Keyring, generate_key, load_private_key
    from releasegate.releases._keys import private_key_path
    from releasegate.releases._trust import (
        apply_root,
        criteria_sha256,
        propose_portfolio_root,
        propose_scenario_root,
        sign_root,
    )
    from releasegate.scenarios import load_scenario

    roots = ["root-a@platform.example", "root-b@platform.example"]
    owners = ["product-owner@support.example", "platform-owner@platform.example"]
    for ident in (*roots, *owners):
        generate_key(ident)
    ledger = releases.Ledger.open()
    portfolio = propose_portfolio_root(ledger, roots, 2, keyring=Keyring.load())
    for ident in roots:
        sign_root(portfolio, load_private_key(private_key_path(ident)))
    apply_root(ledger, portfolio)
    loaded = load_scenario(str(TRIAGE))
    md = propose_scenario_root(ledger, loaded, keyring=Keyring.load(), release_policy=None)
    for ident in (*roots, *owners):
        sign_root(md, load_private_key(private_key_path(ident)))
    apply_root(ledger, md)
    root = releases.current_scenario_root(ledger, "support-triage")

    result = _run(tmp_path, 0.80, 0.50)
    verdict = Verdict.from_json(Path(result.verdict_path).read_text())
    assert verdict.trust_root is not None
    assert (verdict.trust_root.version, verdict.trust_root.sha256) == (1, root.digest)
    assert verdict.trust_root.criteria_sha256 == criteria_sha256(loaded) == root.criteria_sha256
    envelope = json.loads(Path(result.decision_path).read_text())
    predicate = releases.statement_of(envelope)["predicate"]
    assert predicate["trust_root"] == {"scenario_id": "support-triage", "version": 1, "sha256": root.digest,
                                       "criteria_sha256": root.criteria_sha256}
    assert predicate["verdict"]["trust_root"] == {"version": 1, "sha256": root.digest,
                                                  "criteria_sha256": root.criteria_sha256}
