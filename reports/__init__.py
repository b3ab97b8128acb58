"""Reports: the product owner's HTML report and the CI Markdown summary.

It renders; it computes no statistic of its own. Every interval shown comes from the verdict;
the case table only feeds display counts and distributions (box plots, lost/won lists).

API
---
- `render_report(ReportInput) -> str` and `write_report(ReportInput, path) -> sha256 hex`
- `render_markdown(verdict, report_path=None) -> str`
- `governance_report(ledger=None, html=None) -> dict`: the portfolio's governance metrics (every
  contract, the gateway's traffic, provider keys outside it); writes the page with `html`
- `render_governance_html(metrics) -> str`: those metrics as a self-contained page
- `verdict_sentence(verdict) -> str`: the decision in words
- `cases_from_scored(candidate, incumbent, scenario) -> DataFrame` from two `evals.ScoredRecords`
- `cases_from_records(candidate_records, incumbent_records, dataset=None, ...) -> DataFrame`
- `load_decision(path) -> DecisionDocument`: a verdict JSON or a DSSE decision envelope
- `report_input_from_records(verdict, loaded, dataset, candidate, incumbent) -> ReportInput`: the
  case table from two record files (repeat 0, scored as in the gate); what the evaluate flow uses
- `report_input_from_files(decision, candidate_records=None, incumbent_records=None, *, cases=None,
  scenario=None, approvals=None) -> ReportInput` (what `releasegate report` uses)

Case table (`ReportInput.cases`, a pandas DataFrame, one row per example)
--------------------------------------------------------------------------
required: example_id (str); inputs (dict of prompt variables, or str, or JSON text);
reference (str); slices (dict field -> value, or JSON text); incumbent_output,
candidate_output (str); incumbent_accepted, candidate_accepted (bool or <NA>: not scored);
incumbent_reasons, candidate_reasons (str or list of str).
optional, per side `incumbent_` / `candidate_`: ttft_s, latency_s (float seconds),
prompt_tokens, completion_tokens (int), cost_usd (float), error (str or null).

What is read from the verdict
-----------------------------
The typed verdict only (`evals.Verdict`; schema docs/schemas/verdict.schema.json): checks by
their gate names (`non_inferiority`, `min_acceptance_rate`, `max_cost_per_accepted`,
`cost_ratio`, `slice:<field>=<value>`, latency metrics for the SLO lines); `metrics`
(`VerdictMetrics`: each side's acceptance rate and interval, `cost`); `slices` (`SliceResult`);
`sequential` (`SequentialSummary`: trajectory, cases used of total, stop reason, savings).
A verdict without metrics (hand-built) shows "not in the verdict" where they would be.
"""
from ._build import report_input_from_files, report_input_from_records
from ._decision import DecisionDocument, load_decision
from ._format import evidence_words, verdict_sentence
from ._governance import governance_report, render_governance_html
from ._html import render_report, write_report
from ._input import (
    CASE_COLUMNS,
    Approval,
    ReportInput,
    cases_from_records,
    cases_from_scored,
)
from ._markdown import render_markdown

__all__ = [
    "CASE_COLUMNS",
    "Approval",
    "DecisionDocument",
    "ReportInput",
    "cases_from_records",
    "cases_from_scored",
    "evidence_words",
    "governance_report",
    "load_decision",
    "render_governance_html",
    "render_markdown",
    "render_report",
    "report_input_from_files",
    "report_input_from_records",
    "verdict_sentence",
    "write_report",
]
