"""Context budget and tool policy at run time: refused with the reason and recorded in the ledger."""
from __future__ import annotations

import pytest
from fake_upstream import Upstream
from gateway_fixtures import World, world, world_template  # noqa: F401 (fixtures)

from releasegate.gateway import ContractCache, check_request, policy_app, record_replica, verify_servable
from releasegate.releases import Ledger

SID = "support-triage"


@pytest.fixture
def replica(world: World):  # noqa: F811 (fixture)
    release = verify_servable(SID, "champion")
    up = Upstream("A", "gemma3-270m", release.weights_path).start()
    record_replica(Ledger.open(), release, api_base=up.api_base, served_model="gemma3-270m")
    yield up
    up.stop()


def ask(words: int, **extra: object) -> dict:
    return {"model": SID, "messages": [{"role": "user", "content": " ".join(["refund"] * words)}], **extra}


def test_over_budget_prompt_is_refused_and_recorded(replica: Upstream) -> None:
    ledger = Ledger.open()
    body, reasons = check_request(SID, ask(769), ledger=ledger)  # the contract allows 768 prompt tokens
    assert body is None and reasons == ["prompt has 769 tokens, the context budget allows 768 "
                                        "(owner platform-owner@platform.example)"]
    ev = ledger.events(scenario_id=SID, event_type="gateway_request_refused")[-1]
    assert ev.payload["kinds"] == ["context_budget"] and ev.payload["prompt_tokens"] == 769
    assert ev.payload["token_count"].startswith("tokenized by http://127.0.0.1:")
    body, reasons = check_request(SID, ask(768), ledger=ledger)
    assert reasons == [] and body is not None


def test_tool_outside_the_policy_is_refused_and_recorded(replica: Upstream) -> None:
    ledger = Ledger.open()
    tools = [{"type": "function", "function": {"name": "issue_refund", "parameters": {"type": "object"}}}]
    body, reasons = check_request(SID, ask(5, tools=tools), ledger=ledger)
    assert body is None and reasons == ["tool 'issue_refund' is not in tool policy v1's allowed tools [] "
                                        "(owner platform-owner@platform.example)"]
    call = {"role": "assistant", "content": "", "tool_calls": [
        {"id": "1", "type": "function", "function": {"name": "delete_account", "arguments": "{}"}}]}
    body, reasons = check_request(SID, {"model": SID, "messages": [call]}, ledger=ledger)
    assert body is None and "tool 'delete_account'" in reasons[0]
    kinds = [e.payload["kinds"] for e in ledger.events(scenario_id=SID, event_type="gateway_request_refused")]
    assert kinds == [["tool_policy"], ["tool_policy"]]


def test_output_is_capped_at_the_budget_and_allowed_requests_are_forwarded(replica: Upstream) -> None:
    from fastapi.testclient import TestClient

    # The "gateway" here is the fake upstream itself: it answers any path.
    client = TestClient(policy_app(replica.api_base.removesuffix("/v1")))
    r = client.post("/v1/chat/completions", json=ask(3, max_tokens=500))
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "served-by:A"
    assert replica.bodies[-1]["max_tokens"] == 8  # the contract's max_output_tokens
    r = client.post("/v1/chat/completions", json=ask(2000))
    assert r.status_code == 400 and r.json()["error"]["type"] == "policy_refused"
    assert "context budget allows 768" in r.json()["error"]["message"]
    r = client.post("/v1/chat/completions", json={"model": "no-such-scenario", "messages": []})
    assert r.status_code == 400


def test_an_edited_contract_reaches_the_next_request(replica: Upstream, world: World) -> None:  # noqa: F811
    from fastapi.testclient import TestClient

    # The policy layer reads each contract once and again only when its file changes.
    cache = ContractCache()
    first = cache(SID)
    assert cache(SID) is first and first.context_budget.max_prompt_tokens == 768
    client = TestClient(policy_app(replica.api_base.removesuffix("/v1")))
    assert client.post("/v1/chat/completions", json=ask(600)).status_code == 200
    path = world.root / "datasets" / SID / "scenario.yaml"
    path.write_text(path.read_text().replace("max_prompt_tokens: 768", "max_prompt_tokens: 512"))
    assert cache(SID).context_budget.max_prompt_tokens == 512
    r = client.post("/v1/chat/completions", json=ask(600))
    assert r.status_code == 400 and "context budget allows 512" in r.json()["error"]["message"]


@pytest.mark.parametrize(("body", "message"), [
    (b"[]", "not a JSON object"),
    (b"[" * 20000 + b"]" * 20000, "nested deeper than 64 levels"),
    (b'{"model": "a", "model": "support-triage", "messages": []}', "twice"),
    ('{"model": "support-triage", "messages": []}'.encode("utf-16"), "UTF-16"),
    (b'{"model": "support-triage", "messages": [], "temperature": NaN}', "NaN"),
    (b'{"model": "support-triage", "messages": [], "x": "\xff"}', "not valid UTF-8"),
    (b" " * (4 * 1024 * 1024 + 1), "over the 4194304 byte limit"),
])
def test_hostile_request_bodies_are_http_400_before_anything_is_forwarded(isolated_home, body: bytes,
                                                                          message: str) -> None:
    from fastapi.testclient import TestClient

    # Nothing listens on port 9: a request that got past the body check would fail differently.
    client = TestClient(policy_app("http://127.0.0.1:9"))
    r = client.post("/v1/chat/completions", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and message in r.json()["error"]["message"], r.text


def test_a_chunked_body_over_the_limit_is_refused_while_streaming(isolated_home) -> None:
    from fastapi.testclient import TestClient

    def chunks():  # no Content-Length: the limit is counted as the body arrives
        for _ in range(5):
            yield b" " * (1024 * 1024)

    client = TestClient(policy_app("http://127.0.0.1:9"))
    r = client.post("/v1/chat/completions", content=chunks())
    assert r.status_code == 400 and "body is over the 4194304 byte limit" in r.json()["error"]["message"]


def test_a_streamed_answer_passes_through_chunk_by_chunk(replica: Upstream) -> None:
    import threading
    import time

    import httpx
    import uvicorn

    from releasegate.gpu import free_port

    replica.chunk_delay_s = 1.0  # the upstream produces 4 SSE chunks, 1 s apart
    port = free_port("127.0.0.1")
    server = uvicorn.Server(uvicorn.Config(policy_app(replica.api_base.removesuffix("/v1")), host="127.0.0.1",
                                           port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.1)
        arrived: list[tuple[float, str]] = []
        with httpx.stream("POST", f"http://127.0.0.1:{port}/v1/chat/completions", timeout=30,
                          json=ask(3, stream=True, max_tokens=500)) as r:
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
            for line in r.iter_lines():
                if line.startswith("data: "):
                    arrived.append((time.monotonic(), line.removeprefix("data: ")))
        assert [text for _, text in arrived][-1] == "[DONE]" and len(arrived) == 4
        assert "part0" in arrived[0][1] and "part2" in arrived[2][1]
        # The first chunk reached the client before the upstream had produced the last one.
        assert arrived[0][0] < replica.chunk_times[-1]
        assert replica.bodies[-1]["max_tokens"] == 8  # request-side checks still apply
        # A refused streaming request is refused before anything is streamed.
        r = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=ask(2000, stream=True), timeout=30)
        assert r.status_code == 400 and r.json()["error"]["type"] == "policy_refused"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
