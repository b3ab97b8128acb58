"""Numbers and sentences for people: units chosen from the metric's name, the verdict in words.

Nothing here computes a statistic; it only formats values the verdict already holds.
"""
from __future__ import annotations

import math
from typing import Any

from releasegate.evals import Check, Evidence, Verdict

STATUS_WORDS = {"pass": "passed", "fail": "failed", "inconclusive": "undecided", "skipped": "skipped"}
STATUS_SYMBOLS = {"pass": "✓", "fail": "✗", "inconclusive": "?", "skipped": "–"}


def evidence_words(evidence: Evidence | None) -> str:
    """A side's evidence provenance in words (a verdict without the field: self-declared)."""
    if evidence is None or not evidence.attested:
        return "self-declared (no runner attestation)"
    return (f"attested by {evidence.runner} (key {str(evidence.runner_keyid)[:12]}, "
            f"attestation sha256 {str(evidence.attestation_sha256)[:12]})")


def unit_of(metric: str) -> str:
    """The display unit a metric name implies (order matters: `cost_ratio` is a ratio)."""
    m = metric.lower()
    if "ratio" in m:
        return "ratio"
    if "difference" in m or m.endswith("_diff"):
        return "points"
    if "usd" in m or "cost" in m:
        return "usd"
    if "rate" in m or "share" in m or "fraction" in m:
        return "percent"
    if m.endswith("_s") or "latency" in m or "ttft" in m or "seconds" in m:
        return "seconds"
    if "violation" in m or "count" in m or "tokens" in m:
        return "count"
    return "number"


def usd(value: float) -> str:
    """Dollars with enough decimals to show three significant digits of a tiny cost."""
    if value == 0:
        return "$0"
    if abs(value) >= 1:
        return f"${value:,.2f}"
    decimals = max(2, -math.floor(math.log10(abs(value))) + 2)
    return f"${value:.{decimals}f}"


