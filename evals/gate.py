"""The gate: checks built from the contract, a decision policy, and the verdict.

A check is a function from a `GateContext` to `Check`s, registered by name (Kayenta style: one
small unit per check). Value checks judge the candidate alone; change checks judge it against the
incumbent. Every check carries its value, interval, threshold, direction, status and a reason.

Three-way status of a thresholded check (interval at the contract's confidence):
    pass          the whole interval is on the good side of the threshold
    fail          the whole interval is on the bad side
    inconclusive  the interval straddles the threshold (the data cannot decide), or the contract
                  sets the threshold but the records carry no evidence for it
    skipped       the contract sets no threshold for it
Decision policy (in this order):
    FAIL          any check fails. A failing *critical* check (contract `critical:`, by check
                  name or family before ':') is a veto: it is listed in `vetoed_by`, and the
                  release stage may never waive it with an exception.
    INCONCLUSIVE  no check fails, at least one is inconclusive
    PASS          every check passes or is skipped
"""
from __future__ import annotations

import hashlib
import math
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from releasegate.core import InputError
from releasegate.scenarios import (Scenario, check_record_meta, check_record_values, check_records_match,
                                   file_sha256, read_records)

from . import judge_error as _judge_error
from . import pairwise as _pairwise
from . import repeats as _repeats
from ._calibration import calibrate as _calibrate
from ._calibration import judge_digest
from .planning import undecidable_checks
from . import stats
from ._scorers import disallowed_tool_calls
from ._scoring import ScoredRecords, _scenario_of, cases_frame, score_records
from ._verdict import Check, ModelSide, Verdict

POLICY = ("FAIL if any check fails (failing critical checks are vetoes, never waivable); "
          "INCONCLUSIVE if none fails and any is inconclusive; PASS otherwise. A thresholded "
          "check passes when its whole interval is on the good side, fails when wholly on the "
          "bad side, and is inconclusive when it straddles or lacks evidence.")


