"""Recorded generations for the flow tests: written in the shape `releasegate generate` writes
(columns of `scenarios.RECORD_COLUMNS`, provenance in the Parquet metadata), with outputs chosen
so that the gate's answer is known in advance."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from releasegate.scenarios import load_dataset_for, parse_scenario, write_records

ROOT = Path(__file__).resolve().parents[2]
TRIAGE = ROOT / "datasets" / "support-triage" / "scenario.yaml"
LABELS = ["billing", "technical", "account", "shipping", "returns", "other"]


def record_triage(path: Path, entry: str, accuracy: float, *, seed: int, latency_s: float = 1.0) -> Path:
    """Records for every support-triage case: the reference label with probability `accuracy`,
    a wrong label otherwise. Each entry gets a stable fake weight digest."""
    loaded = parse_scenario(TRIAGE)
    dataset = load_dataset_for(loaded)
    cases = dataset.to_pandas()
    n = len(cases)
    rng = np.random.default_rng(seed)
    correct = rng.random(n) < accuracy
    ref = cases["reference"].to_numpy()
    wrong = np.array([LABELS[(LABELS.index(r) + 1) % len(LABELS)] for r in ref])
    entry_cfg = loaded.scenario.models[entry]
    digest = hashlib.sha256(entry_cfg.model.encode()).hexdigest()
    frame = pd.DataFrame({
        "example_id": cases["id"].astype(str).to_numpy(),
        "model_entry": entry, "model": entry_cfg.model, "model_digest": digest,
        "prompt_version": entry_cfg.prompt_version,
        "output": np.where(correct, ref, wrong),
        "prompt_tokens": np.full(n, 120), "completion_tokens": np.full(n, 2),
        "ttft_s": rng.uniform(0.05, 0.2, n), "latency_s": rng.uniform(0.5, 1.5, n) * latency_s,
        "finish_reason": "stop", "cached": False, "error": None,
        "cost_usd": np.full(n, 2e-6), "tool_calls": None,
    })
    meta = {"scenario_id": "support-triage", "model_entry": entry, "model": entry_cfg.model,
            "model_digest": digest, "prompt_version": entry_cfg.prompt_version,
            "dataset_sha256": dataset.sha256, "serving": {"recorded": True},
            "cost": {"pricing": "gpu", "total_usd": float(frame["cost_usd"].sum())}}
    return write_records(frame, path, meta)
