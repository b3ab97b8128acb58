"""evaluate_candidate with real vLLM (CPU build) serving SmolLM2 with two prompt versions on a
small subset; the decision reaches the ledger and MLflow, and no server is left behind."""
from __future__ import annotations

import base64
import json
from pathlib import Path

import psutil
import pytest

from releasegate.evals import Verdict

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.vllm, pytest.mark.usefixtures("prefect_harness")]


def _vllm_servers() -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if "vllm.entrypoints.openai.api_server" in cmd:
            found.append(proc)
    return found


def test_evaluate_with_real_vllm_records_decision(rg_home, monkeypatch):
    import mlflow
    from mlflow import MlflowClient

    from releasegate import releases
    from releasegate.flows.evaluate import evaluate_candidate

    releases.generate_key("vllm-runner@platform.example")  # the runner signs what vLLM generated
    monkeypatch.setenv("RELEASEGATE_RUNNER", "vllm-runner@platform.example")

    before = {p.pid for p in _vllm_servers()}
    result = evaluate_candidate(scenario=str(ROOT / "datasets" / "support-triage" / "scenario.yaml"),
                                candidate="smollm2-v2", limit=8, progress=False)
    verdict = Verdict.from_json(Path(result.verdict_path).read_text())
    assert verdict.n == 8
    assert verdict.candidate.entry == "smollm2-v2" and verdict.incumbent.entry == "smollm2-v1"
    # Same weights, two prompt versions: one model digest, a real sha256 of the prepared files.
    assert verdict.candidate.model_digest == verdict.incumbent.model_digest
    assert len(verdict.candidate.model_digest) == 64
    assert verdict.decision in ("PASS", "FAIL", "INCONCLUSIVE")
    assert verdict.metrics.candidate.n == 8

    event = releases.Ledger.open().events(scenario_id="support-triage", event_type="evaluated")[-1]
    assert event.payload["verdict"] == verdict.decision
    assert event.payload["candidate_entry"] == "smollm2-v2"
    mlflow.set_tracking_uri(releases.mlflow_uri())
    run = MlflowClient().get_run(result.mlflow_run_id)
    assert run.info.status == "FINISHED"
    assert run.data.metrics  # rates, bounds, cost, latency logged

    from releasegate.scenarios import read_records

    records, meta = read_records(Path(result.run_dir) / "candidate.parquet")
    assert (records["completion_tokens"] > 0).all() and (records["prompt_tokens"] > 0).all()
    assert records["error"].isna().all()
    assert meta["cost"]["total_usd"] > 0
    # provenance: the serving vLLM's own version, read from its /version route, is in the report
    version = meta["serving"]["vllm_version"]
    assert version and version.startswith("0.32")
    assert version in Path(result.report_path).read_text()
    # evidence provenance (issue 15): attested by the runner, naming the endpoint and weights it served
    from releasegate.scenarios import attestation_path

    assert verdict.candidate.evidence.status == verdict.incumbent.evidence.status == "attested"
    assert verdict.candidate.evidence.runner == "vllm-runner@platform.example"
    envelope = json.loads(attestation_path(Path(result.run_dir) / "candidate.parquet").read_text())
    stated = json.loads(base64.b64decode(envelope["payload"]))["predicate"]
    assert stated["endpoints"] == meta["serving"]["endpoints"] and stated["endpoints"][0].startswith("http://")
    assert stated["model_digest"] == verdict.candidate.model_digest and stated["cases"] == 8
    assert {p.pid for p in _vllm_servers()} - before == set()  # every server it started is gone
