"""evals.stats against independent references (statsmodels, scipy, sklearn-free hand values)."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize
from scipy import stats as st
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

from releasegate.evals import stats
from releasegate.evals.stats import PairedTable


def outcomes_from_table(a: int, b: int, c: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """a both, b candidate only, c incumbent only, d neither."""
    cand = np.array([1] * a + [1] * b + [0] * c + [0] * d, dtype=bool)
    inc = np.array([1] * a + [0] * b + [1] * c + [0] * d, dtype=bool)
    return cand, inc


TABLES = [(36, 12, 2, 0), (1, 1, 7, 12), (59, 6, 16, 80), (10, 0, 0, 10), (500, 37, 21, 442), (3, 9, 1, 0)]


@pytest.mark.parametrize("a,b,c,d", TABLES)
def test_mcnemar_exact_matches_statsmodels(a: int, b: int, c: int, d: int) -> None:
    diff = stats.paired_difference(*outcomes_from_table(a, b, c, d))
    # statsmodels' table: rows candidate (1, 0), columns incumbent (1, 0)
    reference = mcnemar(np.array([[a, b], [c, d]]), exact=True).pvalue
    assert diff.mcnemar_p == pytest.approx(reference, rel=1e-12)
    assert (diff.candidate_only, diff.incumbent_only, diff.both, diff.neither) == (b, c, a, d)


@pytest.mark.parametrize("b,c", [(12, 2), (1, 7), (37, 21), (0, 5), (9, 1)])
def test_mcnemar_is_the_scipy_binomial_test_on_discordant_pairs(b: int, c: int) -> None:
    assert stats.mcnemar_exact_p(b, c) == pytest.approx(st.binomtest(b, b + c, 0.5).pvalue, rel=1e-12)


def test_newcombe_worked_example_a() -> None:
    # Newcombe (1998) example (a): 36 both, 12 first only, 2 second only, 0 neither (n=50).
    # Method 10 as written by Newcombe and as implemented independently in R by Fagerland et al.
    # (`contingencytables::Newcombe_square_and_add_CI_paired_2x2`) and by biostatUZH
    # (`confIntPairedProportion`) gives 0.0569 to 0.3404. NOTE: the brief quoted 0.0528 to 0.3339;
    # no variant of the method-10 formula (either phi correction, either sign) reproduces that
    # pair, and the paper itself could not be retrieved here to check its table.
    diff = stats.paired_difference(*outcomes_from_table(36, 12, 2, 0))
    assert diff.difference == pytest.approx(0.20)
    assert (round(diff.ci_low, 4), round(diff.ci_high, 4)) == (0.0569, 0.3404)


@pytest.mark.parametrize("table,expected", [
    # The two examples of Fagerland, Lydersen & Laake (2017), chapter 8: Bentur et al. (2009)
    # and Cavo et al. (2012). Expected values follow contingencytables' implementation of the
    # method (same phi correction); the book's printed table could not be consulted here.
    ((1, 1, 7, 12), (-0.507, -0.026)),
    ((59, 6, 16, 80), (-0.119, -0.005)),
])
def test_newcombe_textbook_examples(table: tuple[int, int, int, int], expected: tuple[float, float]) -> None:
    low, high = stats.newcombe_paired_interval(PairedTable(*table))
    assert (round(low, 3), round(high, 3)) == expected


@pytest.mark.parametrize("a,b,c,d", TABLES)
def test_newcombe_is_built_from_statsmodels_wilson_limits(a: int, b: int, c: int, d: int) -> None:
    # Recompute method 10 with statsmodels' Wilson limits: checks our Wilson and the assembly.
    n = a + b + c + d
    l1, u1 = proportion_confint(a + b, n, alpha=0.05, method="wilson")
    l2, u2 = proportion_confint(a + c, n, alpha=0.05, method="wilson")
    p1, p2 = (a + b) / n, (a + c) / n
    margins = (a + b) * (c + d) * (a + c) * (b + d)
    cross = a * d - b * c
    cross = cross - n / 2 if cross > n / 2 else (0 if cross >= 0 else cross)
    phi = cross / np.sqrt(margins) if margins else 0.0
    low = p1 - p2 - np.sqrt((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2)
    high = p1 - p2 + np.sqrt((p2 - l2) ** 2 - 2 * phi * (p2 - l2) * (u1 - p1) + (u1 - p1) ** 2)
    got = stats.newcombe_paired_interval(PairedTable(a, b, c, d))
    assert got == pytest.approx((low, high), abs=1e-12)


def test_newcombe_coverage_is_near_nominal_on_simulated_tables() -> None:
    rng = np.random.default_rng(7)
    probs = np.array([0.55, 0.12, 0.08, 0.25])  # both, cand only, inc only, neither
    truth = probs[1] - probs[2]
    counts = rng.multinomial(150, probs, size=1500)
    covered = [lo <= truth <= hi for lo, hi in
               (stats.newcombe_paired_interval(PairedTable(*map(int, row))) for row in counts)]
    assert 0.93 <= np.mean(covered) <= 0.975


@pytest.mark.parametrize("x,n", [(0, 10), (3, 10), (48, 50), (1234, 5000), (50, 50)])
def test_wilson_matches_statsmodels(x: int, n: int) -> None:
    assert stats.wilson_interval(x, n, 0.95) == pytest.approx(
        proportion_confint(x, n, alpha=0.05, method="wilson"), abs=1e-12)
    assert stats.wilson_interval(x, n, 0.9) == pytest.approx(
        proportion_confint(x, n, alpha=0.1, method="wilson"), abs=1e-12)


def test_holm_matches_statsmodels() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.005, 0.5, 0.04, 0.2])
    assert stats.holm_adjust(p) == pytest.approx(multipletests(p, method="holm")[1], abs=1e-15)
    # Known answer: sorted 0.005*7, max(0.01*6, .), max(0.03*5, .) ...
    assert stats.holm_adjust([0.01, 0.02, 0.03])[0] == pytest.approx(0.03)
    assert stats.holm_adjust([0.01, 0.02, 0.03])[2] == pytest.approx(0.04)


@pytest.mark.parametrize("b,c,n,delta0", [(12, 2, 50, -0.05), (7, 30, 200, -0.1), (40, 20, 160, 0.05)])
def test_tango_restricted_mle_maximises_the_constrained_likelihood(b: int, c: int, n: int, delta0: float) -> None:
    m = n - b - c

    def negloglik(q: float) -> float:
        return -(b * np.log(q + delta0) + c * np.log(q) + m * np.log(1 - 2 * q - delta0))

    lo = max(0.0, -delta0) + 1e-12
    hi = (1 - delta0) / 2 - 1e-12
    numeric = optimize.minimize_scalar(negloglik, bounds=(lo, hi), method="bounded",
                                       options={"xatol": 1e-12}).x
    assert stats.tango_restricted_q(b, c, n, delta0) == pytest.approx(numeric, abs=1e-6)


def test_tango_at_zero_is_mcnemar_z() -> None:
    assert stats.tango_score_z(30, 14, 400, 0.0) == pytest.approx((30 - 14) / np.sqrt(44))


def test_non_inferiority_statuses() -> None:
    good = stats.paired_difference(*outcomes_from_table(600, 60, 40, 300))
    bad = stats.paired_difference(*outcomes_from_table(500, 20, 150, 330))
    unclear = stats.paired_difference(*outcomes_from_table(30, 5, 8, 7))
    assert stats.non_inferiority(good, 0.05).status == "pass"
    assert stats.non_inferiority(bad, 0.05).status == "fail"
    assert stats.non_inferiority(unclear, 0.05).status == "inconclusive"
    # The p-value of H0 "worse by the margin" is small exactly when the lower bound clears it.
    assert stats.non_inferiority(good, 0.05).p_value < 0.025
    assert stats.non_inferiority(unclear, 0.05).p_value > 0.025


def test_minimum_detectable_difference_known_answer_and_power_by_simulation() -> None:
    mde = stats.minimum_detectable_difference(1000, 0.2, confidence=0.95, power=0.8)
    assert mde == pytest.approx((1.959963984540054 + 0.8416212335729143) * np.sqrt(0.2 / 1000), rel=1e-12)
    assert mde == pytest.approx(0.039621, abs=1e-6)
    # At that true difference a two-sided McNemar z test rejects about 80% of the time.
    rng = np.random.default_rng(3)
    probs = [0.6 - 0.1, 0.1 + mde / 2, 0.1 - mde / 2, 0.3]
    cells = rng.multinomial(1000, probs / np.sum(probs), size=20000)
    b, c = cells[:, 1], cells[:, 2]
    z = (b - c) / np.sqrt(np.maximum(b + c, 1))
    assert np.mean(np.abs(z) > 1.959963984540054) == pytest.approx(0.8, abs=0.02)


@pytest.mark.parametrize("q", [0.5, 0.9, 0.95, 0.99])
def test_quantile_interval_matches_scipy_quantile_test(q: float) -> None:
    x = np.random.default_rng(11).lognormal(size=777)
    est = stats.quantile_interval(x, q, 0.95)
    ref = st.quantile_test(x, q=float(np.quantile(x, q)), p=q).confidence_interval(0.95)
    assert (est.ci_low, est.ci_high) == (ref.low, ref.high)
    assert est.value == np.sort(x)[int(np.ceil(q * 777)) - 1]


def test_quantile_interval_has_no_finite_upper_bound_when_n_is_too_small() -> None:
    est = stats.quantile_interval(np.arange(20.0), 0.95, 0.95)
    assert est.ci_high is None and est.ci_low is not None


def test_cost_comparison_point_values() -> None:
    cand = np.array([1, 1, 1, 0], dtype=bool)
    inc = np.array([1, 0, 0, 0], dtype=bool)
    out = stats.cost_comparison(cand, inc, np.full(4, 0.3), np.full(4, 0.1), replicates=200,
                                rng=np.random.default_rng(0))
    assert out.candidate_per_accepted == pytest.approx(1.2 / 3)
    assert out.incumbent_per_accepted == pytest.approx(0.4)
    assert out.ratio == pytest.approx(1.0)


def test_cost_bootstrap_agrees_with_naive_example_resampling() -> None:
    rng = np.random.default_rng(5)
    n = 600
    cand, inc = rng.random(n) < 0.7, rng.random(n) < 0.6
    cand_cost = rng.gamma(2.0, 0.002, n) * (1 + cand)  # accepted answers are longer, so dearer
    inc_cost = rng.gamma(2.0, 0.001, n)
    fast = stats.cost_comparison(cand, inc, cand_cost, inc_cost, replicates=4000,
                                 rng=np.random.default_rng(1))
    idx = np.random.default_rng(2).integers(0, n, size=(4000, n))
    ratio = (cand_cost[idx].sum(1) / cand[idx].sum(1)) / (inc_cost[idx].sum(1) / inc[idx].sum(1))
    naive = np.quantile(ratio, [0.025, 0.975])
    width = naive[1] - naive[0]
    assert abs(fast.ratio_ci[0] - naive[0]) < 0.1 * width
    assert abs(fast.ratio_ci[1] - naive[1]) < 0.1 * width


def test_slice_differences_flag_a_regressing_slice_with_holm() -> None:
    rng = np.random.default_rng(9)
    n = 3000
    channel = rng.choice(["email", "chat", "phone"], n)
    inc = rng.random(n) < 0.7
    cand = inc.copy()
    phone = channel == "phone"
    # On phone the candidate loses 30% of the incumbent's accepted outcomes.
    cand[phone & inc & (rng.random(n) < 0.3)] = False
    rows = stats.slice_differences(cand, inc, {"channel": channel}, margin=0.1, min_cases=20)
    by_value = {r.value: r for r in rows}
    assert by_value["phone"].p_holm < 0.05 and by_value["email"].p_holm == pytest.approx(1.0)
    raw = [r.p_regression for r in rows]
    assert [r.p_holm for r in rows] == pytest.approx(multipletests(raw, method="holm")[1])
    assert by_value["phone"].n == int(phone.sum())


# ---- degenerate intervals (issue 13) -------------------------------------------------------
@pytest.mark.parametrize("quantile, upper, lower", [(0.5, 6, 6), (0.9, 36, 2), (0.95, 72, 2), (0.99, 368, 1)])
def test_quantile_min_cases_is_the_binomial_order_statistic_bound(quantile: float, upper: int, lower: int) -> None:
    """The fewest values with a finite upper (lower) end, by scanning scipy's binomial directly: the
    upper end is the s-th order statistic, s = ppf(1 - alpha/2) + 1, finite once
    P(B <= n - 1) >= 1 - alpha/2; the lower end once P(B = 0) < alpha/2."""
    alpha = 0.05
    scan_upper = next(n for n in range(1, 2000) if st.binom.cdf(n - 1, n, quantile) >= 1 - alpha / 2)
    scan_lower = next(n for n in range(1, 2000) if st.binom.pmf(0, n, quantile) < alpha / 2)
    assert stats.quantile_min_cases(quantile, 0.95) == scan_upper == upper
    assert stats.quantile_min_cases(quantile, 0.95, "lower") == scan_lower == lower
    values = np.arange(1.0, upper + 1)
    assert stats.quantile_interval(values[:-1], quantile, 0.95).ci_high is None
    assert stats.quantile_interval(values, quantile, 0.95).ci_high is not None
    # one-sided at 95% would be 0.95^n <= 0.05: n = 59 for the p95 (the gate's two-sided interval needs 72)
    if quantile == 0.95:
        assert next(n for n in range(1, 200) if 1 - st.binom.cdf(n - 1, n, 0.95) <= 0.05) == 59


def test_bootstrap_percentile_is_numpys_until_an_infinite_replicate_makes_it_unbounded() -> None:
    rng = np.random.default_rng(3)
    sample = rng.gamma(2.0, 1.0, 4000)
    for q in (0.0, 0.025, 0.5, 0.975, 1.0):
        assert stats.bootstrap_percentile(sample, q) == float(np.quantile(sample, q))
    sample[:150] = np.inf  # 3.75% of replicates with no accepted outcome
    assert stats.bootstrap_percentile(sample, 0.975) is None
    assert stats.bootstrap_percentile(sample, 0.025) == float(np.quantile(sample, 0.025))
    edge = np.array([1.0, 2.0, 3.0, np.inf, np.inf])  # q = 0.5 lands exactly on 3.0, next to inf
    assert stats.bootstrap_percentile(edge, 0.5) == 3.0
    assert stats.bootstrap_percentile(edge, 0.6) is None
    assert stats.bootstrap_percentile(-edge, 0.4) is None  # -inf: the lower end is unbounded


def test_cost_ratio_interval_is_unbounded_not_the_largest_float() -> None:
    """1 accepted outcome of 40 on the candidate side: in over 2.5% of the replicates it has none."""
    cand = np.zeros(40, dtype=bool)
    cand[3] = True
    inc = np.zeros(40, dtype=bool)
    inc[[3, 11]] = True
    result = stats.cost_comparison(cand, inc, np.full(40, 2e-4), np.full(40, 2e-4),
                                   rng=np.random.default_rng(0))
    assert result.ratio == pytest.approx(2.0)
    assert result.ratio_ci[0] is not None and result.ratio_ci[1] is None
    assert result.candidate_per_accepted_ci[1] is None
