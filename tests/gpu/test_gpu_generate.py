"""generate_records against a fake OpenAI-compatible server: retries, error rows, cache, TTFT, replicas."""
from __future__ import annotations

import dataclasses
import json
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

import jsonschema
import pytest

from releasegate.gpu import Endpoint, GenerationCache, generate_records, split_cases
from releasegate.core import InputError
from releasegate.scenarios import read_records, write_records

from fake_openai import FakeBehaviour, _Handler


def _entry_of_style(loaded, style: str) -> str:
    """A model entry of the contract with this prompt style (the contract's choices may change)."""
    return next(name for name, entry in loaded.scenario.models.items() if entry.prompt_style == style)


def _endpoint(url: str, model: str = "smollm2-135m-instruct") -> Endpoint:
    # An explicit Endpoint skips the /models probe and gives a stable cache identity.
    return Endpoint(base_url=url, model=model, kind="attached", model_digest="d" * 64,
                    settings={"device": "fake"})


def test_records_have_every_column_and_parse_the_stream(state_home, fake_server, triage):
    loaded, dataset = triage
    fake_server.behaviour.chunk_delay_s = 0.15
    chat = _entry_of_style(loaded, "chat")
    frame, meta = generate_records(loaded, dataset, chat, endpoint=_endpoint(fake_server.url),
                                   limit=3, progress=False)
    assert list(frame["example_id"]) == dataset.ids[:3]
    assert list(frame["output"]) == ["billing"] * 3  # two streamed pieces joined
    assert list(frame["completion_tokens"]) == [2, 2, 2]  # from the final usage chunk
    first = frame.iloc[0]
    # first piece arrives at once, then two 0.15 s sleeps before the stream ends
    assert first["ttft_s"] < 0.1
    assert first["latency_s"] >= 0.3
    assert first["finish_reason"] == "stop"
    assert frame["error"].isna().all() and not frame["cached"].any()
    body = fake_server.behaviour.bodies[0]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["max_tokens"] == loaded.scenario.context_budget.max_output_tokens
    assert body["stop"] == ["\n"] and body["temperature"] == 0.0 and body["seed"] == 0
    assert body["messages"][0]["role"] == "system"
    assert meta["scenario_id"] == "support-triage" and meta["dataset_sha256"] == dataset.sha256
    assert meta["model_entry"] == chat and meta["prompt_style"] == "chat"
    assert meta["telemetry"]["prefix_cache_hit_rate"] == pytest.approx(0.4)
    assert meta["counts"] == {"cases": 3, "cached": 0, "generated": 3, "errors": 0}
    path = write_records(frame, state_home / "r.parquet", meta)
    back, back_meta = read_records(path)
    assert back_meta["model_entry"] == chat and len(back) == 3
    # the meta matches the published schema (docs/schemas/records-meta.schema.json)
    schema = json.loads((Path(__file__).resolve().parents[2] / "docs" / "schemas" /
                         "records-meta.schema.json").read_text())
    jsonschema.validate(back_meta, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**back_meta, "cost": {**back_meta["cost"], "pricing": "free"}}, schema)


def test_completion_entry_sends_a_completion_prompt(state_home, fake_server, triage):
    loaded, dataset = triage
    generate_records(loaded, dataset, _entry_of_style(loaded, "completion"),
                     endpoint=_endpoint(fake_server.url, "gemma3-270m"), limit=1, progress=False)
    body = fake_server.behaviour.bodies[0]
    assert "messages" not in body
    assert body["prompt"].startswith("Route each customer message")
    assert body["prompt"].rstrip().endswith("Queue:")


def test_5xx_is_retried_with_backoff(state_home, fake_server, triage):
    loaded, dataset = triage
    fake_server.behaviour.fail_first = 2
    frame, meta = generate_records(loaded, dataset, "smollm2-v1", endpoint=_endpoint(fake_server.url),
                                   limit=4, progress=False, concurrency=1, backoff_s=0.01)
    assert frame["error"].isna().all()
    assert fake_server.behaviour.generation_requests == 4 + 2


