"""Throughput and latency through a scenario endpoint on MLflow's AI Gateway vs direct to vLLM,
the gateway's own CPU cost per request, and the time a switched endpoint takes to answer with the
new upstream.

- the gateway alone (no vLLM): the same requests through an endpoint whose upstream is a minimal
  OpenAI-compatible server in its own process (answers at once), with usage tracking on and off,
  and through releasegate's policy layer in front: requests/s, p50, and the CPU the `mlflow server`
  process tree (and the policy layer's process) spent per request (psutil, until the server is
  idle again: MLflow writes traces from a background queue), i.e. what the gateway itself costs,
  whatever the model server; the gateway as releasegate runs it (MLflow with the three
  fixes of gateway/_mlflow_fixes.py), and with `--compare` (default) the endpoints again on MLflow as
  released, with `memo` or `trace-once` alone and with both but without `trace-process`, to show what
  each takes (tests/gateway/test_mlflow_fixes.py:
  the same traces are stored);
- overhead: one vLLM server (SmolLM2, CPU) serves `smollm2-a`, one `mlflow server`
  (releasegate.gateway.GatewayServer, --secrets-cache-ttl 10) on a temporary SQLite store has
  endpoints `bench` (usage tracking on: a trace per request, MLflow's default) and `bench-notrace`
  whose PRIMARY is that server, and a second `mlflow server` without the fix `trace-process` (its
  traces written in the gateway process) has its own `bench` on the same vLLM; the same chat requests (support-triage cases, prompt v1,
  max_tokens 8, temperature 0) at the same concurrency, direct and through each endpoint,
  in rotating order per round; throughput ratio (endpoint / direct, requests/s) and added p50,
  medians over rounds, with the gateway's CPU per request. Twice in one run, on the same servers:
  on shared cores (vLLM's CPU backend binds its worker's threads to cores of its choosing, on 2
  cores one of them; its front end, the gateway and the client run anywhere), and, with `--pin`
  (the default on 2+ cores), as two hosts would: every thread of vLLM (front end and engine too)
  on its worker's cores, every thread of the gateway and the client on the others (as
  `taskset -c` would; vLLM's threads go to the upper half if it bound none), both paths with the
  same pinning: production runs the gateway and the model servers on different hosts, so that
  row is the one the >= 0.95 target is about; `--store postgresql` puts the gateway's MLflow store
  (where its traces go) on PostgreSQL instead of SQLite;
- sizing (`--capacity 5,10,20`): one gateway process alone on the last core, the client and the
  upstreams on the others, against probes of known capacity that cost no CPU (each holds
  ceil(capacity / 2) requests at a time for ceil(capacity / 2) / capacity s), at four times that
  many requests in flight: the
  throughput ratio tracked and untracked, and how much of a core the gateway needs per capacity,
  i.e. how many requests/s one gateway process carries at >= 0.95 (`releasegate gateway up
  --workers N` is sized from it); with `--compare`, again without `trace-process` and on MLflow as
  released;
- switch: the endpoint's primary is changed through MLflow's store API, alternately to a probe
  upstream (the isolation one, answering as `switch-probe`; vLLM reports its first served name
  whatever name was asked, and a second vLLM would contend for the cores) and back to vLLM, while
  a client sends requests one after another; the time from the update returning to the first
  answer from the new upstream, and the failed requests in that window.
Results go to bench/RESULTS.md (section "Gateway overhead (gateway/)", replaced on each run).

    .venv/bin/python bench/gateway_overhead.py [--cases 96] [--rounds 3] [--concurrency 8] [--switches 4]
        [--isolation 200] [--no-compare] [--workers 1] [--no-pin] [--store sqlite|postgresql] [--capacity 5,10,20]
    .venv/bin/python bench/gateway_overhead.py --rounds 0    # the gateway alone only, nothing written
"""
from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._results import write_section  # noqa: E402

SECTION = "## Gateway overhead (gateway/)"
PROBE_MODEL = "switch-probe"
SCENARIO = "support-triage"
AS_RELEASED: tuple[str, ...] = ()
# the gateway alone runs again on each of these (`--compare`), the sizing sweep on AS_RELEASED
IN_PROCESS = ("memo", "trace-once")  # all but `trace-process`: the traces written in the gateway process
COMPARED = {AS_RELEASED: "MLflow as released", ("memo",): "only the fix `memo` (3 per-request costs kept)",
            ("trace-once",): "only the fix `trace-once` (each trace written once, at its end)",
            IN_PROCESS: "`memo` and `trace-once`, traces written in the gateway process (no `trace-process`)"}