def fmt(metric: str, value: float | None, *, signed: bool = True) -> str:
    """One value in the unit its metric implies; '—' when absent."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    unit = unit_of(metric)
    if unit == "points":
        return f"{value * 100:+.1f} pts" if signed else f"{value * 100:.1f} pts"
    if unit == "percent":
        return f"{value * 100:.1f}%"
    if unit == "usd":
        return usd(value)
    if unit == "ratio":
        return f"{value:.2f}×"
    if unit == "seconds":
        return f"{value:.2f} s"
    if unit == "count":
        return f"{value:,.0f}"
    return f"{value:.4g}"


def fmt_interval(metric: str, low: float | None, high: float | None, unbounded: str | None = None) -> str:
    """'low to high'; an end the verdict flags as unbounded reads 'unbounded', never a number."""
    if low is None and high is None and unbounded is None:
        return "—"
    lo = "unbounded" if unbounded in ("low", "both") else fmt(metric, low)
    hi = "unbounded" if unbounded in ("high", "both") else fmt(metric, high)
    return f"{lo} to {hi}"


def fmt_threshold(check: Check) -> str:
    if check.threshold is None:
        return "—"
    return f"{check.direction.replace('>=', '≥').replace('<=', '≤')} {fmt(check.metric, check.threshold)}"


def points(value: float) -> str:
    """A difference of proportions in percentage points, unsigned, trimmed ('5', '2.5')."""
    text = f"{abs(value) * 100:.1f}".rstrip("0").rstrip(".")
    return text


def confidence_words(confidence: float) -> str:
    return f"{confidence * 100:.0f}%" if (confidence * 100).is_integer() else f"{confidence:.1%}"


def find_check(verdict: Verdict, name: str) -> Check | None:
    """A check by its gate name (`evals.GATE_CHECKS`)."""
    return next((check for check in verdict.checks if check.name == name), None)


def noninferiority_check(verdict: Verdict) -> Check | None:
    return find_check(verdict, "non_inferiority")


def cost_ratio_check(verdict: Verdict) -> Check | None:
    return find_check(verdict, "cost_ratio")


def cost_check(verdict: Verdict) -> Check | None:
    return find_check(verdict, "max_cost_per_accepted")


def min_rate_check(verdict: Verdict) -> Check | None:
    return find_check(verdict, "min_acceptance_rate")


def _cost_clause(verdict: Verdict) -> str | None:
    check = cost_ratio_check(verdict)
    ratio = check.value if check else _metric_ratio(verdict)
    if ratio is None:
        return None
    if abs(ratio - 1) < 0.005:
        return "costs the same per accepted outcome"
    if ratio < 1:
        return f"costs {1 - ratio:.0%} less per accepted outcome"
    return f"costs {ratio - 1:.0%} more per accepted outcome"


def _metric_ratio(verdict: Verdict) -> float | None:
    cost = verdict.metrics.cost if verdict.metrics else None
    return cost.ratio if cost is not None else None


def _sequential_clause(verdict: Verdict) -> str | None:
    seq = verdict.sequential
    if seq is None:
        return None
    used, total = seq.cases_used, seq.cases_total
    if used < total:
        return f"The sequential evaluation stopped early, after {used:,} of {total:,} cases."
    return f"The sequential evaluation used all {total:,} cases."


def verdict_sentence(verdict: Verdict) -> str:
    """The decision in words a product owner can act on, built from the checks.

    PASS: what the candidate is not worse by, at what confidence, and what it costs.
    FAIL: which checks failed and, for quality, by how much it may be worse.
    INCONCLUSIVE: what the interval straddles, so the reader knows more data is the remedy.
    """
    cand, inc = verdict.candidate.entry, verdict.incumbent.entry
    conf = confidence_words(verdict.confidence)
    ni = noninferiority_check(verdict)
    margin = points(ni.threshold) if ni and ni.threshold is not None else None
    total = len(verdict.checks)
    sentences: list[str] = []

    if verdict.decision == "PASS":
        if ni and margin is not None:
            head = (f"Candidate {cand} is not worse than the incumbent {inc} by more than "
                    f"{margin} points, at {conf} confidence")
        else:
            head = f"Candidate {cand} passed the gate against the incumbent {inc} at {conf} confidence"
        cost = _cost_clause(verdict)
        sentences.append(head + (f", and {cost}." if cost else "."))
        passed = sum(c.status == "pass" for c in verdict.checks)
        skipped = sum(c.status == "skipped" for c in verdict.checks)
        sentences.append(f"All {total} checks passed." if passed == total else
                         f"{passed} of {total} checks passed" +
                         (f" and {skipped} {'was' if skipped == 1 else 'were'} skipped." if skipped
                          else "."))
    elif verdict.decision == "FAIL":
        failed = sorted((c for c in verdict.checks if c.status == "fail"), key=lambda c: not c.critical)
        sentences.append(f"Candidate {cand} should not replace the incumbent {inc}: "
                         f"{len(failed)} of {total} checks failed.")
        if ni and ni.status == "fail" and margin is not None:
            worst = points(ni.ci_low) if ni.ci_low is not None else None
            detail = f" (it may be up to {worst} points worse)" if worst and (ni.ci_low or 0) < 0 else ""
            sentences.append(f"Its acceptance rate is worse than the incumbent's by more than the "
                             f"{margin}-point margin at {conf} confidence{detail}.")
        others = [c for c in failed if c is not ni]
        if others:
            sentences.append("Failed: " + "; ".join(f"{c.name} ({c.reason.rstrip('.')})"
                                                    for c in others) + ".")
    else:
        undecided = [c for c in verdict.checks if c.status == "inconclusive"]
        sentences.append(f"The evaluation cannot yet decide whether candidate {cand} may replace "
                         f"the incumbent {inc}.")
        if ni and ni.status == "inconclusive" and margin is not None and ni.ci_low is not None \
                and ni.ci_high is not None:
            sentences.append(f"At {conf} confidence the acceptance difference lies between "
                             f"{fmt(ni.metric, ni.ci_low)} and {fmt(ni.metric, ni.ci_high)}, which "
                             f"straddles the {margin}-point margin; more cases would narrow it.")
        others = [c for c in undecided if c is not ni]
        if others:
            sentences.append("Undecided: " + "; ".join(f"{c.name} ({c.reason.rstrip('.')})"
                                                       for c in others) + ".")
    seq = _sequential_clause(verdict)
    if seq:
        sentences.append(seq)
    return " ".join(sentences)
