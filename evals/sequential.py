"""Anytime-valid sequential non-inferiority: stop as soon as the evidence decides.

The quantity is the mean of d = candidate - incumbent (each in {0, 1}, so d in {-1, 0, 1}),
mapped to x = (d + 1) / 2 in [0, 1]. For every candidate mean m on a grid we run the hedged
capital process of Waudby-Smith & Ramdas (2023, "Estimating means of bounded random variables by
betting", JRSS-B, section 4): two bettors, one betting x > m and one betting x < m,

    K+_t(m) = prod_i (1 + l+_i(m) (x_i - m)),   K-_t(m) = prod_i (1 - l-_i(m) (x_i - m)),

with predictable bets (aGRAPA: l = |mu_{i-1} - m| / (sigma2_{i-1} + (mu_{i-1} - m)^2), only on
the side the running mean points to, truncated at c/m and c/(1-m) so capital stays positive).
Under the true m, (K+ + K-)/2 is a nonnegative martingale starting at 1, so by Ville's
inequality it ever reaches 1/alpha with probability <= alpha. The confidence sequence is the set
of grid points never rejected so far (a running intersection); it may be looked at after every
case, so stopping on it does not inflate the error rates.

Decision at a look: PASS when every grid point at or below -margin has been rejected (the
sequence lies wholly above -margin), FAIL when every point at or above -margin has (wholly
below), otherwise continue. -margin is always a grid point, so at the boundary the false-PASS
probability is bounded by alpha exactly, not just up to the grid.

`BettingSequence` is vectorised over independent runs (the bench simulates thousands at once);
`SequentialMonitor` is the one-run face the flows stage feeds batches to.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

METHOD = "hedged-capital betting confidence sequence (Waudby-Smith & Ramdas 2023), aGRAPA bets"


def make_grid(margin: float, size: int = 401) -> np.ndarray:
    """Grid of means of x in (0, 1), always containing x0 = (1 - margin) / 2 (d = -margin)."""
    step = 1.0 / (size - 1)
    grid = np.arange(1, size - 1) * step  # open interval: m = 0 or 1 admits no bet
    return np.unique(np.append(grid, (1.0 - margin) / 2.0))


class BettingSequence:
    """Hedged-capital confidence sequences for `runs` independent streams at once."""

    def __init__(self, runs: int, *, margin: float, alpha: float = 0.05, grid_size: int = 401,
                 truncation: float = 0.5) -> None:
        self.grid = make_grid(margin, grid_size)
        self.x0 = (1.0 - margin) / 2.0
        self.i0 = int(np.searchsorted(self.grid, self.x0))
        self.alpha = alpha
        self.threshold = 1.0 / alpha
        self.cap_up = truncation / self.grid  # keeps 1 + l (x - m) >= 1 - c > 0
        self.cap_down = truncation / (1.0 - self.grid)
        shape = (runs, self.grid.size)
        self.k_plus = np.ones(shape)
        self.k_minus = np.ones(shape)
        self.rejected = np.zeros(shape, dtype=bool)
        self.t = np.zeros(runs, dtype=np.int64)
        self.sum_x = np.zeros(runs)
        self.sum_sq = np.zeros(runs)  # sum of (x_i - mu_i)^2 for the variance estimate

    @property
    def mean_hat(self) -> np.ndarray:
        return (0.5 + self.sum_x) / (self.t + 1)  # regularised towards 1/2 as in WSR

    @property
    def var_hat(self) -> np.ndarray:
        return (0.25 + self.sum_sq) / (self.t + 1)

    def update(self, x: np.ndarray, rows: np.ndarray | None = None) -> None:
        """One observation per selected run (x in [0, 1]); rows=None means every run."""
        sel = slice(None) if rows is None else rows
        x = np.asarray(x, dtype=float)
        mu = self.mean_hat[sel][:, None]
        var = self.var_hat[sel][:, None]
        gap = mu - self.grid[None, :]
        bet = np.abs(gap) / (var + gap * gap)
        up = np.where(gap > 0, np.minimum(bet, self.cap_up), 0.0)
        down = np.where(gap < 0, np.minimum(bet, self.cap_down), 0.0)
        delta = x[:, None] - self.grid[None, :]
        k_plus = self.k_plus[sel] * (1.0 + up * delta)
        k_minus = self.k_minus[sel] * (1.0 - down * delta)
        rejected = self.rejected[sel] | (0.5 * (k_plus + k_minus) >= self.threshold)
        # Rejection is absorbing, so capping a rejected point's capital changes nothing and keeps
        # the products finite.
        self.k_plus[sel] = np.minimum(k_plus, 1e300)
        self.k_minus[sel] = np.minimum(k_minus, 1e300)
        self.rejected[sel] = rejected
        self.t[sel] += 1
        self.sum_x[sel] += x
        new_mu = (0.5 + self.sum_x[sel]) / (self.t[sel] + 1)
        self.sum_sq[sel] += (x - new_mu) ** 2

    def decisions(self, rows: np.ndarray | None = None) -> np.ndarray:
        """+1 PASS (all of [0, x0] rejected), -1 FAIL (all of [x0, 1] rejected), 0 continue."""
        rej = self.rejected if rows is None else self.rejected[rows]
        below = rej[:, : self.i0 + 1].all(axis=1)
        above = rej[:, self.i0:].all(axis=1)
        return np.where(below, 1, np.where(above, -1, 0))

    def bounds(self, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Conservative (low, high) of the sequence on the d scale: the outermost rejected grid
        points next to the surviving set (the true boundary lies between them and the set)."""
        rej = self.rejected if rows is None else self.rejected[rows]
        alive = ~rej
        size = self.grid.size
        any_alive = alive.any(axis=1)
        first = np.where(any_alive, alive.argmax(axis=1), size // 2)
        last = np.where(any_alive, size - 1 - alive[:, ::-1].argmax(axis=1), size // 2)
        low_x = np.where(first > 0, self.grid[np.maximum(first - 1, 0)], 0.0)
        high_x = np.where(last < size - 1, self.grid[np.minimum(last + 1, size - 1)], 1.0)
        return 2.0 * low_x - 1.0, 2.0 * high_x - 1.0


@dataclass
class SequentialMonitor:
    """Feed paired batches; it says when the non-inferiority question is decided.

    `update(candidate, incumbent)` takes the accepted flags of one batch (same cases, same order),
    or with repeats each case's acceptance rate c/k (the sequence is valid for any mean in [0, 1]),
    and returns the decision so far: "PASS", "FAIL" or None (continue)."""

    margin: float
    confidence: float = 0.95
    total_cases: int | None = None
    grid_size: int = 401
    trajectory: list[dict[str, float]] = field(default_factory=list)
    decision: Literal["PASS", "FAIL"] | None = None
    stop_reason: str | None = None

    def __post_init__(self) -> None:
        self._seq = BettingSequence(1, margin=self.margin, alpha=1.0 - self.confidence,
                                    grid_size=self.grid_size)

    @classmethod
    def for_scenario(cls, scenario: Any, total_cases: int | None = None) -> SequentialMonitor:
        criteria = scenario.success_criteria
        return cls(margin=float(criteria.non_inferiority_margin), confidence=float(criteria.confidence),
                   total_cases=total_cases)

    @property
    def n(self) -> int:
        return int(self._seq.t[0])

    @property
    def decided(self) -> bool:
        return self.decision is not None

    @property
    def bounds(self) -> tuple[float, float]:
        low, high = self._seq.bounds()
        return float(low[0]), float(high[0])

    def update(self, candidate: Any, incumbent: Any) -> Literal["PASS", "FAIL"] | None:
        # Accepted flags, or per-case acceptance rates c/k with repeats (cases stay the unit).
        cand = np.asarray(candidate, dtype=float)
        inc = np.asarray(incumbent, dtype=float)
        if cand.shape != inc.shape or cand.ndim != 1:
            raise ValueError("a batch needs equal-length candidate and incumbent outcomes")
        if not (np.isfinite(cand).all() and np.isfinite(inc).all()) or ((cand < 0) | (cand > 1) | (inc < 0) | (inc > 1)).any():
            raise ValueError("outcomes must be accepted flags or per-case rates in [0, 1]")
        if self.decided:
            return self.decision
        x = (cand - inc + 1.0) / 2.0
        for value in x:  # capital is a product over single observations
            self._seq.update(np.array([value]))
        low, high = self.bounds
        estimate = 2.0 * float(self._seq.sum_x[0]) / self.n - 1.0  # running mean of d
        self.trajectory.append({"n": self.n, "low": low, "high": high, "estimate": estimate})
        verdict = int(self._seq.decisions()[0])
        if verdict == 1:
            self.decision = "PASS"
            self.stop_reason = (f"confidence sequence lies wholly above -{self.margin:g} after "
                                f"{self.n} cases")
        elif verdict == -1:
            self.decision = "FAIL"
            self.stop_reason = (f"confidence sequence lies wholly below -{self.margin:g} after "
                                f"{self.n} cases")
        return self.decision

    def verdict_section(self, *, kept_running_by: str | None = None) -> dict[str, Any]:
        """The verdict's `sequential` dict. `kept_running_by` names the check that kept the run
        going when the sequence itself did not decide (default: non_inferiority)."""
        if self.decided:
            kept = kept_running_by
        else:
            kept = kept_running_by or "non_inferiority"
        return {
            "sequential": True,
            "method": METHOD,
            "margin": self.margin,
            "confidence": self.confidence,
            "cases_used": self.n,
            "cases_total": self.total_cases,
            "decision": self.decision,
            "stop_reason": self.stop_reason or "dataset exhausted before the sequence decided; "
                                               "the fixed-n analysis decides",
            "kept_running_by": kept,
            "trajectory": list(self.trajectory),
        }


def evaluation_order(example_ids: list[str], seed: int) -> list[str]:
    """The seeded random order in which a sequential run evaluates cases: the first k cases of
    it are a simple random sample, which the confidence sequence's validity assumes."""
    permutation = np.random.default_rng(seed).permutation(len(example_ids))
    return [example_ids[i] for i in permutation]


def estimate_savings(cases_used: int, cases_total: int,
                     sides: list[tuple[pd.DataFrame, dict[str, Any]]]) -> dict[str, Any]:
    """What stopping early saved, in the units the platform pays, extrapolated from the cases
    that were evaluated: cases (per model), generated tokens, GPU-hours and USD.

    Per model: skipped cases x the mean completion tokens / cost per evaluated case. GPU-hours are
    the cost divided by the accelerator's hourly price (GPU-priced endpoints only)."""
    skipped = max(cases_total - cases_used, 0)
    tokens = usd = gpu_hours = 0.0
    for frame, meta in sides:
        if not len(frame):
            continue
        mean_tokens = float(pd.to_numeric(frame["completion_tokens"], errors="coerce").fillna(0).mean())
        mean_cost = float(pd.to_numeric(frame["cost_usd"], errors="coerce").fillna(0).mean())
        tokens += skipped * mean_tokens
        usd += skipped * mean_cost
        cost = meta.get("cost") or {}
        if cost.get("pricing") == "gpu" and cost.get("usd_per_hour"):
            gpu_hours += skipped * mean_cost / float(cost["usd_per_hour"])
    return {"cases_skipped": skipped, "cases_skipped_fraction": skipped / cases_total if cases_total else 0.0,
            "model_calls_saved": skipped * len(sides), "generated_tokens": round(tokens),
            "gpu_hours": gpu_hours, "usd": usd}
