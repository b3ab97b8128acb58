"""Generation: render a scenario's prompts for a model entry, serve them, record the outcomes.

`generate_records` is the library function that `releasegate generate` and the flows call:
1. select the cases (all, the first `limit`, or `ids` in the given order);
2. render each with `scenarios.render_prompt` and look it up in the generation cache;
3. only if something is missing, find an endpoint: the one(s) given, the entry's attached
   endpoint, a live `releasegate serve` server for the same weights and settings, or a managed
   vLLM server started for this run and stopped when it ends;
4. stream the missing requests with bounded concurrency (per endpoint), committing each finished
   one to the cache at once; cases are split round-robin across several endpoints (replicas);
5. build the records (columns of `scenarios.RECORD_COLUMNS`), allocate the cost, attach telemetry.
"""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from releasegate.core import InputError
from releasegate.scenarios import check_produced_meta, render_prompt

from ._cache import GenerationCache, cache_key
from ._client import Outcome, generate_one
from ._cost import Row, allocate
from ._models import resolve_model
from ._profile import ProfileReport, profile_endpoint
from ._server import (Endpoint, ServerPool, ServerSpec, api_key_from_env, attach, normalize_base_url,
                      server_version)
from ._telemetry import GaugeSampler, ascrape, summarize

EndpointLike = Endpoint | str
OnResult = Callable[[str, dict[str, Any]], None]


