"""Cost model: what a record set cost to produce, and each example's share of it.

Two pricings, chosen per model entry in the contract (`cost:`):

GPU-priced (self-hosted; `pricing: gpu`, accelerator, count, usd_per_hour):
    run_cost_usd = serving_seconds * count * usd_per_hour * replicas / 3600
  `serving_seconds` is the wall-clock time of the generation run (first request sent to last
  response received), not the server's startup time: a production server is always up, and its
  startup is recorded separately in meta["serving"]["startup_s"]. The run cost is allocated to
  the examples generated in this run in proportion to their tokens:
    cost_i = run_cost_usd * (prompt_tokens_i + completion_tokens_i) / sum_j(tokens_j)
  (equal shares if no fresh example has tokens, e.g. every request failed).

Token-priced (a hosted API; `pricing: token`, USD per million input and output tokens):
    cost_i = prompt_tokens_i * usd_per_million_input / 1e6
           + completion_tokens_i * usd_per_million_output / 1e6

Cached rows keep the cost that was measured when they were generated: the cost of producing that
outcome, so the cost per accepted outcome of an incumbent does not drop to zero on a rerun.
Rows finished by a run that crashed before its cost was allocated are charged at this run's
measured cost per token (GPU) or by their tokens (token pricing). Error rows cost 0 under token
pricing; under GPU pricing they share the run's time only when no row succeeded.

Every record set carries `cost_usd` per row and meta["cost"]["total_usd"] = sum of the rows.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

GPU_FORMULA = ("run_cost_usd = serving_seconds * count * usd_per_hour * replicas / 3600; "
               "cost_i = run_cost_usd * tokens_i / sum(tokens of rows generated in this run); "
               "cached rows keep their originally measured cost")
TOKEN_FORMULA = ("cost_i = prompt_tokens_i * usd_per_million_input / 1e6 + completion_tokens_i * "
                 "usd_per_million_output / 1e6; cached rows keep their originally measured cost")


@dataclass(frozen=True)
class Row:
    """What the cost model needs of one record."""

    key: str
    prompt_tokens: int
    completion_tokens: int
    fresh: bool  # generated in this run
    ok: bool
    stored_cost: float | None  # from the cache (None: never allocated)

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def token_cost(pricing: Any, prompt_tokens: int, completion_tokens: int) -> float:
    return (prompt_tokens * pricing.usd_per_million_input + completion_tokens * pricing.usd_per_million_output) / 1e6


def allocate(pricing: Any, rows: list[Row], serving_seconds: float, replicas: int = 1) -> tuple[dict[str, float], dict[str, Any]]:
    """Per-row cost (by key) and the meta["cost"] block. `pricing` is a GpuPricing or TokenPricing."""
    costs: dict[str, float] = {}
    if pricing.pricing == "token":
        for row in rows:
            if row.stored_cost is not None and not row.fresh:
                costs[row.key] = row.stored_cost
            else:
                costs[row.key] = token_cost(pricing, row.prompt_tokens, row.completion_tokens) if row.ok else 0.0
        block: dict[str, Any] = {"pricing": "token", "usd_per_million_input": pricing.usd_per_million_input,
                                 "usd_per_million_output": pricing.usd_per_million_output,
                                 "formula": TOKEN_FORMULA}
    else:
        run_cost = serving_seconds * pricing.count * pricing.usd_per_hour * replicas / 3600.0
        fresh = [r for r in rows if r.fresh]
        fresh_tokens = sum(r.tokens for r in fresh if r.ok)
        per_token = run_cost / fresh_tokens if fresh_tokens else 0.0
        for row in rows:
            if not row.fresh and row.stored_cost is not None:
                costs[row.key] = row.stored_cost
            elif not row.fresh:  # finished by a crashed run: charged at this run's rate
                costs[row.key] = row.tokens * per_token
            elif fresh_tokens:
                costs[row.key] = row.tokens * per_token if row.ok else 0.0
            else:  # nothing succeeded: the time was still paid for
                costs[row.key] = run_cost / len(fresh)
        block = {"pricing": "gpu", "accelerator": pricing.accelerator, "count": pricing.count,
                 "usd_per_hour": pricing.usd_per_hour, "replicas": replicas,
                 "serving_seconds": serving_seconds, "run_cost_usd": run_cost, "formula": GPU_FORMULA}
    block["fresh_cost_usd"] = sum(costs[r.key] for r in rows if r.fresh)
    block["cached_cost_usd"] = sum(costs[r.key] for r in rows if not r.fresh)
    block["total_usd"] = sum(costs.values())
    return costs, block
