"""The gate with sampling.repeats: cases are the unit, repeats nest in them."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from evals_fixtures import make_cases, make_records

from releasegate.core import InputError
from releasegate.evals import repeats as R
from releasegate.evals import run_gate


def _records(cases: pd.DataFrame, matrix: np.ndarray, entry: str) -> pd.DataFrame:
    frames = [make_records(cases, matrix[:, j], entry=entry, seed=j, repeat=j) for j in range(matrix.shape[1])]
    return pd.concat(frames, ignore_index=True)


def _matrices(n: int, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    q_i = rng.beta(2.0, 0.8, n)  # per-case rates, mean about 0.71
    q_c = np.clip(q_i + rng.normal(0.0, 0.1, n), 0, 1)
    return rng.random((n, k)) < q_c[:, None], rng.random((n, k)) < q_i[:, None]


def test_gate_uses_per_case_rates_and_reports_pass_at_k(triage: Any) -> None:
    cases = make_cases(400)
    cand, inc = _matrices(400, 3)
    verdict = run_gate(triage, cases, _records(cases, cand, "gemma3-v1"), {}, _records(cases, inc, "smollm2-v1"),
                       {}, seed=5)
    checks = {c.name: c for c in verdict.checks}
    clustered = R.clustered_paired_difference(cand, inc)
    ni = checks["non_inferiority"]
    assert (ni.value, ni.ci_low, ni.ci_high) == pytest.approx((clustered.difference, clustered.ci_low,
                                                               clustered.ci_high), abs=1e-9)
    assert "3 repeats per case" in ni.reason
    assert checks["min_acceptance_rate"].value == pytest.approx(cand.mean())
    block = verdict.metrics.repeats
    assert block.k == 3
    assert block.candidate.pass_at_k == pytest.approx(cand.any(axis=1).mean())
    assert block.candidate.pass_hat_k == pytest.approx(cand.all(axis=1).mean())
    varying = (cand.any(axis=1) & ~cand.all(axis=1)).mean()
    assert block.candidate.varying_share == pytest.approx(varying)
    assert 0.0 <= block.stability.flip_probability <= 1.0
    assert block.stability.status == ni.status


def test_one_repeat_leaves_the_verdict_as_before(triage: Any) -> None:
    cases = make_cases(200)
    cand, inc = _matrices(200, 1)
    plain = run_gate(triage, cases, make_records(cases, cand[:, 0], entry="gemma3-v1"), {},
                     make_records(cases, inc[:, 0], entry="smollm2-v1"), {}, seed=5)
    assert plain.metrics.repeats is None and "repeats" not in plain.to_dict()["metrics"]


def test_unequal_repeats_are_refused(triage: Any) -> None:
    cases = make_cases(50)
    cand, inc = _matrices(50, 3)
    with pytest.raises(InputError, match="repeats per case"):
        run_gate(triage, cases, _records(cases, cand, "gemma3-v1"), {}, _records(cases, inc[:, :2], "smollm2-v1"), {})
