"""The real path once: a verified SmolLM2 replica on vLLM behind the scenario endpoint of MLflow's
AI Gateway, called with the product client; audit checks the weights vLLM serves."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from gateway_fixtures import build_world

pytestmark = pytest.mark.vllm

SID = "support-triage"


def _prepared(name: str) -> dict:
    path = Path(os.environ["RELEASEGATE_MODELS_DIR"]) / f"{name}.json"
    if not path.is_file():
        pytest.skip(f"{name} is not prepared (make models)")
    return json.loads(path.read_text())


def test_verified_vllm_replica_serves_the_endpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from releasegate.client import call_scenario
    from releasegate.gateway import (
        GatewayServer,
        audit_endpoints,
        prefix_cache,
        start_verified_replica,
        stop_verified_replica,
        switch_endpoint,
    )
    from releasegate.releases import Ledger, promote

    smol = _prepared("smollm2-135m-instruct")
    world = build_world(tmp_path, monkeypatch, prepared={"smollm2-135m-instruct": smol})
    ledger = Ledger.open()
    assert promote(SID, world.decisions["smollm2-v2"], ledger=ledger).promoted
    replica = start_verified_replica(SID, "champion", ledger=ledger, echo=lambda m: None)
    try:
        assert replica.release.weights_path == smol["path"] and replica.release.weight_digest == smol["digest"]
        with GatewayServer(cache_ttl_s=10) as url:
            switch_endpoint(SID, ledger=ledger)
            answer = call_scenario(SID, {"message": "I was charged twice this month", "channel": "email"},
                                   gateway_url=url, max_tokens=8)
            assert answer.model == "smollm2-135m-instruct" and answer.prompt_version == "v2"
            assert answer.text.strip() and answer.usage["completion_tokens"] <= 8
            assert audit_endpoints(ledger=ledger) == []  # vLLM's /v1/models root is the verified folder
            # vLLM's own prefix-cache counters (tokens) are read from the replica: 2 prompts queried.
            call_scenario(SID, {"message": "I was charged twice this month", "channel": "email"},
                          gateway_url=url, max_tokens=8)
            pc = prefix_cache(SID, ledger=ledger)
            print("prefix cache:", {k: pc[k] for k in ("hits", "queries", "hit_rate")})
            assert pc["unreachable"] == [] and pc["queries"] >= 2 * answer.usage["prompt_tokens"]
            assert pc["hit_rate"] == pc["hits"] / pc["queries"]
    finally:
        stop_verified_replica(replica, reason="test ended", ledger=ledger)
    assert [e.event_type for e in ledger.events(scenario_id=SID, event_type=("serving_started", "serving_stopped"))] == [
        "serving_started", "serving_stopped"]
