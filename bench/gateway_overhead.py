"""Throughput and latency through a scenario endpoint on MLflow's AI Gateway vs direct to vLLM,
and the time a switched endpoint takes to answer with the new upstream.

One vLLM server (SmolLM2, CPU) serves `smollm2-a`. One
`mlflow server` (releasegate.gateway.GatewayServer, --secrets-cache-ttl 10) on a temporary SQLite
store has an endpoint `bench` whose PRIMARY linked model is `smollm2-a` on that server.
- overhead: the same chat requests (support-triage cases, prompt v1, max_tokens 8, temperature 0)
  at the same concurrency, direct to vLLM and through the endpoint, in alternating order per
  round; throughput ratio (endpoint / direct, requests/s) and added p50 latency, medians over rounds;
  with usage tracking (a trace per request, MLflow's default) and without;
- switch: the endpoint's primary is changed through MLflow's store API, alternately to a probe
  upstream (a minimal OpenAI-compatible server answering as `switch-probe`; vLLM reports its first
  served name whatever name was asked, and a second vLLM would contend for the 2 cores) and back to
  vLLM, while a client sends requests one after another; the time from the update returning to the
  first answer from the new upstream, and the failed requests in that window.
Results go to bench/RESULTS.md (section "Gateway overhead (gateway/)", replaced on each run).

    .venv/bin/python bench/gateway_overhead.py [--cases 96] [--rounds 3] [--concurrency 8] [--switches 3]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._results import write_section  # noqa: E402

SECTION = "## Gateway overhead (gateway/)"


async def _run(url: str, model: str, bodies: list[dict], concurrency: int) -> dict:
    sem = asyncio.Semaphore(concurrency)
    lat: list[float] = []
    errors = 0
    async with httpx.AsyncClient(timeout=300) as client:
        async def one(body: dict) -> None:
            nonlocal errors
            async with sem:
                t = time.perf_counter()
                r = await client.post(url, json={**body, "model": model})
                lat.append(time.perf_counter() - t)
                errors += r.status_code != 200

        start = time.perf_counter()
        await asyncio.gather(*(one(b) for b in bodies))
        wall = time.perf_counter() - start
    return {"rps": len(bodies) / wall, "p50": statistics.median(lat), "errors": errors, "wall": wall}


def _probe_server() -> ThreadingHTTPServer:
    class Probe(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            data = json.dumps({"id": "p", "object": "chat.completion", "created": 0, "model": "switch-probe",
                               "choices": [{"index": 0, "message": {"role": "assistant", "content": "probe"},
                                            "finish_reason": "stop"}],
                               "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Probe)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", type=int, default=96)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--switches", type=int, default=3)
    args = ap.parse_args()

    home = Path(tempfile.mkdtemp(prefix="rg-gw-bench-"))
    os.environ["RELEASEGATE_HOME"] = str(home)
    from mlflow.entities import GatewayEndpointModelConfig
    from mlflow.entities.gateway_endpoint import GatewayModelLinkageType

    from releasegate.gateway import GatewayServer, chat_url
    from releasegate.gateway._endpoint import gateway_store
    from releasegate.gpu import ServerSpec, VllmServer, resolve_model
    from releasegate.scenarios import load_dataset_for, load_scenario

    loaded = load_scenario("support-triage")
    rows = load_dataset_for(loaded).rows[: args.cases]
    system = loaded.scenario.prompt_family.versions["v1"].system
    bodies = [{"messages": [{"role": "system", "content": system},
                            {"role": "user", "content": f"Message ({r['channel']}): {r['message']}\nQueue:"}],
               "max_tokens": 8, "temperature": 0.0} for r in rows]

    spec = ServerSpec(model=resolve_model("smollm2-135m-instruct"), served_name="smollm2-a")
    probe = _probe_server()
    probe_base = f"http://127.0.0.1:{probe.server_address[1]}/v1"
    with VllmServer(spec) as endpoint, GatewayServer(cache_ttl_s=10) as gw:
        store = gateway_store()
        defs = {}
        for name, base in (("smollm2-a", endpoint.base_url), ("switch-probe", probe_base)):
            secret = store.create_gateway_secret(secret_name=f"bench/{name}", secret_value={"api_key": "none"},
                                                 provider="openai", auth_config={"api_base": base})
            defs[name] = store.create_gateway_model_definition(
                name=f"bench/{name}", secret_id=secret.secret_id, provider="openai", model_name=name)

        def primary(name: str) -> list:
            return [GatewayEndpointModelConfig(model_definition_id=defs[name].model_definition_id,
                                               linkage_type=GatewayModelLinkageType.PRIMARY, weight=1.0)]

        ep = store.create_gateway_endpoint(name="bench", model_configs=primary("smollm2-a"), usage_tracking=True)
        store.create_gateway_endpoint(name="bench-notrace", model_configs=primary("smollm2-a"), usage_tracking=False)
        direct_url, gw_url = endpoint.base_url + "/chat/completions", chat_url(gw)
        asyncio.run(_run(direct_url, "smollm2-a", bodies[:8], args.concurrency))  # warm both paths
        asyncio.run(_run(gw_url, "bench", bodies[:8], args.concurrency))
        asyncio.run(_run(gw_url, "bench-notrace", bodies[:8], args.concurrency))
        rounds = []
        for i in range(args.rounds):
            order = ["direct", "bench", "bench-notrace"]
            order = order[i % 3:] + order[: i % 3]
            res = {}
            for which in order:
                url, model = (direct_url, "smollm2-a") if which == "direct" else (gw_url, which)
                res[which] = asyncio.run(_run(url, model, bodies, args.concurrency))
            rounds.append(res)
            print(f"round {i + 1}: " + ", ".join(f"{k} {v['rps']:.2f} req/s p50 {v['p50']:.3f} s err {v['errors']}"
                                                 for k, v in res.items()), flush=True)

        switches = []
        for i in range(args.switches):
            target = "switch-probe" if i % 2 == 0 else "smollm2-a"
            store.update_gateway_endpoint(ep.endpoint_id, model_configs=primary(target))
            t0 = time.monotonic()
            n = failed = 0
            while time.monotonic() - t0 < 120:
                r = httpx.post(gw_url, json={**bodies[n % len(bodies)], "model": "bench"}, timeout=120)
                n += 1
                if r.status_code != 200:
                    failed += 1
                elif (r.json().get("model") == "switch-probe") == (target == "switch-probe"):
                    break
            switches.append({"to": target, "s": time.monotonic() - t0, "requests": n, "failed": failed})
            print(f"switch {i + 1} -> {target}: {switches[-1]['s']:.2f} s, {n} requests, {failed} failed", flush=True)

    def med(key: str, which: str) -> float:
        return statistics.median(r[which][key] for r in rounds)

    ratio = {w: statistics.median(r[w]["rps"] / r["direct"]["rps"] for r in rounds) for w in ("bench", "bench-notrace")}
    added = {w: statistics.median(r[w]["p50"] - r["direct"]["p50"] for r in rounds) for w in ("bench", "bench-notrace")}
    errors = sum(r[w]["errors"] for r in rounds for w in r)
    lines = [
        SECTION, "",
        f"`.venv/bin/python bench/gateway_overhead.py --cases {args.cases} --rounds {args.rounds} "
        f"--concurrency {args.concurrency} --switches {args.switches}` "
        f"({time.strftime('%Y-%m-%d', time.gmtime())}; SmolLM2-135M on vLLM CPU, eager, 2 shared cores; "
        "MLflow 3.17.2 `mlflow server --workers 1 --secrets-cache-ttl 10`, SQLite store, on the same cores).",
        "",
        "| path | requests/s (median) | ratio to direct (target >= 0.95) | p50 latency s | added p50 s |",
        "|---|---|---|---|---|",
        f"| direct to vLLM | {med('rps', 'direct'):.2f} | 1 | {med('p50', 'direct'):.3f} | 0 |",
        f"| endpoint, usage tracking on (a trace per request) | {med('rps', 'bench'):.2f} | {ratio['bench']:.3f} | "
        f"{med('p50', 'bench'):.3f} | {added['bench']:+.3f} |",
        f"| endpoint, usage tracking off | {med('rps', 'bench-notrace'):.2f} | {ratio['bench-notrace']:.3f} | "
        f"{med('p50', 'bench-notrace'):.3f} | {added['bench-notrace']:+.3f} |",
        "",
        f"{args.rounds} rounds x {args.cases} requests per path, concurrency {args.concurrency}; failed requests: {errors}.",
        "",
        "| switch (probe = a minimal upstream standing in for a new version) | update returned -> first answer by the new upstream | requests sent | failed |",
        "|---|---|---|---|",
        *[f"| {i + 1} -> {s['to']} | {s['s']:.2f} s | {s['requests']} | {s['failed']} |" for i, s in enumerate(switches)],
        "",
        "The switch time is bounded by the gateway's per-process endpoint-config cache "
        "(`--secrets-cache-ttl`, 10 s here; MLflow's default is 60 s): an update through the store "
        "API does not clear the serving process's cache. The MLflow server, its tracing and vLLM share "
        "2 cores, so the ratio here includes CPU contention between the gateway and the model server.",
    ]
    write_section("gateway_overhead", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
