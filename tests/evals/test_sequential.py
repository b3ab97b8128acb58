"""The anytime-valid confidence sequence: coverage, narrowing, decisions, verdict section."""
from __future__ import annotations

import numpy as np
import pytest

from releasegate.evals import SequentialMonitor
from releasegate.evals.sequential import BettingSequence, make_grid


def paired_stream(n: int, delta: float, rng: np.random.Generator, discordance: float = 0.2,
                  incumbent: float = 0.7) -> tuple[np.ndarray, np.ndarray]:
    b, c = (discordance + delta) / 2, (discordance - delta) / 2
    cells = rng.choice(4, size=n, p=[incumbent - c, b, c, 1 - incumbent - b])
    return (cells == 0) | (cells == 1), (cells == 0) | (cells == 2)


def test_grid_contains_the_margin_point_exactly() -> None:
    grid = make_grid(0.03)
    assert (1 - 0.03) / 2 in grid
    assert grid.min() > 0 and grid.max() < 1


def test_the_true_mean_is_covered_at_all_times_in_simulation() -> None:
    # 300 runs of 500 cases each; the truth must stay inside the running-intersection sequence at
    # every time in at least 1 - alpha of the runs (simulation tolerance: 3 standard errors).
    rng = np.random.default_rng(20261127)
    runs, n, delta = 300, 500, 0.02
    cells = rng.choice(4, size=(runs, n), p=[0.6, 0.11, 0.09, 0.2])
    x = np.where(cells == 1, 1.0, np.where(cells == 2, 0.0, 0.5))
    seq = BettingSequence(runs, margin=0.03, alpha=0.05, grid_size=201)
    ever_excluded = np.zeros(runs, dtype=bool)
    for t in range(n):
        seq.update(x[:, t])
        low, high = seq.bounds()
        ever_excluded |= (low > delta) | (high < delta)
    assert ever_excluded.mean() <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / runs)
    # ... and the sequence is not vacuous: after 500 cases it is much narrower than [-1, 1]
    low, high = seq.bounds()
    assert np.median(high - low) < 0.2


def test_the_sequence_narrows_monotonically() -> None:
    rng = np.random.default_rng(1)
    cand, inc = paired_stream(2000, 0.0, rng)
    monitor = SequentialMonitor(margin=0.03)
    for start in range(0, 2000, 100):
        monitor.update(cand[start:start + 100], inc[start:start + 100])
        if monitor.decided:
            break
    widths = [p["high"] - p["low"] for p in monitor.trajectory]
    lows = [p["low"] for p in monitor.trajectory]
    highs = [p["high"] for p in monitor.trajectory]
    assert all(b <= a for a, b in zip(widths, widths[1:]))
    assert all(b >= a for a, b in zip(lows, lows[1:])) and all(b <= a for a, b in zip(highs, highs[1:]))
    assert widths[-1] < widths[0] / 3


def test_clearly_better_candidate_passes_early() -> None:
    rng = np.random.default_rng(2)
    cand, inc = paired_stream(2000, 0.08, rng)
    monitor = SequentialMonitor(margin=0.03, total_cases=2000)
    for start in range(0, 2000, 50):
        if monitor.update(cand[start:start + 50], inc[start:start + 50]):
            break
    assert monitor.decision == "PASS" and monitor.n <= 800
    assert monitor.bounds[0] >= -0.03
    section = monitor.verdict_section()
    assert section["sequential"] is True and section["cases_used"] == monitor.n
    assert section["cases_total"] == 2000 and section["kept_running_by"] is None
    assert section["trajectory"][-1]["n"] == monitor.n


def test_clearly_worse_candidate_fails_early() -> None:
    rng = np.random.default_rng(3)
    cand, inc = paired_stream(2000, -0.12, rng)
    monitor = SequentialMonitor(margin=0.03)
    for start in range(0, 2000, 50):
        if monitor.update(cand[start:start + 50], inc[start:start + 50]):
            break
    assert monitor.decision == "FAIL" and monitor.n <= 800
    assert monitor.bounds[1] <= -0.03
    # updates after the decision change nothing
    n = monitor.n
    assert monitor.update(cand[:50], inc[:50]) == "FAIL" and monitor.n == n


def test_an_undecided_run_names_the_check_that_kept_it_running() -> None:
    rng = np.random.default_rng(4)
    cand, inc = paired_stream(300, -0.03, rng)
    monitor = SequentialMonitor(margin=0.03, total_cases=300)
    monitor.update(cand, inc)
    section = monitor.verdict_section()
    assert monitor.decision is None
    assert section["kept_running_by"] == "non_inferiority"
    assert "fixed-n analysis decides" in section["stop_reason"]


def test_identical_models_never_fail_and_bounds_contain_zero() -> None:
    outcomes = np.random.default_rng(5).random(1000) < 0.7
    monitor = SequentialMonitor(margin=0.03)
    monitor.update(outcomes, outcomes)
    assert monitor.decision == "PASS"  # zero discordance: d is 0 on every case
    low, high = monitor.bounds
    assert low <= 0.0 <= high


def test_mismatched_batches_are_rejected() -> None:
    with pytest.raises(ValueError):
        SequentialMonitor(margin=0.03).update([True, False], [True])


def test_evaluation_order_is_a_seeded_permutation() -> None:
    from releasegate.evals import evaluation_order

    ids = [f"c{i}" for i in range(50)]
    first = evaluation_order(ids, 7)
    assert first == evaluation_order(ids, 7) and sorted(first) == sorted(ids)
    assert first != evaluation_order(ids, 8) and first != ids
