"""Model references and digests; profile statistics and the capacity plan."""
from __future__ import annotations

import json

import pytest

from releasegate.gpu import (Endpoint, Outcome, capacity_plan, list_models, profile_endpoint, resolve_model, weight_digest)
from releasegate.gpu._profile import level_stats
from releasegate.core import InputError
from releasegate.scenarios._render import RenderedPrompt


def test_weight_digest_depends_on_content_and_names(tmp_path):
    a = tmp_path / "a"
    a.mkdir()
    (a / "config.json").write_text("{}")
    (a / "model.safetensors").write_bytes(b"\x00" * 10)
    first = weight_digest(a)
    assert first == weight_digest(a) and len(first) == 64
    (a / "model.safetensors").write_bytes(b"\x00" * 9 + b"\x01")
    assert weight_digest(a) != first


def test_model_references(tmp_path, state_home, monkeypatch):
    monkeypatch.setenv("RELEASEGATE_MODELS_DIR", str(tmp_path / "empty-models"))
    with pytest.raises(InputError, match="not prepared") as info:
        resolve_model("gemma3-270m")
    assert "releasegate models prepare gemma3-270m" in str(info.value)
    with pytest.raises(InputError, match="unknown model 'no such thing'"):
        resolve_model("no such thing")
    bare = tmp_path / "bare"
    bare.mkdir()
    with pytest.raises(InputError, match="no config.json"):
        resolve_model(str(bare))
    (bare / "config.json").write_text("{}")
    folder = resolve_model(str(bare))
    assert folder.source == "folder" and folder.digest == weight_digest(bare)
    hub = resolve_model("HuggingFaceTB/SmolLM2-135M-Instruct")
    assert (hub.source, hub.digest) == ("hub", "")
    rows = {r["name"]: r for r in list_models()}
    assert rows["gemma3-270m"]["prepared"] is False and rows["gemma3-270m"]["prompt_style"] == "completion"


def test_prepared_model_is_found_through_its_manifest(tmp_path, state_home, monkeypatch):
    models = tmp_path / "models"
    (models / "smollm2-135m-instruct").mkdir(parents=True)
    (models / "smollm2-135m-instruct.json").write_text(json.dumps({
        "path": str(models / "smollm2-135m-instruct"), "digest": "c" * 64, "prompt_style": "chat",
        "max_model_len": 8192}))
    monkeypatch.setenv("RELEASEGATE_MODELS_DIR", str(models))
    resolved = resolve_model("smollm2-135m-instruct")
    assert (resolved.source, resolved.digest, resolved.prompt_style) == ("packaged", "c" * 64, "chat")


def _outcome(ttft: float, latency: float, tokens: int = 4) -> Outcome:
    step = (latency - ttft) / max(tokens - 1, 1)
    return Outcome(output="x", completion_tokens=tokens, ttft_s=ttft, latency_s=latency, finish_reason="stop",
                   token_times=[ttft + i * step for i in range(tokens)])


def test_level_statistics_goodput_and_slo():
    outcomes = [_outcome(0.1, 1.0)] * 8 + [_outcome(0.1, 5.0)] * 2
    level = level_stats(4, outcomes, wall_s=5.0, ttft_slo=1.0, latency_slo=2.0)
    assert level.throughput_rps == pytest.approx(2.0)  # 10 requests / 5 s
    assert level.goodput_rps == pytest.approx(1.6)  # 8 within SLO / 5 s
    assert level.slo_attainment == pytest.approx(0.8)
    assert level.latency_s["p50"] == pytest.approx(1.0)
    assert level.meets_slo is False  # p95 latency 5 s > 2 s
    assert level.itl_s["p50"] == pytest.approx(0.3)  # (1.0 - 0.1) / 3 gaps
    assert level.output_tokens_per_s == pytest.approx(8.0)


def test_capacity_plan_uses_the_best_level_within_slo():
    fast = level_stats(1, [_outcome(0.1, 0.5)] * 4, 2.0, 1.0, 2.0)  # 2 req/s, meets
    busy = level_stats(4, [_outcome(0.2, 1.5)] * 8, 2.0, 1.0, 2.0)  # 4 req/s, meets
    slow = level_stats(8, [_outcome(3.0, 6.0)] * 16, 2.0, 1.0, 2.0)  # misses
    plan = capacity_plan([fast, busy, slow], target_rps=10.0)
    assert (plan.concurrency, plan.replicas) == (4, 3)  # ceil(10 / 4)
    assert capacity_plan([slow], 1.0).replicas is None


def test_profile_against_a_fake_endpoint(fake_server):
    prompts = [RenderedPrompt(style="chat", messages=({"role": "user", "content": f"q{i}"},)) for i in range(3)]
    report = profile_endpoint(Endpoint(fake_server.url, "m"), prompts, concurrencies=[1, 2], requests_per_level=4,
                              max_tokens=8, ttft_slo_s=5.0, latency_slo_s=5.0, target_rps=3.0)
    assert [lv.requests for lv in report.levels] == [4, 4]
    assert fake_server.behaviour.generation_requests == 8
    assert all(lv.errors == 0 and lv.meets_slo for lv in report.levels)
    assert report.capacity is not None and report.capacity.replicas >= 1
    assert json.loads(json.dumps(report.to_dict()))["levels"][0]["concurrency"] == 1


def test_profile_scenario_uses_the_contracts_prompts_and_slo_at_a_named_endpoint(state_home, fake_server, triage):
    from releasegate.core import InputError
    from releasegate.gpu import profile_scenario

    loaded, _ = triage
    said: list[str] = []
    report = profile_scenario(loaded, entry_name="smollm2-v1", url=fake_server.url, concurrencies=[2],
                              requests_per_level=4, echo=said.append)
    slo = loaded.scenario.success_criteria.latency_slo
    assert report.endpoint == fake_server.url and report.model == loaded.scenario.models["smollm2-v1"].model
    assert report.slo == {"ttft_p95_s": slo.ttft_p95_s, "latency_p95_s": slo.latency_p95_s}
    assert [lv.requests for lv in report.levels] == [4] and fake_server.behaviour.generation_requests == 4
    assert said == []  # nothing was started: the endpoint was named
    with pytest.raises(InputError, match="no-such-entry"):
        profile_scenario(loaded, entry_name="no-such-entry", url=fake_server.url, concurrencies=[1])
    assert fake_server.behaviour.generation_requests == 4  # refused before any request