MLFLOW_LABEL = "as releasegate runs it (the three fixes)"


async def _run(url: str, model: str, bodies: list[dict], concurrency: int) -> dict:
    """The requests at `concurrency` in flight: requests/s over the whole run (`rps`) and in steady
    state (`steady_rps`: the completions between the `concurrency`-th and the last `concurrency`,
    i.e. while every slot was busy, without the ramp-up and the drain, each of which is one latency
    long, so a path that adds latency loses whole-run throughput in short runs only)."""
    sem = asyncio.Semaphore(concurrency)
    lat: list[float] = []
    done: list[float] = []
    errors = 0
    async with httpx.AsyncClient(timeout=300) as client:
        async def one(body: dict) -> None:
            nonlocal errors
            async with sem:
                t = time.perf_counter()
                try:
                    r = await client.post(url, json={**body, "model": model})
                except httpx.TransportError as exc:  # a dropped connection is a failed request
                    print(f"{url} ({model}): {type(exc).__name__} {exc}", file=sys.stderr, flush=True)
                    errors += 1
                    return
                done.append(time.perf_counter())
                lat.append(done[-1] - t)
                errors += r.status_code != 200

        start = time.perf_counter()
        await asyncio.gather(*(one(b) for b in bodies))
        wall = time.perf_counter() - start
    n, c = len(done), concurrency
    steady = (n - 2 * c) / (done[n - c - 1] - done[c - 1]) if n >= 4 * c else len(bodies) / wall
    return {"rps": len(bodies) / wall, "steady_rps": steady, "p50": statistics.median(lat), "errors": errors,
            "wall": wall}


