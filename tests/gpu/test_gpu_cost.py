"""The cost model: GPU-priced and token-priced allocation, cached rows, crash leftovers."""
from __future__ import annotations

import pytest

from releasegate.gpu import allocate
from releasegate.gpu._cost import Row
from releasegate.scenarios._contract import GpuPricing, TokenPricing


def test_gpu_cost_is_serving_time_times_price_split_by_tokens():
    pricing = GpuPricing(accelerator="H100", count=2, usd_per_hour=1.5)
    rows = [Row("a", 60, 40, True, True, None), Row("b", 150, 50, True, True, None)]
    costs, block = allocate(pricing, rows, serving_seconds=3600.0)
    # 1 h x 2 GPUs x $1.5 = $3, split 100:200 tokens
    assert block["run_cost_usd"] == pytest.approx(3.0)
    assert costs == pytest.approx({"a": 1.0, "b": 2.0})
    assert block["total_usd"] == pytest.approx(3.0)
    assert "serving_seconds * count * usd_per_hour" in block["formula"]


def test_gpu_cost_scales_with_replicas_and_error_rows_cost_nothing_when_others_succeeded():
    pricing = GpuPricing(count=1, usd_per_hour=3.6)
    rows = [Row("ok", 10, 10, True, True, None), Row("err", 0, 0, True, False, None)]
    costs, block = allocate(pricing, rows, serving_seconds=100.0, replicas=3)
    assert block["run_cost_usd"] == pytest.approx(100 * 3.6 * 3 / 3600)  # $0.30
    assert costs == pytest.approx({"ok": 0.3, "err": 0.0})


def test_gpu_time_is_shared_equally_when_every_request_failed():
    costs, block = allocate(GpuPricing(usd_per_hour=36.0), [Row("x", 0, 0, True, False, None),
                                                          Row("y", 0, 0, True, False, None)], 10.0)
    assert costs == pytest.approx({"x": 0.05, "y": 0.05})
    assert block["total_usd"] == pytest.approx(0.1)


def test_cached_rows_keep_their_cost_and_crash_leftovers_are_charged_at_this_runs_rate():
    pricing = GpuPricing(usd_per_hour=3.6)  # $0.001 per second
    rows = [Row("cached", 100, 0, False, True, 0.42),  # priced by an earlier run
            Row("leftover", 50, 0, False, True, None),  # finished by a run that crashed before pricing
            Row("fresh", 100, 0, True, True, None)]
    costs, block = allocate(pricing, rows, serving_seconds=10.0)
    assert costs["cached"] == pytest.approx(0.42)
    assert costs["fresh"] == pytest.approx(0.01)  # the whole run's $0.01
    assert costs["leftover"] == pytest.approx(0.005)  # 50 tokens at $0.0001/token
    assert block["total_usd"] == pytest.approx(0.435)
    assert block["fresh_cost_usd"] == pytest.approx(0.01)
    assert block["cached_cost_usd"] == pytest.approx(0.425)


def test_token_pricing_charges_input_and_output_per_million():
    pricing = TokenPricing(usd_per_million_input=0.5, usd_per_million_output=1.5)
    rows = [Row("a", 2000, 1000, True, True, None), Row("b", 0, 0, True, False, None),
            Row("c", 10, 10, False, True, 0.7)]
    costs, block = allocate(pricing, rows, serving_seconds=999.0)
    assert costs["a"] == pytest.approx(2000 * 0.5e-6 + 1000 * 1.5e-6)  # 0.0025
    assert costs["b"] == 0.0
    assert costs["c"] == pytest.approx(0.7)
    assert block["pricing"] == "token" and block["total_usd"] == pytest.approx(0.7025)


def test_token_priced_entry_in_a_run(state_home, fake_server, triage):
    import dataclasses

    from releasegate.gpu import Endpoint, generate_records

    loaded, dataset = triage
    entry = loaded.scenario.models["smollm2-v1"].model_copy(
        update={"cost": TokenPricing(usd_per_million_input=1.0, usd_per_million_output=2.0)})
    hosted = dataclasses.replace(loaded, scenario=loaded.scenario.model_copy(
        update={"models": {**loaded.scenario.models, "smollm2-v1": entry}}))
    frame, meta = generate_records(hosted, dataset, "smollm2-v1",
                                   endpoint=Endpoint(fake_server.url, "smollm2-135m-instruct"), limit=3,
                                   progress=False)
    expected = [(p * 1.0 + c * 2.0) / 1e6 for p, c in zip(frame["prompt_tokens"], frame["completion_tokens"])]
    assert list(frame["cost_usd"]) == pytest.approx(expected)
    assert meta["cost"]["total_usd"] == pytest.approx(sum(expected)) and sum(expected) > 0
