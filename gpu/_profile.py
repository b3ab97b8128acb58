"""Latency/throughput profile of an endpoint, goodput at the scenario's SLO, and a capacity plan.

For each concurrency level we send `requests` prompts (the scenario's rendered cases, cycled)
with at most that many in flight, never from the cache, and measure per request: time to first
token (TTFT), inter-token latency (ITL: gaps between streamed chunks) and end-to-end latency.

- throughput_rps = successful requests / wall seconds; output_tokens_per_s likewise.
- goodput_rps = requests that met the SLO (TTFT <= ttft_p95_s and latency <= latency_p95_s of the
  contract's latency_slo) / wall seconds.
- Capacity plan for a target request rate R: among the levels whose p95 TTFT and p95 latency meet
  the SLO, take the one with the highest goodput G; replicas = ceil(R / G). If no level meets the
  SLO, the plan says so (more replicas cannot fix a single request's latency).
"""
from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
import numpy as np

from ._client import Outcome, generate_one
from ._server import Endpoint


def _pcts(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None}
    arr = np.asarray(values, dtype=float)
    return {f"p{q}": float(np.percentile(arr, q)) for q in (50, 95, 99)}


@dataclass
class LevelProfile:
    concurrency: int
    requests: int
    errors: int
    wall_s: float
    ttft_s: dict[str, float | None]
    itl_s: dict[str, float | None]
    latency_s: dict[str, float | None]
    throughput_rps: float
    output_tokens_per_s: float
    goodput_rps: float
    slo_attainment: float
    meets_slo: bool


@dataclass
class CapacityPlan:
    target_rps: float
    concurrency: int | None
    goodput_per_replica_rps: float | None
    replicas: int | None
    note: str


@dataclass
class ProfileReport:
    endpoint: str
    model: str
    slo: dict[str, float | None]
    levels: list[LevelProfile] = field(default_factory=list)
    capacity: CapacityPlan | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def level_stats(concurrency: int, outcomes: list[Outcome], wall_s: float, ttft_slo: float | None,
                latency_slo: float | None) -> LevelProfile:
    ok = [o for o in outcomes if o.ok]
    ttfts = [o.ttft_s for o in ok if o.ttft_s is not None]
    lats = [o.latency_s for o in ok if o.latency_s is not None]
    itls = [gap for o in ok for gap in o.inter_token_latencies()]
    good = [o for o in ok if (ttft_slo is None or (o.ttft_s or 0) <= ttft_slo)
            and (latency_slo is None or (o.latency_s or 0) <= latency_slo)]
    ttft_p, lat_p = _pcts(ttfts), _pcts(lats)
    meets = bool(ok) and (ttft_slo is None or (ttft_p["p95"] or 0) <= ttft_slo) and \
        (latency_slo is None or (lat_p["p95"] or 0) <= latency_slo)
    wall = max(wall_s, 1e-9)
    return LevelProfile(
        concurrency=concurrency, requests=len(outcomes), errors=len(outcomes) - len(ok), wall_s=wall_s,
        ttft_s=ttft_p, itl_s=_pcts(itls), latency_s=lat_p, throughput_rps=len(ok) / wall,
        output_tokens_per_s=sum(o.completion_tokens or 0 for o in ok) / wall,
        goodput_rps=len(good) / wall, slo_attainment=len(good) / len(outcomes) if outcomes else 0.0,
        meets_slo=meets)


def capacity_plan(levels: list[LevelProfile], target_rps: float) -> CapacityPlan:
    passing = [lv for lv in levels if lv.meets_slo and lv.goodput_rps > 0]
    if not passing:
        return CapacityPlan(target_rps, None, None, None,
                            "no concurrency level meets the latency SLO: replicas cannot fix per-request latency")
    best = max(passing, key=lambda lv: lv.goodput_rps)
    replicas = max(1, math.ceil(target_rps / best.goodput_rps))
    return CapacityPlan(target_rps, best.concurrency, best.goodput_rps, replicas,
                        f"{replicas} replica(s) at concurrency {best.concurrency} "
                        f"({best.goodput_rps:.2f} req/s within SLO each)")


async def _level(endpoint: Endpoint, prompts: Sequence[Any], sampling: dict[str, Any], max_tokens: int,
                 concurrency: int, requests: int) -> tuple[list[Outcome], float]:
    sem = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency + 2)
    async with httpx.AsyncClient(timeout=httpx.Timeout(300.0, connect=10.0), limits=limits) as client:
        async def one(i: int) -> Outcome:
            async with sem:
                return await generate_one(client, endpoint, prompts[i % len(prompts)], sampling, max_tokens,
                                          max_attempts=1)
        started = time.perf_counter()
        outcomes = await asyncio.gather(*(one(i) for i in range(requests)))
        return list(outcomes), time.perf_counter() - started


def profile_endpoint(endpoint: Endpoint, prompts: Sequence[Any], *, concurrencies: Sequence[int],
                     requests_per_level: int | None = None, sampling: dict[str, Any] | None = None,
                     max_tokens: int = 64, ttft_slo_s: float | None = None, latency_slo_s: float | None = None,
                     target_rps: float | None = None, on_level: Any = None) -> ProfileReport:
    """Profile `endpoint` at each concurrency (default requests per level: 2 x concurrency, >= 8)."""
    if not prompts:
        raise ValueError("no prompts to profile with")
    sampling = sampling or {"temperature": 0.0}
    report = ProfileReport(endpoint=endpoint.base_url, model=endpoint.model,
                           slo={"ttft_p95_s": ttft_slo_s, "latency_p95_s": latency_slo_s})
    for c in concurrencies:
        n = requests_per_level or max(8, 2 * c)
        outcomes, wall = asyncio.run(_level(endpoint, prompts, sampling, max_tokens, c, n))
        level = level_stats(c, outcomes, wall, ttft_slo_s, latency_slo_s)
        report.levels.append(level)
        if on_level:
            on_level(level)
    if target_rps is not None:
        report.capacity = capacity_plan(report.levels, target_rps)
    return report
