"""Plan the sample before the run: how many cases (and repeats) a non-inferiority decision needs.

Fixed n, one generation per case: the gate passes when the lower bound of its two-sided interval
at the contract's confidence is above -margin, a one-sided test at alpha/2. The cases needed for
power 1 - beta when the true difference is delta and a share psi of cases is discordant follow
the score test's sample size (Nam 1997, Tango's restricted variance under H0: delta = -margin):

    n = (z_{alpha/2} sqrt(v0) + z_beta sqrt(v1))^2 / (delta + margin)^2,
    v1 = psi - delta^2,   v0 = 2 q0 + delta0 (1 - delta0)   (q0 the restricted P(incumbent only)).

With k repeats the unit is still the case; the per-case difference's variance shrinks only in its
within-case part: v(k) = v(1) - w (1 - 1/k), w = within_share (p_c(1-p_c) + p_i(1-p_i)), the
within-case variance of the two models' outcomes (measured as `within_case_share` by
`repeats.repeat_summary` on earlier runs, or stated). Sequential stopping has no closed form: the
planner simulates the same betting confidence sequence the gate runs (evals.sequential) under the
stated design. `simulate_fixed_n_power` checks the formula against the gate's own interval.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .repeats import clustered_paired_intervals
from .sequential import BettingSequence
from .stats import _z, newcombe_paired_intervals, quantile_min_cases, tango_restricted_q


@dataclass(frozen=True)
class Design:
    """A non-inferiority design and the assumptions it is planned under."""

    margin: float
    confidence: float
    power: float
    incumbent_rate: float
    discordance: float  # share of cases where exactly one model accepts (one generation each)
    difference: float = 0.0  # the true candidate - incumbent difference planned for
    within_share: float = 0.0  # within-case share of outcome variance (0: deterministic cases)

    def __post_init__(self) -> None:
        if not 0 < self.margin < 1:
            raise ValueError("margin must be in (0, 1)")
        if not 0 < self.power < 1 or not 0 < self.confidence < 1:
            raise ValueError("power and confidence must be in (0, 1)")
        if self.difference <= -self.margin:
            raise ValueError("the planned difference must be above -margin (else no n reaches PASS)")
        if not abs(self.difference) <= self.discordance <= 1:
            raise ValueError("discordance must be at least |difference| and at most 1")
        p_c = self.incumbent_rate + self.difference
        if not 0 <= self.incumbent_rate <= 1 or not 0 <= p_c <= 1:
            raise ValueError("incumbent rate and incumbent rate + difference must lie in [0, 1]")
        b, c = (self.discordance + self.difference) / 2, (self.discordance - self.difference) / 2
        if c > self.incumbent_rate + 1e-12 or b > 1 - self.incumbent_rate + 1e-12:
            raise ValueError("discordance is impossible at this incumbent rate and difference")
        if not 0 <= self.within_share <= 1:
            raise ValueError("within_share must be in [0, 1]")

    @property
    def candidate_rate(self) -> float:
        return self.incumbent_rate + self.difference

    def cell_probabilities(self) -> np.ndarray:
        """(both, candidate only, incumbent only, neither) for one generation per case."""
        b = (self.discordance + self.difference) / 2
        c = (self.discordance - self.difference) / 2
        a = self.incumbent_rate - c
        return np.array([a, b, c, 1.0 - a - b - c])

    def variance_ratio(self, repeats: int) -> float:
        """Var(per-case difference with k repeats) / Var(with one)."""
        v1 = self.discordance - self.difference ** 2
        if v1 <= 0:
            return 1.0
        p_c, p_i = self.candidate_rate, self.incumbent_rate
        within = min(self.within_share * (p_c * (1 - p_c) + p_i * (1 - p_i)), v1)
        return max(v1 - within * (1.0 - 1.0 / repeats), 1e-12) / v1


def cases_needed(design: Design, repeats: int = 1) -> int:
    """Cases for the fixed-n gate to PASS with the design's power (module doc)."""
    from scipy import stats as _st
    z_a, z_b = _z(design.confidence), float(_st.norm.ppf(design.power))
    delta0 = -design.margin
    b, c = (design.discordance + design.difference) / 2, (design.discordance - design.difference) / 2
    q0 = float(tango_restricted_q(b, c, 1, delta0))  # proportions in place of counts, n = 1
    v0 = max(2 * q0 + delta0 * (1 - delta0), 1e-12)
    v1 = max(design.discordance - design.difference ** 2, 1e-12)
    ratio = design.variance_ratio(repeats)
    n = (z_a * np.sqrt(v0 * ratio) + z_b * np.sqrt(v1 * ratio)) ** 2 / (design.difference + design.margin) ** 2
    return int(np.ceil(n))


