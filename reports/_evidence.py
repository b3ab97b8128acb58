"""Read the display facts out of a verdict: rates, slices, costs, SLOs, the sequential trajectory.

Every interval shown comes from the verdict. The keys read from `verdict.metrics`,
`verdict.slices` and `verdict.sequential` are documented in `reports/__init__.py`; a missing
key makes the page say "not in the verdict", never makes this stage compute the number itself.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from releasegate.evals import Verdict

from ._format import cost_check, first, min_rate_check, noninferiority_check

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


def _pair(value: Any) -> tuple[float | None, float | None]:
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return value[0], value[1]
    return None, None


def acceptance_rates(verdict: Verdict) -> list[Estimate]:
    """Incumbent then candidate: metrics[side] {acceptance_rate, acceptance_ci, n}."""
    rates = []
    for side, model in (("incumbent", verdict.incumbent), ("candidate", verdict.candidate)):
        entry = verdict.metrics.get(side)
        label = f"{side}: {model.entry}"
        if isinstance(entry, dict) and entry.get("acceptance_rate") is not None:
            low, high = _pair(entry.get("acceptance_ci"))
            rates.append(Estimate(label, entry["acceptance_rate"], low, high, entry.get("n")))
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
    rows = []
    for item in verdict.slices:
        label = item.get("name") or (f"{item.get('field')} = {item.get('value')}"
                                     if "field" in item else "slice")
        rows.append(Estimate(str(label), first(item, "difference", "value"), item.get("ci_low"),
                             item.get("ci_high"), first(item, "n", "cases"), item.get("status")))
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
        if item.get("margin") is not None:
            return abs(float(item["margin"]))
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
    """metrics["cost"] (evals' CostComparison): each model's cost per accepted outcome."""
    cost = verdict.metrics.get("cost")
    cost = cost if isinstance(cost, dict) else {}
    check = cost_check(verdict)
    out = []
    for side, model in (("incumbent", verdict.incumbent), ("candidate", verdict.candidate)):
        label = f"{side}: {model.entry}"
        value = cost.get(f"{side}_per_accepted")
        low, high = _pair(cost.get(f"{side}_per_accepted_ci"))
        if value is None and side == "candidate" and check is not None:
            value, low, high = check.value, check.ci_low, check.ci_high
        out.append(Estimate(label, value, low, high, note="" if value is not None else
                            "not in the verdict"))
    return out


def cost_ratio(verdict: Verdict) -> Estimate | None:
    cost = verdict.metrics.get("cost")
    if isinstance(cost, dict) and cost.get("ratio") is not None:
        low, high = _pair(cost.get("ratio_ci"))
        return Estimate("ratio", cost["ratio"], low, high)
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
    estimate: list[float] | None
    n_used: int | None
    n_total: int | None
    margin: float | None
    outcome: str | None
    stop_reason: str | None
    kept_running: str | None
    savings: dict[str, Any]


def sequential_trajectory(verdict: Verdict, scenario: Scenario | None) -> Trajectory | None:
    """evals' `sequential` section: trajectory [{n, low, high}] on the difference scale (also
    accepted: ci_low/ci_high, an `estimate`, or columns of equal length)."""
    seq = verdict.sequential
    if not seq:
        return None
    points = first(seq, "trajectory", "path", default=[])
    if isinstance(points, dict):  # columnar: {"n": [...], "ci_low": [...], ...}
        keys = list(points)
        points = [dict(zip(keys, values)) for values in zip(*(points[k] for k in keys))]
    low_key = "low" if "low" in (points[0] if points else {}) else "ci_low"
    high_key = "high" if low_key == "low" else "ci_high"
    points = [p for p in points if p.get(low_key) is not None and p.get(high_key) is not None]
    if not points:
        return None
    estimates = [first(p, "estimate", "difference", "value") for p in points]
    margin = first(seq, "margin")
    return Trajectory(
        n=[int(first(p, "n", "cases")) for p in points],
        ci_low=[float(p[low_key]) for p in points],
        ci_high=[float(p[high_key]) for p in points],
        estimate=[float(e) for e in estimates] if all(e is not None for e in estimates) else None,
        n_used=first(seq, "cases_used", "n_used"),
        n_total=first(seq, "cases_total", "n_total"),
        margin=abs(float(margin)) if margin is not None else overall_margin(verdict, scenario),
        outcome=first(seq, "decision", "outcome"),
        stop_reason=first(seq, "stop_reason"),
        kept_running=first(seq, "kept_running_by", "kept_running"),
        savings=first(seq, "savings", default={}) or {},
    )
