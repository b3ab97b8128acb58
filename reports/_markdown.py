"""The CI summary: a short Markdown table for pull-request comments and Prefect artifacts."""
from __future__ import annotations

from pathlib import Path

from releasegate.evals import Verdict

from ._noise import noise_lines
from ._format import STATUS_WORDS, evidence_words, fmt, fmt_interval, fmt_threshold, verdict_sentence

_ICONS = {"PASS": "✅", "FAIL": "❌", "INCONCLUSIVE": "⚠️"}


def _cell(text: str) -> str:
    """Markdown table cells cannot hold a pipe or a newline."""
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(verdict: Verdict, report_path: str | Path | None = None) -> str:
    """Verdict, failing checks and where the full report is, as GitHub-flavoured Markdown."""
    failing = verdict.failing_checks
    lines = [
        f"### releasegate: `{verdict.scenario_id}` — {verdict.candidate.entry} vs "
        f"{verdict.incumbent.entry}",
        "",
        "| | |",
        "|---|---|",
        f"| Verdict | {_ICONS.get(verdict.decision, '')} **{verdict.decision}** |",
        f"| Summary | {_cell(verdict_sentence(verdict))} |",
        f"| Checks | {len(verdict.checks) - len(failing)} of {len(verdict.checks)} passed or skipped |",
        f"| Failing checks | {_cell(', '.join(f'`{c.name}`' for c in failing)) or 'none'} |",
        f"| Evidence | candidate {_cell(evidence_words(verdict.candidate.evidence))}; "
        f"incumbent {_cell(evidence_words(verdict.incumbent.evidence))} |",
    ]
    if report_path is not None:
        text = str(report_path)
        link = text if "://" in text else Path(text).as_posix()
        lines.append(f"| Report | [{_cell(Path(text).name if '://' not in text else text)}]({link}) |")
    lines += [f"| Noise | {_cell(line)} |" for line in noise_lines(verdict)]
    if failing:
        lines += ["", "| check | status | value | interval | threshold | reason |",
                  "|---|---|---|---|---|---|"]
        for c in failing:
            lines.append(
                f"| `{_cell(c.name)}`{' (critical)' if c.critical else ''} | "
                f"{STATUS_WORDS.get(c.status, c.status)} | {_cell(fmt(c.metric, c.value))} | "
                f"{_cell(fmt_interval(c.metric, c.ci_low, c.ci_high, c.unbounded))} | {_cell(fmt_threshold(c))} | "
                f"{_cell(c.reason)} |")
    return "\n".join(lines) + "\n"
