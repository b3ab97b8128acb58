"""The CI summary: verdict, failing checks and the report's path, as a Markdown table."""
from __future__ import annotations

from releasegate.evals import Check
from releasegate.reports import render_markdown

from report_fixtures import make_verdict, ni_check


def test_passing_verdict_has_no_failing_checks_and_links_the_report() -> None:
    verdict = make_verdict("PASS", [ni_check(0.01, -0.02, 0.04, "pass")])
    text = render_markdown(verdict, "out/reports/support-triage.html")
    lines = text.splitlines()
    assert lines[0] == "### releasegate: `support-triage` — gemma3-v1 vs smollm2-v1"
    assert "| Verdict | ✅ **PASS** |" in lines
    assert "| Failing checks | none |" in lines
    assert "| Checks | 1 of 1 passed or skipped |" in lines
    assert lines[-1] == "| Report | [support-triage.html](out/reports/support-triage.html) |"
    assert "| check | status |" not in text  # no failing-check table when nothing failed


def test_failing_checks_are_listed_with_value_interval_threshold_and_reason() -> None:
    latency = Check("latency_p95", "value", "latency_s_p95", 41.0, 39.0, 44.0, 30.0, "<=", "fail",
                    False, "p95 41s | over the 30s SLO")
    undecided = Check("slice:channel=email", "change", "slice_acceptance_difference", -0.1, -0.2, 0.0,
                      -0.15, ">=", "inconclusive", False, "straddles")
    verdict = make_verdict("FAIL", [ni_check(-0.09, -0.12, -0.06, "fail"), latency, undecided])
    text = render_markdown(verdict)
    assert "| Verdict | ❌ **FAIL** |" in text
    assert "| Failing checks | `non_inferiority`, `latency_p95`, `slice:channel=email` |" in text
    assert ("| `non_inferiority` (critical) | failed | -9.0 pts | -12.0 pts to -6.0 pts | ≥ -5.0 pts | "
            "difference -0.090 |") in text
    # a pipe inside a reason must not split the table cell
    assert ("| `latency_p95` | failed | 41.00 s | 39.00 s to 44.00 s | ≤ 30.00 s | "
            "p95 41s \\| over the 30s SLO |") in text
    assert "| `slice:channel=email` | undecided |" in text
    assert "Report" not in text  # no path given


def test_inconclusive_verdict_shows_the_warning_icon() -> None:
    verdict = make_verdict("INCONCLUSIVE", [ni_check(-0.02, -0.07, 0.03, "inconclusive")])
    assert "| Verdict | ⚠️ **INCONCLUSIVE** |" in render_markdown(verdict)
