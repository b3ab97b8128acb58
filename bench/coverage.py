"""Coverage of the gate's intervals over many simulated datasets.

    .venv/bin/python bench/coverage.py [--sims 10000] [--seed 20261127]

1. The paired acceptance difference: Newcombe's method 10 (what the gate uses) against the Wald
   interval, over sizes and 2x2 cell probabilities typical of model comparisons (high
   concordance, small and large differences, rates near 1).
2. The cost-per-accepted-outcome ratio: the cell-multinomial bootstrap of `evals.stats.
   cost_comparison` (fewer simulations: each runs a 4000-replicate bootstrap).
3. Repeats (issue 18): the clustered paired interval of `evals.repeats` for k = 1, 3, 5 repeats
   and within-case variation from none to large, beside the naive n*k-pairs interval.
4. Judge error (issue 18): the misclassification-corrected interval of `evals.judge_error` for
   judge sensitivity/specificity 0.7-0.95 and calibration sets of 50-500, beside the uncorrected.
Writes its section of bench/RESULTS.md.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats as st

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._coverage_noise import judge_coverage, repeats_coverage, stability_calibration  # noqa: E402
from bench._results import write_section  # noqa: E402

from releasegate.evals.stats import cost_comparison, newcombe_paired_intervals  # noqa: E402

# (label, P(both), P(candidate only), P(incumbent only), P(neither))
SETTINGS = [
    ("equal, 20% discordant", 0.60, 0.10, 0.10, 0.20),
    ("+5 points, 20% discordant", 0.575, 0.125, 0.075, 0.225),
    ("-10 points, 20% discordant", 0.55, 0.05, 0.15, 0.25),
    ("equal, 4% discordant, rates 0.9", 0.88, 0.02, 0.02, 0.08),
    ("+3 points near ceiling (0.95 vs 0.92)", 0.91, 0.04, 0.01, 0.04),
]
SIZES = [50, 200, 1000, 5000]


def wald(tables: np.ndarray, z: float) -> tuple[np.ndarray, np.ndarray]:
    n = tables.sum(axis=1)
    b, c = tables[:, 1], tables[:, 2]
    diff = (b - c) / n
    se = np.sqrt(np.maximum((b + c) / n - diff ** 2, 0.0) / n)
    return diff - z * se, diff + z * se


def paired_coverage(sims: int, rng: np.random.Generator) -> list[str]:
    z = float(st.norm.ppf(0.975))
    lines = ["| setting | n | true diff | Newcombe coverage | Newcombe mean width | Wald coverage |",
             "|---|---:|---:|---:|---:|---:|"]
    for label, *probs in SETTINGS:
        p = np.array(probs)
        truth = p[1] - p[2]
        for n in SIZES:
            tables = rng.multinomial(n, p, size=sims)
            low, high = newcombe_paired_intervals(*tables.T, confidence=0.95)
            wl, wh = wald(tables, z)
            hit_n = np.mean((low <= truth) & (truth <= high))
            hit_w = np.mean((wl <= truth) & (truth <= wh))
            lines.append(f"| {label} | {n} | {truth:+.3f} | {hit_n:.4f} | {np.mean(high - low):.4f} | "
                         f"{hit_w:.4f} |")
        print(lines[-1], flush=True)
    return lines


def cost_ratio_coverage(sims: int, rng: np.random.Generator) -> list[str]:
    lines = ["| n | true ratio | bootstrap coverage | mean width |", "|---:|---:|---:|---:|"]
    # Candidate accepts 75%, incumbent 70%; costs are gamma per example, the candidate's 1.5x dearer
    # on average and dearer still on the cases it accepts (cost correlates with outcome).
    p_cells = np.array([0.60, 0.15, 0.10, 0.15])  # both, cand only, inc only, neither
    for n in (200, 1000, 10000):
        hits, width = 0, 0.0
        # true ratio: E[cost_c]/P(acc_c) over E[cost_i]/P(acc_i); cand cost mean 3e-5 (+50% if accepted)
        mean_c = 3e-5 * (1 + 0.5 * (p_cells[0] + p_cells[1]))
        mean_i = 2e-5
        truth = (mean_c / (p_cells[0] + p_cells[1])) / (mean_i / (p_cells[0] + p_cells[2]))
        for _ in range(sims):
            cell = rng.choice(4, size=n, p=p_cells)
            cand, inc = (cell == 0) | (cell == 1), (cell == 0) | (cell == 2)
            cost_c = rng.gamma(2.0, 1.5e-5, n) * (1 + 0.5 * cand)
            cost_i = rng.gamma(2.0, 1e-5, n)
            out = cost_comparison(cand, inc, cost_c, cost_i, replicates=2000, rng=rng)
            low, high = out.ratio_ci
            hits += low <= truth <= high
            width += high - low
        lines.append(f"| {n} | {truth:.4f} | {hits / sims:.4f} | {width / sims:.4f} |")
        print(lines[-1], flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=10000)
    parser.add_argument("--cost-sims", type=int, default=1000)
    parser.add_argument("--repeat-sims", type=int, default=10000)
    parser.add_argument("--judge-sims", type=int, default=4000)
    parser.add_argument("--stability-runs", type=int, default=60)
    parser.add_argument("--seed", type=int, default=20261127)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    paired = paired_coverage(args.sims, rng)
    cost = cost_ratio_coverage(args.cost_sims, rng)
    noise_rng = np.random.default_rng([args.seed, 18])  # own stream: the rows above stay reproducible
    repeated = repeats_coverage(args.repeat_sims, noise_rng)
    judged = judge_coverage(args.judge_sims, noise_rng)
    stability = stability_calibration(args.stability_runs, noise_rng)
    mc_se = np.sqrt(0.95 * 0.05 / args.sims)
    mc_se_r = np.sqrt(0.95 * 0.05 / args.repeat_sims)
    mc_se_j = np.sqrt(0.95 * 0.05 / args.judge_sims)
    lines = [
        "## Coverage of the paired interval (issue 4)",
        "",
        f"Command: `.venv/bin/python bench/coverage.py --sims {args.sims} --cost-sims {args.cost_sims} "
        f"--repeat-sims {args.repeat_sims} --judge-sims {args.judge_sims} --stability-runs {args.stability_runs} "
        f"--seed {args.seed}` "
        f"({time.perf_counter() - started:.0f} s).",
        "",
        f"Nominal 95%. {args.sims} simulated paired datasets per row (Monte Carlo standard error "
        f"{mc_se:.4f} at 0.95). Newcombe (1998) method 10 is the gate's interval; Wald is shown for "
        "contrast only.",
        "",
        *paired,
        "",
        f"Cost-per-accepted-outcome ratio, cell-multinomial bootstrap (2000 replicates), {args.cost_sims} "
        "simulated datasets per row; per-example gamma costs correlated with acceptance:",
        "",
        *cost,
        "",
        "### Repeats: cases are the unit (issue 18)",
        "",
        f"{args.repeat_sims} simulated evaluations per row (Monte Carlo standard error {mc_se_r:.4f}): 200 cases, "
        "incumbent acceptance 0.70, candidate 0.65 (true difference -0.05), per-case rates Beta-"
        "distributed with the stated within-case share of the outcome variance (none: every case "
        "always or never accepted), correlated between the models by a Gaussian copula (rho 0.6). "
        "Clustered: Newcombe method 10 on per-case rates with Rao-Scott effective sizes (the gate's "
        "interval with repeats; identical to Newcombe at k = 1). Naive: Newcombe on the n*k "
        "generations as independent pairs.",
        "",
        *repeated,
        "",
        "### Judge-corrected intervals (issue 18)",
        "",
        f"{args.judge_sims} simulated evaluations per row (Monte Carlo standard error {mc_se_j:.4f}): 1000 cases, "
        "incumbent true acceptance 0.75, candidate redraws 30% of cases (true difference -0.05), each "
        "output judged with the stated sensitivity/specificity; calibration cases drawn at the incumbent's "
        "rate with human labels. Corrected: Rogan-Gladen with Fieller's interval (evaluation and "
        "calibration uncertainty). Bounded share: runs whose interval is bounded (elsewhere the "
        "calibration cannot tell the judge from chance and the interval is all of [-1, 1], which "
        "covers trivially). Uncorrected: Newcombe on the judged outcomes.",
        "",
        *judged,
        "",
        "### Stability of the verdict (issue 18)",
        "",
        f"{args.stability_runs} simulated evaluations per row: 300 cases, margin 0.05, incumbent per-case rates "
        "Beta with mean 0.70 and the stated within-case share, candidate rates shifted by N(-0.03, 0.1). "
        "Estimate: `repeats.decision_stability` (empirical-Bayes posterior predictive, 400 replicates). "
        "True: the share of 2000 reruns from the known per-case rates whose non-inferiority status "
        "differs from the observed run's. The estimate is a lower-biased guide, not a calibrated probability.",
        "",
        *stability,
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section("coverage", text)


if __name__ == "__main__":
    main()
