"""The HTML report's content, read as text: every check, the figures, ownership, provenance,
escaping, determinism and self-containment. The browser test (test_browser.py) renders it."""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pandas as pd
import pytest

from releasegate.evals import Verdict
from releasegate.reports import CASE_COLUMNS, ReportInput, render_report, write_report
from releasegate.reports._format import fmt, fmt_interval
from releasegate.core import InputError
from releasegate.scenarios import LoadedScenario

from report_fixtures import make_verdict, ni_check


@pytest.fixture(scope="module")
def html(demo: tuple[Verdict, pd.DataFrame], contract: LoadedScenario, approvals: list) -> str:
    verdict, cases = demo
    return render_report(ReportInput(verdict=verdict, scenario=contract, cases=cases,
                                     approvals=approvals, versions={"releasegate": "0.1.0",
                                                                    "vllm": "0.32.0"}))


def _text(fragment: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment)).strip()


def test_verdict_comes_first_in_words(html: str, demo: tuple[Verdict, pd.DataFrame]) -> None:
    verdict, _ = demo
    body = html[html.index("<main>"):]
    assert body.index('id="verdict"') < body.index('id="checks"')  # before any table or figure
    assert verdict.decision == "PASS" and verdict.sequential is not None
    sentence = re.search(r'data-testid="verdict-sentence">([^<]*)<', html).group(1)
    assert sentence.startswith("Candidate gemma3-v1 is not worse than the incumbent smollm2-v1 by "
                               "more than 5 points, at 95% confidence, and costs")
    assert f"after {verdict.sequential.cases_used:,} of 2,000 cases" in sentence


def test_every_check_has_a_row_with_value_interval_threshold_status_reason(
        html: str, demo: tuple[Verdict, pd.DataFrame]) -> None:
    verdict, _ = demo
    rows = dict(re.findall(r'<tr data-check="([^"]+)" class="status-\w+">(.*?)</tr>', html, re.S))
    assert list(rows) == [c.name for c in verdict.checks]
    assert len(verdict.checks) == 13
    for check in verdict.checks:
        text = _text(rows[check.name])
        assert fmt(check.metric, check.value) in text
        assert fmt_interval(check.metric, check.ci_low, check.ci_high) in text
        assert check.reason.replace("&", "&amp;") in rows[check.name]
        assert {"pass": "passed", "skipped": "skipped"}[check.status] in text
    assert "≥ -5.0 pts" in _text(rows["non_inferiority"])
    assert "critical" in _text(rows["non_inferiority"])
    assert '<th scope="col">Threshold</th>' in html


def test_figures_are_inline_accessible_svg(html: str) -> None:
    figures = re.findall(r'<figure id="(fig-[a-z]+)"[^>]*>(.*?)</figure>', html, re.S)
    assert [f for f, _ in figures] == ["fig-acceptance", "fig-slices", "fig-sequential", "fig-cost",
                                       "fig-latency", "fig-tokens"]
    for fig_id, body in figures:
        assert re.search(rf'<svg[^>]* role="img" aria-labelledby="{fig_id}-title {fig_id}-desc"', body)
        assert f'<title id="{fig_id}-title">' in body and f'<desc id="{fig_id}-desc">' in body
        assert "<figcaption>" in body
    # ids stay unique across the six SVGs (matplotlib's clip paths are salted per figure)
    ids = re.findall(r' id="([^"]+)"', html)
    assert len(ids) == len(set(ids))


def test_slice_forest_plot_text_alternative_carries_each_slice(html: str,
                                                               demo: tuple[Verdict, pd.DataFrame]) -> None:
    verdict, _ = demo
    desc = re.search(r'<desc id="fig-slices-desc">(.*?)</desc>', html, re.S).group(1)
    for item in verdict.slices:
        assert f"{item.field} = {item.value} {item.difference * 100:+.1f} points" in desc
    assert "Margin: 15 points below zero." in desc


def test_sequential_figure_marks_the_stop(html: str, demo: tuple[Verdict, pd.DataFrame]) -> None:
    verdict, _ = demo
    used = verdict.sequential.cases_used
    desc = re.search(r'<desc id="fig-sequential-desc">(.*?)</desc>', html, re.S).group(1)
    assert f"stopped at {used:,} of 2,000 cases, PASS." in desc
    assert "Margin: 5 points below zero." in desc
    assert f"saving {2000 - used:,} cases" in html


def test_cases_lost_and_won_match_the_case_table(html: str, demo: tuple[Verdict, pd.DataFrame]) -> None:
    _, cases = demo
    lost = cases[cases.incumbent_accepted & ~cases.candidate_accepted]
    won = cases[~cases.incumbent_accepted & cases.candidate_accepted]
    assert len(lost) > 0 and len(won) > 0
    for table_id, expected in (("cases-lost", lost), ("cases-won", won)):
        table = re.search(rf'<table class="cases" id="{table_id}".*?</table>', html, re.S).group(0)
        shown = re.findall(r'<th scope="row"><code>([^<]+)</code>', table)
        assert shown == list(expected.example_id)
    assert f"the candidate lost {len(lost)} and won {len(won)}" in html
    assert '<select data-filter="channel">' in html


