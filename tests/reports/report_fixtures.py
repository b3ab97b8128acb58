"""Builders for the report tests: small verdicts with chosen checks."""
from __future__ import annotations

from typing import Any

from releasegate.evals import Check, ModelSide, SequentialSummary, TrajectoryPoint, Verdict


def side(entry: str) -> ModelSide:
    return ModelSide(entry, f"{entry}-model", "d" * 64, "v1", "r" * 64)


def ni_check(value: float, low: float, high: float, status: str, margin: float = 0.05) -> Check:
    return Check("non_inferiority", "change", "acceptance_difference", value, low, high, -margin, ">=",
                 status, True, f"difference {value:+.3f}")


def sequential_summary(used: int, total: int, decision: str | None = "PASS") -> SequentialSummary:
    return SequentialSummary(
        sequential=True, method="test", margin=0.05, confidence=0.95, cases_used=used, cases_total=total,
        decision=decision, stop_reason=f"decided after {used} cases", kept_running_by=None,  # type: ignore[arg-type]
        trajectory=[TrajectoryPoint(n=used, low=-0.01, high=0.05, estimate=0.02)])


def base_metrics(n: int = 500) -> dict[str, Any]:
    """A complete `metrics` block (evals.VerdictMetrics) for hand-built verdicts."""
    side_ = {"n": n, "accepted": n // 2, "acceptance_rate": 0.5, "acceptance_ci": [0.45, 0.55], "errors": 0,
             "scorers": {}, "completion_tokens_total": 10.0 * n}
    return {"policy": "test", "cases_total": n, "candidate": side_, "incumbent": side_,
            "paired": {"n": n, "candidate_rate": 0.5, "incumbent_rate": 0.5, "difference": 0.0, "ci_low": -0.05,
                       "ci_high": 0.05, "candidate_only": 10, "incumbent_only": 10, "mcnemar_p": 1.0,
                       "confidence": 0.95, "both": n // 2 - 10, "neither": n // 2 - 10},
            "minimum_detectable_difference": {"value": 0.06, "power": 0.8, "note": "test"},
            "tool_policy_violations": 0}


def make_verdict(decision: str, checks: list[Check], **changes: Any) -> Verdict:
    fields: dict[str, Any] = dict(
        scenario_id="support-triage", decision=decision, checks=checks, candidate=side("gemma3-v1"),
        incumbent=side("smollm2-v1"), contract_sha256="c" * 64, dataset_sha256="e" * 64, n=500,
        confidence=0.95, seed=7)
    fields.update(changes)
    return Verdict(**fields)


LABELS = ["billing", "technical", "account", "shipping", "returns", "other"]


def write_scenario(folder: Any, n: int = 60, seed: int = 3) -> Any:
    """A copy of support-triage with a small generated dataset whose digest matches."""
    import json
    import re
    from pathlib import Path

    import numpy as np

    from releasegate.scenarios import file_sha256

    root = Path(__file__).resolve().parents[2]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    with open(folder / "cases.jsonl", "w") as fh:
        for i in range(n):
            fh.write(json.dumps({
                "id": f"c{i:03d}", "message": f"customer message {i}",
                "channel": ["email", "chat"][i % 2], "language": ["en", "de"][int(rng.integers(2))],
                "length": "short", "template": "t1", "reference": LABELS[i % len(LABELS)]}) + "\n")
    text = (root / "datasets" / "support-triage" / "scenario.yaml").read_text()
    text = re.sub(r'sha256: "[0-9a-f]{64}"', f'sha256: "{file_sha256(folder / "cases.jsonl")}"', text)
    (folder / "scenario.yaml").write_text(text)
    return folder / "scenario.yaml"


def records_for(references: list[str], correct: Any, entry: str) -> Any:
    """Generation records (scenarios.RECORD_COLUMNS): the reference where `correct`, else wrong."""
    import numpy as np
    import pandas as pd

    from releasegate.scenarios import RECORD_COLUMNS

    n = len(references)
    outputs = [ref if ok else LABELS[(LABELS.index(ref) + 1) % len(LABELS)]
               for ref, ok in zip(references, correct)]
    frame = pd.DataFrame({
        "example_id": [f"c{i:03d}" for i in range(n)], "model_entry": entry, "model": f"{entry}-model",
        "model_digest": "d" * 64, "prompt_version": "v1", "output": outputs,
        "prompt_tokens": np.full(n, 90), "completion_tokens": np.full(n, 2),
        "ttft_s": np.linspace(0.2, 0.6, n), "latency_s": np.linspace(0.5, 1.5, n),
        "finish_reason": "stop", "cached": False, "error": None, "cost_usd": np.full(n, 1e-5),
        "tool_calls": None})
    for column, dtype in RECORD_COLUMNS.items():
        frame[column] = frame[column].astype(dtype)
    return frame
