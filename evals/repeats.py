"""Repeated generations per case: cases are the unit, repeats are nested in them.

With `sampling.repeats: k` each case is generated k times (distinct seeds), so a model's outcome
on a case is a rate c_i / k, not a single accept/reject. The comparison stays paired (both models
answer the same cases) and works on the per-case rates:

- `RepeatSummary`: mean acceptance, pass@k (at least one of the k accepted), pass^k (all k
  accepted), their unbiased estimators for j <= k (Chen et al. 2021 for pass@j; Yao et al. 2024,
  tau-bench, for pass^j), and the share of cases whose outcome varies across repeats.
- `clustered_paired_intervals`: the paired difference of mean per-case rates. Newcombe's (1998)
  method 10 (the gate's interval) with each marginal's Wilson interval taken at the Rao-Scott
  effective size n_eff = n p(1-p) / s^2 (s^2 the between-case variance of the per-case rates,
  so a repeat adds information only as far as it varies within its case) and the correlation of
  the per-case rates in place of the 2x2 phi (with Newcombe's n/2 correction). With k = 1 it is
  exactly `stats.newcombe_paired_intervals`; bench/coverage.py shows its coverage for k = 1, 3, 5
  and within-case variation from none to large, beside the naive interval that treats the n*k
  generations as independent pairs.
- `decision_stability`: the probability that a rerun with new seeds on the same cases gives
  another non-inferiority status, from an empirical-Bayes posterior predictive of each case's
  repeats (bench/coverage.py compares it with simulated reruns).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .stats import _z


def accepted_counts(accepted: Any) -> tuple[np.ndarray, int]:
    """(per-case accepted counts, k) from an (n cases, k repeats) boolean matrix."""
    matrix = np.asarray(accepted, dtype=bool)
    if matrix.ndim == 1:
        matrix = matrix[:, None]
    if matrix.ndim != 2 or matrix.shape[1] < 1:
        raise ValueError(f"accepted outcomes must be an (n cases, k repeats) matrix, got {matrix.shape}")
    return matrix.sum(axis=1).astype(np.int64), int(matrix.shape[1])


def pass_at(counts: Any, k: int, j: int) -> float:
    """Unbiased pass@j from c of k accepted per case: mean of 1 - C(k-c, j) / C(k, j)."""
    from scipy import special as _sp
    c = np.asarray(counts, dtype=float)
    if not 1 <= j <= k:
        raise ValueError(f"j must be in 1..k={k}, got {j}")
    if c.size == 0:
        return 0.0
    return float(np.mean(1.0 - _sp.comb(k - c, j) / _sp.comb(k, j)))


def pass_hat(counts: Any, k: int, j: int) -> float:
    """Unbiased pass^j (all j accepted) from c of k accepted per case: mean of C(c, j) / C(k, j)."""
    from scipy import special as _sp
    c = np.asarray(counts, dtype=float)
    if not 1 <= j <= k:
        raise ValueError(f"j must be in 1..k={k}, got {j}")
    if c.size == 0:
        return 0.0
    return float(np.mean(_sp.comb(c, j) / _sp.comb(k, j)))


@dataclass(frozen=True)
class RepeatSummary:
    cases: int
    repeats: int
    acceptance_rate: float  # mean per-case rate
    pass_at_k: float  # share of cases with at least one of the k accepted
    pass_hat_k: float  # share of cases with all k accepted
    varying_share: float  # share of cases accepted on some repeats and rejected on others
    within_case_share: float | None  # share of the outcome variance that lies within cases

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def repeat_summary(accepted: Any) -> RepeatSummary:
    """Per-case pass rates of one model from its (n cases, k repeats) accepted matrix."""
    counts, k = accepted_counts(accepted)
    n = counts.size
    if n == 0:
        return RepeatSummary(0, k, 0.0, 0.0, 0.0, 0.0, None)
    rate = float(counts.mean() / k)
    varying = float(np.mean((counts > 0) & (counts < k)))
    within: float | None = None
    if k >= 2 and 0.0 < rate < 1.0:
        # Unbiased within-case variance: c (k - c) / (k (k - 1)) estimates q (1 - q) per case.
        within = float(np.mean(counts * (k - counts) / (k * (k - 1.0))) / (rate * (1.0 - rate)))
    return RepeatSummary(n, k, rate, pass_at(counts, k, k), pass_hat(counts, k, k), varying, within)


def _wilson(x: np.ndarray, n: np.ndarray, z: float) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(invalid="ignore", divide="ignore"):
        p = x / n
        denom = 1.0 + z * z / n
        centre = (p + z * z / (2 * n)) / denom
        half = z * np.sqrt(np.maximum(p * (1 - p), 0.0) / n + z * z / (4 * n * n)) / denom
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)


def clustered_paired_intervals(candidate_rates: Any, incumbent_rates: Any, repeats: int,
                               confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Interval for mean(candidate rate - incumbent rate) over cases, vectorised over leading axes
    (the last axis is the cases). See the module doc; equals Newcombe's method 10 when k = 1."""
    y1 = np.asarray(candidate_rates, dtype=float)
    y2 = np.asarray(incumbent_rates, dtype=float)
    if y1.shape != y2.shape or y1.ndim < 1:
        raise ValueError(f"paired rates must have equal shapes, got {y1.shape} and {y2.shape}")
    n = y1.shape[-1]
    lead = y1.shape[:-1]
    if n == 0:
        return np.full(lead, -1.0), np.full(lead, 1.0)
    z = _z(confidence)
    p1, p2 = y1.mean(axis=-1), y2.mean(axis=-1)
    e1, e2 = y1 - p1[..., None], y2 - p2[..., None]
    v1, v2 = (e1 * e1).mean(axis=-1), (e2 * e2).mean(axis=-1)
    cov = (e1 * e2).mean(axis=-1)

    def effective(p: np.ndarray, v: np.ndarray) -> np.ndarray:
        binomial = p * (1.0 - p)
        with np.errstate(invalid="ignore", divide="ignore"):
            eff = np.where(v > 0, n * binomial / np.where(v > 0, v, 1.0), float(n * repeats))
        # Never more information than the n*k generations, never less than a case's worth.
        return np.clip(np.where(binomial > 0, eff, float(n)), 1.0, float(n * repeats))

    n1, n2 = effective(p1, v1), effective(p2, v2)
    l1, u1 = _wilson(p1 * n1, n1, z)
    l2, u2 = _wilson(p2 * n2, n2, z)
    half = 1.0 / (2.0 * n)  # Newcombe's correction of ad - bc by n/2, on the covariance scale
    cross = np.where(cov > half, cov - half, np.where(cov >= 0, 0.0, cov))
    scale = np.sqrt(v1 * v2)
    with np.errstate(invalid="ignore", divide="ignore"):
        phi = np.where(scale > 0, cross / np.where(scale > 0, scale, 1.0), 0.0)
    diff = p1 - p2
    lower = diff - np.sqrt(np.maximum((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2, 0.0))
    upper = diff + np.sqrt(np.maximum((p2 - l2) ** 2 - 2 * phi * (p2 - l2) * (u1 - p1) + (u1 - p1) ** 2, 0.0))
    return np.maximum(lower, -1.0), np.minimum(upper, 1.0)


@dataclass(frozen=True)
class ClusteredDifference:
    cases: int
    repeats: int
    candidate_rate: float
    incumbent_rate: float
    difference: float
    ci_low: float
    ci_high: float
    confidence: float
    varying_cases: int  # cases whose outcome varies across repeats, either model
    method: str = "newcombe-1998-method-10 on per-case rates, Rao-Scott effective sizes"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def clustered_paired_difference(candidate: Any, incumbent: Any, confidence: float = 0.95) -> ClusteredDifference:
    """The paired difference from two (n cases, k repeats) accepted matrices (same cases, rows
    in the same order)."""
    cand_counts, k = accepted_counts(candidate)
    inc_counts, k_inc = accepted_counts(incumbent)
    if k != k_inc or cand_counts.size != inc_counts.size:
        raise ValueError("candidate and incumbent need the same cases and the same number of repeats")
    y1, y2 = cand_counts / k, inc_counts / k
    low, high = clustered_paired_intervals(y1, y2, k, confidence)
    n = y1.size
    varying = int(np.sum(((cand_counts > 0) & (cand_counts < k)) | ((inc_counts > 0) & (inc_counts < k))))
    p1 = float(y1.mean()) if n else 0.0
    p2 = float(y2.mean()) if n else 0.0
    return ClusteredDifference(n, k, p1, p2, p1 - p2, float(low), float(high), confidence, varying)


def ni_status(low: Any, high: Any, margin: float) -> np.ndarray:
    """+1 pass (lower bound above -margin), -1 fail (upper bound below), 0 inconclusive."""
    low, high = np.asarray(low), np.asarray(high)
    return np.where(low > -margin, 1, np.where(high < -margin, -1, 0))


_STATUS = {1: "pass", -1: "fail", 0: "inconclusive"}


@dataclass(frozen=True)
class Stability:
    status: str  # the observed non-inferiority status
    flip_probability: float | None  # P(a rerun with new seeds gives another status)
    replicates: int
    repeats: int
    method: str
    note: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _posterior_predictive(counts: np.ndarray, k: int, replicates: int, rng: np.random.Generator) -> np.ndarray:
    """k new repeats per case from its empirical-Bayes posterior: a Beta prior fitted to all cases
    (mean rate, and concentration from the unbiased within-case share w: s = w / (1 - w)), updated
    with the case's c of k. A case seen 3/3 among cases that mostly vary is not treated as certain;
    among cases that never vary it stays near-certain."""
    n = counts.size
    mean = float(counts.mean()) / k
    within = float(np.mean(counts * (k - counts) / (k * (k - 1.0)))) / max(mean * (1 - mean), 1e-12)
    within = min(max(within, 1e-3), 0.999)
    conc = within / (1 - within)
    a, b = max(mean * conc, 1e-3), max((1 - mean) * conc, 1e-3)
    q = rng.beta(a + counts, b + k - counts, size=(replicates, n))
    return rng.binomial(k, q)


def decision_stability(candidate: Any, incumbent: Any, *, margin: float, confidence: float = 0.95,
                       replicates: int = 1000, rng: np.random.Generator | None = None) -> Stability:
    """Estimated probability that rerunning the same cases with new seeds changes the
    non-inferiority status: each replicate draws k new repeats per case and model from the case's
    empirical-Bayes posterior predictive (`_posterior_predictive`) and recomputes the clustered
    interval. bench/coverage.py measures it against simulated reruns from known rates: it tends
    to understate the flip rate near the margin. With k = 1 nothing is known about within-case
    variation and no estimate is given."""
    rng = rng or np.random.default_rng(0)
    cand_counts, k = accepted_counts(candidate)
    inc_counts, _ = accepted_counts(incumbent)
    low, high = clustered_paired_intervals(cand_counts / k, inc_counts / k, k, confidence)
    observed = int(ni_status(low, high, margin))
    method = "empirical-Bayes posterior predictive of k new repeats per case (beta-binomial)"
    if k < 2:
        return Stability(_STATUS[observed], None, 0, k, method,
                         "one generation per case: within-case variation is unknown (set sampling.repeats >= 2)")
    n = cand_counts.size
    flips = 0
    chunk = max(1, min(replicates, 2_000_000 // max(n, 1)))
    done = 0
    while done < replicates:
        b = min(chunk, replicates - done)
        c1 = _posterior_predictive(cand_counts, k, b, rng)
        c2 = _posterior_predictive(inc_counts, k, b, rng)
        lo, hi = clustered_paired_intervals(c1 / k, c2 / k, k, confidence)
        flips += int(np.sum(ni_status(lo, hi, margin) != observed))
        done += b
    return Stability(_STATUS[observed], flips / replicates, replicates, k, method,
                     "same cases, new seeds; measured to understate the flip rate near the margin "
                     "(bench/RESULTS.md)")


def clustered_rate_interval(rates: Any, repeats: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson interval of a mean per-case rate at the Rao-Scott effective size (Wilson at k = 1)."""
    y = np.asarray(rates, dtype=float)
    n = y.size
    if n == 0:
        return 0.0, 1.0
    p = float(y.mean())
    v = float(((y - p) ** 2).mean())
    binomial = p * (1 - p)
    eff = n * binomial / v if v > 0 and binomial > 0 else float(n * repeats if binomial > 0 else n)
    eff = min(max(eff, 1.0), float(n * repeats))
    low, high = _wilson(np.array(p * eff), np.array(eff), _z(confidence))
    return float(low), float(high)


REPEAT_COLUMN = "repeat"


def split_repeats(records: Any) -> list[Any]:
    """A records frame with a `repeat` column as one frame per repeat (0, 1, ...), each in the
    frame's order; a frame without the column is one repeat."""
    if REPEAT_COLUMN not in records.columns:
        return [records]
    values = records[REPEAT_COLUMN].astype("int64")
    found = sorted(set(values.tolist()))
    if found != list(range(len(found))):
        raise ValueError(f"repeat numbers must be 0..k-1, found {found[:10]}")
    return [records[values.to_numpy() == j].reset_index(drop=True) for j in found]


__all__ = [
    "REPEAT_COLUMN",
    "ClusteredDifference",
    "RepeatSummary",
    "Stability",
    "accepted_counts",
    "clustered_paired_difference",
    "clustered_paired_intervals",
    "clustered_rate_interval",
    "decision_stability",
    "ni_status",
    "pass_at",
    "pass_hat",
    "repeat_summary",
    "split_repeats",
]
