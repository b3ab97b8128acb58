"""Judge error: calibration, the misclassification-corrected difference and its interval."""
from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.proportion import proportion_confint

from releasegate.evals import judge_error as JE
from releasegate.evals import stats


def _judge(truth: np.ndarray, se: float, sp: float, rng: np.random.Generator) -> np.ndarray:
    u = rng.random(truth.shape)
    return np.where(truth, u < se, u >= sp)


def test_calibration_counts_and_wilson_intervals_match_statsmodels() -> None:
    human = np.array([1] * 40 + [0] * 20, dtype=bool)
    judge = np.array([1] * 34 + [0] * 6 + [0] * 15 + [1] * 5, dtype=bool)
    cal = JE.calibrate_judge(human, judge)
    assert (cal.positives, cal.negatives, cal.true_positives, cal.true_negatives) == (40, 20, 34, 15)
    assert cal.sensitivity == pytest.approx(0.85) and cal.specificity == pytest.approx(0.75)
    assert cal.youden == pytest.approx(0.60)
    assert cal.sensitivity_ci == pytest.approx(proportion_confint(34, 40, 0.05, "wilson"), abs=1e-9)
    assert cal.specificity_ci == pytest.approx(proportion_confint(15, 20, 0.05, "wilson"), abs=1e-9)
    with pytest.raises(ValueError, match="human-rejected"):
        JE.calibrate_judge(np.ones(5, bool), np.ones(5, bool))


def test_fieller_matches_inverting_the_test_on_a_grid() -> None:
    a, b, va, vb, cab = -0.02, 0.45, 4e-4, 6e-3, 1e-4
    low, high = JE.fieller_interval(a, b, va, vb, cab)
    grid = np.linspace(-0.5, 0.5, 200001)
    accepted = (a - grid * b) ** 2 <= 1.959963984540054 ** 2 * (va - 2 * grid * cab + grid ** 2 * vb)
    assert float(low) == pytest.approx(grid[accepted].min(), abs=1e-5)
    assert float(high) == pytest.approx(grid[accepted].max(), abs=1e-5)
    # a denominator indistinguishable from zero: unbounded, clipped to the bounds given
    low, high = JE.fieller_interval(0.01, 0.05, 1e-4, 1e-2, 0.0, bounds=(-1.0, 1.0))
    assert (float(low), float(high)) == (-1.0, 1.0)


def test_correction_recovers_the_true_rates_on_a_large_sample() -> None:
    rng = np.random.default_rng(11)
    n = 200_000
    truth_i = rng.random(n) < 0.70
    truth_c = np.where(rng.random(n) < 0.8, truth_i, rng.random(n) < 0.55)  # true rate 0.67
    human = rng.random(20_000) < 0.7
    cal = JE.calibrate_judge(human, _judge(human, 0.8, 0.9, rng))
    out = JE.corrected_paired_difference(_judge(truth_c, 0.8, 0.9, rng).astype(float),
                                         _judge(truth_i, 0.8, 0.9, rng).astype(float), cal)
    true_diff = truth_c.mean() - truth_i.mean()
    assert out.observed_difference == pytest.approx(0.7 * true_diff, abs=0.006)
    assert out.difference == pytest.approx(true_diff, abs=0.008)
    assert out.incumbent_rate == pytest.approx(truth_i.mean(), abs=0.01)
    assert out.ci_low <= true_diff <= out.ci_high and out.bounded


def _simulate_runs(runs: int, n: int, n_cal: int, se: float, sp: float, delta: float,
                   rng: np.random.Generator) -> tuple[list[JE.CorrectedDifference], np.ndarray]:
    out, uncorrected_low = [], []
    for _ in range(runs):
        truth_i = rng.random(n) < 0.75
        flip = rng.random(n) < 0.3  # 30% of cases are redrawn for the candidate
        truth_c = np.where(flip, rng.random(n) < (0.75 + delta / 0.3), truth_i)
        judged_c, judged_i = _judge(truth_c, se, sp, rng), _judge(truth_i, se, sp, rng)
        human = rng.random(n_cal) < 0.75
        cal = JE.calibrate_judge(human, _judge(human, se, sp, rng))
        out.append(JE.corrected_paired_difference(judged_c.astype(float), judged_i.astype(float), cal))
        uncorrected_low.append(stats.paired_difference(judged_c, judged_i).ci_low)
    return out, np.array(uncorrected_low)


def test_corrected_interval_covers_the_true_difference() -> None:
    rng = np.random.default_rng(12)
    delta = -0.06
    runs, _ = _simulate_runs(600, 800, 200, 0.8, 0.85, delta, rng)
    coverage = np.mean([r.ci_low <= delta <= r.ci_high for r in runs])
    assert 0.925 <= coverage <= 0.975


def test_noisy_judge_makes_the_uncorrected_gate_pass_a_worse_candidate() -> None:
    """True difference -6 points, margin 5: the candidate is worse than the margin. A judge with
    sensitivity = specificity = 0.7 shrinks the difference to about -2.4 points, so the
    uncorrected gate PASSes most runs; the corrected one at most alpha."""
    rng = np.random.default_rng(13)
    margin = 0.05
    runs, uncorrected_low = _simulate_runs(200, 5000, 400, 0.7, 0.7, -0.06, rng)
    uncorrected_pass = float(np.mean(uncorrected_low > -margin))
    corrected_pass = float(np.mean([r.ci_low > -margin for r in runs]))
    assert uncorrected_pass >= 0.6  # measured 0.77 with this seed
    assert corrected_pass <= 0.025  # one-sided alpha of the 95% interval; measured 0.0


def test_pairwise_consensus_counts_order_disagreements_as_ties() -> None:
    first = np.array([1, 1, -1, 0, -1, 1])
    second = np.array([1, -1, -1, 1, 1, 0])
    consensus, disagreements = JE.pairwise_consensus(first, second)
    assert consensus.tolist() == [1, 0, -1, 0, 0, 0]
    assert disagreements == 4
    with pytest.raises(ValueError):
        JE.pairwise_consensus([2], [1])
