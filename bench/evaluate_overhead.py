"""The warm path: `releasegate evaluate` against the generation floor (issue 16).

The floor is what the generations alone cost: the same requests (the incumbent's, then the
candidate's, as evaluate sends them) posted by a plain async client to an already-running vLLM
server at the entry's concurrency. `releasegate evaluate` is then timed, wall clock from spawn to
exit of the CLI process, in the situations a user meets:
- cold: nothing running, empty generation cache: evaluate starts vLLM itself and Prefect starts a
  temporary local server;
- warm: a vLLM server and a long-lived `prefect server start` already up (PREFECT_API_URL set),
  attached with `--endpoint` / `--incumbent-endpoint`, empty generation cache;
- cached: the warm run again: every generation comes from the cache (no request sent), with the
  long-lived Prefect server, and without one (a temporary server per run).
Each run's requests sent are read from its records' meta (counts.generated). Rows are kept per
`--label` in bench/evaluate_overhead.json, so one table shows a before and an after.

    .venv/bin/python bench/evaluate_overhead.py --label before [--cases 40]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._results import write_section  # noqa: E402
from bench.serving_overhead import plain_client  # noqa: E402

from releasegate.flows.stack import cli_command  # noqa: E402
from releasegate.gpu import ServerSpec, VllmServer  # noqa: E402
from releasegate.gpu._client import request_body  # noqa: E402
from releasegate.gpu._generate import _sampling  # noqa: E402
from releasegate.scenarios import load_dataset_for, load_scenario, read_records, render_prompt  # noqa: E402

STORE = ROOT / "bench" / "evaluate_overhead.json"
SCENARIO, CANDIDATE = "support-triage", "smollm2-v2"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def floor_s(endpoint: Any, cases: int) -> float:
    """The incumbent's requests, then the candidate's, each at its entry's concurrency: seconds."""
    loaded = load_scenario(SCENARIO)
    s = loaded.scenario
    dataset = load_dataset_for(loaded)
    rows = [r for r in dataset.rows if str(r[dataset.id_field]) in set(dataset.ids[:cases])]
    total = 0.0
    for entry in (s.incumbent, CANDIDATE):
        prompts = [render_prompt(s, entry, r) for r in rows]
        path = request_body(endpoint, prompts[0], _sampling(s), s.context_budget.max_output_tokens)[0]
        bodies = [request_body(endpoint, p, _sampling(s), s.context_budget.max_output_tokens)[1] for p in prompts]
        seconds, _ = asyncio.run(plain_client(endpoint, path, bodies, s.model_entry(entry).serving.concurrency))
        total += seconds
    return total