def test_a_request_that_keeps_failing_is_an_error_row_and_is_retried_on_rerun(state_home, fake_server, triage):
    loaded, dataset = triage
    target = dataset.rows[1]["message"][:30]
    fake_server.behaviour.always_fail_containing = target
    frame, meta = generate_records(loaded, dataset, "smollm2-v1", endpoint=_endpoint(fake_server.url),
                                   limit=4, progress=False, backoff_s=0.01, max_attempts=3)
    failed = frame[frame["error"].notna()]
    assert list(failed["example_id"]) == [dataset.ids[1]]
    assert "failed after 3 attempts" in failed.iloc[0]["error"] and "HTTP 500" in failed.iloc[0]["error"]
    assert meta["counts"]["errors"] == 1
    assert failed.iloc[0]["cost_usd"] == 0.0  # nothing produced; the run's time goes to the others
    assert frame["cost_usd"].sum() == pytest.approx(meta["cost"]["total_usd"])
    # Error rows are not cached: the rerun sends exactly that one request again.
    fake_server.behaviour.always_fail_containing = None
    before = fake_server.behaviour.generation_requests
    frame2, meta2 = generate_records(loaded, dataset, "smollm2-v1", endpoint=_endpoint(fake_server.url),
                                     limit=4, progress=False)
    assert fake_server.behaviour.generation_requests - before == 1
    assert frame2["error"].isna().all()
    assert meta2["counts"] == {"cases": 4, "cached": 3, "generated": 1, "errors": 0}


def test_a_stream_cut_without_finish_reason_is_retried_then_recorded(state_home, fake_server, triage):
    loaded, dataset = triage
    fake_server.behaviour.cut_stream_containing = dataset.rows[0]["message"][:30]
    frame, _ = generate_records(loaded, dataset, "smollm2-v1", endpoint=_endpoint(fake_server.url),
                                limit=2, progress=False, backoff_s=0.01, max_attempts=2)
    assert "stream ended without a finish reason" in frame.iloc[0]["error"]
    assert frame.iloc[0]["output"] is None or frame.isna().iloc[0]["output"]
    assert frame.iloc[1]["error"] is None or frame.isna().iloc[1]["error"]


def test_rerun_is_served_from_cache_with_the_original_cost(state_home, fake_server, triage):
    loaded, dataset = triage
    ep = _endpoint(fake_server.url)
    first, meta1 = generate_records(loaded, dataset, "smollm2-v1", endpoint=ep, limit=5, progress=False)
    sent = fake_server.behaviour.generation_requests
    second, meta2 = generate_records(loaded, dataset, "smollm2-v1", endpoint=ep, limit=5, progress=False)
    assert fake_server.behaviour.generation_requests == sent == 5  # nothing sent the second time
    assert second["cached"].all()
    assert list(second["output"]) == list(first["output"])
    assert list(second["cost_usd"]) == pytest.approx(list(first["cost_usd"]))
    assert meta2["cost"]["total_usd"] == pytest.approx(meta1["cost"]["total_usd"]) and meta1["cost"]["total_usd"] > 0
    assert meta2["cost"]["cached_cost_usd"] == pytest.approx(meta2["cost"]["total_usd"])
    assert meta2["telemetry"]["available"] is False  # no request, no server needed


def test_cache_key_changes_with_sampling_and_server_settings(state_home, fake_server, triage):
    loaded, dataset = triage
    generate_records(loaded, dataset, "smollm2-v1", endpoint=_endpoint(fake_server.url), limit=2, progress=False)
    hotter = dataclasses.replace(loaded, scenario=loaded.scenario.model_copy(
        update={"sampling": loaded.scenario.sampling.model_copy(update={"temperature": 0.7})}))
    _, meta = generate_records(hotter, dataset, "smollm2-v1", endpoint=_endpoint(fake_server.url), limit=2,
                               progress=False)
    assert meta["counts"]["generated"] == 2
    other_server = dataclasses.replace(_endpoint(fake_server.url), settings={"device": "fake", "dtype": "float32"})
    _, meta = generate_records(loaded, dataset, "smollm2-v1", endpoint=other_server, limit=2, progress=False)
    assert meta["counts"]["generated"] == 2
    assert fake_server.behaviour.generation_requests == 6


