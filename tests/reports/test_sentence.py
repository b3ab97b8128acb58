"""The verdict in words: PASS, FAIL and INCONCLUSIVE sentences and the unit formatting."""
from __future__ import annotations

import pytest

from releasegate.evals import Check
from releasegate.reports import verdict_sentence
from releasegate.reports._format import fmt, unit_of, usd

from report_fixtures import make_verdict, ni_check, sequential_summary


def cost_ratio(value: float) -> Check:
    return Check("cost_ratio", "change", "cost_per_accepted_ratio", value, value * 0.9, value * 1.1,
                 3.0, "<=", "pass", False, "ratio")


def test_pass_sentence_names_margin_confidence_and_cost_saving() -> None:
    verdict = make_verdict("PASS", [ni_check(0.01, -0.02, 0.04, "pass"), cost_ratio(0.62)])
    assert verdict_sentence(verdict) == (
        "Candidate gemma3-v1 is not worse than the incumbent smollm2-v1 by more than 5 points, at "
        "95% confidence, and costs 38% less per accepted outcome. All 2 checks passed.")


def test_pass_sentence_says_more_expensive_and_counts_skipped_checks() -> None:
    skipped = Check("cache_hit_rate", "value", "prefix_cache_hit_rate", None, None, None, None, ">=",
                    "skipped", False, "no cache-hit SLO")
    verdict = make_verdict("PASS", [ni_check(0.0, -0.02, 0.02, "pass", margin=0.025),
                                    cost_ratio(1.34), skipped], confidence=0.9)
    text = verdict_sentence(verdict)
    assert "by more than 2.5 points, at 90% confidence, and costs 34% more per accepted outcome." in text
    assert text.endswith("2 of 3 checks passed and 1 was skipped.")


def test_fail_sentence_says_how_much_worse_and_lists_other_failures() -> None:
    latency = Check("latency_p95", "value", "latency_s_p95", 41.0, 39.0, 44.0, 30.0, "<=", "fail",
                    False, "p95 end-to-end latency 41s exceeds the 30s SLO")
    verdict = make_verdict("FAIL", [ni_check(-0.09, -0.12, -0.06, "fail"), latency, cost_ratio(0.8)])
    assert verdict_sentence(verdict) == (
        "Candidate gemma3-v1 should not replace the incumbent smollm2-v1: 2 of 3 checks failed. "
        "Its acceptance rate is worse than the incumbent's by more than the 5-point margin at 95% "
        "confidence (it may be up to 12 points worse). "
        "Failed: latency_p95 (p95 end-to-end latency 41s exceeds the 30s SLO).")


def test_inconclusive_sentence_gives_the_straddling_interval() -> None:
    verdict = make_verdict("INCONCLUSIVE", [ni_check(-0.02, -0.07, 0.03, "inconclusive")])
    assert verdict_sentence(verdict) == (
        "The evaluation cannot yet decide whether candidate gemma3-v1 may replace the incumbent "
        "smollm2-v1. At 95% confidence the acceptance difference lies between -7.0 pts and +3.0 pts, "
        "which straddles the 5-point margin; more cases would narrow it.")


def test_sequential_stop_is_part_of_the_sentence() -> None:
    verdict = make_verdict("PASS", [ni_check(0.01, -0.02, 0.04, "pass")],
                           sequential=sequential_summary(640, 2000))
    assert verdict_sentence(verdict).endswith(
        "The sequential evaluation stopped early, after 640 of 2,000 cases.")


@pytest.mark.parametrize(("metric", "value", "text"), [
    ("acceptance_difference", -0.0312, "-3.1 pts"),
    ("slice_acceptance_difference", 0.05, "+5.0 pts"),
    ("acceptance_rate", 0.6437, "64.4%"),
    ("prefix_cache_hit_rate", 0.5, "50.0%"),
    ("cost_per_accepted_usd", 0.000423, "$0.000423"),
    ("cost_per_accepted_ratio", 1.337, "1.34×"),
    ("ttft_s_p95", 2.2321, "2.23 s"),
    ("tool_policy_violations", 3.0, "3"),
])
def test_values_are_shown_in_the_unit_their_metric_implies(metric: str, value: float, text: str) -> None:
    assert fmt(metric, value) == text


def test_unit_precedence_and_missing_values() -> None:
    assert unit_of("cost_per_accepted_ratio") == "ratio"  # a ratio of costs is not dollars
    assert fmt("acceptance_rate", None) == "—"
    assert usd(1234.5) == "$1,234.50"
    assert usd(0.0000089612) == "$0.00000896"
