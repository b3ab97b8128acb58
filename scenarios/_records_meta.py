"""The generation-records meta (Parquet schema metadata key `releasegate`), typed.

`gpu.generate_records` validates every meta it produces against `RecordsMeta` before returning
it; its JSON Schema is published as docs/schemas/records-meta.schema.json. Readers of records
written by other tools accept any JSON object (evals checks what it uses: `check_record_meta`).
Add a field: declare it here (a default of None when older metas lack it).
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, NonNegativeFloat, NonNegativeInt


class RecordsCost(BaseModel):
    """The record set's cost: GPU time at the configured price, or tokens at a provider's price."""

    model_config = ConfigDict(extra="forbid")
    pricing: Literal["gpu", "token"]
    formula: str
    total_usd: NonNegativeFloat
    fresh_cost_usd: NonNegativeFloat
    cached_cost_usd: NonNegativeFloat
    # pricing "gpu"
    accelerator: str | None = None
    count: NonNegativeInt | None = None
    usd_per_hour: NonNegativeFloat | None = None
    replicas: NonNegativeInt | None = None
    serving_seconds: NonNegativeFloat | None = None
    run_cost_usd: NonNegativeFloat | None = None
    # pricing "token"
    usd_per_million_input: NonNegativeFloat | None = None
    usd_per_million_output: NonNegativeFloat | None = None


class RecordsCounts(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cases: NonNegativeInt
    cached: NonNegativeInt
    generated: NonNegativeInt
    errors: NonNegativeInt


class RecordsMeta(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scenario_id: str
    model_entry: str
    model: str
    model_digest: str  # sha256 over the weight files ("" when unknown, e.g. a hosted API)
    prompt_version: str
    prompt_style: str
    dataset_sha256: str
    contract_sha256: str
    serving: dict[str, Any]  # endpoints, endpoint_kind, vllm_version, server settings
    sampling: dict[str, Any]  # temperature, seed, max_tokens, repeats (, repeat)
    cost: RecordsCost
    telemetry: dict[str, Any]
    counts: RecordsCounts
    created_at: str  # ISO time


def records_meta_json_schema() -> dict[str, Any]:
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "https://releasegate.dev/schemas/records-meta.schema.json",
            **RecordsMeta.model_json_schema()}


def check_produced_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """Validate a meta this package produced (a ValidationError here is a bug, not bad input)."""
    RecordsMeta.model_validate(meta)
    return meta