def test_ids_select_a_subset_in_order_and_unknown_ids_are_bad_input(state_home, fake_server, triage):
    loaded, dataset = triage
    wanted = [dataset.ids[5], dataset.ids[2]]
    frame, _ = generate_records(loaded, dataset, "smollm2-v1", endpoint=_endpoint(fake_server.url), ids=wanted,
                                progress=False)
    assert list(frame["example_id"]) == wanted
    with pytest.raises(InputError, match="unknown example id 'nope'"):
        generate_records(loaded, dataset, "smollm2-v1", endpoint=_endpoint(fake_server.url), ids=["nope"],
                         progress=False)


def test_cases_are_split_across_replicas(state_home, fake_server, triage):
    loaded, dataset = triage
    behaviour = FakeBehaviour()
    second = ThreadingHTTPServer(("127.0.0.1", 0), type("H", (_Handler,), {"behaviour": behaviour}))
    threading.Thread(target=second.serve_forever, daemon=True).start()
    try:
        eps = [_endpoint(fake_server.url), _endpoint(f"http://127.0.0.1:{second.server_address[1]}/v1")]
        frame, meta = generate_records(loaded, dataset, "smollm2-v1", endpoint=eps, limit=7, progress=False)
    finally:
        second.shutdown()
        second.server_close()
    assert (fake_server.behaviour.generation_requests, behaviour.generation_requests) == (4, 3)
    assert frame["error"].isna().all() and len(frame) == 7
    assert meta["cost"]["replicas"] == 2 and len(meta["serving"]["endpoints"]) == 2
    assert split_cases(["a", "b", "c", "d", "e"], 2) == [["a", "c", "e"], ["b", "d"]]


def test_on_result_and_the_cache_see_each_case_as_it_finishes(state_home, fake_server, triage):
    loaded, dataset = triage
    cache = GenerationCache(state_home / "c.sqlite")
    seen: list[tuple[str, int]] = []
    generate_records(loaded, dataset, "smollm2-v1", endpoint=_endpoint(fake_server.url), limit=3, progress=False,
                     concurrency=1, cache=cache, on_result=lambda eid, rec: seen.append((eid, len(cache))))
    # committed before the callback: entry n is in the cache when case n is reported
    assert seen == [(dataset.ids[0], 1), (dataset.ids[1], 2), (dataset.ids[2], 3)]


def test_attach_by_url_uses_the_served_model_and_an_unknown_entry_is_bad_input(state_home, fake_server, triage):
    loaded, dataset = triage
    frame, meta = generate_records(loaded, dataset, "smollm2-v1", endpoint=fake_server.url, limit=1, progress=False)
    assert fake_server.behaviour.bodies[0]["model"] == "smollm2-135m-instruct"
    assert meta["serving"]["endpoint_kind"] == "attached"
    with pytest.raises(InputError, match="no model entry 'nope'"):
        generate_records(loaded, dataset, "nope", endpoint=fake_server.url, limit=1, progress=False)


def test_tool_calls_are_joined_from_stream_deltas():
    import asyncio

    import httpx

    from releasegate.gpu import generate_one
    from releasegate.scenarios._render import RenderedPrompt

    chunks = [
        {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"name": "lookup", "arguments": "{\"id\":"}}]}}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": " 7}"}}]}}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
        {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 9}},
    ]
    sse = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
    transport = httpx.MockTransport(lambda request: httpx.Response(200, text=sse))

    async def run():
        async with httpx.AsyncClient(transport=transport) as client:
            return await generate_one(client, Endpoint("http://x/v1", "m"),
                                      RenderedPrompt(style="chat", messages=({"role": "user", "content": "hi"},)),
                                      {}, 8)
    outcome = asyncio.run(run())
    assert outcome.tool_calls == [{"name": "lookup", "arguments": "{\"id\": 7}"}]
    assert (outcome.prompt_tokens, outcome.completion_tokens, outcome.finish_reason) == (5, 9, "tool_calls")


