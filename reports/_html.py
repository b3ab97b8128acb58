"""The product owner's HTML report: one self-contained file (inline CSS, JS and SVG)."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
from markupsafe import Markup, escape

from releasegate.core import atomic_write_bytes

from ._noise import noise_lines
from ._evidence import (
    acceptance_rates,
    cost_ceiling,
    cost_per_accepted,
    latency_slos,
    overall_difference,
    overall_margin,
    sequential_trajectory,
    slice_differences,
    slice_margin,
)
from ._figures import (
    Figure,
    acceptance_figure,
    cost_figure,
    forest_figure,
    latency_figure,
    sequential_figure,
    tokens_figure,
)
from ._format import (
    STATUS_SYMBOLS,
    STATUS_WORDS,
    confidence_words,
    cost_ratio_check,
    evidence_words,
    fmt,
    fmt_interval,
    fmt_threshold,
    min_rate_check,
    noninferiority_check,
    usd,
    verdict_sentence,
)
from ._input import ReportInput, check_cases

if TYPE_CHECKING:
    import pandas as pd

    from releasegate.evals import Verdict
    from releasegate.scenarios import Scenario

_TEXT_LIMIT = 800  # characters of one input/output shown in a case row


def _template_text(name: str) -> str:
    return resources.files("releasegate.reports").joinpath("templates", name).read_text(encoding="utf-8")


def _figure_html(fig: Figure) -> Markup:
    return Markup(
        f'<figure id="{fig.id}" data-figure="{fig.id}">{fig.svg}'
        f"<figcaption><strong>{escape(fig.title)}.</strong> {escape(fig.caption)}</figcaption></figure>"
    )


def _short(text: Any) -> str:
    text = "" if text is None or (isinstance(text, float) and text != text) else str(text)
    return text if len(text) <= _TEXT_LIMIT else text[:_TEXT_LIMIT] + " …"


def _inputs_text(value: Any) -> str:
    if isinstance(value, dict):
        return "\n".join(f"{k}: {v}" for k, v in value.items())
    if isinstance(value, str):
        try:  # inputs stored as JSON text (e.g. from Parquet) read as a mapping
            loaded = json.loads(value)
        except ValueError:
            return value
        return _inputs_text(loaded) if isinstance(loaded, dict) else value
    return "" if value is None else str(value)


def _slices_of(value: Any) -> dict[str, str]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return {str(k): str(v) for k, v in (value or {}).items()}


def _flag(value: Any) -> bool | None:
    try:
        if value is None or value != value:  # None or NaN
            return None
        return bool(value)
    except (TypeError, ValueError):  # pandas.NA refuses bool()
        return None


def _case_tables(cases: pd.DataFrame, limit: int) -> dict[str, Any]:
    inc = [_flag(v) for v in cases["incumbent_accepted"]]
    cand = [_flag(v) for v in cases["candidate_accepted"]]
    lost = [i for i, (a, b) in enumerate(zip(inc, cand)) if a is True and b is False]
    won = [i for i, (a, b) in enumerate(zip(inc, cand)) if a is False and b is True]
    unscored = sum(a is None or b is None for a, b in zip(inc, cand))

    def rows(indices: list[int]) -> list[dict[str, Any]]:
        out = []
        for i in indices[:limit]:
            row = cases.iloc[i]
            slices = _slices_of(row["slices"])
            out.append({
                "id": str(row["example_id"]),
                "slices_json": json.dumps(slices, sort_keys=True),
                "slices_text": ", ".join(f"{k}={v}" for k, v in slices.items()),
                "input": _short(_inputs_text(row["inputs"])),
                "reference": _short(row["reference"]),
                **{f"{side}_{k}": v for side in ("incumbent", "candidate") for k, v in {
                    "output": _short(row[f"{side}_output"]),
                    "accepted": _flag(row[f"{side}_accepted"]),
                    "verdict": "accepted" if _flag(row[f"{side}_accepted"]) else "not accepted",
                    "reasons": _short(_reasons_text(row[f"{side}_reasons"])),
                }.items()},
            })
        return out

    filters: dict[str, set[str]] = {}
    for value in cases["slices"]:
        for k, v in _slices_of(value).items():
            filters.setdefault(k, set()).add(v)
    summary = (f"Of {len(cases):,} cases, the candidate lost {len(lost):,} and won {len(won):,}; "
               f"the other {len(cases) - len(lost) - len(won) - unscored:,} had the same outcome "
               "for both models.")
    if unscored:
        summary += f" {unscored:,} cases were not scored for both models."
    return {
        "summary": summary,
        "filters": [(k, sorted(v)) for k, v in sorted(filters.items())],
        "tables": [
            {"id": "cases-lost", "title": f"Lost: {len(lost):,} cases", "rows": rows(lost),
             "total": len(lost)},
            {"id": "cases-won", "title": f"Won: {len(won):,} cases", "rows": rows(won),
             "total": len(won)},
        ],
    }


def _reasons_text(value: Any) -> str:
    if value is None or isinstance(value, float) and value != value:
        return ""
    if isinstance(value, str):
        return value
    if hasattr(value, "tolist") or isinstance(value, (list, tuple)):
        return "; ".join(str(v) for v in list(value))
    return str(value)


@dataclass(frozen=True)
class _Card:
    label: str
    value: str
    note: str = ""


def _cards(verdict: Verdict, rates: list, costs: list) -> list[_Card]:
    cards = []
    for est in rates:
        if est.value is not None:
            interval = (f"interval {est.ci_low:.1%} to {est.ci_high:.1%}"
                        if est.ci_low is not None and est.ci_high is not None else "")
            cards.append(_Card(f"Accepted, {est.label.split(': ', 1)[0]}", f"{est.value:.1%}", interval))
    ni = noninferiority_check(verdict)
    if ni is not None and ni.value is not None:
        cards.append(_Card("Difference (candidate − incumbent)", fmt(ni.metric, ni.value),
                           f"interval {fmt_interval(ni.metric, ni.ci_low, ni.ci_high, ni.unbounded)}"))
    ratio = cost_ratio_check(verdict)
    cand_cost = costs[1] if len(costs) > 1 else None
    if cand_cost is not None and cand_cost.value is not None:
        note = f"incumbent {usd(costs[0].value)}" if costs[0].value is not None else ""
        if ratio is not None and ratio.value is not None:
            note = (note + "; " if note else "") + f"ratio {ratio.value:.2f}×"
        if cand_cost.value < 0.01:  # tiny per-answer costs read better at volume
            note = (note + "; " if note else "") + f"{usd(cand_cost.value * 1000)} per 1,000"
        cards.append(_Card("Cost per accepted outcome", usd(cand_cost.value), note))
    seq = verdict.sequential
    if seq is not None and seq.cases_total:
        used, total = seq.cases_used, seq.cases_total
        cards.append(_Card("Cases evaluated", f"{used:,} of {total:,}", "sequential: stopped early"
                           if used < total else "sequential: used all"))
    else:
        cards.append(_Card("Cases evaluated", f"{verdict.n:,}"))
    return cards


def _approvals(report: ReportInput, scenario: Scenario | None) -> dict[str, Any]:
    given = report.approval_list
    owners = scenario.owners if scenario is not None else None
    rows = []
    for role in ("product", "platform"):
        owner = getattr(owners, role, None) if owners is not None else None
        expected = owner.id if owner is not None else ""
        signed = [a for a in given if a.role == role]
        if not signed:
            rows.append({"role": role, "identity": "", "expected": expected, "fingerprint": "",
                         "state": "awaiting signature", "css": "missing"})
        for a in signed:
            if a.valid is None:
                state, css = "present, not verified here", "unverified"
            elif a.valid and expected and a.identity != expected:
                state, css = "valid key, not the contract's owner", "invalid"
            else:
                state, css = ("valid", "valid") if a.valid else ("INVALID", "invalid")
            rows.append({"role": role, "identity": a.identity,
                         "expected": expected if expected != a.identity else "",
                         "fingerprint": a.fingerprint, "state": state, "css": css})
    for a in given:
        if a.role not in ("product", "platform"):
            rows.append({"role": a.role, "identity": a.identity, "expected": "",
                         "fingerprint": a.fingerprint,
                         "state": "valid" if a.valid else ("INVALID" if a.valid is False else
                                                           "present, not verified here"),
                         "css": "valid" if a.valid else "invalid" if a.valid is False else "unverified"})
    valid_roles = {r["role"] for r in rows if r["css"] == "valid"}
    two_keys = {"product", "platform"} <= valid_roles
    identities = {r["identity"] for r in rows if r["css"] == "valid" and r["role"] in ("product", "platform")}
    if two_keys and len(identities) == 2:
        status = "Approved: both keys signed (product owner and platform owner, two different people)."
    else:
        missing = [r["role"] for r in rows if r["role"] in ("product", "platform") and r["css"] != "valid"]
        status = ("Not approved yet: waiting for a valid " + " and ".join(f"{m} owner" for m in missing)
                  + " signature." if missing else
                  "Not approved: the two signatures must come from two different people.")
    return {"status": status, "rows": rows}


def _raci(scenario: Scenario) -> list[dict[str, str]]:
    rows = []
    for activity, entry in scenario.raci.items():
        rows.append({"activity": activity.replace("_", " "),
                     "responsible": ", ".join(entry.responsible),
                     "accountable": ", ".join(entry.accountable_list),
                     "consulted": ", ".join(entry.consulted),
                     "informed": ", ".join(entry.informed)})
    return rows


def _sequential_text(verdict: Verdict, traj: Any) -> str:
    parts = []
    if traj.n_used is not None and traj.n_total:
        saved = traj.n_total - traj.n_used
        parts.append(f"The evaluation looked at the cases in a seeded random order and stopped after "
                     f"{traj.n_used:,} of {traj.n_total:,} cases"
                     + (f", saving {saved:,} cases ({saved / traj.n_total:.0%})." if saved else "."))
    if traj.outcome:
        parts.append(f"The sequence decided {traj.outcome} on non-inferiority"
                     + (f": {traj.stop_reason}." if traj.stop_reason else "."))
    elif traj.stop_reason:
        parts.append(traj.stop_reason[0].upper() + traj.stop_reason[1:] + ".")
    if traj.kept_running:
        parts.append(f"The check that kept it running: {traj.kept_running}.")
    savings = traj.savings
    saved_bits = []
    if savings is not None:
        saved_bits = [f"{savings.generated_tokens:,} generated tokens", f"{savings.gpu_hours:.2f} GPU-hours",
                      usd(savings.usd)]
    if saved_bits:
        parts.append("Not spent: " + ", ".join(saved_bits) + ".")
    return " ".join(parts)


def render_report(report: ReportInput) -> str:
    """The report as one HTML document (str). Same input, same bytes."""
    verdict = report.verdict
    scenario = report.contract
    if report.cases is not None:
        check_cases(report.cases)
    conf = confidence_words(verdict.confidence)

    rates = acceptance_rates(verdict)
    minimum = min_rate_check(verdict)
    min_rate = minimum.threshold if minimum is not None else (
        scenario.success_criteria.min_acceptance_rate if scenario is not None else None)
    quality = [acceptance_figure(rates, min_rate, verdict.confidence)]
    slices = slice_differences(verdict)
    overall = overall_difference(verdict)
    if slices or overall:
        quality.append(forest_figure(overall, slices, slice_margin(verdict, scenario),
                                     overall_margin(verdict, scenario), verdict.confidence))
    costs = cost_per_accepted(verdict)
    traj = sequential_trajectory(verdict, scenario)
    latency: list[Figure] = []
    if report.cases is not None and len(report.cases):
        latency = [latency_figure(report.cases, latency_slos(verdict, scenario)),
                   tokens_figure(report.cases)]

    checks = [{
        "name": c.name, "metric": c.metric, "kind": c.kind, "critical": c.critical,
        "status": c.status, "status_word": STATUS_WORDS.get(c.status, c.status),
        "symbol": STATUS_SYMBOLS.get(c.status, ""), "value": fmt(c.metric, c.value),
        "interval": fmt_interval(c.metric, c.ci_low, c.ci_high, c.unbounded), "threshold": fmt_threshold(c),
        "reason": c.reason,
    } for c in verdict.checks]
    tally: dict[str, int] = {}
    for c in verdict.checks:
        tally[STATUS_WORDS.get(c.status, c.status)] = tally.get(STATUS_WORDS.get(c.status, c.status), 0) + 1

    owners = []
    if scenario is not None:
        for role in ("product", "platform", "quality", "cost", "incident"):
            owner = getattr(scenario.owners, role)
            if owner is not None:
                owners.append({"role": role, "id": owner.id, "name": owner.name or ""})

    provenance_models = [
        (label, getattr(verdict.incumbent, key) or "—", getattr(verdict.candidate, key) or "—")
        for label, key in (("contract entry", "entry"), ("model", "model"),
                           ("weights sha256", "model_digest"), ("prompt version", "prompt_version"),
                           ("generation records sha256", "records_sha256"))]
    provenance_models.append(("evidence provenance", evidence_words(verdict.incumbent.evidence),
                              evidence_words(verdict.candidate.evidence)))
    provenance = [("scenario", verdict.scenario_id), ("contract sha256", verdict.contract_sha256),
                  ("dataset sha256", verdict.dataset_sha256), ("cases", f"{verdict.n:,}"),
                  ("confidence", conf), ("seed", str(verdict.seed)), ("verdict schema", verdict.schema)]
    provenance += [(f"{name} version", version) for name, version in sorted(report.versions.items())]

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True)
    template = env.from_string(_template_text("report.html.j2"))
    return template.render(
        title=report.title or f"Release report: {verdict.scenario_id}",
        description=scenario.description if scenario is not None else "",
        v=verdict, confidence=conf, sentence=verdict_sentence(verdict),
        cards=_cards(verdict, rates, costs), checks=checks,
        counts=", ".join(f"{n} {word}" for word, n in tally.items()),
        quality_figures=quality, sequential_figure=sequential_figure(traj, verdict.confidence)
        if traj else None, sequential_text=_sequential_text(verdict, traj) if traj else "",
        noise_lines=noise_lines(verdict),
        cost_figure=cost_figure(costs, cost_ceiling(verdict, scenario)),
        latency_figures=latency,
        cases=_case_tables(report.cases, report.max_cases_shown)
        if report.cases is not None and len(report.cases) else None,
        owners=owners, escalation=list(scenario.escalation_path) if scenario is not None else [],
        raci=_raci(scenario) if scenario is not None else [],
        approvals=_approvals(report, scenario),
        provenance_models=provenance_models, provenance=provenance, versions=report.versions,
        generated_at=report.generated_at,
        css=Markup(_template_text("report.css")), script=Markup(_template_text("filter.js")),
        figure=_figure_html,
    )


def write_report(report: ReportInput, path: str | Path) -> str:
    """Render and write atomically (temp file + rename); return the file's sha256 hex digest."""
    html = render_report(report).encode("utf-8")
    atomic_write_bytes(path, html)
    return hashlib.sha256(html).hexdigest()
