"""Paired statistics for the gate: numpy-vectorised, seeded, no normal approximation for the
paired interval.

Candidate and incumbent answer the same examples, so acceptance is compared as a paired 2x2
table (both, candidate only, incumbent only, neither). Everything here reduces the inputs to that
table (or to a few per-cell sums) first, so the cost after one O(n) pass does not grow with n.

References
- Newcombe RG (1998). Improved confidence intervals for the difference between binomial
  proportions based on paired data. Statistics in Medicine 17:2635-2650 (method 10).
- Tango T (1998). Equivalence test and confidence interval for the difference in proportions
  for the paired-sample design. Statistics in Medicine 17:891-908 (score test, restricted MLE).
- Wilson EB (1927); Holm S (1979); order-statistic quantile intervals (e.g. Conover 1999, 3.2).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

ArrayLike = Sequence[bool] | np.ndarray


def _z(confidence: float) -> float:
    """The two-sided normal quantile (1.96 at 0.95): the one copy every statistics module uses."""
    from scipy import stats as _st  # scipy loads on the first statistic, not with every CLI command

    return float(_st.norm.ppf(1.0 - (1.0 - confidence) / 2.0))


# --------------------------------------------------------------------------- single rates
def wilson_interval(successes: int | np.ndarray, n: int | np.ndarray,
                    confidence: float = 0.95) -> tuple[Any, Any]:
    """Wilson score interval for a binomial rate (vectorised over arrays of counts)."""
    x = np.asarray(successes, dtype=float)
    nn = np.asarray(n, dtype=float)
    z = _z(confidence)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = x / nn
        denom = 1.0 + z * z / nn
        centre = (p + z * z / (2 * nn)) / denom
        half = z * np.sqrt(p * (1 - p) / nn + z * z / (4 * nn * nn)) / denom
    low = np.where(nn > 0, np.clip(centre - half, 0.0, 1.0), 0.0)
    high = np.where(nn > 0, np.clip(centre + half, 0.0, 1.0), 1.0)
    if low.ndim == 0:
        return float(low), float(high)
    return low, high


# --------------------------------------------------------------------------- paired table
@dataclass(frozen=True)
class PairedTable:
    """Counts of the paired 2x2 table: both accepted, candidate only, incumbent only, neither."""

    both: int
    candidate_only: int
    incumbent_only: int
    neither: int

    @property
    def n(self) -> int:
        return self.both + self.candidate_only + self.incumbent_only + self.neither

    @classmethod
    def from_outcomes(cls, candidate: ArrayLike, incumbent: ArrayLike) -> PairedTable:
        cand = np.asarray(candidate, dtype=bool)
        inc = np.asarray(incumbent, dtype=bool)
        if cand.shape != inc.shape or cand.ndim != 1:
            raise ValueError(f"paired outcomes must be equal-length 1-d sequences, got "
                             f"{cand.shape} and {inc.shape}")
        # One bincount over a 2-bit code: a single pass, no Python loop.
        counts = np.bincount(cand.astype(np.int8) * 2 + inc.astype(np.int8), minlength=4)
        return cls(both=int(counts[3]), candidate_only=int(counts[2]),
                   incumbent_only=int(counts[1]), neither=int(counts[0]))


@dataclass(frozen=True)
class PairedDifference:
    n: int
    candidate_rate: float
    incumbent_rate: float
    difference: float  # candidate minus incumbent
    ci_low: float
    ci_high: float
    candidate_only: int
    incumbent_only: int
    mcnemar_p: float  # exact (binomial on discordant pairs), two-sided
    confidence: float
    both: int = 0
    neither: int = 0
    method: str = "newcombe-1998-method-10"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def newcombe_paired_interval(table: PairedTable, confidence: float = 0.95) -> tuple[float, float]:
    """Newcombe's (1998) method 10: Wilson intervals of both marginal rates, combined by
    square-and-add with the paired correlation. The correlation uses Newcombe's correction
    (phi* = max(ad - bc - n/2, 0)/sqrt(...) when ad > bc), as in Fagerland et al.'s
    `contingencytables` and Newcombe's own description."""
    low, high = newcombe_paired_intervals(table.both, table.candidate_only, table.incumbent_only,
                                          table.neither, confidence)
    return float(low), float(high)


