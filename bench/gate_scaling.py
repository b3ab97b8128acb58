"""Time the whole gate (scoring both record sets + every check + canonical verdict JSON) on
1k, 10k, 100k and 1M examples.

    .venv/bin/python bench/gate_scaling.py [--sizes 1000 10000 100000 1000000] [--repeats 3]

Synthetic support-triage data built in memory in the shape of `scenarios.RECORD_COLUMNS`
(Arrow-backed strings, as `scenarios.read_records` returns them): label outputs with realistic
variants ("Billing.", "Queue: billing", "I am not sure"), token counts, latencies, per-example
costs, channel/language slices. The timed call is `evals.run_gate` from in-memory frames
(Parquet I/O and dataset loading are not part of it). Two timings per size:
- `gate`: records digests given in meta, as the CLI and the flows do (they hash the Parquet file);
- `gate + frame digest`: no digest in meta, so the gate also hashes both frames (Arrow IPC).
Writes its section of bench/RESULTS.md.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._results import write_section  # noqa: E402

from releasegate.evals import run_gate  # noqa: E402
from releasegate.scenarios import RECORD_COLUMNS, parse_scenario  # noqa: E402

LABELS = ["billing", "technical", "account", "shipping", "returns", "other"]


def make_data(n: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ids = pd.array(np.char.add("st-", np.arange(n).astype(str)), dtype="string")
    reference = rng.choice(LABELS, n)
    cases = pd.DataFrame({
        "id": ids, "message": pd.array(["..."] * n, dtype="string"),
        "channel": pd.array(rng.choice(["email", "chat", "social", "phone-transcript"], n), dtype="string"),
        "language": pd.array(rng.choice(["en", "de", "fr", "es"], n), dtype="string"),
        "length": "short", "template": "clear", "reference": pd.array(reference, dtype="string"),
    })
    variants = np.array([f"{p}{label}{s}" for label in LABELS for p in ("", " ", "Queue: ", "It is ")
                         for s in ("", ".", "\n")] + ["I am not sure", "Sorry, I cannot help."], dtype=object)

    def records(rate: float, entry: str, seed: int) -> pd.DataFrame:
        r = np.random.default_rng(seed)
        correct = r.random(n) < rate
        output = np.where(correct, np.char.capitalize(reference.astype(str)).astype(object),
                          variants[r.integers(0, len(variants), n)])
        frame = pd.DataFrame({
            "example_id": ids, "model_entry": entry, "model": entry, "model_digest": "", "prompt_version": "v1",
            "output": output, "prompt_tokens": r.integers(60, 700, n), "completion_tokens": r.integers(1, 8, n),
            "ttft_s": r.gamma(2.0, 0.05, n), "latency_s": r.gamma(2.0, 0.4, n), "finish_reason": "stop",
            "cached": False, "error": None, "cost_usd": r.gamma(2.0, 2.5e-5, n), "tool_calls": None,
        })
        frame.loc[r.random(n) < 0.002, "error"] = "timeout"
        for column, dtype in RECORD_COLUMNS.items():
            frame[column] = frame[column].astype(dtype)
        return frame

    return cases, records(0.74, "gemma3-v1", seed + 1), records(0.72, "smollm2-v1", seed + 2)


def time_gate(loaded: object, cases: pd.DataFrame, cand: pd.DataFrame, inc: pd.DataFrame,
              digests: bool, repeats: int) -> tuple[float, str]:
    meta_c = {"records_sha256": "0" * 64} if digests else {}
    meta_i = {"records_sha256": "1" * 64} if digests else {}
    best = float("inf")
    decision = ""
    for _ in range(repeats):
        t0 = time.perf_counter()
        verdict = run_gate(loaded, cases, cand, meta_c, inc, meta_i, seed=1)
        verdict.to_json()
        best = min(best, time.perf_counter() - t0)
        decision = verdict.decision
    return best, decision


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    loaded = parse_scenario(ROOT / "datasets" / "support-triage" / "scenario.yaml")
    rows = []
    for n in args.sizes:
        cases, cand, inc = make_data(n)
        run_gate(loaded, cases.iloc[:100], cand.iloc[:100], {}, inc.iloc[:100], {})  # warm imports
        gate_s, decision = time_gate(loaded, cases, cand, inc, True, args.repeats)
        full_s, _ = time_gate(loaded, cases, cand, inc, False, args.repeats)
        rows.append((n, gate_s, full_s, decision))
        print(f"n={n:>9,}: gate {gate_s:.3f}s, with frame digests {full_s:.3f}s ({decision})", flush=True)
    cpu = platform.processor() or platform.machine()
    load = os.getloadavg()[0]
    lines = [
        "## Gate scaling (issue 4)",
        "",
        f"Command: `.venv/bin/python bench/gate_scaling.py --sizes {' '.join(map(str, args.sizes))} "
        f"--repeats {args.repeats}` (best of {args.repeats}; {cpu}, 2 cores, Python "
        f"{platform.python_version()}; 1-min load average {load:.1f} at the end: the machine is "
        "shared, so these are upper bounds).",
        "",
        "Whole gate: score both record sets (label + context-budget scorers, acceptance rule), "
        "paired Newcombe interval + exact McNemar, Wilson, cost per accepted outcome and ratio "
        "(4000-replicate cell bootstrap), p95 TTFT/latency order-statistic intervals, tool policy, "
        "slice guard with Holm (8 slices), MDE, canonical verdict JSON. From in-memory frames.",
        "",
        "| examples | gate (digests in meta) | gate + in-memory frame digests | decision |",
        "|---:|---:|---:|---|",
    ]
    lines += [f"| {n:,} | {g:.3f} s | {f:.3f} s | {d} |" for n, g, f, d in rows]
    lines += ["", "Target: 1M examples under 2 s. The CLI and the flows pass the Parquet file's sha256 "
              "as the records digest, so the first column is the production path; the second adds "
              "hashing both frames' Arrow IPC streams (the fallback when a caller has no digest)."]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section("gate_scaling", text)


if __name__ == "__main__":
    main()
