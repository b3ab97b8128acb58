"""One streamed request to an OpenAI-compatible endpoint, with retries, TTFT and inter-token times.

Streaming (`stream: true`, `stream_options: {include_usage: true}`) is what lets us measure time
to first token; the final usage chunk gives exact token counts. Connection errors, 429 and 5xx
are retried with exponential backoff; a request that still fails returns an `Outcome` with
`error` set, never raises, so one bad case cannot crash a run.
"""
from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from ._server import Endpoint

RETRY_STATUS = {429, 500, 502, 503, 504}


@dataclass
class Outcome:
    """What one request produced (fields map onto `scenarios.RECORD_COLUMNS`)."""

    output: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    ttft_s: float | None = None
    latency_s: float | None = None
    finish_reason: str | None = None
    error: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    attempts: int = 0
    token_times: list[float] = field(default_factory=list)  # arrival of each content chunk, from send

    @property
    def ok(self) -> bool:
        return self.error is None

    def inter_token_latencies(self) -> list[float]:
        t = self.token_times
        return [b - a for a, b in zip(t, t[1:])]


def request_body(endpoint: Endpoint, prompt: Any, sampling: dict[str, Any], max_tokens: int) -> tuple[str, dict]:
    """(path, JSON body) for a rendered prompt: chat/completions or completions."""
    body: dict[str, Any] = {"model": endpoint.model, "max_tokens": max_tokens, "stream": True,
                            "stream_options": {"include_usage": True}, **sampling}
    if prompt.stop:
        body["stop"] = list(prompt.stop)
    if prompt.style == "chat":
        body["messages"] = [dict(m) for m in prompt.messages]
        return "/chat/completions", body
    body["prompt"] = prompt.prompt
    return "/completions", body


class _Retryable(Exception):
    pass


async def _stream_once(client: httpx.AsyncClient, url: str, endpoint: Endpoint, body: dict,
                       outcome: Outcome) -> None:
    started = time.perf_counter()
    pieces: list[str] = []
    tool_calls: dict[int, dict[str, Any]] = {}
    outcome.token_times = []
    async with client.stream("POST", url, json=body, headers=endpoint.headers()) as response:
        if response.status_code in RETRY_STATUS:
            await response.aread()
            raise _Retryable(f"HTTP {response.status_code}: {response.text[:200]}")
        if response.status_code != 200:
            await response.aread()
            outcome.error = f"HTTP {response.status_code}: {response.text[:300]}"
            return
        async for line in response.aiter_lines():
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                break
            chunk = json.loads(data)
            if chunk.get("usage"):
                outcome.prompt_tokens = chunk["usage"].get("prompt_tokens")
                outcome.completion_tokens = chunk["usage"].get("completion_tokens")
            for choice in chunk.get("choices") or []:
                delta = choice.get("delta") or {}
                text = delta.get("content") if "delta" in choice else choice.get("text")
                for call in delta.get("tool_calls") or []:
                    slot = tool_calls.setdefault(call.get("index", 0), {"name": "", "arguments": ""})
                    fn = call.get("function") or {}
                    slot["name"] += fn.get("name") or ""
                    slot["arguments"] += fn.get("arguments") or ""
                if text:
                    now = time.perf_counter() - started
                    if outcome.ttft_s is None:
                        outcome.ttft_s = now
                    outcome.token_times.append(now)
                    pieces.append(text)
                if choice.get("finish_reason"):
                    outcome.finish_reason = choice["finish_reason"]
    outcome.latency_s = time.perf_counter() - started
    if outcome.finish_reason is None:
        # A stream cut without a finish reason is a server that died mid-answer: retry.
        raise _Retryable("stream ended without a finish reason")
    outcome.output = "".join(pieces)
    if outcome.ttft_s is None:  # empty answer: the first (only) event is the finish
        outcome.ttft_s = outcome.latency_s
    outcome.tool_calls = list(tool_calls.values()) or None


async def generate_one(client: httpx.AsyncClient, endpoint: Endpoint, prompt: Any, sampling: dict[str, Any],
                       max_tokens: int, *, max_attempts: int = 4, backoff_s: float = 0.5) -> Outcome:
    """Send one streamed request; retry transport errors / 429 / 5xx; errors become `Outcome.error`."""
    path, body = request_body(endpoint, prompt, sampling, max_tokens)
    url = endpoint.base_url + path
    last_error = ""
    for attempt in range(1, max_attempts + 1):
        outcome = Outcome(attempts=attempt)
        try:
            await _stream_once(client, url, endpoint, body, outcome)
            return outcome
        except (_Retryable, httpx.TransportError, json.JSONDecodeError) as exc:
            last_error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if attempt < max_attempts:
            await asyncio.sleep(backoff_s * 2 ** (attempt - 1))
    return Outcome(error=f"failed after {max_attempts} attempts: {last_error}", attempts=max_attempts)
