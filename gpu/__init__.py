"""gpu stage: serving. vLLM server lifecycle (GPU and CPU), the OpenAI-compatible client,
telemetry, the generation cache, latency/throughput profiles, the cost model, capacity planning.

The public face: other stages and the CLI import from here only. vLLM itself never runs in this
environment; it runs in its own (`.venv-vllm`) and we talk to it over HTTP.
"""
from ._cache import GenerationCache
from ._client import Outcome, generate_one
from ._cost import allocate
from ._generate import endpoint_for, generate_records, generate_repeats, profile_scenario, split_cases
from ._models import (
    ResolvedModel,
    list_models,
    models_dir,
    prepare_models,
    resolve_model,
    vllm_python,
    weight_digest,
)
from ._profile import CapacityPlan, LevelProfile, ProfileReport, capacity_plan, profile_endpoint
from ._server import (
    Endpoint,
    ServerPool,
    ServerSpec,
    ServingError,
    VllmServer,
    attach,
    find_running_server,
    free_port,
    port_in_use,
)
from ._telemetry import parse_metrics, scrape, summarize

__all__ = [
    "CapacityPlan",
    "Endpoint",
    "GenerationCache",
    "LevelProfile",
    "Outcome",
    "ProfileReport",
    "ResolvedModel",
    "ServerPool",
    "ServerSpec",
    "ServingError",
    "VllmServer",
    "allocate",
    "attach",
    "capacity_plan",
    "endpoint_for",
    "profile_scenario",
    "find_running_server",
    "free_port",
    "generate_one",
    "generate_records",
    "generate_repeats",
    "list_models",
    "models_dir",
    "parse_metrics",
    "port_in_use",
    "prepare_models",
    "profile_endpoint",
    "resolve_model",
    "scrape",
    "split_cases",
    "summarize",
    "vllm_python",
    "weight_digest",
]