def _rates(text: str) -> list[float]:
    """`--capacity 5,10,20`: positive requests/s, at most 1,000 each."""
    try:
        rates = [float(r) for r in text.split(",") if r.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: comma-separated numbers, e.g. 5,10,20") from None
    if not rates or not all(0 < r <= 1000 for r in rates):
        raise argparse.ArgumentTypeError(f"{text!r}: each capacity above 0 and at most 1000 requests/s")
    return rates


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of a process and all its descendants."""
    root = psutil.Process(pid)
    total = 0.0
    for proc in [root, *root.children(recursive=True)]:
        try:
            t = proc.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def _quiesce(pid: int, timeout_s: float = 180.0) -> float:
    """Wait until the gateway is idle (under 4% of a core over 0.5 s): MLflow writes traces from a
    background queue that can lag behind the requests, and that backlog must not run during the
    next path's measurement. Returns the seconds waited."""
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        before = _cpu_s(pid)
        time.sleep(0.5)
        if _cpu_s(pid) - before < 0.02:
            break
    return time.monotonic() - start


def _measured(url: str, model: str, bodies: list[dict], concurrency: int, gateway_pid: int) -> dict:
    """_run, then the gateway's CPU milliseconds per request over the same requests, including the
    trace writes it finishes after the last answer (`drain_s`: how long that took)."""
    _quiesce(gateway_pid)
    before = _cpu_s(gateway_pid)
    res = asyncio.run(_run(url, model, bodies, concurrency))
    drain = _quiesce(gateway_pid)
    return {**res, "gw_cpu_ms": 1000 * (_cpu_s(gateway_pid) - before) / len(bodies), "drain_s": drain}


def _serve_probe(latency_s: float = 0.0, slots: int = 0) -> None:
    """`--serve-probe`: a minimal OpenAI-compatible upstream in its own process (prints its port).
    With `slots`, a model server of known capacity that costs no CPU: at most `slots` requests
    at a time, each answered after `latency_s` (slots / latency_s requests/s)."""
    import threading

    gate = threading.BoundedSemaphore(slots) if slots else None
    data = json.dumps({"id": "p", "object": "chat.completion", "created": 0, "model": PROBE_MODEL,
                       "choices": [{"index": 0, "message": {"role": "assistant", "content": "probe"},
                                    "finish_reason": "stop"}],
                       "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}).encode()

    class Probe(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            if gate is not None:
                with gate:
                    time.sleep(latency_s)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    class Server(ThreadingHTTPServer):
        request_queue_size = 256  # socketserver's 5 drops connections at concurrency 32

    server = Server(("127.0.0.1", 0), Probe)
    print(server.server_address[1], flush=True)
    server.serve_forever()


def _start_probe(latency_s: float = 0.0, slots: int = 0) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, __file__, "--serve-probe", "--probe-latency", str(latency_s),
                             "--probe-slots", str(slots)], stdout=subprocess.PIPE, text=True)
    return proc, f"http://127.0.0.1:{int(proc.stdout.readline())}/v1"


def _pin_tree(pid: int, cores: list[int]) -> None:
    """Every thread of a process and its descendants onto `cores` (threads started later inherit)."""
    root = psutil.Process(pid)
    for proc in [root, *root.children(recursive=True)]:
        for thread in proc.threads():
            try:
                os.sched_setaffinity(thread.id, cores)
            except ProcessLookupError:
                pass


def _bound_cores(pid: int, all_cores: list[int]) -> list[int]:
    """The cores a process tree's threads are bound to, where narrower than all of them (vLLM's CPU
    backend binds its worker's threads itself: on 2 cores it takes one and leaves the other to its
    front end). [] when none is bound."""
    root = psutil.Process(pid)
    bound: set[int] = set()
    for proc in [root, *root.children(recursive=True)]:
        for thread in proc.threads():
            try:
                cores = os.sched_getaffinity(thread.id)
            except ProcessLookupError:
                continue
            if cores != set(all_cores):
                bound |= cores
    return sorted(bound)


_DROPS: list[Callable[[], None]] = []


def _store_uri(name: str, store: str) -> str:
    """A fresh MLflow store per gateway server of this run: a SQLite file, or a PostgreSQL database
    (dropped at the end; RELEASEGATE_STACK_PG names the server, as for bench/scale.py)."""
    if store == "sqlite":
        return f"sqlite:///{os.environ['RELEASEGATE_HOME']}/mlflow-{name}.db"
    from bench.scale import _postgres

    url, drop = _postgres(f"gw_bench_{os.getpid()}_{name}")
    _DROPS.append(drop)
    return url


def _cpu_name() -> str:
    """The CPU's model name and whether it has native bf16 (vLLM's speed differs by machine here)."""
    from releasegate.gpu._server import _BF16_CPU_FLAGS, cpu_flags

    name = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")), "CPU unknown")
    return f"{name}, {'native' if cpu_flags() & _BF16_CPU_FLAGS else 'no'} bf16"


def _fixes_suffix(fixes: tuple[str, ...] | None) -> str:
    """Store names per MLflow variant: None is the gateway as releasegate runs it."""
    return "" if fixes is None else "_" + ("_".join(fixes) or "as_released").replace("-", "_")


def _uptime() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", type=int, default=96)
    ap.add_argument("--rounds", type=int, default=3, help="0: only the gateway alone (no vLLM), nothing written")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--switches", type=int, default=4)
    ap.add_argument("--isolation", type=int, default=200, help="requests per endpoint against the probe (0: skip)")
    ap.add_argument("--compare", action=argparse.BooleanOptionalAction, default=True,
                    help="also the gateway alone on MLflow as released and with each of releasegate's MLflow fixes "
                         "alone (gateway/_mlflow_fixes.py), and the sizing sweep on MLflow as released")
    ap.add_argument("--workers", type=int, default=1, help="`mlflow server --workers`")
    ap.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite",
                    help="the gateway's MLflow store (where its traces are written)")
    ap.add_argument("--pin", action=argparse.BooleanOptionalAction, default=None,
                    help="also measure with vLLM and the gateway on separate cores (default: on 2+ cores)")
    ap.add_argument("--capacity", type=_rates, default=[],
                    help="comma-separated upstream capacities (requests/s) for the sizing sweep, e.g. 5,10,15,20 "
                         "(default: none): one gateway process on its own core against a model server of that "
                         "capacity that costs no CPU")
    ap.add_argument("--serve-probe", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--probe-latency", type=float, default=0.0, help=argparse.SUPPRESS)
    ap.add_argument("--probe-slots", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_probe:
        _serve_probe(args.probe_latency, args.probe_slots)
        return
    rates = args.capacity

    from releasegate.gpu import models_dir

    # A throw-away ledger and MLflow store; the prepared models stay where they are.
    os.environ.setdefault("RELEASEGATE_MODELS_DIR", str(models_dir()))
    os.environ["RELEASEGATE_HOME"] = tempfile.mkdtemp(prefix="rg-gw-bench-")
    from mlflow.entities import GatewayEndpointModelConfig
    from mlflow.entities.gateway_endpoint import GatewayModelLinkageType

    from releasegate.gateway import MLFLOW_FIXES, GatewayServer, chat_url
    from releasegate.gateway._endpoint import gateway_store
    from releasegate.gpu import ServerSpec, VllmServer, free_port, port_in_use, resolve_model
    from releasegate.scenarios import load_dataset_for, load_scenario

    loaded = load_scenario(SCENARIO)
    rows = load_dataset_for(loaded).rows[: args.cases]
    system = loaded.scenario.prompt_family.versions["v1"].system
    bodies = [{"messages": [{"role": "system", "content": system},
                            {"role": "user", "content": f"Message ({r['channel']}): {r['message']}\nQueue:"}],
               "max_tokens": 8, "temperature": 0.0} for r in rows]
    if args.rounds and len(bodies) < 4 * args.concurrency:
        ap.error(f"--cases {len(bodies)} (the dataset has {len(load_dataset_for(loaded).rows)} rows) is under 4 x "
                 f"--concurrency {args.concurrency}: too few requests for a steady state; lower --concurrency")
    spec = ServerSpec(model=resolve_model("smollm2-135m-instruct"), served_name="smollm2-a")
    all_cores = sorted(os.sched_getaffinity(0))
    pin = args.pin if args.pin is not None else len(all_cores) >= 2
    probe, probe_base = _start_probe()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    loads = [f"{_uptime()} at the start"]

    def endpoints(gw_url: str, upstreams: dict[str, str]) -> tuple[Any, Any, Callable[[str], list]]:
        store = gateway_store(gw_url)
        defs = {}
        for name, base in upstreams.items():
            secret = store.create_gateway_secret(secret_name=f"bench/{name}", secret_value={"api_key": "none"},
                                                 provider="openai", auth_config={"api_base": base})
            defs[name] = store.create_gateway_model_definition(
                name=f"bench/{name}", secret_id=secret.secret_id, provider="openai", model_name=name)

        def primary(name: str) -> list:
            return [GatewayEndpointModelConfig(model_definition_id=defs[name].model_definition_id,
                                               linkage_type=GatewayModelLinkageType.PRIMARY, weight=1.0)]
        first = next(iter(upstreams))
        ep = store.create_gateway_endpoint(name="bench", model_configs=primary(first), usage_tracking=True)
        store.create_gateway_endpoint(name="bench-notrace", model_configs=primary(first), usage_tracking=False)
        return store, ep, primary

    def rounds_of(label: str, paths: dict[str, tuple[str, str, int]]) -> list[dict]:
        """`paths`: name -> (url, model, the pid of the gateway whose CPU is counted), in rotating order."""
        rounds = []
        for i in range(args.rounds):
            order = list(paths)[i % len(paths):] + list(paths)[: i % len(paths)]
            res = {}
            for which in order:
                res[which] = _measured(*paths[which][:2], bodies, args.concurrency, paths[which][2])
            rounds.append(res)
            print(f"{label} round {i + 1}: " + ", ".join(
                f"{k} {v['steady_rps']:.2f} req/s steady, {v['rps']:.2f} whole run, p50 {v['p50']:.3f} s err {v['errors']} gateway CPU "
                f"{v['gw_cpu_ms']:.1f} ms/req" for k, v in res.items()), flush=True)
        return rounds

    def overhead() -> tuple[dict[str, list[dict]], list[dict], list[int], list[int]]:
        """One vLLM and one gateway: rounds on shared cores, the switches, then (--pin) rounds with
        the gateway and this client moved off the cores vLLM's CPU worker is bound to.
        Returns ({"shared"/"pinned": rounds}, switches, vLLM's cores, the gateway's cores)."""
        endpoint = VllmServer(spec)
        endpoint.start()
        try:
            server = GatewayServer(mlflow_uri=_store_uri("vllm", args.store), cache_ttl_s=10, workers=args.workers,
                                   startup_timeout_s=600)
            in_process = GatewayServer(mlflow_uri=_store_uri("vllm" + _fixes_suffix(IN_PROCESS), args.store),
                                       cache_ttl_s=10, workers=args.workers, startup_timeout_s=600,
                                       mlflow_fixes=IN_PROCESS)
            with server as gw, in_process as gw_in_process:
                gw_pid = server.process.pid
                store, ep, primary = endpoints(gw, {"smollm2-a": endpoint.base_url, PROBE_MODEL: probe_base})
                endpoints(gw_in_process, {"smollm2-a": endpoint.base_url})
                direct_url, gw_url = endpoint.base_url + "/chat/completions", chat_url(gw)
                paths = {"direct": (direct_url, "smollm2-a", gw_pid), "bench": (gw_url, "bench", gw_pid),
                         "bench-notrace": (gw_url, "bench-notrace", gw_pid),
                         "bench-in-process": (chat_url(gw_in_process), "bench", in_process.process.pid)}
                for url, model, _ in paths.values():
                    asyncio.run(_run(url, model, bodies[:8], args.concurrency))  # warm every path
                sets = {"shared": rounds_of("shared", paths)}
                loads.append(f"{_uptime()} after the shared cores")
                done = []
                for i in range(args.switches):
                    target = PROBE_MODEL if i % 2 == 0 else "smollm2-a"
                    store.update_gateway_endpoint(ep.endpoint_id, model_configs=primary(target))
                    t0 = time.monotonic()
                    n = failed = 0
                    while time.monotonic() - t0 < 120:
                        r = httpx.post(gw_url, json={**bodies[n % len(bodies)], "model": "bench"}, timeout=120)
                        n += 1
                        if r.status_code != 200:
                            failed += 1
                        elif (r.json().get("model") == PROBE_MODEL) == (target == PROBE_MODEL):
                            break
                    done.append({"to": target, "s": time.monotonic() - t0, "requests": n, "failed": failed})
                    print(f"switch {i + 1} -> {target}: {done[-1]['s']:.2f} s, {n} requests, {failed} failed",
                          flush=True)
                if args.switches % 2:  # back to vLLM before the pinned rounds
                    store.update_gateway_endpoint(ep.endpoint_id, model_configs=primary("smollm2-a"))
                    time.sleep(11)  # one --secrets-cache-ttl
                vllm_cores = _bound_cores(endpoint.process.pid, all_cores)
                if not vllm_cores:  # vLLM did not bind its threads: move them to the upper half
                    vllm_cores = all_cores[len(all_cores) // 2:]
                    _pin_tree(endpoint.process.pid, vllm_cores)
                gw_cores = [c for c in all_cores if c not in vllm_cores]
                if pin and gw_cores:  # two hosts: vLLM's front end and engine join its worker's cores
                    _pin_tree(endpoint.process.pid, vllm_cores)
                    _pin_tree(gw_pid, gw_cores)
                    _pin_tree(in_process.process.pid, gw_cores)
                    os.sched_setaffinity(0, gw_cores)
                    try:
                        sets["pinned"] = rounds_of("pinned", paths)
                    finally:
                        os.sched_setaffinity(0, all_cores)
                    loads.append(f"{_uptime()} after the pinned cores")
        finally:
            endpoint.stop()
        return sets, done, vllm_cores, gw_cores

    def isolation(fixes: tuple[str, ...] | None = None) -> dict[str, dict]:
        """The gateway's own cost: the probe answers at once, so the gateway is all there is. Also
        releasegate's policy layer (`releasegate gateway policy`, its own process) in front of a
        tracked endpoint named after the scenario. `fixes`: None, the gateway as releasegate runs it;
        else MLflow with only these of its fixes, endpoints only (`trace-once` only changes tracked
        requests)."""
        server = GatewayServer(mlflow_uri=_store_uri("alone" + _fixes_suffix(fixes), args.store), cache_ttl_s=10,
                               workers=args.workers, startup_timeout_s=600,
                               mlflow_fixes=MLFLOW_FIXES if fixes is None else fixes)
        with server as gw:
            store, _, primary = endpoints(gw, {PROBE_MODEL: probe_base})
            store.create_gateway_endpoint(name=SCENARIO, model_configs=primary(PROBE_MODEL), usage_tracking=True)
            port = free_port()
            policy = None if fixes is not None else subprocess.Popen([sys.executable, "-m", "releasegate.flows.cli", "gateway", "policy",
                                       "--gateway", gw, "--port", str(port)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                policy_url = f"http://127.0.0.1:{port}/v1/chat/completions"
                deadline = time.monotonic() + 120
                while policy is not None and not port_in_use(port):
                    if time.monotonic() > deadline or policy.poll() is not None:
                        raise RuntimeError("the policy layer did not start")
                    time.sleep(0.5)
                n = args.isolation
                work = [bodies[i % len(bodies)] for i in range(n)]
                direct_url, gw_url = probe_base + "/chat/completions", chat_url(gw)
                paths = {"direct": (direct_url, PROBE_MODEL), "bench": (gw_url, "bench"),
                         "bench-notrace": (gw_url, "bench-notrace"), "policy": (policy_url, SCENARIO)}
                if fixes is not None:
                    paths = {k: paths[k] for k in (("bench",) if "trace-once" in fixes else ("bench", "bench-notrace"))}
                for url, model in list(paths.values())[1:]:
                    asyncio.run(_run(url, model, work[:16], args.concurrency))
                res = {}
                for key, (url, model) in paths.items():
                    before = _cpu_s(policy.pid) if policy else 0.0
                    res[key] = _measured(url, model, work, args.concurrency, server.process.pid)
                    res[key]["policy_cpu_ms"] = 1000 * (_cpu_s(policy.pid) - before) / n if policy else 0.0
            finally:
                if policy is not None:
                    policy.terminate()
                    policy.wait(timeout=30)
            print(f"isolation ({server.fixes_line()}): " + ", ".join(f"{k} {v['rps']:.1f} req/s p50 {1000 * v['p50']:.1f} ms gateway CPU "
                                            f"{v['gw_cpu_ms']:.1f} ms/req policy CPU {v['policy_cpu_ms']:.1f} ms/req "
                                            f"errors {v['errors']}" for k, v in res.items()), flush=True)
        return res

    def capacity(fixes: tuple[str, ...] | None = None) -> list[dict]:
        """The sizing sweep: for each upstream capacity, a probe that holds ceil(rate / 2) requests at a
        time, each for ceil(rate / 2) / rate s (so `rate` requests/s at most, no CPU), the same requests
        direct and through a tracked and an untracked endpoint at four times that concurrency (the
        upstream stays saturated while requests wait in the gateway), the gateway alone on the last
        core, this client and the probes on the others. `fixes`: as in isolation()."""
        shape = {rate: (math.ceil(rate / 2), math.ceil(rate / 2) / rate) for rate in rates}  # slots, latency
        server = GatewayServer(mlflow_uri=_store_uri("capacity" + _fixes_suffix(fixes), args.store), cache_ttl_s=10,
                               workers=args.workers, startup_timeout_s=600,
                               mlflow_fixes=MLFLOW_FIXES if fixes is None else fixes)
        probes, rows = [], []
        try:
            with server as gw:
                upstreams = {}
                for rate in rates:
                    proc, base = _start_probe(shape[rate][1], shape[rate][0])
                    probes.append(proc)
                    upstreams[f"cap-{rate:g}"] = base
                store, _, primary = endpoints(gw, upstreams)
                for name in upstreams:
                    store.create_gateway_endpoint(name=name, model_configs=primary(name), usage_tracking=True)
                    store.create_gateway_endpoint(name=name + "-notrace", model_configs=primary(name),
                                                  usage_tracking=False)
                gw_core, others = all_cores[-1:], all_cores[:-1] or all_cores
                _pin_tree(server.process.pid, gw_core)
                for proc in probes:
                    _pin_tree(proc.pid, others)
                os.sched_setaffinity(0, others)
                try:
                    for rate, (name, base) in zip(rates, upstreams.items()):
                        conc = 4 * shape[rate][0]
                        work = [bodies[i % len(bodies)] for i in range(max(5 * conc, int(rate * 12)))]
                        paths = {"direct": (base + "/chat/completions", PROBE_MODEL),
                                 "bench": (chat_url(gw), name), "bench-notrace": (chat_url(gw), name + "-notrace")}
                        for url, model in list(paths.values())[1:]:
                            asyncio.run(_run(url, model, work[:conc], conc))  # warm
                        rounds = []
                        for i in range(3):
                            order = list(paths)[i:] + list(paths)[:i]
                            rounds.append({k: _measured(*paths[k], work, conc, server.process.pid) for k in order})
                        row = {"rate": rate, "concurrency": conc, "requests": len(work), "rounds": rounds}
                        rows.append(row)
                        print(f"capacity ({server.fixes_line()}) {rate:g} req/s: " + ", ".join(
                            f"{k} {statistics.median(r[k]['steady_rps'] for r in rounds):.2f} req/s steady "
                            f"gateway CPU {statistics.median(r[k]['gw_cpu_ms'] for r in rounds):.1f} ms/req"
                            for k in paths), flush=True)
                finally:
                    os.sched_setaffinity(0, all_cores)
        finally:
            for proc in probes:
                proc.kill()
        return rows

    try:
        iso = isolation() if args.isolation > 0 else None
        cap = {None: capacity(), **({f: capacity(f) for f in (IN_PROCESS, AS_RELEASED)} if args.compare else {})} \
            if rates else None
        if cap is not None:
            loads.append(f"{_uptime()} after the sizing sweep")
        compared = {f: isolation(f) for f in COMPARED} if args.isolation > 0 and args.compare else {}
        loads.append(f"{_uptime()} after the gateway alone")
        if args.rounds == 0:  # the gateway alone: printed above, RESULTS.md left as it is
            return
        sets, switches, vllm_cores, gw_cores = overhead()
    finally:
        probe.kill()
        for drop in _DROPS:
            drop()

    paths = [("direct", "direct to vLLM"), ("bench", "endpoint, usage tracking on (a trace per request)"),
             ("bench-notrace", "endpoint, usage tracking off")]
    vllm_paths = [*paths, ("bench-in-process", "endpoint, usage tracking on, traces written in the gateway process "
                                               "(another `mlflow server`, without the fix `trace-process`)")]
    cores_label = {"shared": f"shared: vLLM's CPU worker on core(s) {','.join(map(str, vllm_cores))}, gateway "
                             f"and client on any of the {len(all_cores)} cores"}
    if "pinned" in sets:
        cores_label["pinned"] = (f"pinned: all of vLLM on core(s) {','.join(map(str, vllm_cores))}, "
                                 f"gateway and client on core(s) {','.join(map(str, gw_cores))}")
    lines = [
        SECTION, "",
        f"`.venv/bin/python bench/gateway_overhead.py --cases {args.cases} --rounds {args.rounds} "
        f"--concurrency {args.concurrency} --switches {args.switches} --isolation {args.isolation} "
        f"--workers {args.workers}{'' if args.store == 'sqlite' else ' --store ' + args.store}{'' if args.compare else ' --no-compare'}"
        f"{' --capacity ' + ','.join(f'{r:g}' for r in rates) if rates else ''}{'' if args.pin is None else (' --pin' if args.pin else ' --no-pin')}` "
        f"({started}; SmolLM2-135M on vLLM CPU, {spec.dtype}, eager; {_cpu_name()}; MLflow 3.17.2 `mlflow server --app-name releasegate-gateway --workers {args.workers} "
        f"--secrets-cache-ttl 10` (MLflow with releasegate's fixes, gateway/_mlflow_fixes.py, except in rows that say otherwise), {'SQLite' if args.store == 'sqlite' else 'PostgreSQL 15'} store; {len(all_cores)} cores shared with other work, "
        f"{'; '.join(loads)}).",
    ]
    if iso is not None:
        lines += [
            "", "The gateway alone (upstream: the probe, an OpenAI-compatible server in its own process "
            f"answering at once; {args.isolation} requests per path, concurrency {args.concurrency}):", "",
            "| path | requests/s | p50 ms | gateway CPU ms per request | policy layer CPU ms per request |",
            "|---|---|---|---|---|",
            *[f"| {label} | {iso[k]['rps']:.1f} | {1000 * iso[k]['p50']:.1f} | {iso[k]['gw_cpu_ms']:.1f} | "
              f"{iso[k]['policy_cpu_ms']:.1f} |" for k, label in
              [*((k, label.replace("vLLM", "the probe")) for k, label in paths),
               ("policy", "policy layer (`releasegate gateway policy`) -> endpoint, usage tracking on")]],
            *[f"| {COMPARED[f]}: {label.replace('vLLM', 'the probe')} | "
              f"{res[k]['rps']:.1f} | {1000 * res[k]['p50']:.1f} | {res[k]['gw_cpu_ms']:.1f} | - |"
              for f, res in compared.items() for k, label in paths if k in res],
            "", f"Failed requests: {sum(v['errors'] for v in iso.values())}. The gateway CPU includes the "
            "trace writes MLflow finishes after the last answer (the bench waits for the server to go idle "
            "before the next path). With the upstream answering at once, requests/s is what the event loop "
            "gets while MLflow's export threads write traces, and how much of that writing waits until after "
            "the last answer differs from row to row: compare the CPU per request here, and the sizing table "
            "for the rates one process sustains.",
        ]
    if cap:
        def cell(row: dict, which: str) -> str:
            rps = statistics.median(r[which]["steady_rps"] for r in row["rounds"])
            ratio = statistics.median(r[which]["steady_rps"] / r["direct"]["steady_rps"] for r in row["rounds"])
            whole = statistics.median(r[which]["rps"] / r["direct"]["rps"] for r in row["rounds"])
            cpu = statistics.median(r[which]["gw_cpu_ms"] for r in row["rounds"])
            return f"{rps:.1f} | {ratio:.3f} | {whole:.3f} | {cpu:.1f} | {cpu * rps / 1000:.2f}"
        lines += [
            "", "Sizing: one gateway process alone on core " + str(all_cores[-1]) + " (the client and the upstreams "
            "on the others), against upstreams of known capacity that cost no CPU (the probe holding "
            "ceil(capacity / 2) requests at a time, each for ceil(capacity / 2) / capacity s), with four "
            "times that many requests in flight; "
            "medians of 3 rounds:", "",
            "| MLflow | upstream capacity req/s | direct req/s | tracking on: req/s | ratio | ratio, whole run | "
            "gateway CPU ms per request | cores busy | tracking off: req/s | ratio | ratio, whole run | "
            "gateway CPU ms per request | cores busy |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
            *[f"| {MLFLOW_LABEL if f is None else COMPARED[f]} | {row['rate']:g} | "
              f"{statistics.median(r['direct']['steady_rps'] for r in row['rounds']):.1f} | "
              f"{cell(row, 'bench')} | {cell(row, 'bench-notrace')} |" for f, cap_rows in cap.items() for row in cap_rows],
            "", "Requests/s and ratio in steady state (every slot busy: without the ramp-up and the drain, "
            "each one latency long); the whole-run ratio counts those too. Cores busy: the gateway's CPU "
            "per request (trace writes it finished after the last answer included) times the requests/s.",
        ]
    lines += [
        "", "Through vLLM (same requests, same concurrency, every path in the same run):", "",
        "| cores | path | requests/s, steady state (median) | ratio to direct | ratio, whole run | p50 latency s | "
        "added p50 s | gateway CPU ms per request |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, rounds in sets.items():
        def med(key: str, which: str, rounds: list[dict] = rounds) -> float:
            return statistics.median(r[which][key] for r in rounds)
        for which, label in vllm_paths:
            if which == "direct":
                ratio, whole, added, cpu = "1", "1", "0", "-"
            else:
                ratio = f"{statistics.median(r[which]['steady_rps'] / r['direct']['steady_rps'] for r in rounds):.3f}"
                whole = f"{statistics.median(r[which]['rps'] / r['direct']['rps'] for r in rounds):.3f}"
                added = f"{statistics.median(r[which]['p50'] - r['direct']['p50'] for r in rounds):+.3f}"
                cpu = f"{med('gw_cpu_ms', which):.1f}"
            lines.append(f"| {cores_label[name]} | {label} | {med('steady_rps', which):.2f} | {ratio} | {whole} | "
                         f"{med('p50', which):.3f} | {added} | {cpu} |")
    errors = sum(r[w]["errors"] for rounds in sets.values() for r in rounds for w in r)
    last = sets.get("pinned") or sets["shared"]
    vllm_rps = statistics.median(r["direct"]["steady_rps"] for r in last)
    gw_cpu = statistics.median(r["bench"]["gw_cpu_ms"] for r in last)
    gw_rps = 1000 / gw_cpu if gw_cpu > 0 else None
    lines += [
        "", f"{args.rounds} rounds x {args.cases} requests per path, concurrency {args.concurrency}; "
        f"failed requests: {errors}. Steady state as in the sizing table. The >= 0.95 target is about the pinned row: in production the gateway "
        "and the model servers run on different hosts, so the gateway's CPU does not come out of the model "
        "server's; on shared cores the ratio also counts the CPU the gateway, its trace writes and the client "
        "take from the core vLLM computes on.",
        *([] if gw_rps is None or vllm_rps * 3 > gw_rps else [
            "", f"This vLLM answered {vllm_rps:.1f} requests/s, under a third of the {gw_rps:.0f} one tracked gateway "
            f"process carries at most here (1000 / its CPU ms per request in the {'pinned' if 'pinned' in sets else 'shared'} "
            "rows): these ratios hardly "
            "load the gateway, and a faster model server (another machine, a GPU) can give other ones; the sizing "
            "table is the gateway's own capacity."]),
        "",
        "| switch (probe = a minimal upstream standing in for a new version) | update returned -> first answer by the new upstream | requests sent | failed |",
        "|---|---|---|---|",
        *[f"| {i + 1} -> {s['to']} | {s['s']:.2f} s | {s['requests']} | {s['failed']} |" for i, s in enumerate(switches)],
        "",
        "The switch time is bounded by the gateway's per-process endpoint-config cache "
        "(`--secrets-cache-ttl`, 10 s here; MLflow's default is 60 s): an update through the store "
        "API does not clear the serving process's cache.",
    ]
    write_section("gateway_overhead", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
