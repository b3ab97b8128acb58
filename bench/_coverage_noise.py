"""Coverage rows for issue 18: repeats (clustered interval) and judge-corrected intervals.

Data generators here are independent of the estimators: per-case rates are beta-distributed
(Gaussian copula between the two models), judge errors are drawn per output from the stated
sensitivity and specificity, calibration cases from the incumbent's true acceptance rate.
"""
from __future__ import annotations

import numpy as np
from scipy import stats as st

from releasegate.evals.judge_error import calibrate_judge, corrected_paired_difference
from releasegate.evals.repeats import clustered_paired_intervals
from releasegate.evals.stats import newcombe_paired_intervals

WITHIN = [("none", 0.0), ("small", 0.1), ("medium", 0.3), ("large", 0.6)]
REPEATS = [1, 3, 5]
JUDGES = [(0.70, 0.70), (0.80, 0.90), (0.90, 0.70), (0.95, 0.80), (0.95, 0.95)]
CALIBRATION = [50, 200, 500]


def _case_rates(mean: float, within: float, u: np.ndarray) -> np.ndarray:
    if within == 0:
        return (u > 1 - mean).astype(float)
    s = within / (1 - within)  # Beta(mean s, (1 - mean) s): E[q(1-q)] = within * mean (1 - mean)
    return st.beta.ppf(u, mean * s, (1 - mean) * s)


def repeats_coverage(sims: int, rng: np.random.Generator, n: int = 200, incumbent: float = 0.7,
                     delta: float = -0.05, rho: float = 0.6) -> list[str]:
    lines = ["| repeats k | within-case variation | cases | clustered coverage | mean width | "
             "naive coverage (n*k independent pairs) |", "|---:|---|---:|---:|---:|---:|"]
    for k in REPEATS:
        for label, within in WITHIN:
            hits = naive_hits = 0
            width = 0.0
            for start in range(0, sims, 2000):
                b = min(2000, sims - start)
                z_i = rng.standard_normal((b, n))
                z_c = rho * z_i + np.sqrt(1 - rho ** 2) * rng.standard_normal((b, n))
                q_i = _case_rates(incumbent, within, st.norm.cdf(z_i))
                q_c = _case_rates(incumbent + delta, within, st.norm.cdf(z_c))
                y_i = rng.random((b, n, k)) < q_i[..., None]
                y_c = rng.random((b, n, k)) < q_c[..., None]
                low, high = clustered_paired_intervals(y_c.mean(axis=2), y_i.mean(axis=2), k)
                hits += int(np.sum((low <= delta) & (delta <= high)))
                width += float(np.sum(high - low))
                cells = [(y_c & y_i).sum((1, 2)), (y_c & ~y_i).sum((1, 2)), (~y_c & y_i).sum((1, 2)),
                         (~y_c & ~y_i).sum((1, 2))]
                nl, nh = newcombe_paired_intervals(*cells)
                naive_hits += int(np.sum((nl <= delta) & (delta <= nh)))
            lines.append(f"| {k} | {label} ({within:g}) | {n} | {hits / sims:.4f} | {width / sims:.4f} | "
                         f"{naive_hits / sims:.4f} |")
            print(lines[-1], flush=True)
    return lines


def judge_coverage(sims: int, rng: np.random.Generator, n: int = 1000, incumbent: float = 0.75,
                   delta: float = -0.05, redrawn: float = 0.3) -> list[str]:
    lines = ["| sensitivity | specificity | calibration cases | corrected coverage | corrected mean width | "
             "bounded share | coverage when bounded | uncorrected coverage |", "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    p_redrawn = incumbent + delta / redrawn  # candidate redraws `redrawn` of the cases at this rate
    for se, sp in JUDGES:
        for n_cal in CALIBRATION:
            hits = naive_hits = bounded = bounded_hits = 0
            width = 0.0
            for _ in range(sims):
                truth_i = rng.random(n) < incumbent
                truth_c = np.where(rng.random(n) < redrawn, rng.random(n) < p_redrawn, truth_i)
                u_c, u_i = rng.random(n), rng.random(n)
                judged_c = np.where(truth_c, u_c < se, u_c >= sp)
                judged_i = np.where(truth_i, u_i < se, u_i >= sp)
                human = rng.random(n_cal) < incumbent
                if human.all() or not human.any():
                    human[0] = not human[0]
                u = rng.random(n_cal)
                cal = calibrate_judge(human, np.where(human, u < se, u >= sp))
                out = corrected_paired_difference(judged_c.astype(float), judged_i.astype(float), cal)
                truth = delta  # the population difference (the estimand)
                hits += out.ci_low <= truth <= out.ci_high
                width += out.ci_high - out.ci_low
                bounded += out.bounded
                bounded_hits += out.bounded and out.ci_low <= truth <= out.ci_high
                b = int(np.sum(judged_c & ~judged_i))
                c = int(np.sum(~judged_c & judged_i))
                a = int(np.sum(judged_c & judged_i))
                nl, nh = newcombe_paired_intervals(a, b, c, n - a - b - c)
                naive_hits += float(nl) <= truth <= float(nh)
            lines.append(f"| {se:.2f} | {sp:.2f} | {n_cal} | {hits / sims:.4f} | {width / sims:.4f} | "
                         f"{bounded / sims:.3f} | {bounded_hits / max(bounded, 1):.4f} | {naive_hits / sims:.4f} |")
            print(lines[-1], flush=True)
    return lines


def stability_calibration(runs: int, rng: np.random.Generator, n: int = 300, margin: float = 0.05) -> list[str]:
    """The verdict's stability (estimated probability that a rerun with new seeds changes the
    non-inferiority status) against the truth: reruns simulated from the known per-case rates."""
    from releasegate.evals.repeats import decision_stability, ni_status

    lines = ["| repeats k | within-case share | runs | mean estimate | mean true flip rate | mean abs error |",
             "|---:|---:|---:|---:|---:|---:|"]
    for k, within in ((2, 0.3), (3, 0.1), (3, 0.6), (5, 0.3)):
        est, true = [], []
        conc = within / (1 - within)
        for _ in range(runs):
            q_i = st.beta.ppf(rng.random(n), 0.7 * conc, 0.3 * conc)
            q_c = np.clip(q_i + rng.normal(-0.03, 0.1, n), 0, 1)  # true difference about -0.03
            cand = rng.random((n, k)) < q_c[:, None]
            inc = rng.random((n, k)) < q_i[:, None]
            s = decision_stability(cand, inc, margin=margin, replicates=400, rng=rng)
            observed = {"pass": 1, "fail": -1, "inconclusive": 0}[s.status]
            reruns_c = rng.binomial(k, np.broadcast_to(q_c, (2000, n))) / k
            reruns_i = rng.binomial(k, np.broadcast_to(q_i, (2000, n))) / k
            low, high = clustered_paired_intervals(reruns_c, reruns_i, k)
            est.append(s.flip_probability)
            true.append(float(np.mean(ni_status(low, high, margin) != observed)))
        e, t = np.array(est), np.array(true)
        lines.append(f"| {k} | {within:g} | {runs} | {e.mean():.3f} | {t.mean():.3f} | {np.abs(e - t).mean():.3f} |")
        print(lines[-1], flush=True)
    return lines
