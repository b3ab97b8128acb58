"""Judge error in the gate: sensitivity and specificity from human labels, and acceptance rates
and the paired difference corrected for the judge's misclassification.

A judge that accepts a truly acceptable output with probability Se (sensitivity) and rejects a
truly unacceptable one with probability Sp (specificity), the same for both models
(non-differential error), turns a true acceptance rate p into p_obs = Sp' + J p, with
J = Se + Sp - 1 (Youden's index) and Sp' = 1 - Sp. So (Rogan & Gladen 1978)

    p = (p_obs + Sp - 1) / J,      and for the paired difference   delta = delta_obs / J:

a noisy judge shrinks every difference towards zero, and an uncorrected gate can PASS a candidate
that is truly worse than the margin. Both corrected quantities are ratios of two independent,
asymptotically normal estimates (the evaluation cases give the numerator, the calibration cases
J), so their interval is Fieller's (1954): the set of theta with
(a - theta b)^2 <= z^2 (Var a - 2 theta Cov(a, b) + theta^2 Var b). It carries the calibration's
uncertainty and is unbounded when J is not clearly above zero (the judge cannot be corrected from
this calibration set). Se and Sp variances use Agresti-Coull's adjusted proportions (so a
calibration with no judge errors still has uncertainty); the point estimates are the raw ones.
bench/coverage.py shows coverage for Se, Sp in 0.7-0.95 and calibration sets of 50-500.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .stats import _z


def _wilson(x: float, n: float, z: float) -> tuple[float, float]:
    if n <= 0:
        return 0.0, 1.0
    p = x / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return float(max(centre - half, 0.0)), float(min(centre + half, 1.0))


@dataclass(frozen=True)
class JudgeCalibration:
    cases: int
    positives: int  # human-accepted
    negatives: int
    true_positives: int  # human-accepted and judge-accepted
    true_negatives: int
    sensitivity: float
    specificity: float
    sensitivity_ci: tuple[float, float]  # Wilson
    specificity_ci: tuple[float, float]
    youden: float  # Se + Sp - 1
    sensitivity_var: float  # Agresti-Coull variance, used by the correction
    specificity_var: float
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def calibrate_judge(human: Any, judge: Any, confidence: float = 0.95) -> JudgeCalibration:
    """Sensitivity and specificity of the judge against human labels (True = acceptable)."""
    h = np.asarray(human, dtype=bool)
    j = np.asarray(judge, dtype=bool)
    if h.shape != j.shape or h.ndim != 1:
        raise ValueError("human labels and judge outcomes must be equal-length 1-d sequences")
    pos, neg = int(h.sum()), int((~h).sum())
    if pos == 0 or neg == 0:
        raise ValueError(f"the calibration set needs human-accepted and human-rejected cases "
                         f"(has {pos} accepted, {neg} rejected)")
    tp, tn = int((h & j).sum()), int((~h & ~j).sum())
    z = _z(confidence)

    def ac_var(x: int, n: int) -> float:
        adjusted = (x + z * z / 2) / (n + z * z)
        return adjusted * (1 - adjusted) / (n + z * z)

    se, sp = tp / pos, tn / neg
    return JudgeCalibration(cases=int(h.size), positives=pos, negatives=neg, true_positives=tp,
                            true_negatives=tn, sensitivity=se, specificity=sp,
                            sensitivity_ci=_wilson(tp, pos, z), specificity_ci=_wilson(tn, neg, z),
                            youden=se + sp - 1.0, sensitivity_var=ac_var(tp, pos),
                            specificity_var=ac_var(tn, neg), confidence=confidence)


def fieller_interval(a: Any, b: Any, var_a: Any, var_b: Any, cov_ab: Any, confidence: float = 0.95,
                     bounds: tuple[float, float] = (-np.inf, np.inf)) -> tuple[np.ndarray, np.ndarray]:
    """Fieller's interval for the ratio a / b (vectorised). Unbounded (the `bounds`) when b is not
    significantly away from zero; a bounded set is clipped to `bounds`."""
    a, b, va, vb, cab = (np.asarray(x, dtype=float) for x in (a, b, var_a, var_b, cov_ab))
    z2 = _z(confidence) ** 2
    qa = b * b - z2 * vb
    qb = -2.0 * (a * b - z2 * cab)
    qc = a * a - z2 * va
    disc = qb * qb - 4.0 * qa * qc
    bounded = (qa > 0) & (disc >= 0)
    root = np.sqrt(np.where(bounded, disc, 0.0))
    safe = np.where(bounded, qa, 1.0)
    low = np.where(bounded, (-qb - root) / (2 * safe), bounds[0])
    high = np.where(bounded, (-qb + root) / (2 * safe), bounds[1])
    return np.clip(low, *bounds), np.clip(high, *bounds)


@dataclass(frozen=True)
class CorrectedDifference:
    cases: int
    observed_candidate_rate: float
    observed_incumbent_rate: float
    observed_difference: float
    candidate_rate: float  # corrected, clipped to [0, 1]
    candidate_ci: tuple[float, float]
    incumbent_rate: float
    incumbent_ci: tuple[float, float]
    difference: float  # corrected: observed / J
    ci_low: float
    ci_high: float
    bounded: bool  # False: J is not clearly above zero, the interval is all of [-1, 1]
    confidence: float
    method: str = ("Rogan-Gladen correction, Fieller interval (evaluation and calibration "
                   "uncertainty), per-case rates as the unit")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def corrected_paired_difference(candidate_rates: Any, incumbent_rates: Any, calibration: JudgeCalibration,
                                confidence: float | None = None) -> CorrectedDifference:
    """The judge-corrected acceptance rates and paired difference. `*_rates` are per-case judged
    acceptance (0/1, or c/k with repeats), same cases in the same order."""
    y1 = np.asarray(candidate_rates, dtype=float)
    y2 = np.asarray(incumbent_rates, dtype=float)
    if y1.shape != y2.shape or y1.ndim != 1 or y1.size == 0:
        raise ValueError("paired per-case rates must be equal-length, non-empty 1-d sequences")
    conf = calibration.confidence if confidence is None else confidence
    n = y1.size
    p1, p2 = float(y1.mean()), float(y2.mean())
    d = y1 - y2
    var_d = float(d.var()) / n
    j = calibration.youden
    var_se, var_sp = calibration.sensitivity_var, calibration.specificity_var
    var_j = var_se + var_sp
    lo, hi = fieller_interval(d.mean(), j, var_d, var_j, 0.0, conf, bounds=(-1.0, 1.0))
    bounded = bool((j * j - _z(conf) ** 2 * var_j) > 0)

    def side(p: float, y: np.ndarray) -> tuple[float, tuple[float, float]]:
        # numerator p_obs + Sp - 1 shares Sp with J: Cov = Var(Sp)
        num = p + calibration.specificity - 1.0
        low, high = fieller_interval(num, j, float(y.var()) / n + var_sp, var_j, var_sp, conf, bounds=(0.0, 1.0))
        point = float(np.clip(num / j, 0.0, 1.0)) if j > 0 else float("nan")
        return point, (float(low), float(high))

    c_rate, c_ci = side(p1, y1)
    i_rate, i_ci = side(p2, y2)
    diff = float(np.clip(d.mean() / j, -1.0, 1.0)) if j > 0 else float("nan")
    return CorrectedDifference(n, p1, p2, p1 - p2, c_rate, c_ci, i_rate, i_ci, diff, float(lo), float(hi),
                               bounded, conf)


def pairwise_consensus(first_order: Any, second_order: Any) -> tuple[np.ndarray, int]:
    """A pairwise judge asked twice, with the answers' positions swapped. Both preferences are
    given from the candidate's side (+1 candidate better, -1 incumbent better, 0 tie); where the
    two orders disagree the comparison is a tie. Returns (consensus, disagreements)."""
    a = np.asarray(first_order, dtype=np.int8)
    b = np.asarray(second_order, dtype=np.int8)
    if a.shape != b.shape:
        raise ValueError("both orders must judge the same comparisons")
    if not (np.isin(a, (-1, 0, 1)).all() and np.isin(b, (-1, 0, 1)).all()):
        raise ValueError("preferences must be -1, 0 or +1")
    agree = a == b
    return np.where(agree, a, 0).astype(np.int8), int((~agree).sum())


__all__ = [
    "CorrectedDifference",
    "JudgeCalibration",
    "calibrate_judge",
    "corrected_paired_difference",
    "fieller_interval",
    "pairwise_consensus",
]
