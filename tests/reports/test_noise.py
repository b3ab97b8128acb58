"""Report and Markdown show pass@k, pass^k, varying cases, stability and the judge correction."""
from __future__ import annotations

import numpy as np
from report_fixtures import base_metrics, make_verdict, ni_check

from releasegate.evals import judge_error as JE
from releasegate.evals import repeats as R
from releasegate.evals.gate import canonical
from releasegate.reports import ReportInput, render_markdown, render_report


def _noisy_verdict():
    rng = np.random.default_rng(0)
    cand, inc = rng.random((300, 3)) < 0.75, rng.random((300, 3)) < 0.7
    cal = JE.calibrate_judge(np.array([True] * 70 + [False] * 30),
                             np.array([True] * 56 + [False] * 14 + [False] * 27 + [True] * 3))
    corrected = JE.corrected_paired_difference(cand.mean(axis=1), inc.mean(axis=1), cal)
    metrics = canonical({
        **base_metrics(300),
        "repeats": {"k": 3, "candidate": R.repeat_summary(cand).to_dict(), "incumbent": R.repeat_summary(inc).to_dict(),
                    "paired": R.clustered_paired_difference(cand, inc).to_dict(),
                    "stability": R.decision_stability(cand, inc, margin=0.05, replicates=200).to_dict()},
        "judge": {"digest": "ab" * 32, "calibration": cal.to_dict(), "corrected": corrected.to_dict()}})
    return make_verdict("PASS", [ni_check(0.05, 0.01, 0.09, "pass")], metrics=metrics), cand, corrected


def test_markdown_and_html_carry_the_noise_facts() -> None:
    verdict, cand, corrected = _noisy_verdict()
    markdown = render_markdown(verdict)
    assert f"pass@3 {100 * cand.any(axis=1).mean():.1f}%" in markdown
    assert f"pass^3 {100 * cand.all(axis=1).mean():.1f}%" in markdown
    assert "a rerun with new seeds would change" in markdown
    assert "sensitivity is 80.0%" in markdown and "specificity 90.0%" in markdown
    assert f"Corrected for the judge, the difference is {100 * corrected.difference:+.1f} points" in markdown
    html = render_report(ReportInput(verdict=verdict))
    assert 'id="noise"' in html and "Sampling noise and judge error" in html
    assert "varies across repeats" in html


def test_no_noise_section_for_a_plain_run() -> None:
    verdict = make_verdict("PASS", [ni_check(0.05, 0.01, 0.09, "pass")])
    assert "Noise" not in render_markdown(verdict)
    assert 'id="noise"' not in render_report(ReportInput(verdict=verdict))