def newcombe_paired_intervals(both: Any, candidate_only: Any, incumbent_only: Any, neither: Any,
                              confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """`newcombe_paired_interval` vectorised over arrays of 2x2 tables (simulations, slices)."""
    a, b, c, d = (np.asarray(v, dtype=float) for v in (both, candidate_only, incumbent_only, neither))
    n = a + b + c + d
    safe_n = np.where(n > 0, n, 1.0)
    p1, p2 = (a + b) / safe_n, (a + c) / safe_n
    l1, u1 = wilson_interval(a + b, safe_n, confidence)
    l2, u2 = wilson_interval(a + c, safe_n, confidence)
    margins = (a + b) * (c + d) * (a + c) * (b + d)
    cross = a * d - b * c
    cross = np.where(cross > n / 2, cross - n / 2, np.where(cross >= 0, 0.0, cross))
    with np.errstate(invalid="ignore", divide="ignore"):
        phi = np.where(margins > 0, cross / np.sqrt(np.where(margins > 0, margins, 1.0)), 0.0)
    diff = p1 - p2
    lower = diff - np.sqrt(np.maximum((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2, 0.0))
    upper = diff + np.sqrt(np.maximum((p2 - l2) ** 2 - 2 * phi * (p2 - l2) * (u1 - p1) + (u1 - p1) ** 2, 0.0))
    lower = np.where(n > 0, np.maximum(lower, -1.0), -1.0)
    upper = np.where(n > 0, np.minimum(upper, 1.0), 1.0)
    return lower, upper


def mcnemar_exact_p(candidate_only: int, incumbent_only: int) -> float:
    """Exact two-sided McNemar: binomial(b + c, 1/2) on the discordant pairs."""
    from scipy import stats as _st
    m = candidate_only + incumbent_only
    if m == 0:
        return 1.0
    return float(min(1.0, 2.0 * _st.binom.cdf(min(candidate_only, incumbent_only), m, 0.5)))


def paired_difference(candidate: ArrayLike, incumbent: ArrayLike,
                      confidence: float = 0.95) -> PairedDifference:
    """Paired acceptance difference (candidate minus incumbent) with Newcombe's interval."""
    return paired_difference_from_table(PairedTable.from_outcomes(candidate, incumbent), confidence)


def paired_difference_from_table(table: PairedTable, confidence: float = 0.95) -> PairedDifference:
    n = table.n
    low, high = newcombe_paired_interval(table, confidence)
    cand_rate = (table.both + table.candidate_only) / n if n else 0.0
    inc_rate = (table.both + table.incumbent_only) / n if n else 0.0
    return PairedDifference(
        n=n, candidate_rate=cand_rate, incumbent_rate=inc_rate, difference=cand_rate - inc_rate,
        ci_low=low, ci_high=high, candidate_only=table.candidate_only,
        incumbent_only=table.incumbent_only,
        mcnemar_p=mcnemar_exact_p(table.candidate_only, table.incumbent_only),
        confidence=confidence, both=table.both, neither=table.neither)


# --------------------------------------------------------------------------- non-inferiority
@dataclass(frozen=True)
class NonInferiority:
    status: str  # "pass" (lower bound above -margin), "fail" (upper bound below), "inconclusive"
    margin: float
    ci_low: float
    ci_high: float
    p_value: float  # one-sided Tango score test of H0: difference <= -margin


def non_inferiority(diff: PairedDifference, margin: float) -> NonInferiority:
    """Non-inferior when the interval's lower bound is above -margin; inferior when even its
    upper bound is below -margin; otherwise the data cannot decide."""
    from scipy import stats as _st
    if diff.ci_low > -margin:
        status = "pass"
    elif diff.ci_high < -margin:
        status = "fail"
    else:
        status = "inconclusive"
    z = tango_score_z(diff.candidate_only, diff.incumbent_only, diff.n, -margin)
    return NonInferiority(status, margin, diff.ci_low, diff.ci_high, float(_st.norm.sf(z)))


def tango_restricted_q(candidate_only: int, incumbent_only: int, n: int, delta0: float) -> float:
    """Restricted MLE of P(incumbent only) under H0: difference = delta0 (Tango 1998, closed form
    root of 2n q^2 + B q + C = 0)."""
    b, c = candidate_only, incumbent_only
    big_a = 2.0 * n
    big_b = -b - c + (2.0 * n - b + c) * delta0
    big_c = -c * delta0 * (1.0 - delta0)
    disc = max(big_b * big_b - 4.0 * big_a * big_c, 0.0)
    return (np.sqrt(disc) - big_b) / (2.0 * big_a)


def tango_score_z(candidate_only: int, incumbent_only: int, n: int, delta0: float) -> float:
    """Tango's score statistic for H0: difference = delta0 (McNemar's z at delta0 = 0)."""
    if n == 0:
        return 0.0
    q = tango_restricted_q(candidate_only, incumbent_only, n, delta0)
    var = n * (2.0 * q + delta0 * (1.0 - delta0))
    if var <= 0:
        return 0.0
    return float((candidate_only - incumbent_only - n * delta0) / np.sqrt(var))


# --------------------------------------------------------------------------- multiplicity
def holm_adjust(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error control, any dependence)."""
    p = np.asarray(p_values, dtype=float)
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p, kind="stable")
    stepped = (m - np.arange(m)) * p[order]
    adjusted_sorted = np.minimum(np.maximum.accumulate(stepped), 1.0)
    out = np.empty(m)
    out[order] = adjusted_sorted
    return out


def _factorize_sorted(values: Any) -> tuple[list[str], np.ndarray]:
    """Distinct values (as text, sorted) and each row's code: hash-based, so 1M strings are fast."""
    import pandas as pd

    codes, uniques = pd.factorize(pd.Series(values).astype("string").fillna("<missing>"), sort=True)
    return [str(u) for u in uniques], codes


@dataclass(frozen=True)
class SliceDifference:
    field: str
    value: str
    n: int
    candidate_rate: float
    incumbent_rate: float
    difference: float
    ci_low: float
    ci_high: float
    mcnemar_p: float
    p_regression: float  # one-sided: H0 difference >= -margin vs H1 difference < -margin
    p_holm: float  # Holm-adjusted p_regression across the tested slices
    tested: bool  # False when the slice has fewer than min_cases


def slice_differences(candidate: np.ndarray, incumbent: np.ndarray, slice_columns: dict[str, Any],
                      *, margin: float, min_cases: int = 20,
                      confidence: float = 0.95) -> list[SliceDifference]:
    """Paired difference per slice value; Holm adjusts the regression p-values over every tested
    slice of every field (one family: the guard fails if any slice regresses)."""
    from scipy import stats as _st
    cand = np.asarray(candidate, dtype=bool)
    inc = np.asarray(incumbent, dtype=bool)
    code = cand.astype(np.int64) * 2 + inc.astype(np.int64)
    rows: list[dict[str, Any]] = []
    for field in sorted(slice_columns):
        values, inverse = _factorize_sorted(slice_columns[field])
        # One bincount gives all 2x2 tables of this field at once.
        counts = np.bincount(inverse * 4 + code, minlength=4 * len(values)).reshape(-1, 4)
        for value, cell in zip(values, counts):
            table = PairedTable(both=int(cell[3]), candidate_only=int(cell[2]),
                                incumbent_only=int(cell[1]), neither=int(cell[0]))
            diff = paired_difference_from_table(table, confidence)
            z = tango_score_z(table.candidate_only, table.incumbent_only, table.n, -margin)
            rows.append(dict(field=field, value=str(value), n=table.n,
                             candidate_rate=diff.candidate_rate, incumbent_rate=diff.incumbent_rate,
                             difference=diff.difference, ci_low=diff.ci_low, ci_high=diff.ci_high,
                             mcnemar_p=diff.mcnemar_p, p_regression=float(_st.norm.cdf(z)),
                             tested=table.n >= min_cases))
    tested = [i for i, r in enumerate(rows) if r["tested"]]
    adjusted = holm_adjust([rows[i]["p_regression"] for i in tested])
    for i, r in enumerate(rows):
        r["p_holm"] = 1.0
    for i, adj in zip(tested, adjusted):
        rows[i]["p_holm"] = float(adj)
    return [SliceDifference(**r) for r in rows]


# --------------------------------------------------------------------------- power
def minimum_detectable_difference(n: int, discordant_rate: float, *, confidence: float = 0.95,
                                  power: float = 0.8) -> float:
    """Smallest paired difference a two-sided McNemar-type test at this confidence detects with
    the given power, for n pairs with this discordant-pair rate (Connor 1987 with the difference
    small against the discordance). The rate is floored at 1/n so a no-disagreement run still
    reports a finite resolution."""
    from scipy import stats as _st
    if n <= 0:
        return float("inf")
    psi = max(float(discordant_rate), 1.0 / n)
    return float((_z(confidence) + _st.norm.ppf(power)) * np.sqrt(psi / n))


# --------------------------------------------------------------------------- latency
@dataclass(frozen=True)
class QuantileEstimate:
    quantile: float
    value: float | None
    ci_low: float | None
    ci_high: float | None
    n: int


def _quantile_ranks(n: int, quantile: float, confidence: float) -> tuple[int, int]:
    """1-based ranks r <= s with P(r <= B <= s-1) >= confidence, B ~ Binomial(n, q). r = 0 means
    no finite lower bound at this n, s > n no finite upper bound."""
    from scipy import stats as _st
    alpha = 1.0 - confidence
    return (int(_st.binom.ppf(alpha / 2, n, quantile)), int(_st.binom.ppf(1 - alpha / 2, n, quantile)) + 1)


def quantile_min_cases(quantile: float, confidence: float = 0.95, end: str = "upper") -> int:
    """The fewest values for which `quantile_interval` has a finite `end` ("upper" or "lower").

    The upper bound is the s-th order statistic and exists once s <= n, i.e. once
    P(B <= n - 1) = 1 - q^n reaches 1 - alpha/2: n >= log(alpha/2) / log(q). The lower bound needs
    r >= 1, i.e. (1 - q)^n < alpha/2. Below that n no distribution-free bound exists at all (p95 at
    95%: 72 values for the two-sided interval the gate uses; a one-sided bound would need 59).
    The closed form is then checked against the ranks themselves (floating point at the edge)."""
    alpha = 1.0 - confidence
    base = quantile if end == "upper" else 1.0 - quantile
    n = max(1, math.ceil(math.log(alpha / 2) / math.log(base)))

    def finite(m: int) -> bool:
        r, s = _quantile_ranks(m, quantile, confidence)
        return s <= m if end == "upper" else r >= 1

    while n > 1 and finite(n - 1):
        n -= 1
    while not finite(n):
        n += 1
    return n


def quantile_interval(values: np.ndarray, quantile: float, confidence: float = 0.95) -> QuantileEstimate:
    """Distribution-free interval for a quantile from order statistics: ranks from the
    Binomial(n, q) distribution (the same construction as scipy's `quantile_test`). O(n) via
    `np.partition`, so 1M latencies cost a few milliseconds."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    n = x.size
    if n == 0:
        return QuantileEstimate(quantile, None, None, None, 0)
    r, s = _quantile_ranks(n, quantile, confidence)
    point = int(np.ceil(quantile * n))  # inverted-CDF point estimate, 1-based
    ranks = sorted({max(r, 1), min(s, n), min(max(point, 1), n)})
    part = np.partition(x, [k - 1 for k in ranks])
    low = float(part[r - 1]) if r >= 1 else None  # r = 0: no finite lower bound at this n
    high = float(part[s - 1]) if s <= n else None  # s > n: no finite upper bound at this n
    return QuantileEstimate(quantile, float(part[min(max(point, 1), n) - 1]), low, high, n)


# --------------------------------------------------------------------------- cost
def bootstrap_percentile(sample: np.ndarray, q: float) -> float | None:
    """np.quantile's (linear) percentile of a bootstrap sample that may hold +-inf (a replicate
    with no accepted outcome), or None when the percentile falls on or next to an infinite value:
    that end of the interval is unbounded. (np.quantile itself gives inf or nan there, and
    np.nan_to_num would turn inf into 1.8e308.)"""
    ordered = np.sort(np.asarray(sample, dtype=float))
    h = (ordered.size - 1) * q
    i = int(np.floor(h))
    a, b = ordered[i], ordered[min(i + 1, ordered.size - 1)]
    if not np.isfinite(a) or (h > i and not np.isfinite(b)):
        return None
    with np.errstate(invalid="ignore"):  # inf - inf beyond the neighbours used
        value = float(np.quantile(ordered, q))
    return value if np.isfinite(value) else float(a)  # h == i next to an inf: numpy gives nan


@dataclass(frozen=True)
class CostComparison:
    candidate_cost_usd: float
    incumbent_cost_usd: float
    candidate_accepted: int
    incumbent_accepted: int
    candidate_per_accepted: float | None
    incumbent_per_accepted: float | None
    candidate_per_accepted_ci: tuple[float | None, float | None]
    ratio: float | None  # candidate per accepted / incumbent per accepted
    ratio_ci: tuple[float | None, float | None]
    replicates: int
    method: str = "cell-multinomial bootstrap, normal within-cell cost sums"


def cost_comparison(candidate_accepted: np.ndarray, incumbent_accepted: np.ndarray,
                    candidate_cost: np.ndarray, incumbent_cost: np.ndarray, *,
                    confidence: float = 0.95, replicates: int = 4000,
                    rng: np.random.Generator | None = None) -> CostComparison:
    """Cost per accepted outcome for each model and their ratio, with bootstrap intervals.

    Why not resample examples: at 1M examples that is 1M x B draws. Instead the examples are
    split into the four cells of the paired acceptance table. A replicate draws the four cell
    counts from a multinomial (exact for the accepted counts, which only depend on the cells),
    then each cell's (candidate, incumbent) cost total given its count k from a bivariate normal
    with mean k*mean and covariance k*cov of that cell's per-example costs: the exact first two
    moments of a sum of k resampled examples, and the CLT for its shape. Cost is O(n) once for
    the per-cell sums, then O(B). `tests/evals/test_stats.py` checks it against a naive
    example-resampling bootstrap."""
    rng = rng or np.random.default_rng(0)
    cand = np.asarray(candidate_accepted, dtype=bool)
    inc = np.asarray(incumbent_accepted, dtype=bool)
    cc = np.asarray(candidate_cost, dtype=float)
    ic = np.asarray(incumbent_cost, dtype=float)
    if np.isnan(cc).any() or np.isnan(ic).any():  # a missing cost counts as zero
        cc, ic = np.nan_to_num(cc), np.nan_to_num(ic)
    n = cand.size
    cell = cand.astype(np.int64) * 2 + inc.astype(np.int64)  # 0 neither, 1 inc, 2 cand, 3 both
    counts = np.bincount(cell, minlength=4).astype(float)
    sums_c = np.bincount(cell, weights=cc, minlength=4)
    sums_i = np.bincount(cell, weights=ic, minlength=4)
    sq_c = np.bincount(cell, weights=cc * cc, minlength=4)
    sq_i = np.bincount(cell, weights=ic * ic, minlength=4)
    cross = np.bincount(cell, weights=cc * ic, minlength=4)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_c = np.where(counts > 0, sums_c / counts, 0.0)
        mean_i = np.where(counts > 0, sums_i / counts, 0.0)
        var_c = np.where(counts > 0, sq_c / counts - mean_c ** 2, 0.0).clip(min=0.0)
        var_i = np.where(counts > 0, sq_i / counts - mean_i ** 2, 0.0).clip(min=0.0)
        cov = np.where(counts > 0, cross / counts - mean_c * mean_i, 0.0)
    total_c, total_i = float(cc.sum()), float(ic.sum())
    acc_c, acc_i = int(cand.sum()), int(inc.sum())

    def per(total: float, accepted: int) -> float | None:
        return total / accepted if accepted > 0 else None

    cpa_c, cpa_i = per(total_c, acc_c), per(total_i, acc_i)
    ratio = cpa_c / cpa_i if cpa_c is not None and cpa_i else None
    if n == 0:
        return CostComparison(total_c, total_i, acc_c, acc_i, cpa_c, cpa_i, (None, None), ratio,
                              (None, None), 0)

    k = rng.multinomial(n, counts / n, size=replicates).astype(float)  # (B, 4)
    # Correlated normal within each cell via a 2x2 Cholesky-like construction.
    z1 = rng.standard_normal((replicates, 4))
    z2 = rng.standard_normal((replicates, 4))
    sd_c = np.sqrt(var_c)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.where((sd_c > 0) & (var_i > 0), cov / (sd_c * np.sqrt(var_i)), 0.0).clip(-1, 1)
    sd_i = np.sqrt(var_i)
    root_k = np.sqrt(k)
    boot_c = (k * mean_c + root_k * sd_c * z1).sum(axis=1).clip(min=0.0)
    boot_i = (k * mean_i + root_k * sd_i * (rho * z1 + np.sqrt(1 - rho ** 2) * z2)).sum(axis=1).clip(min=0.0)
    boot_acc_c = k[:, 2] + k[:, 3]
    boot_acc_i = k[:, 1] + k[:, 3]
    alpha = 1.0 - confidence
    with np.errstate(invalid="ignore", divide="ignore"):
        cpa_c_boot = np.where(boot_acc_c > 0, boot_c / boot_acc_c, np.inf)
        cpa_i_boot = np.where(boot_acc_i > 0, boot_i / boot_acc_i, np.inf)
        ratio_boot = cpa_c_boot / cpa_i_boot

    def pct(sample: np.ndarray) -> tuple[float | None, float | None]:
        return (bootstrap_percentile(sample, alpha / 2), bootstrap_percentile(sample, 1 - alpha / 2))

    # a replicate with no accepted outcome on either side has no ratio (0/0 or inf/inf): unbounded
    ratio_ci = pct(np.where(np.isnan(ratio_boot), np.inf, ratio_boot)) if ratio is not None else (None, None)
    cpa_ci = pct(cpa_c_boot) if cpa_c is not None else (None, None)
    return CostComparison(total_c, total_i, acc_c, acc_i, cpa_c, cpa_i, cpa_ci, ratio, ratio_ci,
                          replicates)


__all__ = [
    "CostComparison",
    "NonInferiority",
    "PairedDifference",
    "PairedTable",
    "QuantileEstimate",
    "SliceDifference",
    "bootstrap_percentile",
    "cost_comparison",
    "holm_adjust",
    "mcnemar_exact_p",
    "minimum_detectable_difference",
    "newcombe_paired_interval",
    "newcombe_paired_intervals",
    "non_inferiority",
    "paired_difference",
    "paired_difference_from_table",
    "quantile_interval",
    "quantile_min_cases",
    "slice_differences",
    "tango_restricted_q",
    "tango_score_z",
    "wilson_interval",
]