def test_owners_raci_escalation_approvals_and_provenance(html: str, contract: LoadedScenario,
                                                         demo: tuple[Verdict, pd.DataFrame]) -> None:
    verdict, _ = demo
    scenario = contract.scenario
    for role in ("product", "platform", "quality", "cost", "incident"):
        assert getattr(scenario.owners, role).id in html
    assert html.count("<th scope=\"row\">model release</th>") == 1
    assert "head-of-support@support.example" in html and "platform-director@platform.example" in html
    status = re.search(r'data-testid="approval-status"><strong>([^<]*)<', html).group(1)
    assert status == "Not approved yet: waiting for a valid platform owner signature."
    assert "SHA256:q3Jk0m6xVh1bC2R8yN5tW4pLz9aE7uF0dG3sH2jK1lM" in html
    for digest in (verdict.contract_sha256, verdict.dataset_sha256, verdict.candidate.model_digest,
                   verdict.incumbent.records_sha256):
        assert digest in html
    assert "<th scope=\"row\">vllm version</th><td><code>0.32.0</code>" in html


def test_approved_when_both_owners_signed_with_valid_keys(contract: LoadedScenario) -> None:
    verdict = make_verdict("PASS", [ni_check(0.01, -0.02, 0.04, "pass")])
    both = [{"role": "product", "identity": "product-owner@support.example", "fingerprint": "fp1",
             "valid": True},
            {"role": "platform", "identity": "platform-owner@platform.example", "fingerprint": "fp2",
             "valid": True}]
    html = render_report(ReportInput(verdict=verdict, scenario=contract, approvals=both))
    assert "Approved: both keys signed" in html
    wrong = [both[0], {**both[1], "identity": "someone-else@platform.example"}]
    html = render_report(ReportInput(verdict=verdict, scenario=contract, approvals=wrong))
    assert "valid key, not the contract&#39;s owner" in html
    assert "Not approved yet: waiting for a valid platform owner signature." in html


def test_self_contained_no_external_resources(html: str) -> None:
    assert not re.search(r'(src|href)\s*=\s*"(?!#)', html)  # only in-page anchors
    assert "<link" not in html and "@import" not in html
    assert not re.search(r"url\((?!#)", html)  # clip paths refer to in-page ids only
    assert "default-src 'none'" in html  # the browser refuses any fetch, should one slip in


def test_model_output_is_escaped(contract: LoadedScenario, demo: tuple[Verdict, pd.DataFrame]) -> None:
    verdict, cases = demo
    cases = cases.copy()
    lost = cases.index[cases.incumbent_accepted & ~cases.candidate_accepted][0]
    cases.at[lost, "candidate_output"] = "<script>alert('x')</script>"
    html = render_report(ReportInput(verdict=verdict, scenario=contract, cases=cases))
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html


def test_same_input_same_bytes_and_write_returns_the_file_digest(
        tmp_path: Path, contract: LoadedScenario, demo: tuple[Verdict, pd.DataFrame]) -> None:
    verdict, cases = demo
    report = ReportInput(verdict=verdict, scenario=contract, cases=cases, versions={"releasegate": "x"})
    digest = write_report(report, tmp_path / "a" / "report.html")
    assert digest == hashlib.sha256((tmp_path / "a" / "report.html").read_bytes()).hexdigest()
    assert write_report(report, tmp_path / "b.html") == digest  # reproducible: decisions sign it
    assert not list(tmp_path.glob("**/*.tmp"))


def test_without_contract_or_cases_the_page_says_what_is_missing() -> None:
    verdict = make_verdict("INCONCLUSIVE", [ni_check(-0.02, -0.07, 0.03, "inconclusive")])
    html = render_report(ReportInput(verdict=verdict))
    assert "The scenario contract was not given to this report" in html
    assert "No per-example table was given to this report" in html
    assert "Not approved yet: waiting for a valid product owner and platform owner signature." in html
    assert 'id="fig-sequential"' not in html  # not a sequential evaluation


def test_case_table_missing_columns_is_an_input_error(demo: tuple[Verdict, pd.DataFrame]) -> None:
    verdict, cases = demo
    with pytest.raises(InputError, match="missing columns: reference, candidate_reasons"):
        render_report(ReportInput(verdict=verdict, cases=cases.drop(columns=["reference",
                                                                             "candidate_reasons"])))
    assert list(CASE_COLUMNS)[:3] == ["example_id", "inputs", "reference"]