def evaluate(env: dict[str, str], cases: int, extra: list[str]) -> dict[str, Any]:
    """`releasegate evaluate` as a user runs it: wall seconds, exit code, requests sent."""
    home = Path(env["RELEASEGATE_HOME"])
    before = set((home / "runs" / SCENARIO).glob("*")) if (home / "runs" / SCENARIO).is_dir() else set()
    t0 = time.perf_counter()
    done = subprocess.run([*cli_command("releasegate"), "evaluate", "--scenario", SCENARIO,
                           "--candidate", CANDIDATE, "--limit", str(cases), "--fixed", *extra],
                          env=env, capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - t0
    if done.returncode not in (0, 1, 3):
        raise SystemExit(f"evaluate failed ({done.returncode}): {(done.stderr or done.stdout)[-2000:]}")
    (run_dir,) = set((home / "runs" / SCENARIO).glob("*")) - before
    counts = [read_records(run_dir / f"{side}.parquet")[1]["counts"] for side in ("incumbent", "candidate")]
    assert sum(c["cases"] for c in counts) == 2 * cases, counts
    return {"wall_s": wall, "exit": done.returncode, "generated": sum(c["generated"] for c in counts),
            "cached": sum(c["cached"] for c in counts)}


def _wait(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{url}: the server exited ({proc.returncode})")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{url} did not answer in {timeout_s} s")


def measure(cases: int) -> list[dict[str, Any]]:
    from releasegate.gpu import models_dir

    tmp = Path(tempfile.mkdtemp(prefix="rg-evaluate-overhead-"))
    os.environ["RELEASEGATE_MODELS_DIR"] = str(models_dir())  # the prepared models, not the temp home's
    env = {**os.environ, "RELEASEGATE_HOME": str(tmp / "home"), "PREFECT_HOME": str(tmp / "prefect"),
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_LOGGING_LEVEL": "WARNING",
           "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120", "RELEASEGATE_ACTOR": "bench"}
    for var in ("PREFECT_API_URL", "RELEASEGATE_LEDGER_URL", "RELEASEGATE_MLFLOW_URI"):
        env.pop(var, None)
    cache = tmp / "home" / "cache" / "generations.sqlite"
    rows: list[dict[str, Any]] = []

    def row(name: str, what: str, result: dict[str, Any], floor: float | None) -> None:
        rows.append({"run": name, "up": what, **result, "floor_s": floor})
        print(json.dumps(rows[-1]), flush=True)

    try:
        # cold: nothing up, nothing cached (vLLM and a temporary Prefect server started by evaluate)
        cold = evaluate(env, cases, [])
        os.environ["RELEASEGATE_HOME"] = env["RELEASEGATE_HOME"]  # the bench's own server state goes there too
        entry = load_scenario(SCENARIO).scenario.model_entry(CANDIDATE)
        port = _free_port()
        prefect_log = (tmp / "prefect.log").open("wb")
        server_env = {k: v for k, v in env.items() if k != "PREFECT_API_URL"}
        prefect = subprocess.Popen([*cli_command("prefect"), "server", "start", "--host",
                                    "127.0.0.1", "--port", str(port)], env=server_env, stdout=prefect_log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        try:
            with VllmServer(ServerSpec.from_entry(entry)) as endpoint:
                _wait(f"http://127.0.0.1:{port}/api/health", prefect)
                warm_env = {**env, "PREFECT_API_URL": f"http://127.0.0.1:{port}/api"}
                attach = ["--endpoint", endpoint.base_url, "--incumbent-endpoint", endpoint.base_url]
                floor_s(endpoint, cases)  # warm-up: the floor and evaluate meet the same warm server
                floor = floor_s(endpoint, cases)
                row("cold", "nothing (evaluate starts vLLM; Prefect a temporary server)", cold, floor)
                cache.unlink()
                row("warm", "vLLM server (attached) + Prefect server", evaluate(warm_env, cases, attach), floor)
                row("cached", "vLLM server (attached) + Prefect server", evaluate(warm_env, cases, attach), 0.0)
                row("cached", "nothing (Prefect starts a temporary server)", evaluate(env, cases, attach), 0.0)
        finally:
            prefect.terminate()
            prefect.wait(30)
            prefect_log.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


def table(store: dict[str, Any]) -> str:
    lines = ["## Evaluate overhead: the warm path (issue 16)", "",
             "| label | commit | run | already up | evaluate (s) | generation floor (s) | overhead (s) | "
             "requests sent | from cache |",
             "|---|---|---|---|---:|---:|---:|---:|---:|"]
    for label, run in store.items():
        for r in run["rows"]:
            floor = r["floor_s"]
            lines.append(f"| {label} | {run['commit']} | {r['run']} | {r['up']} | {r['wall_s']:.1f} | {floor:.1f} | "
                         f"{r['wall_s'] - floor:.1f} | {r['generated']} | {r['cached']} |")
    first = next(iter(store.values()))
    lines += ["", f"`python bench/evaluate_overhead.py --label LABEL --cases {first['cases']}`: `releasegate evaluate "
              f"--scenario {SCENARIO} --candidate {CANDIDATE} --limit {first['cases']} --fixed` (incumbent smollm2-v1: "
              f"{2 * first['cases']} generations, SmolLM2-135M on the vLLM CPU build), wall clock of the CLI process. "
              "Floor: the same streaming requests from a plain async client to the running server at the entries' "
              "concurrency (8), incumbent then candidate, after one warm-up pass; 0 for a fully cached run. "
              "Overhead = evaluate - floor. Measured on the shared 2-core development machine ("
              + "; ".join(f"{label}: {run['measured_at']}" + (f", load {run['load']}" if run.get("load") else "")
                          for label, run in store.items())
              + "): wall clock follows the load the other jobs put on it."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=40)
    parser.add_argument("--label", default="after", help="rows are kept per label (e.g. before / after a change)")
    args = parser.parse_args()
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    load_before = os.getloadavg()[0]
    rows = measure(args.cases)
    load_after = os.getloadavg()[0]
    load = f"{min(load_before, load_after):.1f}-{max(load_before, load_after):.1f} (1-min average at start and end)"
    store = json.loads(STORE.read_text()) if STORE.exists() else {}
    store[args.label] = {"commit": commit, "cases": args.cases, "rows": rows,
                         "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                         "load": load}
    STORE.write_text(json.dumps(store, indent=2) + "\n")
    body = table(store)
    print(body)
    write_section("evaluate-overhead", body)


if __name__ == "__main__":
    main()
