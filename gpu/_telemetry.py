"""vLLM's Prometheus `/metrics`, read before and after a run (and sampled during it).

Metric names are those of vLLM 0.32 (v1 engine); counters are exposed with a `_total` suffix and
histograms as `_sum`/`_count`:
- `vllm:prefix_cache_queries_total`, `vllm:prefix_cache_hits_total` (tokens): prefix-cache hit rate
  over the run = delta(hits) / delta(queries). This feeds the contract's cache-strategy SLO.
- `vllm:request_queue_time_seconds_sum/_count`: mean time a request waited before being scheduled.
- `vllm:kv_cache_usage_perc` (gauge, 0..1): sampled every 2 s while the run is in progress; we keep
  the max (null for a run shorter than one interval).
- `vllm:num_requests_waiting` (gauge): sampled; max queue depth seen.
- `vllm:request_success_total`, `vllm:prompt_tokens_total`, `vllm:generation_tokens_total`.
An endpoint without /metrics (a hosted API) gives `{"available": false}`.
"""
from __future__ import annotations

import asyncio
import math
import re
from typing import Any

import httpx

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text exposition -> {metric name: value summed over label sets}."""
    totals: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if not match:
            continue
        name, labels, raw = match.groups()
        if labels and 'le="' in labels:  # histogram buckets: not needed, and they would double count
            continue
        try:
            value = float(raw)
        except ValueError:
            continue
        if math.isnan(value):
            continue
        totals[name] = totals.get(name, 0.0) + value
    return totals


def scrape(root_url: str, headers: dict[str, str] | None = None, timeout_s: float = 5.0) -> dict[str, float] | None:
    try:
        response = httpx.get(root_url + "/metrics", headers=headers or {}, timeout=timeout_s)
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    return parse_metrics(response.text)


async def ascrape(client: httpx.AsyncClient, root_url: str, headers: dict[str, str] | None = None) -> dict[str, float] | None:
    try:
        response = await client.get(root_url + "/metrics", headers=headers or {}, timeout=5.0)
    except httpx.HTTPError:
        return None
    return parse_metrics(response.text) if response.status_code == 200 else None


class GaugeSampler:
    """Samples the KV-cache usage and queue-depth gauges every `interval_s` while a run is going."""

    def __init__(self, client: httpx.AsyncClient, root_url: str, headers: dict[str, str] | None = None,
                 interval_s: float = 2.0) -> None:
        self.client, self.root_url, self.headers, self.interval_s = client, root_url, headers, interval_s
        self.kv_max = 0.0
        self.waiting_max = 0.0
        self.samples = 0
        self._task: asyncio.Task[None] | None = None

    async def _loop(self) -> None:
        while True:
            # Sleep first: the caller has just scraped, and a short run should not pay for more.
            await asyncio.sleep(self.interval_s)
            metrics = await ascrape(self.client, self.root_url, self.headers)
            if metrics is None:
                return  # no /metrics (hosted API): stop sampling
            self.samples += 1
            self.kv_max = max(self.kv_max, metrics.get("vllm:kv_cache_usage_perc", 0.0))
            self.waiting_max = max(self.waiting_max, metrics.get("vllm:num_requests_waiting", 0.0))

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass


def _delta(before: dict[str, float], after: dict[str, float], name: str) -> float:
    return after.get(name, 0.0) - before.get(name, 0.0)


def summarize(before: dict[str, float] | None, after: dict[str, float] | None,
              sampler: GaugeSampler | None = None) -> dict[str, Any]:
    """Run telemetry from two scrapes: hit rate, queue time, KV usage, request and token counts."""
    if before is None or after is None:
        return {"available": False}
    queries = _delta(before, after, "vllm:prefix_cache_queries_total")
    hits = _delta(before, after, "vllm:prefix_cache_hits_total")
    queue_n = _delta(before, after, "vllm:request_queue_time_seconds_count")
    queue_sum = _delta(before, after, "vllm:request_queue_time_seconds_sum")
    return {
        "available": True,
        "prefix_cache_queries": queries,
        "prefix_cache_hits": hits,
        "prefix_cache_hit_rate": hits / queries if queries > 0 else None,
        "queue_time_mean_s": queue_sum / queue_n if queue_n > 0 else None,
        "requests_succeeded": _delta(before, after, "vllm:request_success_total"),
        "prompt_tokens": _delta(before, after, "vllm:prompt_tokens_total"),
        "generation_tokens": _delta(before, after, "vllm:generation_tokens_total"),
        # Peaks need samples taken during the run; a run shorter than the interval has none (null).
        "kv_cache_usage_max": sampler.kv_max if sampler and sampler.samples else None,
        "kv_cache_usage_samples": sampler.samples if sampler else 0,
        "requests_waiting_max": sampler.waiting_max if sampler and sampler.samples else None,
    }
