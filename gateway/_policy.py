"""The contract's context budget and tool policy at run time: the one thin layer of our own.

MLflow 3.17.2's guardrails are LLM judges (docs/GATEWAY.md): "more prompt tokens than the budget"
and "a tool outside the allowed list" are deterministic checks they cannot express. `PolicyLayer`
is an OpenAI-compatible front (POST /v1/chat/completions, `model` = scenario id) that checks each
request against the scenario's contract, refuses (HTTP 400, the reason in the body) and records
the refusal in the ledger (`gateway_request_refused`), and forwards everything else unchanged to
the scenario's endpoint on MLflow's AI Gateway. A contract `cost_budget` with action REJECT refuses
requests once the window's spend (from the gateway's traces at the contract's price: MLflow prices
self-hosted models at 0) reaches it; either action records `gateway_budget_exceeded` once per window. Output is capped at the budget's
`max_output_tokens` (a larger `max_tokens` is lowered, a missing one set). A `stream: true` answer
is relayed chunk by chunk (every check is on the request), not buffered.

Prompt tokens are counted by the scenario's champion replica (vLLM's POST /tokenize, the served
model's own tokenizer); when no replica answers, an over-estimate (characters / 3) stands in, so
an unknown count errs towards refusing.
"""
from __future__ import annotations

import asyncio
import json
import math
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from fastapi import Request  # module level: FastAPI resolves the handler's annotations here

from releasegate.core import load_json_bounded
from releasegate.releases import GatewayBudgetExceeded, GatewayRequestRefused, Ledger, append_event
from releasegate.scenarios import Scenario, load_scenario, resolve_scenario_path

from ._endpoint import endpoint_name, live_replicas
from ._server import chat_url
from ._usage import BudgetStatus, budget_status


def _tools(body: dict[str, Any]) -> list[str]:
    names = []
    for tool in body.get("tools") or []:
        fn = tool.get("function") if isinstance(tool, dict) else None
        names.append(str((fn or {}).get("name") or (tool or {}).get("name") or "?"))
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        names.append(str((choice.get("function") or {}).get("name") or "?"))
    for message in body.get("messages") or []:
        for call in (message or {}).get("tool_calls") or []:
            names.append(str(((call or {}).get("function") or {}).get("name") or "?"))
    return names


def policy_reasons(scenario: Scenario, body: dict[str, Any], prompt_tokens: int) -> list[tuple[str, str]]:
    """(kind, reason) for each way the request breaks the contract ([] = allowed)."""
    out: list[tuple[str, str]] = []
    budget = scenario.context_budget
    if prompt_tokens > budget.max_prompt_tokens:
        out.append(("context_budget", f"prompt has {prompt_tokens} tokens, the context budget allows "
                                      f"{budget.max_prompt_tokens} (owner {budget.owner})"))
    allowed = set(scenario.tool_policy.allowed_tools)
    for name in _tools(body):
        if name not in allowed:
            out.append(("tool_policy", f"tool {name!r} is not in tool policy {scenario.tool_policy.version}'s "
                                       f"allowed tools {sorted(allowed)} (owner {scenario.tool_policy.owner})"))
    return out


def count_prompt_tokens(ledger: Ledger, scenario_id: str, body: dict[str, Any], timeout_s: float = 5.0,
                        client: httpx.Client | None = None) -> tuple[int, str]:
    """(tokens, how): from a live replica's /tokenize, else an over-estimate. `client`: a shared
    (pooled, thread-safe) client, so a request does not open a new connection to the replica."""
    for rep in live_replicas(ledger, scenario_id):
        root = rep["api_base"].rstrip("/").removesuffix("/v1")
        try:
            r = (client or httpx).post(root + "/tokenize", timeout=timeout_s,
                                       json={"model": rep["served_model"], "messages": body["messages"]})
            if r.status_code == 200 and isinstance(r.json().get("count"), int):
                return int(r.json()["count"]), f"tokenized by {root}"
        except (httpx.HTTPError, ValueError, KeyError):
            continue
    text = json.dumps(body.get("messages") or [], ensure_ascii=False)
    return math.ceil(len(text) / 3), "estimated (characters / 3): no replica tokenized it"