def simulate_fixed_n_power(design: Design, n: int, *, repeats: int = 1, sims: int = 4000,
                           rng: np.random.Generator | None = None) -> float:
    """Share of simulated runs of n cases the gate's interval PASSes (Newcombe for one
    generation per case, the clustered interval with repeats). With repeats, each case's pair of
    true rates is drawn so the discordance (at one generation) and within-case share match."""
    rng = rng or np.random.default_rng(0)
    if repeats == 1:
        tables = rng.multinomial(n, design.cell_probabilities(), size=sims)
        low, _ = newcombe_paired_intervals(*tables.T, confidence=design.confidence)
        return float(np.mean(low > -design.margin))
    q_c, q_i = _case_rates(design, (sims, n), rng)
    y_c = rng.binomial(repeats, q_c) / repeats
    y_i = rng.binomial(repeats, q_i) / repeats
    low, _ = clustered_paired_intervals(y_c, y_i, repeats, design.confidence)
    return float(np.mean(low > -design.margin))


def _case_rates(design: Design, shape: tuple[int, ...], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Per-case true acceptance probabilities with the design's means, within-case share s and
    discordance at one generation per case. A case falls in a cell of a latent 2x2 table, and
    each model's probability is q = p + sqrt(1 - s) (outcome - p): Var(q) = (1 - s) p (1 - p), so
    the within-case share is exactly s. The latent table's discordance psi' is chosen so that
    Var(q_c - q_i) + the within parts equals the design's psi - delta^2 at k = 1."""
    s = design.within_share
    delta = design.difference
    p_c, p_i = design.candidate_rate, design.incumbent_rate
    within = s * (p_c * (1 - p_c) + p_i * (1 - p_i))
    between = design.discordance - delta ** 2 - within
    if s >= 1 or between < -1e-12:
        raise ValueError("within_share is too large for this discordance (the within-case variance "
                         "alone exceeds the paired variance)")
    latent = Design(design.margin, design.confidence, design.power, p_i,
                    min(delta ** 2 + max(between, 0.0) / (1 - s), 1.0), delta, 0.0)
    cells = rng.choice(4, size=shape, p=latent.cell_probabilities())
    acc_c = ((cells == 0) | (cells == 1)).astype(float)
    acc_i = ((cells == 0) | (cells == 2)).astype(float)
    shrink = np.sqrt(1.0 - s)
    return p_c + shrink * (acc_c - p_c), p_i + shrink * (acc_i - p_i)


def simulated_cases_needed(design: Design, *, repeats: int = 1, sims: int = 4000, seed: int = 0,
                           tolerance: float = 0.005) -> int:
    """Smallest n whose simulated power reaches the design's (bisection, common seed per n)."""
    low, high = 4, max(8, 4 * cases_needed(design, repeats))
    while simulate_fixed_n_power(design, high, repeats=repeats, sims=sims,
                                 rng=np.random.default_rng(seed)) < design.power:
        high *= 2
    while high - low > max(1, int(low * tolerance)):
        mid = (low + high) // 2
        if simulate_fixed_n_power(design, mid, repeats=repeats, sims=sims,
                                  rng=np.random.default_rng(seed)) >= design.power:
            high = mid
        else:
            low = mid
    return high


@dataclass(frozen=True)
class SequentialPlan:
    horizon: int  # cases simulated per run
    runs: int
    pass_share: float  # share of runs that PASS within the horizon
    max_cases: int | None  # the cap at which the sequence PASSes with the design's power (None: not within horizon)
    mean_cases: float | None  # cases used on average with that cap (stopping at PASS or FAIL)
    median_cases: float | None
    p90_cases: float | None


def simulate_sequential(design: Design, horizon: int, *, repeats: int = 1, runs: int = 200,
                        seed: int = 0, look_every: int = 1) -> SequentialPlan:
    """Simulate the gate's betting confidence sequence under the design for `horizon` cases,
    looking every `look_every` cases (the flow looks after each batch): the cap it needs to PASS
    with the design's power, and the cases it then uses (a run stops at PASS, FAIL or the cap)."""
    rng = np.random.default_rng(seed)
    seq = BettingSequence(runs, margin=design.margin, alpha=1.0 - design.confidence)
    q_c, q_i = _case_rates(design, (runs, horizon), rng)
    y_c = rng.binomial(repeats, q_c) / repeats
    y_i = rng.binomial(repeats, q_i) / repeats
    x = (y_c - y_i + 1.0) / 2.0
    decided_at = np.full(runs, np.inf)
    pass_at_case = np.full(runs, np.inf)
    active = np.ones(runs, dtype=bool)
    for t in range(horizon):
        rows = np.flatnonzero(active)
        if rows.size == 0:
            break
        seq.update(x[rows, t], rows)
        if (t + 1) % look_every and t + 1 < horizon:
            continue
        decisions = seq.decisions(rows)
        done = decisions != 0
        decided_at[rows[done]] = t + 1
        pass_at_case[rows[decisions == 1]] = t + 1
        active[rows[done]] = False
    cap = float(np.quantile(pass_at_case, design.power, method="inverted_cdf"))
    if not np.isfinite(cap):
        return SequentialPlan(horizon, runs, float(np.isfinite(pass_at_case).mean()), None, None, None, None)
    used = np.minimum(decided_at, cap)
    return SequentialPlan(horizon, runs, float(np.isfinite(pass_at_case).mean()), int(cap), float(used.mean()), float(np.median(used)),
                          float(np.quantile(used, 0.9)))


@dataclass(frozen=True)
class PlanRow:
    repeats: int
    cases: int  # fixed-n cases for the design's power
    generations: int  # per model: cases x repeats
    sequential: dict[str, Any] | None = None


@dataclass(frozen=True)
class Plan:
    design: Design
    source: str  # where the assumptions came from
    rows: list[PlanRow] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"design": asdict(self.design), "source": self.source, "rows": [asdict(r) for r in self.rows]}


