"""Sentences about sampling noise (repeats) and judge error, from the verdict's metrics (issue 18).
The report computes nothing: every number is the verdict's."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from releasegate.evals import Verdict


def _pct(x: Any) -> str:
    return "n/a" if x is None else f"{100 * float(x):.1f}%"


def noise_lines(verdict: Verdict) -> list[str]:
    """One sentence per fact; [] when the run had one generation per case and no calibrated judge."""
    metrics = verdict.metrics
    if metrics is None:
        return []
    lines: list[str] = []
    rep = metrics.repeats
    if rep is not None:
        k = rep.k
        for side, entry in (("candidate", verdict.candidate.entry), ("incumbent", verdict.incumbent.entry)):
            s = getattr(rep, side)
            lines.append(f"{entry}: {k} generations per case; mean acceptance {_pct(s.acceptance_rate)}, "
                         f"pass@{k} {_pct(s.pass_at_k)} (at least one accepted), pass^{k} "
                         f"{_pct(s.pass_hat_k)} (all accepted); outcome varies across repeats on "
                         f"{_pct(s.varying_share)} of cases.")
        stab = rep.stability
        if stab.flip_probability is None:
            lines.append(f"Stability of the decision: unknown ({stab.note or 'no repeats'}).")
        else:
            lines.append(f"Stability of the decision: a rerun with new seeds would change the non-inferiority "
                         f"result ({stab.status}) with estimated probability {_pct(stab.flip_probability)}.")
    judge = metrics.judge
    cal = judge.calibration if judge else None
    cor = judge.corrected if judge else None
    if cal is not None and cor is not None:
        se_lo, se_hi = cal.sensitivity_ci
        sp_lo, sp_hi = cal.specificity_ci
        lines.append(f"Judge error: against {cal.cases} human-labelled outputs the judge's sensitivity is "
                     f"{_pct(cal.sensitivity)} [{_pct(se_lo)}, {_pct(se_hi)}] and specificity "
                     f"{_pct(cal.specificity)} [{_pct(sp_lo)}, {_pct(sp_hi)}].")
        bounded = "" if cor.bounded else " The calibration cannot tell the judge from chance: the interval is unbounded."
        lines.append(f"Corrected for the judge, the difference is {100 * cor.difference:+.1f} points "
                     f"[{100 * cor.ci_low:+.1f}, {100 * cor.ci_high:+.1f}] (as judged: "
                     f"{100 * cor.observed_difference:+.1f} points); acceptance {_pct(cor.candidate_rate)} "
                     f"vs {_pct(cor.incumbent_rate)}.{bounded}")
    if judge is not None and judge.digest and (rep is not None or cal is not None):
        lines.append(f"Judge digest {judge.digest[:12]}: a decision stands only while the contract's judge "
                     "is the same.")
    return lines