def select_cases(dataset: Any, *, limit: int | None = None, ids: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Rows of `dataset` for `ids` (in that order) or the first `limit` rows (file order)."""
    by_id = {str(r[dataset.id_field]): r for r in dataset.rows}
    if ids is not None:
        unknown = [i for i in ids if str(i) not in by_id]
        if unknown:
            raise InputError(f"unknown example id {unknown[0]!r} ({len(unknown)} unknown)", field="ids",
                             fix="pass ids that exist in the scenario's dataset")
        rows = [by_id[str(i)] for i in ids]
    else:
        rows = list(dataset.rows)
    if limit is not None:
        if limit < 1:
            raise InputError(f"--limit must be at least 1, got {limit}", field="--limit", fix="pass a positive number")
        rows = rows[:limit]
    return rows


def split_cases(ids: Sequence[str], n: int) -> list[list[str]]:
    """Round-robin split of example ids over `n` replicas (balanced to within one case)."""
    if n < 1:
        raise ValueError("n must be >= 1")
    return [list(ids[i::n]) for i in range(n)]


def _sampling(scenario: Any, repeat: int = 0) -> dict[str, Any]:
    """Request sampling parameters. Repeat j of a case (sampling.repeats > 1) uses seed + j, so the
    k generations of a case are distinct draws and each is reproducible."""
    s = scenario.sampling
    sampling: dict[str, Any] = {"temperature": s.temperature, "top_p": s.top_p}
    if s.seed is not None:
        sampling["seed"] = s.seed + repeat
    return sampling


def _attached_settings(url: str, entry: Any) -> dict[str, Any]:
    """What identifies an attached endpoint's outputs without asking it (see `attach`)."""
    return {"endpoint": normalize_base_url(url), "model": entry.model}


@dataclass(frozen=True)
class _Plan:
    """How an entry will be served, decided without touching the network (a fully cached run
    needs no server and no endpoint)."""

    spec: ServerSpec | None  # a local server (reused or started), or None for the endpoints below
    items: list[Endpoint | str]  # endpoints, or URLs still to attach
    identity: dict[str, Any]  # the cache identity: weights digest and server settings
    digest: str  # the weights digest records claim ("" when it is not known here)


def _plan(endpoint: EndpointLike | Sequence[EndpointLike] | None, entry: Any, *, claim_digest: bool = True) -> _Plan:
    """The plan for `endpoint` (None: the entry's attached endpoint, else its local weights).
    The API-key variable is checked now, so a missing key fails before any work. `claim_digest`:
    a URL is taken to serve the entry's local weights (their digest), unless the caller's word is
    all there is (`endpoint_for(url=...)`)."""
    if endpoint is None and not entry.endpoint:
        spec = ServerSpec.from_entry(entry)
        identity = {"digest": spec.model.digest or spec.model.path, "server": spec.settings()}
        return _Plan(spec, [], identity, spec.model.digest)
    items: list[Endpoint | str]
    if endpoint is None:
        items = [entry.endpoint]
    else:
        items = [endpoint] if isinstance(endpoint, (Endpoint, str)) else list(endpoint)
    if any(isinstance(e, str) for e in items):
        api_key_from_env(entry.api_key_env)
    first = items[0]
    if isinstance(first, Endpoint):
        digest = first.model_digest
        server = first.settings
    else:
        digest = _local_digest(entry) if claim_digest else ""
        server = _attached_settings(first, entry)
    return _Plan(None, items, {"digest": digest or entry.model, "server": server}, digest)


@dataclass(frozen=True)
class _Serving:
    endpoints: list[Endpoint]
    startup_s: float | None = None  # set when a vLLM server was started for this block


@contextlib.contextmanager
def _serving(plan: _Plan, entry: Any, *, startup_timeout_s: float = 600.0,
             echo: Callable[[str], None] | None = None, servers: ServerPool | None = None) -> Iterator[_Serving]:
    """The one place an entry's endpoint is found: the planned endpoints (URLs attached now), else
    a live `releasegate serve` server for the same weights and settings, else a vLLM server
    started now (said through `echo`) and stopped when the block exits, or, in the caller's
    `servers` pool, when the pool closes (the next call for the same weights and settings uses it)."""
    if plan.spec is None:
        yield _Serving([e if isinstance(e, Endpoint) else
                        attach(e, model=entry.model, api_key_env=entry.api_key_env, model_digest=plan.digest)
                        for e in plan.items])
        return
    pool = servers if servers is not None else ServerPool(startup_timeout_s)
    try:
        endpoint, startup_s = pool.endpoint(plan.spec, echo=echo)
        yield _Serving([endpoint], startup_s)
    finally:
        if servers is None:
            pool.close()


@contextlib.contextmanager
def endpoint_for(scenario: Any, entry_name: str, *, startup_timeout_s: float = 600.0, url: str | None = None,
                 echo: Callable[[str], None] | None = None) -> Iterator[Endpoint]:
    """The endpoint an entry is served at, for several calls in a row (sequential mode, profiles).

    `url` (an OpenAI-compatible server named by the caller: no local weights digest is claimed for
    it), else the entry's attached endpoint, else a live `releasegate serve` server for the same
    weights and settings, else a vLLM server started now (said through `echo`) and stopped when
    the block exits (`_serving`, as `generate_records` finds one). Passing it as
    `generate_records(..., endpoint=ep)` keeps the same cache identity as a managed run.
    """
    entry = scenario.model_entry(entry_name)
    with _serving(_plan(url, entry, claim_digest=not url), entry, startup_timeout_s=startup_timeout_s,
                  echo=echo) as serving:
        yield serving.endpoints[0]


def profile_scenario(
    loaded: Any, *, entry_name: str | None = None, url: str | None = None, concurrencies: Sequence[int],
    requests_per_level: int | None = None, max_tokens: int | None = None, target_rps: float = 1.0,
    echo: Callable[[str], None] | None = None, on_level: Callable[[Any], None] | None = None,
) -> ProfileReport:
    """`releasegate profile`: the scenario's prompts against an entry (default: the incumbent),
    served as `endpoint_for` finds or starts it (a server started here is stopped after), with the
    contract's sampling, output budget and latency SLO."""
    from releasegate.scenarios import load_dataset_for

    s = loaded.scenario
    entry_name = entry_name or s.incumbent
    s.model_entry(entry_name)  # an unknown entry is bad input, before the dataset and any server
    prompts = [render_prompt(s, entry_name, r) for r in select_cases(load_dataset_for(loaded))]
    slo = s.success_criteria.latency_slo
    with endpoint_for(s, entry_name, url=url, echo=echo) as ep:
        return profile_endpoint(
            ep, prompts, concurrencies=concurrencies, requests_per_level=requests_per_level,
            sampling={"temperature": s.sampling.temperature, "top_p": s.sampling.top_p},
            max_tokens=max_tokens or s.context_budget.max_output_tokens,
            ttft_slo_s=slo.ttft_p95_s, latency_slo_s=slo.latency_p95_s, target_rps=target_rps, on_level=on_level)


def _local_digest(entry: Any) -> str:
    """Digest of the entry's weights when they are known here (an attached server may serve them)."""
    try:
        return resolve_model(entry.model).digest
    except InputError:
        return ""


def generate_records(
    loaded: Any,
    dataset: Any,
    entry_name: str,
    *,
    endpoint: EndpointLike | Sequence[EndpointLike] | None = None,
    limit: int | None = None,
    ids: Sequence[str] | None = None,
    cache: GenerationCache | bool = True,
    progress: bool = True,
    concurrency: int | None = None,
    on_result: OnResult | None = None,
    max_attempts: int = 4,
    backoff_s: float = 0.5,
    request_timeout_s: float = 300.0,
    repeat: int = 0,
    servers: ServerPool | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Generate (or fetch from the cache) one record per case. Returns (DataFrame, meta).

    `loaded` is a `scenarios.LoadedScenario`, `dataset` its `ScenarioDataset`. `endpoint`: a URL,
    an `Endpoint`, or a list of them (replicas; cases split round-robin). Without one, a live
    `releasegate serve` server is reused or a vLLM server is started: stopped at the end of the call,
    or kept in `servers` (a `ServerPool` the caller closes) for the calls that follow.
    `cache=False` disables the cache; `on_result(example_id, record)` is called as each case ends.
    `repeat` (0..k-1 with the contract's sampling.repeats = k) selects the seed (seed + repeat) and is
    part of the cache key, so every repeat is cached on its own; records then carry a `repeat`
    column (`generate_repeats` runs all k).
    """
    import pandas as pd

    scenario = loaded.scenario
    entry = scenario.model_entry(entry_name)
    rows = select_cases(dataset, limit=limit, ids=ids)
    sampling = _sampling(scenario, repeat)
    max_tokens = scenario.context_budget.max_output_tokens
    prompts = {str(r[dataset.id_field]): render_prompt(scenario, entry_name, r) for r in rows}

    plan = _plan(endpoint, entry)
    identity, model_digest = plan.identity, plan.digest
    # The repeat is in the key even when the seed is unset (no seed: the server draws one), so
    # k repeats are k cache entries; repeat 0 keeps the key a one-generation run has.
    key_sampling = {**sampling, "repeat": repeat} if repeat else sampling
    keys = {eid: cache_key(identity, p, key_sampling, max_tokens) for eid, p in prompts.items()}

    store: GenerationCache | None = (cache if isinstance(cache, GenerationCache)
                                     else GenerationCache() if cache else None)
    cached = store.get_many(list(set(keys.values()))) if store else {}
    missing = [eid for eid in prompts if keys[eid] not in cached]

    serving: dict[str, Any] = {**identity["server"],
                               "concurrency": concurrency or entry.serving.concurrency}
    outcomes: dict[str, Outcome] = {}
    telemetry: dict[str, Any] = {"available": False, "reason": "no request sent (all cached)"}
    serving_seconds = 0.0
    endpoints: list[Endpoint] = []
    if missing:
        with _serving(plan, entry, servers=servers) as found:
            endpoints = found.endpoints
            if found.startup_s is not None:
                serving["startup_s"] = round(found.startup_s, 2)
            serving["endpoints"] = [e.base_url for e in endpoints]
            serving["endpoint_kind"] = endpoints[0].kind
            serving["vllm_version"] = server_version(endpoints[0])
            outcomes, serving_seconds, telemetry = asyncio.run(_run(
                missing, prompts, keys, endpoints, sampling, max_tokens,
                concurrency or entry.serving.concurrency, store, on_result, progress,
                max_attempts, backoff_s, request_timeout_s, label=f"{scenario.id}/{entry_name}"))

    records: list[dict[str, Any]] = []
    cost_rows: list[Row] = []
    for eid in prompts:
        key = keys[eid]
        if eid in outcomes:
            o = outcomes[eid]
            rec = {"output": o.output, "prompt_tokens": o.prompt_tokens, "completion_tokens": o.completion_tokens,
                   "ttft_s": o.ttft_s, "latency_s": o.latency_s, "finish_reason": o.finish_reason,
                   "error": o.error, "tool_calls": json.dumps(o.tool_calls) if o.tool_calls else None,
                   "cached": False}
            cost_rows.append(Row(eid, o.prompt_tokens or 0, o.completion_tokens or 0, True, o.ok, None))
        else:
            c = cached[key]
            rec = {k: c.get(k) for k in ("output", "prompt_tokens", "completion_tokens", "ttft_s", "latency_s",
                                         "finish_reason", "tool_calls")}
            rec.update(error=None, cached=True)
            cost_rows.append(Row(eid, c.get("prompt_tokens") or 0, c.get("completion_tokens") or 0, False, True,
                                 c.get("cost_usd")))
        records.append({"example_id": eid, "model_entry": entry_name, "model": entry.model,
                        "model_digest": model_digest, "prompt_version": entry.prompt_version, **rec})
        if scenario.sampling.repeats > 1:
            records[-1]["repeat"] = repeat

    replicas = len(endpoints) or len(plan.items) or 1
    costs, cost_block = allocate(entry.cost, cost_rows, serving_seconds, replicas=replicas)
    for record in records:
        record["cost_usd"] = costs[record["example_id"]]
    if store:
        # Fresh rows' allocated cost is stored with them: a rerun reports what they cost to make.
        # Crash leftovers (cached, never priced) are priced now too.
        store.set_costs({keys[r.key]: costs[r.key] for r in cost_rows
                         if (r.fresh and r.ok) or (not r.fresh and r.stored_cost is None)})
        if not isinstance(cache, GenerationCache):
            store.close()

    frame = pd.DataFrame.from_records(records)
    n_errors = sum(1 for r in records if r["error"])
    meta = {
        "scenario_id": scenario.id,
        "model_entry": entry_name,
        "model": entry.model,
        "model_digest": model_digest,
        "prompt_version": entry.prompt_version,
        "prompt_style": entry.prompt_style,
        "dataset_sha256": dataset.sha256,
        "contract_sha256": loaded.contract_sha256,
        "serving": serving,
        "sampling": {**sampling, "max_tokens": max_tokens, "repeats": scenario.sampling.repeats,
                     **({"repeat": repeat} if scenario.sampling.repeats > 1 else {})},
        "cost": cost_block,
        "telemetry": telemetry,
        "counts": {"cases": len(records), "cached": len(records) - len(outcomes), "generated": len(outcomes),
                   "errors": n_errors},
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    return frame, check_produced_meta(meta)


async def _run(missing: list[str], prompts: dict[str, Any], keys: dict[str, str], endpoints: list[Endpoint],
               sampling: dict[str, Any], max_tokens: int, concurrency: int, store: GenerationCache | None,
               on_result: OnResult | None, progress: bool, max_attempts: int, backoff_s: float,
               request_timeout_s: float, label: str) -> tuple[dict[str, Outcome], float, dict[str, Any]]:
    """Send the missing requests; returns (outcomes by id, serving seconds, telemetry)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    outcomes: dict[str, Outcome] = {}
    shares = split_cases(missing, len(endpoints))
    timeout = httpx.Timeout(request_timeout_s, connect=10.0)
    limits = httpx.Limits(max_connections=concurrency + 2, max_keepalive_connections=concurrency + 2)
    clients = [httpx.AsyncClient(timeout=timeout, limits=limits) for _ in endpoints]
    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[errors]} errors"), TimeElapsedColumn(), disable=not progress,
                   transient=False)
    try:
        befores = [await ascrape(c, e.root_url, e.headers()) for c, e in zip(clients, endpoints)]
        samplers = [GaugeSampler(c, e.root_url, e.headers()) for c, e in zip(clients, endpoints)]
        for sampler, before in zip(samplers, befores):
            if before is not None:
                sampler.start()
        with bar:
            task = bar.add_task(label, total=len(missing), errors=0)
            errors = 0

            async def one(client: httpx.AsyncClient, ep: Endpoint, sem: asyncio.Semaphore, eid: str) -> None:
                nonlocal errors
                async with sem:
                    outcome = await generate_one(client, ep, prompts[eid], sampling, max_tokens,
                                                 max_attempts=max_attempts, backoff_s=backoff_s)
                outcomes[eid] = outcome
                record = {"output": outcome.output, "prompt_tokens": outcome.prompt_tokens,
                          "completion_tokens": outcome.completion_tokens, "ttft_s": outcome.ttft_s,
                          "latency_s": outcome.latency_s, "finish_reason": outcome.finish_reason,
                          "tool_calls": json.dumps(outcome.tool_calls) if outcome.tool_calls else None}
                if outcome.ok and store is not None:
                    store.put(keys[eid], record)  # committed now: a crash after this loses nothing
                errors += 0 if outcome.ok else 1
                bar.update(task, advance=1, errors=errors)
                if on_result is not None:
                    on_result(eid, {**record, "error": outcome.error})

            started = time.perf_counter()
            jobs = []
            for client, ep, share in zip(clients, endpoints, shares):
                sem = asyncio.Semaphore(concurrency)  # per endpoint: each replica gets the entry's concurrency
                jobs += [one(client, ep, sem, eid) for eid in share]
            await asyncio.gather(*jobs)
            serving_seconds = time.perf_counter() - started
        for sampler in samplers:
            await sampler.stop()
        afters = [await ascrape(c, e.root_url, e.headers()) for c, e in zip(clients, endpoints)]
    finally:
        for client in clients:
            await client.aclose()
    telemetry = summarize(befores[0], afters[0], samplers[0])
    if len(endpoints) > 1:
        telemetry = {"available": telemetry.get("available", False), "replicas": [
            summarize(b, a, s) for b, a, s in zip(befores, afters, samplers)]}
    return outcomes, serving_seconds, telemetry


def generate_repeats(loaded: Any, dataset: Any, entry_name: str, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
    """`generate_records` for each of the contract's sampling.repeats (k) and one frame with k rows
    per case (column `repeat`, repeat 0 first). Meta is repeat 0's, with the k runs' cost and
    counts summed."""
    import pandas as pd

    k = loaded.scenario.sampling.repeats
    frame, meta = generate_records(loaded, dataset, entry_name, **kwargs)
    if k <= 1:
        return frame, meta
    frames = [frame]
    for j in range(1, k):
        more, more_meta = generate_records(loaded, dataset, entry_name, repeat=j, **kwargs)
        frames.append(more)
        meta["cost"]["total_usd"] = float(meta["cost"].get("total_usd") or 0.0) + \
            float(more_meta["cost"].get("total_usd") or 0.0)
        for key, value in more_meta["counts"].items():
            meta["counts"][key] = meta["counts"].get(key, 0) + value
    meta["sampling"] = {**{key: v for key, v in meta["sampling"].items() if key != "repeat"}, "repeats": k}
    return pd.concat(frames, ignore_index=True), check_produced_meta(meta)