def budget_reasons(scenario: Scenario, status: BudgetStatus | None, *, ledger: Ledger,
                   actor: str | None = None) -> list[tuple[str, str]]:
    """Over the cost budget: `gateway_budget_exceeded` once per window; REJECT refuses the request."""
    budget = scenario.cost_budget
    if status is None or budget is None or not status.exceeded:
        return []
    seen = ledger.events(scenario_id=scenario.id, event_type=GatewayBudgetExceeded.event_type)
    if not any(e.payload["window_start"] == status.window_start for e in seen):
        append_event(ledger, scenario.id, GatewayBudgetExceeded(
            spend_usd=status.spend_usd, budget={"usd": budget.usd, "window": budget.window,
                                                "window_length": budget.window_length, "action": budget.action},
            window_start=status.window_start, cost_basis=status.cost_basis, owner=budget.owner),
            subject=endpoint_name(scenario.id), actor=actor)
    if budget.action != "REJECT":
        return []
    return [("cost_budget", f"the cost budget of {budget.usd} USD per {budget.window_length} {budget.window} is "
                            f"spent: {status.spend_usd:.6f} USD since {status.window_start} ({status.cost_basis}; "
                            f"owner {budget.owner})")]


class ContractCache:
    """Scenario contracts by id, validated as `load_scenario` does and read again only when the
    scenario.yaml changes (its inode, modification or change time, or size): the policy layer
    checks every request, and validating a contract costs 15-25 ms here, as much as MLflow's
    gateway spends on a request without usage tracking."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_path: dict[Path, tuple[tuple[int, ...], Scenario]] = {}

    def __call__(self, scenario_id: str) -> Scenario:
        path = resolve_scenario_path(scenario_id)
        stat = path.stat()
        key = (stat.st_ino, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_size)
        with self._lock:
            hit = self._by_path.get(path)
        if hit is None or hit[0] != key:
            hit = (key, load_scenario(path).scenario)
            with self._lock:
                self._by_path[path] = hit
        return hit[1]


def check_request(scenario_id: str, body: dict[str, Any], *, ledger: Ledger,
                  counter: Callable[[Ledger, str, dict[str, Any]], tuple[int, str]] = count_prompt_tokens,
                  budget: Callable[[str], BudgetStatus | None] | None = None,
                  actor: str | None = None,
                  contracts: Callable[[str], Scenario] | None = None) -> tuple[dict[str, Any] | None, list[str]]:
    """(body to forward, []) or (None, reasons) after recording the refusal in the ledger.
    `budget`: the scenario's spend in its budget window (None: no cost budget check).
    `contracts`: scenario id -> contract (a `ContractCache`; None: read and validate it now)."""
    s = contracts(scenario_id) if contracts is not None else load_scenario(scenario_id).scenario
    tokens, how = counter(ledger, s.id, body)
    found = policy_reasons(s, body, tokens)
    if budget is not None and s.cost_budget is not None:
        found += budget_reasons(s, budget(s.id), ledger=ledger, actor=actor)
    if found:
        append_event(ledger, s.id, GatewayRequestRefused(
            kinds=sorted({k for k, _ in found}), reasons=[r for _, r in found], prompt_tokens=tokens,
            token_count=how, tools=_tools(body)), subject=f"{s.id}:request", actor=actor)
        return None, [r for _, r in found]
    forward = dict(body)
    cap = s.context_budget.max_output_tokens
    for key in ("max_tokens", "max_completion_tokens"):
        if key in forward and forward[key] is not None:
            forward[key] = min(int(forward[key]), cap)
    if forward.get("max_tokens") is None and forward.get("max_completion_tokens") is None:
        forward["max_tokens"] = cap
    return forward, []


# A chat request with a long context is well under this; a larger body is refused before it is read.
MAX_REQUEST_BYTES = 4 * 1024 * 1024


async def _request_body(request: Request) -> dict[str, Any]:
    """The request's JSON object, read with a size bound (Content-Length checked first, a chunked
    body counted as it streams) and the bounded strict reader (UTF-8, depth, no duplicate keys)."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_REQUEST_BYTES):
        raise ValueError(f"body of {declared[:20]} bytes is over the {MAX_REQUEST_BYTES} byte limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_REQUEST_BYTES:
            raise ValueError(f"body is over the {MAX_REQUEST_BYTES} byte limit")
        chunks.append(chunk)
    body = load_json_bounded(b"".join(chunks), max_bytes=MAX_REQUEST_BYTES, what="request body")
    if not isinstance(body, dict):
        raise ValueError("the body is not a JSON object")
    return body


def policy_app(gateway_url: str, *, ledger_url: str | None = None, actor: str = "gateway-policy",
               budget_ttl_s: float = 10.0) -> Any:
    """The FastAPI app: POST /v1/chat/completions (OpenAI-compatible, `model` = scenario id).
    The spend against a contract's cost budget is read from the gateway's traces at most every
    `budget_ttl_s` seconds per scenario (a search per request would cost more than the request)."""
    from fastapi import FastAPI
    from fastapi.concurrency import run_in_threadpool
    from fastapi.responses import JSONResponse, Response, StreamingResponse

    app = FastAPI(title="releasegate policy layer")
    ledger = Ledger.open(ledger_url)
    target = chat_url(gateway_url)
    spend: dict[str, tuple[float, BudgetStatus | None]] = {}
    contracts = ContractCache()
    tokenizer_client = httpx.Client()  # thread-safe: the checks run in the thread pool

    def counter(ledger: Ledger, scenario_id: str, body: dict[str, Any]) -> tuple[int, str]:
        return count_prompt_tokens(ledger, scenario_id, body, client=tokenizer_client)

    # One pooled client per event loop (uvicorn runs one; a test client may start one per call):
    # keep-alive connections to the gateway instead of a new connection per request.
    upstream_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = \
        weakref.WeakKeyDictionary()

    def upstream() -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        client = upstream_clients.get(loop)
        if client is None:
            client = upstream_clients[loop] = httpx.AsyncClient(
                timeout=300, limits=httpx.Limits(max_connections=None, max_keepalive_connections=64))
        return client

    def budget(scenario_id: str) -> BudgetStatus | None:
        hit = spend.get(scenario_id)
        if hit is None or time.monotonic() - hit[0] >= budget_ttl_s:
            hit = spend[scenario_id] = (time.monotonic(),
                                        budget_status(scenario_id, mlflow_uri=gateway_url, ledger=ledger))
        return hit[1]

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        try:
            body = await _request_body(request)
            scenario_id = str(body["model"])
            if not isinstance(body.get("messages"), list):
                raise ValueError("messages must be a list")
        except Exception as exc:
            return JSONResponse({"error": {"message": f"bad request: {exc}", "type": "invalid_request"}}, 400)
        try:
            forward, reasons = await run_in_threadpool(check_request, scenario_id, body, ledger=ledger,
                                                       counter=counter, budget=budget, actor=actor,
                                                       contracts=contracts)
        except Exception as exc:  # unknown scenario, unreadable contract
            return JSONResponse({"error": {"message": str(exc), "type": "invalid_request"}}, 400)
        if forward is None:
            return JSONResponse({"error": {"message": "; ".join(reasons), "type": "policy_refused",
                                           "reasons": reasons}}, 400)
        client = upstream()
        if not forward.get("stream"):
            r = await client.post(target, json=forward)
            return Response(r.content, status_code=r.status_code, media_type=r.headers.get("content-type"))
        # Streaming: the checks above are all request-side, so the answer passes through chunk by chunk.
        answer = await client.send(client.build_request("POST", target, json=forward), stream=True)
        if answer.status_code != 200:  # an error is one small body: pass it on whole
            content = await answer.aread()
            await answer.aclose()
            return Response(content, status_code=answer.status_code, media_type=answer.headers.get("content-type"))

        async def relay() -> Any:
            try:
                async for chunk in answer.aiter_bytes():  # decoded: no content-encoding is passed on
                    yield chunk
            finally:
                await answer.aclose()

        return StreamingResponse(relay(), media_type=answer.headers.get("content-type", "text/event-stream"),
                                 headers={"cache-control": "no-cache"})

    return app
