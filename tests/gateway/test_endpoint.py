"""The scenario endpoint on MLflow's AI Gateway (a real `mlflow server`), fake OpenAI upstreams.

One module-scoped story, in order: endpoint follows the champion; promote switches live traffic
with no failed request; a killed upstream falls back to the route policy's fallback; rollback
switches back; an endpoint edited in MLflow directly is found and repaired by audit.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from fake_upstream import Upstream
from gateway_fixtures import World, build_world

from releasegate.core import Refused
from releasegate.gateway import (
    GatewayServer,
    audit_endpoints,
    chat_url,
    expected_endpoint,
    follow_release,
    live_replicas,
    read_endpoint,
    record_replica,
    record_replica_stopped,
    switch_endpoint,
    verify_servable,
)
from releasegate.releases import Ledger, promote, rollback

SID = "support-triage"


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, str]]:
    with pytest.MonkeyPatch.context() as mp:
        world = build_world(tmp_path_factory.mktemp("gateway-endpoint"), mp, route_fallback="gemma3-v1")
        with GatewayServer(cache_ttl_s=10) as url:
            yield world, url


def ask(url: str) -> tuple[int, str]:
    r = httpx.post(chat_url(url), json={"model": SID, "messages": [{"role": "user", "content": "hi"}]}, timeout=30)
    return r.status_code, (r.json()["choices"][0]["message"]["content"] if r.status_code == 200 else r.text[:200])


class Traffic:
    """Requests in a loop from a thread: who answered, and every failure."""

    def __init__(self, url: str) -> None:
        self.url, self.log, self.stop_flag = url, [], threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop_flag.is_set():
            try:
                code, text = ask(self.url)
            except httpx.HTTPError as exc:
                code, text = 0, type(exc).__name__
            self.log.append((time.monotonic(), code, text))

    def __enter__(self) -> Traffic:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_flag.set()
        self.thread.join(timeout=30)

    def first(self, text: str, after: float) -> float | None:
        return next((t - after for t, code, body in self.log if t >= after and body == text), None)


def test_endpoint_follows_promote_and_rollback_and_audit_repairs_it(story: tuple[World, str]) -> None:
    world, url = story
    ledger = Ledger.open()
    champion = verify_servable(SID, "champion")
    a = Upstream("A", "gemma3-270m", champion.weights_path).start()
    b = None
    try:
        with pytest.raises(Refused, match="no verified replica serves") as refused:
            switch_endpoint(SID, ledger=ledger)
        assert refused.value.code == "endpoint"
        record_replica(ledger, champion, api_base=a.api_base, served_model="gemma3-270m")
        result = switch_endpoint(SID, ledger=ledger)
        assert result.changed and [m.api_base for m in result.endpoint.primaries] == [a.api_base]
        assert result.endpoint.fallbacks == []  # the fallback entry is the champion itself
        assert ask(url) == (200, "served-by:A")
        assert audit_endpoints(ledger=ledger) == []

        # Promote: the new champion's verified replica first, then the endpoint (flows do both).
        assert promote(SID, world.decisions["smollm2-v2"], ledger=ledger).promoted
        new = verify_servable(SID, "champion")
        assert new.entry == "smollm2-v2"
        b = Upstream("B", "smollm2-135m-instruct", new.weights_path).start()
        record_replica(ledger, new, api_base=b.api_base, served_model="smollm2-135m-instruct")
        with Traffic(url) as traffic:
            time.sleep(1.0)
            switched = follow_release(SID, ledger=ledger)
            t_switch = time.monotonic()
            deadline = t_switch + 30
            while traffic.first("served-by:B", t_switch) is None and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(0.5)
        assert switched is not None and [m.api_base for m in switched.endpoint.primaries] == [b.api_base]
        assert [(m.api_base, m.fallback_order) for m in switched.endpoint.fallbacks] == [(a.api_base, 1)]
        to_new = traffic.first("served-by:B", t_switch)
        failures = [entry for entry in traffic.log if entry[1] != 200]
        assert to_new is not None and to_new <= 10 + 2  # within MLflow's config cache TTL
        assert failures == [] and len(traffic.log) >= 3
        print(f"promote -> first answer by the new version: {to_new:.2f} s, {len(traffic.log)} requests, 0 failed")

        # The champion's upstream dies: MLflow's fallback (the route policy's entry) answers.
        b.stop()
        assert ask(url) == (200, "served-by:A")

        # Rollback: the ledger's previous champion serves again.
        b = Upstream("B", "smollm2-135m-instruct", new.weights_path).start()  # another port
        rb = rollback(SID, reason="latency regression", ledger=ledger)
        assert rb.to_version == world.versions["gemma3-v1"]
        record_replica_stopped(ledger, SID, switched.endpoint.primaries[0].api_base, reason="stopped")
        with Traffic(url) as traffic:
            back = follow_release(SID, ledger=ledger)
            t_switch = time.monotonic()
            time.sleep(11)
        assert back is not None and [m.api_base for m in back.endpoint.primaries] == [a.api_base]
        assert [e for e in traffic.log if e[1] != 200] == []
        settled = [body for t, _code, body in traffic.log if t >= t_switch + 10.5]
        assert settled and set(settled) == {"served-by:A"}

        # Someone points the endpoint at another upstream in MLflow directly: drift, repaired.
        from mlflow.entities import GatewayEndpointModelConfig
        from mlflow.entities.gateway_endpoint import GatewayModelLinkageType
        from releasegate.gateway._endpoint import gateway_store
        store = gateway_store()
        ep = store.get_gateway_endpoint(name=SID)
        rogue_secret = store.create_gateway_secret(secret_name="rogue", secret_value={"api_key": "k"},
                                                   provider="openai", auth_config={"api_base": b.api_base})
        rogue = store.create_gateway_model_definition(name="rogue", secret_id=rogue_secret.secret_id,
                                                      provider="openai", model_name="smollm2-135m-instruct")
        store.update_gateway_endpoint(ep.endpoint_id, model_configs=[GatewayEndpointModelConfig(
            model_definition_id=rogue.model_definition_id, linkage_type=GatewayModelLinkageType.PRIMARY, weight=1.0)])
        findings = audit_endpoints(ledger=ledger)
        assert len(findings) == 1 and not findings[0].repaired
        assert any("linked model rogue" in r and "not in the ledger's endpoint" in r for r in findings[0].reasons)
        repaired = audit_endpoints(ledger=ledger, repair=True)
        assert repaired[0].repaired
        assert {m.key() for m in read_endpoint(SID).models} == {m.key() for m in expected_endpoint(ledger, SID).models}
        assert audit_endpoints(ledger=ledger) == []
        kinds = [e.event_type for e in ledger.events(scenario_id=SID)]
        assert kinds.count("gateway_endpoint_set") == 3 and "gateway_repaired" in kinds
        assert ledger.verify() == []
    finally:
        a.stop()
        if b is not None:
            b.stop()


def test_client_renders_the_released_prompt_and_follows_a_prompt_rollback(story: tuple[World, str]) -> None:
    from releasegate.client import call_scenario

    world, url = story
    ledger = Ledger.open()
    release = verify_servable(SID, "champion")
    upstream = Upstream("C", "gemma3-270m", release.weights_path).start()
    try:
        for rep in live_replicas(ledger, SID):  # the earlier test's upstreams are gone
            record_replica_stopped(ledger, SID, rep["api_base"], reason="test ended")
        record_replica(ledger, release, api_base=upstream.api_base, served_model="gemma3-270m")
        switch_endpoint(SID, ledger=ledger)
        time.sleep(10.5)  # MLflow's endpoint cache TTL
        # The prompt alias still holds smollm2-v2's prompt (v2): a model rollback does not move it.
        answer = call_scenario(SID, {"message": "I was charged twice", "channel": "email"}, gateway_url=url)
        assert answer.text == "served-by:C" and answer.prompt_version == "v2"
        assert upstream.bodies[-1]["messages"][-1]["content"] == (
            "Customer message via email:\nI was charged twice\n\nQueue name:")
        rollback(SID, target="prompt", reason="v2 misroutes refunds", ledger=ledger)
        answer = call_scenario(SID, {"message": "I was charged twice", "channel": "email"}, gateway_url=url)
        assert answer.text == "served-by:C" and answer.prompt_version == "v1"
        assert upstream.bodies[-1]["messages"][-1]["content"] == "Message (email): I was charged twice\nQueue:"
        assert upstream.bodies[-1]["stop"] == ["\n"]
        assert "api_key" not in repr(answer) and "Bearer" not in repr(answer)
    finally:
        upstream.stop()


def test_usage_from_the_gateway_traces(story: tuple[World, str]) -> None:
    from releasegate.gateway import gateway_usage

    world, url = story
    time.sleep(2)  # the server finishes writing the last traces
    usage = gateway_usage(SID, mlflow_uri=url)
    # Every request of the story reached a fake upstream that reports 7 prompt + 3 completion tokens.
    assert usage.requests >= 10 and usage.errors == 0
    assert (usage.input_tokens, usage.output_tokens) == (7 * usage.requests, 3 * usage.requests)
    assert usage.latency_p95_s is not None and usage.latency_slo_p95_s == 30.0 and usage.meets_latency_slo
    assert usage.cost_usd is not None and usage.cost_basis.startswith("1 replica(s) x 1 ")
    # Governance shows it per scenario (the CLI reads the same traces).
    from releasegate.reports import governance_report
    metrics = governance_report()
    assert metrics["gateway"][SID]["requests"] >= usage.requests
    assert metrics["gateway"][SID]["cost_usd"] is not None


def test_audit_finds_an_upstream_serving_other_weights(story: tuple[World, str]) -> None:
    world, url = story
    ledger = Ledger.open()
    release = verify_servable(SID, "champion")
    impostor = Upstream("X", "gemma3-270m", "/somewhere/else").start()
    try:
        record_replica(ledger, release, api_base=impostor.api_base, served_model="gemma3-270m")
        switch_endpoint(SID, ledger=ledger)
        findings = audit_endpoints(ledger=ledger)
        assert any(f"upstream {impostor.api_base} serves weights from ['/somewhere/else']" in r
                   for f in findings for r in f.reasons)
    finally:
        impostor.stop()


def _set_budget(world: World, usd: float, action: str = "REJECT") -> None:
    import yaml

    path = world.root / "datasets" / SID / "scenario.yaml"
    data = yaml.safe_load(path.read_text())
    data["cost_budget"] = {"usd": usd, "window": "DAYS", "window_length": 1, "action": action,
                           "owner": "finops@platform.example"}
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def _traces(url: str) -> int:
    from releasegate.gateway import gateway_usage

    return gateway_usage(SID, mlflow_uri=url).requests


def test_cost_budget_is_an_endpoint_budget_policy_and_trips_on_self_hosted_spend(story: tuple[World, str]) -> None:
    from fastapi.testclient import TestClient

    from releasegate.gateway import budget_status, policy_app
    from releasegate.gateway._endpoint import gateway_store

    world, url = story
    ledger = Ledger.open()
    release = verify_servable(SID, "champion")
    upstream = Upstream("D", "gemma3-270m", release.weights_path).start()
    try:
        for rep in live_replicas(ledger, SID):
            record_replica_stopped(ledger, SID, rep["api_base"], reason="test ended")
        record_replica(ledger, release, api_base=upstream.api_base, served_model="gemma3-270m")
        _set_budget(world, 1000.0)
        result = switch_endpoint(SID, ledger=ledger)
        assert result.changed and [dict(b) for b in result.endpoint.budgets] == [
            {"usd": 1000.0, "window": "DAYS", "window_length": 1, "action": "REJECT"}]
        store = gateway_store()
        endpoint_id = store.get_gateway_endpoint(name=SID).endpoint_id
        [policy] = [p for p in store.list_budget_policies() if p.target_value == endpoint_id]
        assert (policy.target_scope.value, policy.budget_unit.value, policy.budget_amount, policy.budget_action.value,
                policy.duration.unit.value, policy.duration.value) == ("ENDPOINT", "USD", 1000.0, "REJECT", "DAYS", 1)

        time.sleep(10.5)  # MLflow's endpoint cache TTL: D serves from now on
        before = _traces(url)
        assert ask(url) == (200, "served-by:D")
        while _traces(url) == before:
            time.sleep(0.5)
        status = budget_status(SID, mlflow_uri=url)
        assert status is not None and status.spend_usd > 0 and not status.exceeded
        assert status.cost_basis.startswith("1 replica(s) x 1 cpu")  # the contract's GPU price, not MLflow's 0

        # The cost owner lowers the budget just above today's spend: releasegate updates MLflow's policy.
        low = round(status.spend_usd + 2e-5, 6)  # 0.72 s of the contract's 0.10 USD/h (micro-dollars)
        _set_budget(world, low)
        assert switch_endpoint(SID, ledger=ledger).changed
        [policy] = [p for p in store.list_budget_policies() if p.target_value == endpoint_id]
        assert policy.budget_amount == low

        client = TestClient(policy_app(url, budget_ttl_s=0))
        body = {"model": SID, "messages": [{"role": "user", "content": "hi"}]}
        time.sleep(1.5)  # the next trace widens the served window by >= 1.5 s: > 2e-5 USD
        before = _traces(url)
        r = client.post("/v1/chat/completions", json=body)
        assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "served-by:D"
        while _traces(url) == before:
            time.sleep(0.5)
        served = upstream.requests
        for _ in range(2):  # refused, recorded; the budget's crossing is recorded once per window
            r = client.post("/v1/chat/completions", json=body)
            assert r.status_code == 400 and r.json()["error"]["type"] == "policy_refused"
            assert "the cost budget of" in r.json()["error"]["message"]
        assert upstream.requests == served  # nothing reached the upstream
        refused = ledger.events(scenario_id=SID, event_type="gateway_request_refused")
        assert [e.payload["kinds"] for e in refused[-2:]] == [["cost_budget"], ["cost_budget"]]
        [crossed] = ledger.events(scenario_id=SID, event_type="gateway_budget_exceeded")
        assert crossed.payload["spend_usd"] > crossed.payload["budget"]["usd"]
        assert crossed.payload["owner"] == "finops@platform.example"

        # Someone raises the budget in MLflow behind releasegate's back: drift, and repair restores it.
        store.update_budget_policy(policy.budget_policy_id, budget_amount=5000.0)
        [finding] = audit_endpoints(ledger=ledger, repair=True)
        assert any(r.startswith("budget policies [{'usd': 5000.0") for r in finding.reasons) and finding.repaired
        [policy] = [p for p in store.list_budget_policies() if p.target_value == endpoint_id]
        assert policy.budget_amount == low
        assert audit_endpoints(ledger=ledger) == []
    finally:
        upstream.stop()


def test_production_p95_over_the_slo_is_a_regression_from_the_traces(story: tuple[World, str]) -> None:
    import yaml

    from releasegate.gateway import production_regressions
    from releasegate.releases import list_incidents

    world, url = story
    ledger = Ledger.open()
    path = world.root / "datasets" / SID / "scenario.yaml"
    data = yaml.safe_load(path.read_text())
    data["success_criteria"]["latency_slo"] = {"latency_p95_s": 0.3}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    release = verify_servable(SID, "champion")
    slow = Upstream("S", "gemma3-270m", release.weights_path, delay_s=0.6).start()
    try:
        for rep in live_replicas(ledger, SID):
            record_replica_stopped(ledger, SID, rep["api_base"], reason="test ended")
        record_replica(ledger, release, api_base=slow.api_base, served_model="gemma3-270m")
        switch_endpoint(SID, ledger=ledger)
        time.sleep(10.5)  # MLflow's endpoint cache TTL
        started = time.time()
        before = _traces(url)
        for _ in range(5):
            assert ask(url) == (200, "served-by:S")
        while _traces(url) < before + 5:
            time.sleep(0.5)
        window = time.time() - started + 1.0
        [found] = production_regressions([SID], ledger=ledger, mlflow_uri=url, since_s=window, min_requests=5)
        assert found["usage"]["requests"] == 5 and found["usage"]["latency_p95_s"] >= 0.6
        assert found["usage"]["meets_latency_slo"] is False and found["alert"].startswith("INC-")
        ev = ledger.events(scenario_id=SID, event_type="regression_detected")[-1]
        assert ev.payload["verdict"] == "FAIL" and ev.payload["incident_id"] == found["alert"]
        p95 = found["usage"]["latency_p95_s"]
        assert ev.payload["verdict_reason"].startswith(f"p95 latency {p95:.3f} s over the SLO 0.3 s (5 requests ")
        assert ev.payload["signal"]["kind"] == "production_latency" and ev.payload["signal"]["requests"] == 5
        [incident] = [i for i in list_incidents(ledger, scenario_id=SID, open_only=True) if i.incident_id == found["alert"]]
        assert incident.owner == world_owner(world, "incident") and "in production" in incident.summary
        # Checked again while the incident is open: the same alert, no second incident.
        [again] = production_regressions([SID], ledger=ledger, mlflow_uri=url, since_s=window + 5, min_requests=5)
        assert again["alert"] == found["alert"]
        assert len(ledger.events(scenario_id=SID, event_type="regression_detected")) == 1
        # Too few requests to judge a p95: no alert.
        [few] = production_regressions([SID], ledger=ledger, mlflow_uri=url, since_s=window + 5, min_requests=20)
        assert few["alert"] is None
        # Governance shows the same traces' p95 against the SLO.
        from releasegate.reports import governance_report
        html = world.root / "governance.html"
        assert governance_report(html=html, traffic_window_s=window)["gateway"][SID]["meets_latency_slo"] is False
        page = html.read_text()
        assert "Production traffic (MLflow AI Gateway)" in page and '<span class="bad">over the SLO</span>' in page
        assert "Prefix-cache hit rate (min)" in page
    finally:
        slow.stop()


def world_owner(world: World, role: str) -> str:
    import yaml

    return yaml.safe_load((world.root / "datasets" / SID / "scenario.yaml").read_text())["owners"][role]["id"]
