"""Cache strategy at run time: the champion replicas' prefix-cache hit rate from vLLM's Prometheus
counters against the contract's minimum (a recorded metrics text served by fake replicas)."""
from __future__ import annotations

import yaml
from fake_upstream import Upstream
from gateway_fixtures import World, world, world_template  # noqa: F401 (fixtures)

from releasegate.gateway import prefix_cache, record_replica, switch_endpoint, verify_servable
from releasegate.releases import Ledger

SID = "support-triage"


def vllm_metrics(queries: float, hits: float) -> str:
    """vLLM's exposition of the two counters (tokens), other series around them as vLLM has them."""
    return f"""# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{{engine="0",model_name="gemma3-270m"}} 0.0
# HELP vllm:prefix_cache_queries_total Prefix cache queries, in terms of number of queried tokens.
# TYPE vllm:prefix_cache_queries_total counter
vllm:prefix_cache_queries_total{{engine="0",model_name="gemma3-270m"}} {queries}
# HELP vllm:prefix_cache_hits_total Prefix cache hits, in terms of number of cached tokens.
# TYPE vllm:prefix_cache_hits_total counter
vllm:prefix_cache_hits_total{{engine="0",model_name="gemma3-270m"}} {hits}
"""


def _min_hit_rate(world: World, value: float) -> None:
    path = world.root / "datasets" / SID / "scenario.yaml"
    data = yaml.safe_load(path.read_text())
    data["cache_strategy"]["min_prefix_cache_hit_rate"] = value
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_hit_rate_over_the_champion_replicas_against_the_cache_strategy(world: World) -> None:
    ledger = Ledger.open()
    release = verify_servable(SID, "champion")
    ups = [Upstream("A", "gemma3-270m", release.weights_path, metrics=vllm_metrics(400.0, 300.0)).start(),
           Upstream("B", "gemma3-270m", release.weights_path, metrics=vllm_metrics(400.0, 100.0)).start(),
           Upstream("C", "gemma3-270m", release.weights_path).start()]  # no /metrics
    try:
        for up in ups:
            record_replica(ledger, release, api_base=up.api_base, served_model="gemma3-270m")
        switch_endpoint(SID, ledger=ledger)
        _min_hit_rate(world, 0.6)
        pc = prefix_cache(SID, ledger=ledger)
        assert (pc["hits"], pc["queries"], pc["hit_rate"]) == (400.0, 800.0, 0.5)
        assert pc["min_hit_rate"] == 0.6 and pc["meets_slo"] is False
        assert pc["owner"] == "platform-owner@platform.example" and pc["unreachable"] == [ups[2].api_base]
        assert sorted((r["hits"], r["queries"]) for r in pc["replicas"]) == [(100.0, 400.0), (300.0, 400.0)]
        _min_hit_rate(world, 0.5)
        assert prefix_cache(SID, ledger=ledger)["meets_slo"] is True
        # No query yet (a fresh replica): no rate, no verdict.
        ups[0].metrics = ups[1].metrics = vllm_metrics(0.0, 0.0)
        fresh = prefix_cache(SID, ledger=ledger)
        assert fresh["hit_rate"] is None and fresh["meets_slo"] is None
    finally:
        for up in ups:
            up.stop()
