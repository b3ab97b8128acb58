"""Repeats: per-case rates, pass@k / pass^k, the clustered paired interval, decision stability."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats as st

from releasegate.evals import repeats as R
from releasegate.evals import stats


def test_one_repeat_is_exactly_newcombe_method_10() -> None:
    rng = np.random.default_rng(1)
    for _ in range(300):
        n = int(rng.integers(2, 400))
        cand = rng.random(n) < rng.random()
        inc = rng.random(n) < rng.random()
        low, high = R.clustered_paired_intervals(cand.astype(float), inc.astype(float), 1)
        ref = stats.newcombe_paired_interval(stats.PairedTable.from_outcomes(cand, inc))
        assert (float(low), float(high)) == pytest.approx(ref, abs=1e-12)


@pytest.mark.parametrize("k", [2, 3, 5])
def test_pass_at_and_pass_hat_match_enumerating_every_subset(k: int) -> None:
    rng = np.random.default_rng(k)
    matrix = rng.random((40, k)) < 0.6
    counts, _ = R.accepted_counts(matrix)
    for j in range(1, k + 1):
        subsets = list(itertools.combinations(range(k), j))
        any_ok = np.mean([[row[list(s)].any() for s in subsets] for row in matrix])
        all_ok = np.mean([[row[list(s)].all() for s in subsets] for row in matrix])
        assert R.pass_at(counts, k, j) == pytest.approx(any_ok, abs=1e-12)
        assert R.pass_hat(counts, k, j) == pytest.approx(all_ok, abs=1e-12)


def test_repeat_summary_counts_varying_cases() -> None:
    matrix = np.array([[1, 1, 1], [0, 0, 0], [1, 0, 1], [0, 1, 0]], dtype=bool)
    s = R.repeat_summary(matrix)
    assert (s.cases, s.repeats) == (4, 3)
    assert s.acceptance_rate == pytest.approx(6 / 12)
    assert s.pass_at_k == pytest.approx(3 / 4) and s.pass_hat_k == pytest.approx(1 / 4)
    assert s.varying_share == pytest.approx(2 / 4)
    # within-case variance c(k-c)/(k(k-1)) = 1/3 for the two varying cases, over p(1-p) = 1/4
    assert s.within_case_share == pytest.approx((2 * (2 / 6)) / 4 / 0.25)


def _simulate(n: int, k: int, within: float, sims: int, rng: np.random.Generator, delta: float = -0.05):
    """Independent generator: beta-distributed per-case rates (Gaussian copula between models)
    with within-case share `within` (0: every case deterministic)."""
    def rates(mean: float, u: np.ndarray) -> np.ndarray:
        if within == 0:
            return (u > 1 - mean).astype(float)
        s = within / (1 - within)
        return st.beta.ppf(u, mean * s, (1 - mean) * s)

    z_i = rng.standard_normal((sims, n))
    z_c = 0.6 * z_i + 0.8 * rng.standard_normal((sims, n))
    q_i, q_c = rates(0.7, st.norm.cdf(z_i)), rates(0.7 + delta, st.norm.cdf(z_c))
    return rng.binomial(k, q_c), rng.binomial(k, q_i)


def test_clustered_interval_covers_and_the_naive_one_does_not() -> None:
    rng = np.random.default_rng(7)
    k, delta = 5, -0.05
    cc, ci = _simulate(200, k, 0.0, 2000, rng, delta)  # cases deterministic: repeats add nothing
    low, high = R.clustered_paired_intervals(cc / k, ci / k, k)
    coverage = np.mean((low <= delta) & (delta <= high))
    # naive: the n*k generations as independent pairs
    both = np.minimum(cc, ci)  # deterministic cases: accepted on all repeats or none
    naive_low, naive_high = stats.newcombe_paired_intervals(both, cc - both, ci - both, k * 200 - cc - ci + both)
    naive = np.mean((naive_low <= delta) & (delta <= naive_high))
    assert 0.935 <= coverage <= 0.965
    assert naive < 0.75


def test_clustered_interval_covers_with_within_case_variation() -> None:
    rng = np.random.default_rng(8)
    k, delta = 3, -0.05
    cc, ci = _simulate(150, k, 0.3, 2000, rng, delta)
    low, high = R.clustered_paired_intervals(cc / k, ci / k, k)
    assert 0.935 <= np.mean((low <= delta) & (delta <= high)) <= 0.965


def test_stability_unknown_with_one_repeat_and_high_far_from_the_margin() -> None:
    rng = np.random.default_rng(3)
    one = R.decision_stability(rng.random((100, 1)) < 0.7, rng.random((100, 1)) < 0.7, margin=0.05)
    assert one.flip_probability is None and "repeats" in one.note
    clear = R.decision_stability(rng.random((400, 3)) < 0.9, rng.random((400, 3)) < 0.6, margin=0.05,
                                 replicates=300)
    assert clear.status == "pass" and clear.flip_probability == 0.0


def test_stability_near_the_boundary_flips_often() -> None:
    """Per-case rates 1/3 everywhere, candidate and incumbent alike: the lower bound sits near
    -margin, so reruns land on both sides."""
    rng = np.random.default_rng(4)
    n, k = 300, 3
    cand = rng.random((n, k)) < 0.5
    inc = rng.random((n, k)) < 0.5
    diff = R.clustered_paired_difference(cand, inc)
    margin = -diff.ci_low  # put the margin exactly at the observed lower bound
    s = R.decision_stability(cand, inc, margin=margin, replicates=400, rng=rng)
    assert 0.2 <= s.flip_probability <= 0.8


def test_sequential_monitor_takes_per_case_rates_and_keeps_its_error_rate() -> None:
    from releasegate.evals.planning import Design, simulate_sequential
    from releasegate.evals.sequential import SequentialMonitor

    rng = np.random.default_rng(5)
    monitor = SequentialMonitor(margin=0.05)
    for _ in range(20):
        cand = rng.binomial(3, 0.9, 50) / 3
        inc = rng.binomial(3, 0.7, 50) / 3
        if monitor.update(cand, inc):
            break
    assert monitor.decision == "PASS"
    with pytest.raises(ValueError, match="rates in"):
        monitor.update([1.5], [0.0])
    # At the boundary (true difference = -margin), k = 3 repeats with within-case variation: the
    # sequence may be watched after every case and still PASSes at most alpha of the runs.
    boundary = Design(margin=0.05, confidence=0.95, power=0.8, incumbent_rate=0.7, discordance=0.3,
                      difference=-0.049, within_share=0.3)
    plan = simulate_sequential(boundary, 400, repeats=3, runs=300, seed=2)
    assert plan.pass_share <= 0.05 and plan.max_cases is None