def test_endpoint_for_an_attached_entry_and_its_key(state_home, fake_server, triage, monkeypatch):
    from releasegate.gpu import endpoint_for

    loaded, _ = triage
    entry = loaded.scenario.models["smollm2-v1"].model_copy(
        update={"endpoint": fake_server.url, "api_key_env": "RG_TEST_HOSTED_KEY"})
    scenario = loaded.scenario.model_copy(update={"models": {**loaded.scenario.models, "hosted": entry}})
    monkeypatch.delenv("RG_TEST_HOSTED_KEY", raising=False)
    with pytest.raises(InputError, match="RG_TEST_HOSTED_KEY is not set"):
        with endpoint_for(scenario, "hosted"):
            pass
    monkeypatch.setenv("RG_TEST_HOSTED_KEY", "sk-test")
    with endpoint_for(scenario, "hosted") as ep:
        assert (ep.kind, ep.base_url, ep.api_key) == ("attached", fake_server.url, "sk-test")


def test_a_fully_cached_run_needs_no_endpoint(state_home, fake_server, triage):
    loaded, dataset = triage
    first, _ = generate_records(loaded, dataset, "smollm2-v1", endpoint=fake_server.url, limit=3, progress=False)
    fake_server.server.shutdown()
    fake_server.server.server_close()
    again, meta = generate_records(loaded, dataset, "smollm2-v1", endpoint=fake_server.url, limit=3, progress=False)
    assert again["cached"].all() and list(again["output"]) == list(first["output"])
    assert meta["serving"]["endpoint"] == fake_server.url and "endpoints" not in meta["serving"]
    # ...while a case that is not cached needs the (now gone) endpoint: bad input, one line
    with pytest.raises(InputError, match="unreachable"):
        generate_records(loaded, dataset, "smollm2-v1", endpoint=fake_server.url, limit=4, progress=False)


def test_without_an_endpoint_a_live_serve_server_is_found_the_one_way(state_home, fake_server, triage):
    """generate_records and endpoint_for find an entry's server the same way (gpu/_generate._serving):
    here a live `releasegate serve` for the same weights and settings, reused, nothing started."""
    import os

    from releasegate.gpu import ServerSpec, endpoint_for
    from releasegate.gpu._server import servers_dir

    loaded, dataset = triage
    name = next(n for n, e in loaded.scenario.models.items() if e.prompt_style == "chat" and not e.endpoint)
    spec = ServerSpec.from_entry(loaded.scenario.model_entry(name))
    servers_dir().mkdir(parents=True, exist_ok=True)
    (servers_dir() / f"{spec.served_name}.json").write_text(json.dumps({
        "url": fake_server.url, "pid": os.getpid(), "served_name": spec.served_name,
        "model_digest": spec.model.digest, "settings": spec.settings()}))
    frame, meta = generate_records(loaded, dataset, name, limit=2, progress=False, cache=False)
    assert list(frame["output"]) == ["billing"] * 2 and frame["error"].isna().all()
    serving = meta["serving"]
    assert serving["endpoints"] == [fake_server.url] and serving["endpoint_kind"] == "reused"
    assert "startup_s" not in serving  # nothing was started
    assert {k: serving[k] for k in spec.settings()} == spec.settings()
    assert meta["model_digest"] == spec.model.digest
    with endpoint_for(loaded.scenario, name) as ep:
        assert ep.base_url == fake_server.url and ep.kind == "reused" and ep.model_digest == spec.model.digest
