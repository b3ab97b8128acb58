"""Read the display facts out of a verdict: rates, slices, costs, SLOs, the sequential trajectory.

Every interval shown comes from the verdict's typed parts (`evals.VerdictMetrics`,
`evals.SliceResult`, `evals.SequentialSummary`). A verdict without metrics (a hand-built one)
makes the page say "not in the verdict", never makes this stage compute the number itself.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from releasegate.evals import Savings, Verdict

from ._format import cost_check, min_rate_check, noninferiority_check

if TYPE_CHECKING:
    from releasegate.scenarios import Scenario


@dataclass(frozen=True)
class Estimate:
    label: str
    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    n: int | None = None
    status: str | None = None
    note: str = ""


def acceptance_rates(verdict: Verdict) -> list[Estimate]:
    """Incumbent then candidate: metrics[side] {acceptance_rate, acceptance_ci, n}."""
    rates = []
    for side, model in (("incumbent", verdict.incumbent), ("candidate", verdict.candidate)):
        entry = getattr(verdict.metrics, side) if verdict.metrics else None
        label = f"{side}: {model.entry}"
        if entry is not None:
            low, high = entry.acceptance_ci
            rates.append(Estimate(label, entry.acceptance_rate, low, high, entry.n))
            continue
        check = min_rate_check(verdict) if side == "candidate" else None
        if check is not None and check.value is not None:  # the candidate's own value check
            rates.append(Estimate(label, check.value, check.ci_low, check.ci_high))
        else:
            rates.append(Estimate(label, None, note="not in the verdict"))
    return rates


def overall_difference(verdict: Verdict) -> Estimate | None:
    check = noninferiority_check(verdict)
    if check is None or check.value is None:
        return None
    return Estimate("all cases", check.value, check.ci_low, check.ci_high, verdict.n, check.status)


def slice_differences(verdict: Verdict) -> list[Estimate]:
    """Per-slice acceptance differences: verdict.slices, else the `slice:<field>=<value>` checks."""
    rows = [Estimate(f"{item.field} = {item.value}", item.difference, item.ci_low, item.ci_high, item.n,
                     item.status) for item in verdict.slices]
    if rows:
        return rows
    for check in verdict.checks:
        if check.name.startswith("slice:"):
            rows.append(Estimate(check.name.removeprefix("slice:").replace("=", " = "), check.value,
                                 check.ci_low, check.ci_high, None, check.status))
    return rows


def slice_margin(verdict: Verdict, scenario: Scenario | None) -> float | None:
    """The per-slice guard's margin as a positive number of proportion points."""
    for check in verdict.checks:
        if check.name.startswith("slice:") and check.threshold is not None:
            return abs(check.threshold)
    for item in verdict.slices:
        return abs(item.margin)
    if scenario is not None:
        return scenario.success_criteria.slice_guard.margin
    return None


def overall_margin(verdict: Verdict, scenario: Scenario | None) -> float | None:
    check = noninferiority_check(verdict)
    if check is not None and check.threshold is not None:
        return abs(check.threshold)
    if scenario is not None:
        return scenario.success_criteria.non_inferiority_margin
    return None


def cost_per_accepted(verdict: Verdict) -> list[Estimate]:
    """metrics.cost (evals' CostComparison): each model's cost per accepted outcome (the
    candidate's with its interval)."""
    cost = verdict.metrics.cost if verdict.metrics else None
    check = cost_check(verdict)
    out = []
    for side, model in (("incumbent", verdict.incumbent), ("candidate", verdict.candidate)):
        label = f"{side}: {model.entry}"
        value: float | None = None
        low = high = None
        if cost is not None:
            value = cost.candidate_per_accepted if side == "candidate" else cost.incumbent_per_accepted
            if side == "candidate":
                low, high = cost.candidate_per_accepted_ci
        if value is None and side == "candidate" and check is not None:
            value, low, high = check.value, check.ci_low, check.ci_high
        out.append(Estimate(label, value, low, high, note="" if value is not None else
                            "not in the verdict"))
    return out


def cost_ratio(verdict: Verdict) -> Estimate | None:
    cost = verdict.metrics.cost if verdict.metrics else None
    if cost is not None and cost.ratio is not None:
        low, high = cost.ratio_ci
        return Estimate("ratio", cost.ratio, low, high)
    return None


def cost_ceiling(verdict: Verdict, scenario: Scenario | None) -> float | None:
    check = cost_check(verdict)
    if check is not None and check.threshold is not None:
        return check.threshold
    return scenario.success_criteria.max_cost_per_accepted_usd if scenario else None


def latency_slos(verdict: Verdict, scenario: Scenario | None) -> dict[str, float | None]:
    """{'ttft': p95 SLO seconds, 'latency': p95 SLO seconds} from the checks, else the contract."""
    slos: dict[str, float | None] = {"ttft": None, "latency": None}
    for check in verdict.checks:
        metric = check.metric.lower()
        if check.threshold is None or check.name.startswith("slice:"):
            continue
        if "ttft" in metric:
            slos["ttft"] = slos["ttft"] or check.threshold
        elif "latency" in metric:
            slos["latency"] = slos["latency"] or check.threshold
    if scenario is not None:
        slo = scenario.success_criteria.latency_slo
        slos["ttft"] = slos["ttft"] or slo.ttft_p95_s
        slos["latency"] = slos["latency"] or slo.latency_p95_s
    return slos


@dataclass(frozen=True)
class Trajectory:
    n: list[int]
    ci_low: list[float]
    ci_high: list[float]
    estimate: list[float]
    n_used: int
    n_total: int
    margin: float | None
    outcome: str | None
    stop_reason: str
    kept_running: str | None
    savings: Savings | None


def sequential_trajectory(verdict: Verdict, scenario: Scenario | None) -> Trajectory | None:
    """evals' `SequentialSummary`: the trajectory [{n, low, high, estimate}] on the difference
    scale, how many cases were used of how many, and why it stopped."""
    seq = verdict.sequential
    if seq is None or not seq.trajectory:
        return None
    points = seq.trajectory
    return Trajectory(
        n=[p.n for p in points], ci_low=[p.low for p in points], ci_high=[p.high for p in points],
        estimate=[p.estimate for p in points], n_used=seq.cases_used, n_total=seq.cases_total,
        margin=abs(seq.margin), outcome=seq.decision, stop_reason=seq.stop_reason,
        kept_running=seq.kept_running_by, savings=seq.savings,
    )
