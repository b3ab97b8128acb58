"""Builders for the evals tests: the support-triage contract, cases and records built in memory
in the shape of `scenarios.RECORD_COLUMNS` (no serving needed)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from releasegate.scenarios import RECORD_COLUMNS, parse_scenario

ROOT = Path(__file__).resolve().parents[2]
LABELS = ["billing", "technical", "account", "shipping", "returns", "other"]


def load_triage() -> Any:
    return parse_scenario(ROOT / "datasets" / "support-triage" / "scenario.yaml")


def with_criteria(loaded: Any, **changes: Any) -> Any:
    """A copy of the scenario with success_criteria fields replaced (contracts are frozen)."""
    scenario = loaded.scenario if hasattr(loaded, "scenario") else loaded
    criteria = scenario.success_criteria.model_copy(update=changes)
    return scenario.model_copy(update={"success_criteria": criteria})


def make_cases(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "id": [f"c{i:05d}" for i in range(n)],
        "message": [f"message {i}" for i in range(n)],
        "channel": rng.choice(["email", "chat"], n),
        "language": rng.choice(["en", "de"], n),
        "length": rng.choice(["short", "long"], n),
        "template": rng.choice(["t1", "t2"], n),
        "reference": rng.choice(LABELS, n),
    })


def make_records(cases: pd.DataFrame, correct: np.ndarray, *, entry: str = "gemma3-v1", seed: int = 0,
                 **columns: Any) -> pd.DataFrame:
    """Records whose output is the reference where `correct`, another label elsewhere."""
    n = len(cases)
    ref = cases["reference"].to_numpy()
    wrong = np.array([LABELS[(LABELS.index(r) + 1) % len(LABELS)] if r in LABELS else "other" for r in ref])
    output = np.where(np.asarray(correct, dtype=bool), ref, wrong)
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "example_id": cases["id"].to_numpy(),
        "model_entry": entry, "model": f"{entry}-model", "model_digest": f"sha256:{entry}",
        "prompt_version": "v1",
        "output": [f" {str(o).capitalize()}." for o in output],
        "prompt_tokens": np.full(n, 100), "completion_tokens": np.full(n, 2),
        "ttft_s": rng.uniform(0.1, 0.5, n), "latency_s": rng.uniform(0.5, 2.0, n),
        "finish_reason": "stop", "cached": False, "error": None,
        "cost_usd": np.full(n, 0.0001), "tool_calls": None,
    })
    for key, value in columns.items():
        frame[key] = value
    for column, dtype in RECORD_COLUMNS.items():
        frame[column] = frame[column].astype(dtype)
    return frame


def paired_outcomes(n: int, both: float, cand_only: float, inc_only: float, seed: int = 1
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Exact cell counts (not random): first `both` fraction both correct, and so on."""
    nb, nc, ni = round(n * both), round(n * cand_only), round(n * inc_only)
    cand = np.zeros(n, dtype=bool)
    inc = np.zeros(n, dtype=bool)
    cand[:nb + nc] = True
    inc[:nb] = True
    inc[nb + nc:nb + nc + ni] = True
    perm = np.random.default_rng(seed).permutation(n)
    return cand[perm], inc[perm]