def make_plan(design: Design, *, repeats: tuple[int, ...] = (1,), source: str = "stated assumptions",
              sequential_runs: int = 0, seed: int = 0, look_every: int = 1) -> Plan:
    """Fixed-n cases per repeat count and, when sequential_runs > 0, the simulated sequential
    design (horizon three times the fixed-n size)."""
    rows = []
    for k in repeats:
        n = cases_needed(design, k)
        seq = None
        if sequential_runs > 0:
            seq = asdict(simulate_sequential(design, 3 * n, repeats=k, runs=sequential_runs, seed=seed,
                                             look_every=look_every))
        rows.append(PlanRow(k, n, n * k, seq))
    return Plan(design, source, rows)


def best_case_lower_bound(n: int, incumbent_rate: float, confidence: float) -> float:
    """The interval's lower bound when the candidate agrees with the incumbent on every one of n
    cases (no discordance): the most favourable data n cases can give."""
    both = round(incumbent_rate * n)
    low, _ = newcombe_paired_intervals(both, 0, 0, n - both, confidence)
    return float(low)


def can_ever_pass(n: int, margin: float, incumbent_rate: float | None, confidence: float) -> bool:
    """False when even identical answers on all n cases leave the lower bound at or below -margin.
    With no incumbent rate, the most favourable rate is taken (the answer is then about the
    dataset's size alone)."""
    if n <= 0:
        return False
    if incumbent_rate is not None:
        return best_case_lower_bound(n, incumbent_rate, confidence) > -margin
    both = np.unique(np.linspace(0, n, min(n + 1, 2001)).round())
    low, _ = newcombe_paired_intervals(both, 0, 0, n - both, confidence)
    return float(np.max(low)) > -margin