@dataclass
class GateContext:
    """Everything a check may look at. Statistics are computed once, on first use."""

    scenario: Scenario
    candidate: ScoredRecords
    incumbent: ScoredRecords
    candidate_meta: dict[str, Any]
    incumbent_meta: dict[str, Any]
    seed: int
    contract_sha256: str = ""
    dataset_sha256: str = ""
    cases_total: int = 0
    prior_checks: list[Check] = field(default_factory=list)  # filled before extra checks run
    sequential: dict[str, Any] | None = None  # a sequential run's monitor section (see sequential.py)
    # With sampling.repeats k > 1: (n cases, k repeats) accepted matrices, cases in the order of
    # `candidate`/`incumbent` (which hold repeat 0); None with one generation per case.
    repeat_accepted: tuple[np.ndarray, np.ndarray] | None = None
    # With scoring.calibration: the judge's sensitivity/specificity against human labels; the
    # acceptance rates and the paired difference are then corrected for its misclassification.
    judge: _judge_error.JudgeCalibration | None = None
    pairwise: _pairwise.PairwiseResult | None = None  # scoring.pairwise_judge, both orders
    _latency: dict[tuple[str, str, float], stats.QuantileEstimate] = field(default_factory=dict, repr=False)

    @property
    def criteria(self) -> Any:
        return self.scenario.success_criteria

    @property
    def confidence(self) -> float:
        return float(self.criteria.confidence)

    def rng(self, name: str) -> np.random.Generator:
        """A generator per check, so adding a check never changes another check's numbers."""
        return np.random.default_rng([self.seed, zlib.crc32(name.encode())])

    @cached_property
    def paired(self) -> stats.PairedDifference:
        return stats.paired_difference(self.candidate.accepted, self.incumbent.accepted, self.confidence)

    @property
    def repeats(self) -> int:
        return 1 if self.repeat_accepted is None else int(self.repeat_accepted[0].shape[1])

    @cached_property
    def clustered(self) -> _repeats.ClusteredDifference | None:
        """The paired difference on per-case rates when cases were generated k > 1 times."""
        if self.repeat_accepted is None:
            return None
        return _repeats.clustered_paired_difference(*self.repeat_accepted, confidence=self.confidence)

    def case_rates(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-case acceptance (0/1, or c/k over k repeats) of candidate and incumbent."""
        if self.repeat_accepted is not None:
            return self.repeat_accepted[0].mean(axis=1), self.repeat_accepted[1].mean(axis=1)
        return self.candidate.accepted.astype(float), self.incumbent.accepted.astype(float)

    @cached_property
    def corrected(self) -> _judge_error.CorrectedDifference | None:
        """Judge-corrected rates and difference (Rogan-Gladen, Fieller interval)."""
        if self.judge is None or len(self.candidate) == 0:
            return None
        return _judge_error.corrected_paired_difference(*self.case_rates(), self.judge, self.confidence)

    @cached_property
    def costs(self) -> stats.CostComparison | None:
        cand = _per_example_cost(self.candidate, self.candidate_meta)
        inc = _per_example_cost(self.incumbent, self.incumbent_meta)
        if cand is None or inc is None:
            return None
        return stats.cost_comparison(self.candidate.accepted, self.incumbent.accepted, cand, inc,
                                     confidence=self.confidence, rng=self.rng("cost"))

    @cached_property
    def slices(self) -> list[stats.SliceDifference]:
        guard = self.criteria.slice_guard
        columns = {f: self.candidate.cases[f] for f in guard.fields if f in self.candidate.cases.columns}
        return stats.slice_differences(self.candidate.accepted, self.incumbent.accepted, columns,
                                       margin=guard.margin, min_cases=guard.min_cases,
                                       confidence=self.confidence)

    def latency(self, column: str, side: str = "candidate", quantile: float = 0.95) -> stats.QuantileEstimate:
        """p95 (by default) with its interval. Failed requests count when they carry a latency: a
        timeout is latency the user saw. Memoised: checks and metrics ask for the same numbers."""
        key = (column, side, quantile)
        if key not in self._latency:
            scored = self.candidate if side == "candidate" else self.incumbent
            values = scored.records[column].to_numpy(dtype=float, na_value=np.nan)
            self._latency[key] = stats.quantile_interval(values, quantile, self.confidence)
        return self._latency[key]

    @cached_property
    def tool_violations(self) -> int:
        allowed = set(self.scenario.tool_policy.allowed_tools)
        if "tool_calls" not in self.candidate.records.columns:
            return 0
        raw = self.candidate.records["tool_calls"]
        if not raw.notna().any():  # the usual case: no tool calls at all
            return 0
        codes, uniques = pd.factorize(raw, use_na_sentinel=True)
        if len(uniques) == 0:
            return 0
        per_unique = np.array([len(disallowed_tool_calls(u, allowed)) for u in uniques])
        return int(per_unique[codes[codes >= 0]].sum())


CheckFn = Callable[[GateContext], Iterable[Check]]
GATE_CHECKS: dict[str, CheckFn] = {}


def gate_check(name: str) -> Callable[[CheckFn], CheckFn]:
    """Register a built-in check (order of registration is the order in the verdict)."""

    def register(fn: CheckFn) -> CheckFn:
        GATE_CHECKS[name] = fn
        return fn

    return register


def interval_status(low: float | None, high: float | None, threshold: float, direction: str) -> str:
    """pass / fail / inconclusive for an interval against a threshold (see the module doc)."""
    if low is None and high is None:
        return "inconclusive"
    if direction == ">=":
        if low is not None and low >= threshold:
            return "pass"
        if high is not None and high < threshold:
            return "fail"
    else:
        if high is not None and high <= threshold:
            return "pass"
        if low is not None and low > threshold:
            return "fail"
    return "inconclusive"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _make(name: str, kind: str, metric: str, value: float | None, low: float | None, high: float | None,
          threshold: float | None, direction: str, status: str, reason: str, *, bounded: bool = True,
          cases_needed: int | None = None) -> Check:
    """A check; `bounded=False` for an interval whose missing ends are unbounded (not absent)."""
    return Check(name=name, kind=kind, metric=metric, value=value, ci_low=low, ci_high=high,  # type: ignore[arg-type]
                 threshold=threshold, direction=direction, status=status, critical=False,  # type: ignore[arg-type]
                 reason=reason, unbounded=None if bounded else open_ends(low, high),
                 cases_needed=cases_needed)


def open_ends(low: float | None, high: float | None) -> str | None:
    """Which ends of an interval have no finite bound (None or non-finite): low, high, both, or None."""
    no_low = low is None or not math.isfinite(low)
    no_high = high is None or not math.isfinite(high)
    return "both" if no_low and no_high else "low" if no_low else "high" if no_high else None


@gate_check("min_acceptance_rate")
def check_min_acceptance(ctx: GateContext) -> list[Check]:
    threshold = float(ctx.criteria.min_acceptance_rate)
    n = len(ctx.candidate)
    if ctx.repeat_accepted is not None:  # cases are the unit: mean per-case rate, clustered interval
        per_case = ctx.repeat_accepted[0].mean(axis=1)
        rate = float(per_case.mean()) if n else 0.0
        low, high = _repeats.clustered_rate_interval(per_case, ctx.repeats, ctx.confidence)
    else:
        accepted = int(ctx.candidate.accepted.sum())
        low, high = stats.wilson_interval(accepted, n, ctx.confidence)
        rate = accepted / n if n else 0.0
    corrected = ctx.corrected
    if corrected is not None:  # the judge's errors removed, calibration uncertainty included
        rate, (low, high) = corrected.candidate_rate, corrected.candidate_ci
    status = interval_status(low, high, threshold, ">=")
    reason = {
        "pass": f"acceptance {_pct(rate)} (lower bound {_pct(low)}) meets the minimum {_pct(threshold)}",
        "fail": f"acceptance {_pct(rate)} (upper bound {_pct(high)}) is below the minimum {_pct(threshold)}",
        "inconclusive": f"acceptance {_pct(rate)} [{_pct(low)}, {_pct(high)}] straddles the minimum "
                        f"{_pct(threshold)}: more cases needed",
    }[status]
    return [_make("min_acceptance_rate", "value", "acceptance_rate", rate, low, high, threshold, ">=",
                  status, reason)]


@gate_check("non_inferiority")
def check_non_inferiority(ctx: GateContext) -> list[Check]:
    margin = float(ctx.criteria.non_inferiority_margin)
    # A calibrated judge: the (uncorrected) sequence never decides; the corrected interval does.
    if ctx.judge is None and ctx.sequential and ctx.sequential.get("decision") and ctx.sequential.get("trajectory"):
        return [_sequential_non_inferiority(ctx, margin)]
    diff = ctx.clustered or ctx.paired
    result = stats.non_inferiority(ctx.paired, margin)
    if ctx.clustered is not None:  # per-case rates over k repeats: the clustered interval decides
        status = {1: "pass", -1: "fail", 0: "inconclusive"}[int(_repeats.ni_status(diff.ci_low, diff.ci_high, margin))]
        result = replace(result, status=status, ci_low=diff.ci_low, ci_high=diff.ci_high)
    if ctx.corrected is not None:  # corrected for the judge's misclassification: this interval decides
        diff = ctx.corrected
        status = {1: "pass", -1: "fail", 0: "inconclusive"}[int(_repeats.ni_status(diff.ci_low, diff.ci_high, margin))]
        result = replace(result, status=status, ci_low=diff.ci_low, ci_high=diff.ci_high)
    span = f"{100 * diff.difference:+.1f} points [{100 * diff.ci_low:+.1f}, {100 * diff.ci_high:+.1f}]"
    if ctx.clustered is not None:
        span += f", {ctx.repeats} repeats per case"
    if ctx.corrected is not None and ctx.judge is not None:
        span += (f", corrected for the judge (sensitivity {ctx.judge.sensitivity:.2f}, specificity "
                 f"{ctx.judge.specificity:.2f}; judged {100 * ctx.corrected.observed_difference:+.1f} points)")
    reason = {
        "pass": f"candidate is not worse than the incumbent by more than {100 * margin:.1f} points: {span}",
        "fail": f"candidate is worse than the incumbent by more than {100 * margin:.1f} points: {span}",
        "inconclusive": f"difference {span} straddles the margin of -{100 * margin:.1f} points: "
                        "more cases needed",
    }[result.status]
    short = None  # too few cases for any answers to pass (the plain paired interval: no repeats, no judge)
    if result.status == "inconclusive" and ctx.clustered is None and ctx.corrected is None:
        short = next((u for u in undecidable_checks(ctx.criteria, ctx.paired.n) if u.check == "non_inferiority"),
                     None)
        if short is not None:
            reason = f"difference {span}: {short.reason}"
    return [_make("non_inferiority", "change", "acceptance_difference", diff.difference, diff.ci_low,
                  diff.ci_high, -margin, ">=", result.status, reason,
                  cases_needed=short.cases_needed if short else None)]


def _sequential_non_inferiority(ctx: GateContext, margin: float) -> Check:
    """A sequential run stopped because its anytime-valid confidence sequence decided: the check
    reports that sequence (valid at the data-dependent stop), not a fixed-n interval, which would
    not be valid after peeking."""
    seq = ctx.sequential or {}
    last = seq["trajectory"][-1]
    low, high = float(last["low"]), float(last["high"])
    diff = (ctx.clustered or ctx.paired).difference
    status = "pass" if seq["decision"] == "PASS" else "fail"
    span = (f"{100 * diff:+.1f} points, anytime-valid [{100 * low:+.1f}, {100 * high:+.1f}] "
            f"after {int(last['n'])} cases")
    verb = "not worse" if status == "pass" else "worse"
    reason = f"candidate is {verb} than the incumbent by more than {100 * margin:.1f} points: {span}"
    return _make("non_inferiority", "change", "acceptance_difference", diff, low, high, -margin, ">=",
                 status, reason)


@gate_check("max_cost_per_accepted")
def check_cost_per_accepted(ctx: GateContext) -> list[Check]:
    ceiling = ctx.criteria.max_cost_per_accepted_usd
    if ceiling is None:
        return [_make("max_cost_per_accepted", "value", "cost_per_accepted_usd", None, None, None, None,
                      "<=", "skipped", "no cost ceiling in the contract")]
    costs = ctx.costs
    if costs is None:
        return [_make("max_cost_per_accepted", "value", "cost_per_accepted_usd", None, None, None, ceiling,
                      "<=", "inconclusive", "records carry no cost: the ceiling cannot be checked")]
    if costs.candidate_per_accepted is None:
        return [_make("max_cost_per_accepted", "value", "cost_per_accepted_usd", None, None, None, ceiling,
                      "<=", "fail", "no accepted outcomes: cost per accepted outcome is unbounded")]
    low, high = costs.candidate_per_accepted_ci
    status = interval_status(low, high, ceiling, "<=")
    value = costs.candidate_per_accepted
    span = f"${value:.6f} [{_usd(low)}, {_usd(high)}] per accepted outcome"
    reason = {"pass": f"{span}, within the ${ceiling:g} ceiling",
              "fail": f"{span} exceeds the ${ceiling:g} ceiling",
              "inconclusive": f"{span} straddles the ${ceiling:g} ceiling"}[status]
    return [_make("max_cost_per_accepted", "value", "cost_per_accepted_usd", value, low, high, ceiling, "<=",
                  status, reason, bounded=False)]


def _usd(x: float | None) -> str:
    return "unbounded" if x is None else f"${x:.6f}"


@gate_check("latency_slo")
def check_latency(ctx: GateContext) -> list[Check]:
    slo = ctx.criteria.latency_slo
    out = []
    for name, column, threshold, label in (("ttft_p95", "ttft_s", slo.ttft_p95_s, "p95 time to first token"),
                                           ("latency_p95", "latency_s", slo.latency_p95_s, "p95 end-to-end latency")):
        if threshold is None:
            out.append(_make(name, "value", f"{column}_p95", None, None, None, None, "<=", "skipped",
                             f"no {label} SLO in the contract"))
            continue
        if column not in ctx.candidate.records.columns:
            est = stats.QuantileEstimate(0.95, None, None, None, 0)
        else:
            est = ctx.latency(column)
        if est.n == 0:
            out.append(_make(name, "value", f"{column}_p95", None, None, None, threshold, "<=", "inconclusive",
                             f"records carry no {column}: the {label} SLO cannot be checked"))
            continue
        status = interval_status(est.ci_low, est.ci_high, threshold, "<=")
        span = f"{est.value:.3f}s [{_s(est.ci_low)}, {_s(est.ci_high)}]"
        reason = {"pass": f"{label} {span} within the {threshold:g}s SLO",
                  "fail": f"{label} {span} exceeds the {threshold:g}s SLO",
                  "inconclusive": f"{label} {span} straddles the {threshold:g}s SLO"}[status]
        short = next((u for u in undecidable_checks(ctx.criteria, est.n) if u.check == name), None)
        if status == "inconclusive" and short is not None:  # no n-case data could decide it
            reason = f"{label} {span}: {short.reason}"
        out.append(_make(name, "value", f"{column}_p95", est.value, est.ci_low, est.ci_high, threshold, "<=",
                         status, reason, bounded=False,
                         cases_needed=short.cases_needed if status == "inconclusive" and short else None))
    return out


def _s(x: float | None) -> str:
    return "unbounded" if x is None else f"{x:.3f}s"


@gate_check("tool_policy")
def check_tool_policy(ctx: GateContext) -> list[Check]:
    limit = int(ctx.criteria.max_tool_policy_violations)
    count = ctx.tool_violations
    allowed = ", ".join(ctx.scenario.tool_policy.allowed_tools) or "none"
    status = "pass" if count <= limit else "fail"
    reason = (f"{count} tool calls outside the policy (allowed: {allowed}; limit {limit})")
    return [_make("tool_policy", "value", "tool_policy_violations", float(count), None, None, float(limit),
                  "<=", status, reason)]


@gate_check("cache_hit_rate")
def check_cache(ctx: GateContext) -> list[Check]:
    minimum = float(ctx.scenario.cache_strategy.min_prefix_cache_hit_rate)
    if minimum <= 0:
        return [_make("cache_hit_rate", "value", "prefix_cache_hit_rate", None, None, None, None, ">=",
                      "skipped", "no cache-hit SLO in the contract")]
    telemetry = ctx.candidate_meta.get("telemetry") or {}
    rate = telemetry.get("prefix_cache_hit_rate")
    if rate is None:
        return [_make("cache_hit_rate", "value", "prefix_cache_hit_rate", None, None, None, minimum, ">=",
                      "inconclusive", "telemetry has no prefix_cache_hit_rate: the SLO cannot be checked")]
    rate = float(rate)
    status = "pass" if rate >= minimum else "fail"
    return [_make("cache_hit_rate", "value", "prefix_cache_hit_rate", rate, None, None, minimum, ">=", status,
                  f"prefix-cache hit rate {_pct(rate)} against the {_pct(minimum)} SLO")]


@gate_check("cost_ratio")
def check_cost_ratio(ctx: GateContext) -> list[Check]:
    ceiling = ctx.criteria.max_cost_ratio
    if ceiling is None:
        return [_make("cost_ratio", "change", "cost_per_accepted_ratio", None, None, None, None, "<=",
                      "skipped", "no cost-ratio ceiling in the contract")]
    costs = ctx.costs
    if costs is None or costs.ratio is None:
        why = "records carry no cost" if costs is None else "a model has no accepted outcomes"
        status = "fail" if costs is not None and costs.candidate_per_accepted is None else "inconclusive"
        return [_make("cost_ratio", "change", "cost_per_accepted_ratio", None, None, None, ceiling, "<=",
                      status, f"{why}: the cost ratio cannot be computed")]
    low, high = costs.ratio_ci
    status = interval_status(low, high, ceiling, "<=")
    span = f"{costs.ratio:.2f}x [{_x(low)}, {_x(high)}]"
    if high is None:
        span += (f" (a model had no accepted outcome in at least {100 * (1 - ctx.confidence) / 2:g}% of the "
                 "bootstrap replicates: too few accepted outcomes to bound the ratio)")
    reason = {"pass": f"candidate costs {span} the incumbent per accepted outcome, within {ceiling:g}x",
              "fail": f"candidate costs {span} the incumbent per accepted outcome, above {ceiling:g}x",
              "inconclusive": f"cost ratio {span} straddles the {ceiling:g}x ceiling"}[status]
    return [_make("cost_ratio", "change", "cost_per_accepted_ratio", costs.ratio, low, high, ceiling, "<=",
                  status, reason, bounded=False)]


def _x(x: float | None) -> str:
    return "unbounded" if x is None else f"{x:.2f}x"


@gate_check("slice")
def check_slices(ctx: GateContext) -> list[Check]:
    guard = ctx.criteria.slice_guard
    alpha = 1.0 - ctx.confidence
    out = []
    for s in ctx.slices:
        if not s.tested:
            continue
        regressed = s.p_holm < alpha
        span = f"{100 * s.difference:+.1f} points [{100 * s.ci_low:+.1f}, {100 * s.ci_high:+.1f}]"
        reason = (f"{s.field}={s.value} (n={s.n}) regresses beyond {100 * guard.margin:.0f} points: {span}, "
                  f"Holm p={s.p_holm:.3g}") if regressed else (
            f"{s.field}={s.value} (n={s.n}): {span}, no regression beyond {100 * guard.margin:.0f} points "
            f"(Holm p={s.p_holm:.3g})")
        out.append(_make(f"slice:{s.field}={s.value}", "change", "slice_acceptance_difference", s.difference,
                         s.ci_low, s.ci_high, -guard.margin, ">=", "fail" if regressed else "pass", reason))
    return out


@gate_check("relative_change")
def check_relative_change(ctx: GateContext) -> list[Check]:
    """`min_relative_change` (MLflow MetricThreshold style): candidate rate / incumbent rate - 1
    must be at least the threshold. The ratio of the two paired means gets Fieller's interval with
    their covariance over cases (per-case rates with repeats; judge-corrected rates are not used
    here). No check at all when the contract sets no relative threshold."""
    threshold = ctx.criteria.min_relative_change
    if threshold is None:
        return []
    cand, inc = ctx.case_rates()
    n = cand.size
    if n == 0 or inc.sum() == 0:
        return [_make("relative_change", "change", "relative_acceptance_change", None, None, None,
                      float(threshold), ">=", "inconclusive", "the incumbent accepted nothing: no ratio")]
    p_c, p_i = float(cand.mean()), float(inc.mean())
    var_c, var_i = float(cand.var()) / n, float(inc.var()) / n
    cov = float(np.mean((cand - p_c) * (inc - p_i))) / n
    low, high = _judge_error.fieller_interval(p_c, p_i, var_c, var_i, cov, ctx.confidence, bounds=(0.0, np.inf))
    low_c, high_c = float(low) - 1.0, float(high) - 1.0
    high_v = None if not np.isfinite(high_c) else high_c
    value = p_c / p_i - 1.0
    status = interval_status(low_c, high_v, float(threshold), ">=")
    span = f"{100 * value:+.1f}% [{100 * low_c:+.1f}%, {'unbounded' if high_v is None else f'{100 * high_c:+.1f}%'}]"
    reason = {"pass": f"relative change in acceptance {span} meets the minimum {100 * threshold:+.1f}%",
              "fail": f"relative change in acceptance {span} is below the minimum {100 * threshold:+.1f}%",
              "inconclusive": f"relative change in acceptance {span} straddles the minimum "
                              f"{100 * threshold:+.1f}%: more cases needed"}[status]
    return [_make("relative_change", "change", "relative_acceptance_change", value, low_c, high_v,
                  float(threshold), ">=", status, reason, bounded=False)]


@gate_check("pairwise_preference")
def check_pairwise(ctx: GateContext) -> list[Check]:
    """The pairwise judge's wins minus losses (both orders agreeing) against
    `scoring.pairwise_judge.min_preference`; no check when the contract sets no threshold."""
    spec = ctx.scenario.scoring.pairwise_judge
    if spec is None or spec.min_preference is None or ctx.pairwise is None:
        return []
    r = ctx.pairwise
    status = interval_status(r.ci_low, r.ci_high, float(spec.min_preference), ">=")
    span = (f"{100 * r.preference:+.1f} points [{100 * r.ci_low:+.1f}, {100 * r.ci_high:+.1f}]: {r.wins} wins, "
            f"{r.losses} losses, {r.ties} ties ({r.order_disagreements} where the two orders disagreed)")
    reason = {"pass": f"pairwise preference {span} meets the minimum {100 * spec.min_preference:+.1f}",
              "fail": f"pairwise preference {span} is below the minimum {100 * spec.min_preference:+.1f}",
              "inconclusive": f"pairwise preference {span} straddles the minimum "
                              f"{100 * spec.min_preference:+.1f}: more cases needed"}[status]
    return [_make("pairwise_preference", "change", "pairwise_preference", r.preference, r.ci_low, r.ci_high,
                  float(spec.min_preference), ">=", status, reason)]


# --------------------------------------------------------------------------- evidence
def _per_example_cost(scored: ScoredRecords, meta: dict[str, Any]) -> np.ndarray | None:
    """Per-example cost: the records' `cost_usd`, else the meta total spread evenly."""
    n = len(scored)
    if "cost_usd" in scored.records.columns:
        cost = scored.records["cost_usd"].to_numpy(dtype=float, na_value=np.nan)
        if n and not np.isnan(cost).all():
            return np.nan_to_num(cost)
    total = (meta.get("cost") or {}).get("total_usd")
    if total is None or n == 0:
        return None
    return np.full(n, float(total) / n)


def frame_sha256(frame: pd.DataFrame) -> str:
    """Digest of a records frame's content, for callers without a file digest (the CLI and the
    flows pass the Parquet file's sha256 in meta instead). Hashes the frame's Arrow IPC stream
    (columns sorted, pandas metadata dropped): one memory copy, no per-row Python, and the IPC
    writer trims sliced buffers so a slice hashes only its own rows."""
    import pyarrow as pa

    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.select(sorted(table.column_names)).replace_schema_metadata(None)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return hashlib.sha256(sink.getvalue()).hexdigest()


def _side(scored: ScoredRecords, meta: dict[str, Any]) -> ModelSide:
    records = scored.records

    def first(column: str) -> str:
        if column in records.columns and len(records):
            value = records[column].iloc[0]
            return "" if value is None or value is pd.NA else str(value)
        return ""

    return ModelSide(entry=str(meta.get("model_entry") or first("model_entry")),
                     model=str(meta.get("model") or first("model")),
                     model_digest=str(meta.get("model_digest") or first("model_digest")),
                     prompt_version=str(meta.get("prompt_version") or first("prompt_version")),
                     records_sha256=str(meta.get("records_sha256") or frame_sha256(records)))


def canonical(value: Any) -> Any:
    """JSON-safe and stable: floats to 12 significant digits, NaN/inf to null, numpy to Python."""
    if isinstance(value, dict):
        return {str(k): canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return float(f"{f:.12g}") if math.isfinite(f) else None
    return value


def _canonical_check(check: Check) -> Check:
    return Check(**canonical(asdict(check)))


def _side_metrics(ctx: GateContext, scored: ScoredRecords, side: str) -> dict[str, Any]:
    n = len(scored)
    accepted = int(scored.accepted.sum())
    low, high = stats.wilson_interval(accepted, n, ctx.confidence)
    out: dict[str, Any] = {"n": n, "accepted": accepted, "acceptance_rate": accepted / n if n else 0.0,
                           "acceptance_ci": [low, high], "errors": int(scored.errored.sum()),
                           "scorers": {name: {"pass_rate": float(col.passed.mean()) if n else 0.0,
                                              **({"report": col.report} if col.report else {})}
                                       for name, col in scored.results.items()}}
    for column in ("ttft_s", "latency_s"):
        if column in scored.records.columns:
            est = ctx.latency(column, side)
            out[f"{column}_p95"] = {"value": est.value, "ci": [est.ci_low, est.ci_high], "n": est.n}
    tokens = scored.records["completion_tokens"].to_numpy(dtype=float, na_value=np.nan)
    out["completion_tokens_total"] = float(np.nansum(tokens))
    return out


def _metrics(ctx: GateContext) -> dict[str, Any]:
    paired = ctx.paired
    metrics: dict[str, Any] = {
        "policy": POLICY,
        "cases_total": ctx.cases_total,
        "candidate": _side_metrics(ctx, ctx.candidate, "candidate"),
        "incumbent": _side_metrics(ctx, ctx.incumbent, "incumbent"),
        "paired": paired.to_dict(),
        "minimum_detectable_difference": {
            "value": stats.minimum_detectable_difference(
                paired.n, (paired.candidate_only + paired.incumbent_only) / paired.n if paired.n else 0.0,
                confidence=ctx.confidence, power=0.8),
            "power": 0.8,
            "note": "smallest acceptance difference this many cases detects 80% of the time",
        },
        "tool_policy_violations": ctx.tool_violations,
    }
    if ctx.repeat_accepted is not None:
        metrics["repeats"] = _repeat_metrics(ctx)
    if ctx.pairwise is not None:
        metrics["pairwise"] = ctx.pairwise.to_dict()
    metrics["judge"] = {"digest": judge_digest(ctx.scenario),
                        "calibration": ctx.judge.to_dict() if ctx.judge else None,
                        "corrected": ctx.corrected.to_dict() if ctx.corrected else None}
    costs = ctx.costs
    if costs is not None:
        metrics["cost"] = asdict(costs)
    return metrics


def _repeat_metrics(ctx: GateContext) -> dict[str, Any]:
    """pass@k, pass^k, the share of varying cases per model, the clustered difference and the
    verdict's stability (probability that a rerun with new seeds changes the decision)."""
    cand, inc = ctx.repeat_accepted  # type: ignore[misc]
    stability = _repeats.decision_stability(cand, inc, margin=float(ctx.criteria.non_inferiority_margin),
                                            confidence=ctx.confidence, replicates=1000,
                                            rng=ctx.rng("stability"))
    return {"k": ctx.repeats, "candidate": _repeats.repeat_summary(cand).to_dict(),
            "incumbent": _repeats.repeat_summary(inc).to_dict(),
            "paired": ctx.clustered.to_dict() if ctx.clustered else None,
            "stability": stability.to_dict()}


def _critical_family(name: str, critical: set[str]) -> bool:
    family = name.split(":", 1)[0]
    return name in critical or family in critical or (family == "slice" and "slice_guard" in critical) \
        or (family in ("ttft_p95", "latency_p95") and "latency_slo" in critical)


def decide(checks: Sequence[Check]) -> tuple[str, str, list[str]]:
    """(decision, reason, vetoed_by) under the module's policy."""
    failing = [c for c in checks if c.status == "fail"]
    vetoes = [c.name for c in failing if c.critical]
    if failing:
        names = ", ".join(c.name for c in failing)
        head = f"critical check failed (veto): {', '.join(vetoes)}" if vetoes else f"failed: {names}"
        extra = [c.name for c in failing if not c.critical]
        if vetoes and extra:
            head += f"; also failed: {', '.join(extra)}"
        return "FAIL", head, vetoes
    inconclusive = [c.name for c in checks if c.status == "inconclusive"]
    if inconclusive:
        return "INCONCLUSIVE", "no check failed; undecided: " + ", ".join(inconclusive), []
    return "PASS", "every check passed or was not configured", []


def evaluate_gate(ctx: GateContext, *, extra_checks: Sequence[CheckFn] = (),
                  sequential: dict[str, Any] | None = None) -> Verdict:
    """Run the registered checks, then the extra ones (which see `ctx.prior_checks`), and decide."""
    critical = set(ctx.criteria.critical)
    ctx.sequential = sequential
    checks: list[Check] = []
    for fn in GATE_CHECKS.values():
        checks.extend(fn(ctx))
    ctx.prior_checks = list(checks)
    for fn in extra_checks:
        checks.extend(fn(ctx))
    checks = [_canonical_check(replace(c, critical=c.critical or _critical_family(c.name, critical)))
              for c in checks]
    decision, reason, vetoes = decide(checks)
    margin = ctx.criteria.slice_guard.margin
    slices = [canonical({**asdict(s), "margin": margin,
                         "status": ("fail" if s.p_holm < 1 - ctx.confidence else "pass") if s.tested
                         else "skipped"}) for s in ctx.slices]
    return Verdict(
        scenario_id=ctx.scenario.id, decision=decision, checks=checks,  # type: ignore[arg-type]
        candidate=_side(ctx.candidate, ctx.candidate_meta), incumbent=_side(ctx.incumbent, ctx.incumbent_meta),
        contract_sha256=ctx.contract_sha256, dataset_sha256=ctx.dataset_sha256, n=len(ctx.candidate),
        confidence=ctx.confidence, seed=ctx.seed, metrics=canonical(_metrics(ctx)), slices=slices,
        sequential=canonical(sequential) if sequential is not None else None,
        reason=reason, vetoed_by=vetoes)


def run_gate(loaded: Any, dataset: Any, candidate_records: pd.DataFrame, candidate_meta: dict[str, Any] | None,
             incumbent_records: pd.DataFrame, incumbent_meta: dict[str, Any] | None, *,
             seed: int | None = None, extra_checks: Sequence[CheckFn] = (),
             sequential: dict[str, Any] | None = None, require_all_cases: bool = True) -> Verdict:
    """Score both record sets and run the gate. `loaded` is a `scenarios.LoadedScenario` (or a
    `Scenario`); `dataset` a `ScenarioDataset` or a DataFrame of the cases. Records must cover the
    same example ids (every case unless `require_all_cases=False`, as in sequential runs)."""
    scenario = _scenario_of(loaded)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise InputError(f"seed {seed!r} is not a non-negative whole number", field="--seed",
                         fix="pass --seed 0 or another non-negative integer (or leave it out)")
    dataset_digest = getattr(dataset, "sha256", None) or getattr(getattr(scenario, "dataset", None), "sha256", None)
    for side, frame, meta in (("candidate records", candidate_records, candidate_meta),
                              ("incumbent records", incumbent_records, incumbent_meta)):
        check_record_values(frame, side=side)
        check_records_match(scenario, check_record_meta(meta), frame, dataset_sha256=dataset_digest, side=side)
    cases = cases_frame(scenario, dataset)
    case_codes: dict[str, Any] = {}  # the reference is factorised once for both sides
    try:
        cand_repeats = _repeats.split_repeats(candidate_records)
        inc_repeats = _repeats.split_repeats(incumbent_records)
    except ValueError as exc:
        raise InputError(f"records: {exc}", field="repeat", fix="number repeats 0..k-1") from None
    if len(cand_repeats) != len(inc_repeats):
        raise InputError(f"candidate records have {len(cand_repeats)} repeats per case, incumbent records "
                         f"{len(inc_repeats)}", field="repeat", fix="generate both models with the same sampling.repeats")
    candidate = score_records(scenario, cases, cand_repeats[0], require_all_cases=require_all_cases,
                              side="candidate records", case_codes=case_codes)
    incumbent = score_records(scenario, cases, inc_repeats[0], require_all_cases=require_all_cases,
                              side="incumbent records", case_codes=case_codes)
    repeat_accepted = _score_repeats(scenario, cases, cand_repeats, inc_repeats, candidate, incumbent,
                                     require_all_cases, case_codes)
    if len(candidate) != len(incumbent) or not candidate.example_ids.equals(incumbent.example_ids):
        only_c = sorted(set(candidate.example_ids) - set(incumbent.example_ids))[:5]
        only_i = sorted(set(incumbent.example_ids) - set(candidate.example_ids))[:5]
        raise InputError("candidate and incumbent records cover different example ids "
                         f"(only candidate: {', '.join(only_c) or '-'}; only incumbent: {', '.join(only_i) or '-'})",
                         field="example_id", fix="evaluate both models on the same cases")
    dataset_sha = getattr(dataset, "sha256", None) or str((candidate_meta or {}).get("dataset_sha256") or "")
    ctx = GateContext(
        scenario=scenario, candidate=candidate, incumbent=incumbent,
        candidate_meta=dict(candidate_meta or {}), incumbent_meta=dict(incumbent_meta or {}),
        seed=int(scenario.success_criteria.seed if seed is None else seed),
        contract_sha256=str(getattr(loaded, "contract_sha256", "") or ""), dataset_sha256=dataset_sha,
        cases_total=len(cases), repeat_accepted=repeat_accepted,
        judge=_calibrate(scenario, cases, float(scenario.success_criteria.confidence)),
        pairwise=_judge_pairs(scenario, candidate, incumbent))
    return evaluate_gate(ctx, extra_checks=extra_checks, sequential=sequential)


def _judge_pairs(scenario: Scenario, candidate: ScoredRecords, incumbent: ScoredRecords) -> _pairwise.PairwiseResult | None:
    """Run the contract's pairwise judge on the two answers of every case (repeat 0); a failed
    generation is shown to the judge as an empty answer."""
    spec = scenario.scoring.pairwise_judge
    if spec is None:
        return None

    def outputs(scored: ScoredRecords) -> list[str]:
        text = scored.records["output"].astype("string").fillna("").to_numpy(dtype=object)
        return ["" if bad else str(t) for t, bad in zip(text, scored.errored)]

    references = candidate.cases["reference"].astype("string").fillna("").tolist()
    return _pairwise.judge_pairs(spec, references, outputs(candidate), outputs(incumbent),
                                 float(scenario.success_criteria.confidence))


def _score_repeats(scenario: Scenario, cases: pd.DataFrame, cand_repeats: list[pd.DataFrame],
                   inc_repeats: list[pd.DataFrame], candidate: ScoredRecords, incumbent: ScoredRecords,
                   require_all_cases: bool, case_codes: dict[str, Any]) -> tuple[np.ndarray, np.ndarray] | None:
    """(n, k) accepted matrices over every repeat, rows in the order of repeat 0's cases."""
    if len(cand_repeats) < 2:
        return None
    columns: dict[str, list[np.ndarray]] = {"candidate": [candidate.accepted], "incumbent": [incumbent.accepted]}
    for j in range(1, len(cand_repeats)):
        for side, frames, first in (("candidate", cand_repeats, candidate), ("incumbent", inc_repeats, incumbent)):
            scored = score_records(scenario, cases, frames[j], require_all_cases=require_all_cases,
                                   side=f"{side} records (repeat {j})", case_codes=case_codes)
            if not scored.example_ids.equals(first.example_ids):
                raise InputError(f"{side} records of repeat {j} cover other cases than repeat 0",
                                 field="repeat", fix="generate every repeat for the same cases")
            columns[side].append(scored.accepted)
    return np.column_stack(columns["candidate"]), np.column_stack(columns["incumbent"])


def run_gate_on_files(loaded: Any, dataset: Any, candidate_path: str | Path, incumbent_path: str | Path, *,
                      seed: int | None = None, extra_checks: Sequence[CheckFn] = (),
                      sequential: dict[str, Any] | None = None, require_all_cases: bool = True) -> Verdict:
    """`run_gate` on two generation-record files; each file's sha256 is its identity in the verdict."""
    cand, cand_meta = read_records(candidate_path)
    inc, inc_meta = read_records(incumbent_path)
    scenario = _scenario_of(loaded)
    dataset_digest = getattr(dataset, "sha256", None) or scenario.dataset.sha256
    check_records_match(scenario, cand_meta, cand, dataset_sha256=dataset_digest, side="candidate records",
                        file=candidate_path)
    check_records_match(scenario, inc_meta, inc, dataset_sha256=dataset_digest, side="incumbent records",
                        file=incumbent_path)
    cand_meta = {**cand_meta, "records_sha256": file_sha256(candidate_path)}
    inc_meta = {**inc_meta, "records_sha256": file_sha256(incumbent_path)}
    return run_gate(loaded, dataset, cand, cand_meta, inc, inc_meta, seed=seed, extra_checks=extra_checks,
                    sequential=sequential, require_all_cases=require_all_cases)