@dataclass(frozen=True)
class Undecidable:
    """A check that no data of this size can decide (said before the run and in the verdict)."""

    check: str  # the gate check's name, e.g. "latency_p95"
    cases: int  # the size planned or run
    cases_needed: int  # the fewest cases that could decide it
    reason: str  # why, in one sentence


_LATENCY_SLOS = (("ttft_p95", "ttft_p95_s", "p95 time to first token"),
                 ("latency_p95", "latency_p95_s", "p95 end-to-end latency"))


def undecidable_checks(criteria: Any, n: int) -> list[Undecidable]:
    """Checks of the contract's `success_criteria` that `n` cases cannot decide, whatever the
    models answer. A latency SLO on a p95 is judged on the order-statistic interval of the p95
    (stats.quantile_interval): below `quantile_min_cases(0.95, confidence)` cases its upper end
    does not exist, so the check can never pass (it can still fail when even the lower end is
    above the SLO). Non-inferiority cannot pass while `can_ever_pass` is False (below
    `min_cases_to_pass`), whatever the two models answer."""
    confidence = float(criteria.confidence)
    out = []
    margin = float(criteria.non_inferiority_margin)
    if not can_ever_pass(n, margin, None, confidence):
        needed = min_cases_to_pass(margin, confidence)
        out.append(Undecidable("non_inferiority", n, needed, (
            f"undecidable with {n} cases: even identical answers on every case leave the interval's lower "
            f"end below the margin of -{100 * margin:g} points at {confidence:.0%} confidence, so "
            f"non-inferiority can never be shown (needs >= {needed} cases)")))
    for name, key, label in _LATENCY_SLOS:
        if getattr(criteria.latency_slo, key) is None:
            continue
        needed = quantile_min_cases(0.95, confidence)
        if n < needed:
            out.append(Undecidable(name, n, needed, (
                f"undecidable with {n} cases: no distribution-free upper bound on a p95 exists below "
                f"{needed} cases at {confidence:.0%} confidence, so the SLO can never be shown met "
                f"(needs >= {needed} cases)")))
    return out


def min_cases_to_pass(margin: float, confidence: float) -> int:
    """The fewest cases at which identical answers could PASS non-inferiority (`can_ever_pass`
    with the most favourable rate): doubling, then bisection."""
    high = 1
    while not can_ever_pass(high, margin, None, confidence):
        high *= 2
    low = high // 2  # cannot pass at low (or low is 0)
    while high - low > 1:
        mid = (low + high) // 2
        if can_ever_pass(mid, margin, None, confidence):
            high = mid
        else:
            low = mid
    return high


def assumptions_from_verdicts(verdicts: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The incumbent's acceptance rate and the discordance pooled over earlier verdicts of the
    scenario (their paired 2x2 tables), and the within-case share where they had repeats.
    None when there is no earlier evaluation with cases."""
    n = inc = disc = 0
    within: list[float] = []
    for verdict in verdicts:
        metrics = verdict.get("metrics") or {}
        paired = metrics.get("paired") or {}
        cases = int(paired.get("n") or 0)
        if cases <= 0:
            continue
        n += cases
        inc += int(paired.get("both", 0)) + int(paired.get("incumbent_only", 0))
        disc += int(paired.get("candidate_only", 0)) + int(paired.get("incumbent_only", 0))
        share = ((metrics.get("repeats") or {}).get("incumbent") or {}).get("within_case_share")
        if share is not None:
            within.append(float(share))
    if n == 0:
        return None
    return {"incumbent_rate": inc / n, "discordance": disc / n,
            "within_share": float(np.mean(within)) if within else None,
            "evaluations": sum(1 for v in verdicts if ((v.get("metrics") or {}).get("paired") or {}).get("n")),
            "cases": n}


__all__ = [
    "Design",
    "Plan",
    "PlanRow",
    "SequentialPlan",
    "Undecidable",
    "assumptions_from_verdicts",
    "best_case_lower_bound",
    "can_ever_pass",
    "cases_needed",
    "make_plan",
    "min_cases_to_pass",
    "simulate_fixed_n_power",
    "simulate_sequential",
    "simulated_cases_needed",
    "undecidable_checks",
]
