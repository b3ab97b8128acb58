"""The governance report: its metrics gathered from the stages, and one self-contained HTML page.

`governance_report` gathers (releases' `governance_metrics` over every contract, the gateway's
production traffic and provider keys outside it); `render_governance_html` renders them and
computes nothing (no script, no external asset; accessible tables: a caption on each, `scope` on
every header cell, text, not colour alone, for every state).
"""
from __future__ import annotations

from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from releasegate.core import InputError, atomic_write_text

if TYPE_CHECKING:
    from releasegate.releases import Ledger

_CSS = """
:root { --ink:#1c2430; --muted:#5b6776; --line:#dde2e8; --bg:#f6f8fa; --ok:#00795a; --bad:#b84700; }
body { margin:0 auto; max-width:1180px; padding:24px 28px 40px; color:var(--ink);
  font:15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", Arial, sans-serif; }
h1 { font-size:26px; margin:.2em 0; } h2 { font-size:20px; margin:1.6em 0 .4em; border-bottom:1px solid var(--line); }
.sub { color:var(--muted); margin-top:0; }
table { border-collapse:collapse; width:100%; margin:.5em 0 1em; font-size:14px; }
caption { text-align:left; font-weight:600; color:var(--muted); padding:4px 0; }
th, td { border-bottom:1px solid var(--line); padding:6px 8px; text-align:left; vertical-align:top; }
thead th { background:var(--bg); font-size:13px; }
td.num { font-variant-numeric:tabular-nums; white-space:nowrap; }
.ok { color:var(--ok); font-weight:600; } .bad { color:var(--bad); font-weight:600; }
.muted { color:var(--muted); }
.scroll { overflow-x:auto; }
"""


def _e(value: Any) -> str:
    return escape("n/a" if value is None else str(value))


def _ratio(r: dict[str, Any]) -> str:
    if not r.get("total"):
        return f'<span class="muted">{r.get("count", 0)}/0 (n/a)</span>'
    return f"{r['count']}/{r['total']} ({100 * r['rate']:.0f}%)"


def _hours(h: float | None) -> str:
    if h is None:
        return "n/a"
    return f"{h:.1f} h" if h >= 1 else f"{60 * h:.0f} min"


def _yes(flag: bool, yes: str = "yes", no: str = "no", why: str = "") -> str:
    return f'<span class="ok">{escape(yes)}</span>' if flag else \
        f'<span class="bad">{escape(no)}</span>' + (f" <span class=\"muted\">({escape(why)})</span>" if why else "")


def _table(caption: str, head: list[str], rows: list[list[str]], row_header: bool = True) -> str:
    """`rows` cells are already-escaped HTML; the first cell is the row header."""
    th = "".join(f'<th scope="col">{escape(h)}</th>' for h in head)
    body = []
    for row in rows:
        cells = [f'<th scope="row">{row[0]}</th>' if row_header else f"<td>{row[0]}</td>"]
        cells += [f'<td class="num">{c}</td>' if c[:1].isdigit() else f"<td>{c}</td>" for c in row[1:]]
        body.append("<tr>" + "".join(cells) + "</tr>")
    if not rows:
        body.append(f'<tr><td colspan="{len(head)}" class="muted">none</td></tr>')
    return (f'<div class="scroll"><table><caption>{escape(caption)}</caption><thead><tr>{th}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")


def _prefix_cache_cell(pc: dict[str, Any]) -> str:
    floor = f"(min {round(100 * pc['min_hit_rate'])}%, owner {pc['owner']})"
    if pc["hit_rate"] is None:
        return f"n/a {_e(floor)}"
    rate = f"{round(100 * pc['hit_rate'])}%"
    return _yes(bool(pc["meets_slo"]), rate, rate, "below the minimum") + f' <span class="muted">{_e(floor)}</span>'


def render_governance_html(metrics: dict[str, Any]) -> str:
    """The whole report: portfolio summary, per-scenario table, exceptions/incidents, support load."""
    p = metrics["portfolio"]
    exc, inc, onb, ss = p["exceptions"], p["incidents"], p["onboarding_days"], p["self_service"]
    summary = _table("Portfolio metrics", ["Metric", "Value"], [
        ["Owners complete", _ratio(p["owners_complete"])],
        [f"Eval coverage (dataset, gate, evaluation within {_e(metrics['recent_days'])} days)", _ratio(p["eval_coverage"])],
        ["Releases with a cost review", _ratio(p["cost_review"])],
        ["Releases with quality and cost review", _ratio(p["quality_and_cost_review"])],
        ["Exceptions open", _e(exc["open"])],
        [f"Exceptions overdue (expired, or not reviewed within {_e(metrics['review_interval_days'])} days)",
         _e(exc["overdue"])],
        ["Releases outside the golden path without an exception", _e(exc["undocumented"])],
        ["Exceptions closed", _e(exc["closed"])],
        ["Incidents open / closed", f"{_e(inc['open'])} / {_e(inc['closed'])}"],
        ["Mean time to restore (MTTR)", _hours(inc["mttr_hours"])],
        ["Onboarding, intake to first PASS (mean / median days)",
         "n/a" if onb["mean"] is None else f"{_e(onb['mean'])} / {_e(onb['median'])} over {_e(onb['scenarios'])} scenarios"],
        ["Self-service adoption (from a template, released without exceptions)",
         f"{_ratio(ss)}; {_e(ss['from_template'])} created from a template"],
    ])
    rows = []
    for sid, m in metrics["scenarios"].items():
        cov = m["eval_coverage"]
        why = ", ".join(k.replace("_", " ") for k in ("dataset", "gate", "recent_evaluation") if not cov[k])
        e = m["exceptions"]
        rows.append([
            f"<code>{escape(sid)}</code>",
            _yes(m["owners"]["complete"], "complete", "incomplete", ", ".join(m["owners"]["missing"])),
            _yes(cov["covered"], "covered", "not covered", f"missing: {why}" if why else ""),
            _e(cov["last_evaluated_at"][:10] if cov["last_evaluated_at"] else None),
            _e(m["releases"]), _ratio(m["cost_review"]), _ratio(m["quality_and_cost_review"]),
            f"{e['open']} / {e['overdue']} / {e['undocumented']}",
            f"{m['incidents']['total']} ({m['incidents']['open']} open)", _hours(m["incidents"]["mttr_hours"]),
            _e(m["onboarding"]["days"]),
            _yes(m["self_service"]["adopted"], "adopted", "no",
                 "" if m["self_service"]["adopted"] else
                 ("not from a template" if not m["self_service"]["from_template"] else
                  "not released yet" if not m["self_service"]["released"] else "has exceptions")),
        ])
    per = _table("Per scenario", ["Scenario", "Owners", "Eval coverage", "Last evaluation", "Releases",
                                  "Cost review", "Quality and cost review", "Exceptions open / overdue / undocumented",
                                  "Incidents", "MTTR", "Onboarding (days)", "Self-service"], rows)
    load = _table("Platform support load per month", ["Month", "Exceptions opened", "Rollbacks",
                                                       "Alias drifts repaired", "Manual platform approvals", "Total"],
                  [[escape(month), *(str(c.get(k, 0)) for k in ("exceptions", "rollbacks", "alias_repairs",
                                                                "manual_platform_approvals", "total"))]
                   for month, c in p["support_load"].items()])
    trust = ""
    if p.get("trust"):  # issue 14: signed roots, approvals by policy vs by hand, moved goalposts
        t = p["trust"]
        trust = "<h2>Trust and approvals</h2>" + _table(
            "Releases by policy and by hand",
            ["Scenario", "Signed root", "Released by policy", "Released by hand", "Manual platform approvals",
             "Lead time by policy (median h)", "Lead time by hand (median h)", "Moved goalposts"],
            [[f"<code>{escape(sid)}</code>", _e(f"v{m['trust']['root_version']}" if m["trust"]["root_version"] else "none"),
              _e(m["trust"]["releases_by_policy"]), _e(m["trust"]["releases_by_hand"]),
              _e(m["trust"]["manual_platform_approvals"]),
              _e(m["trust"]["lead_time_hours"]["policy"]["median"]), _e(m["trust"]["lead_time_hours"]["manual"]["median"]),
              _e("; ".join(f"v{g['root_version']} after {g['after_verdict']} of {g['candidate']}: " + ", ".join(g["changes"])
                           for g in m["trust"]["moved_goalposts"]) or "none")]
             for sid, m in metrics["scenarios"].items() if "trust" in m]
            + [["<strong>portfolio</strong>", _e(t["scenarios_with_root"]), _e(t["releases_by_policy"]),
                _e(t["releases_by_hand"]), _e(t["manual_platform_approvals"]),
                _e(t["lead_time_hours"]["policy"]["median"]), _e(t["lead_time_hours"]["manual"]["median"]),
                _e(t["moved_goalposts"])]])
    undocumented = [[f"<code>{escape(sid)}</code>", _e(u["ledger_seq"]), _e(u["version"]), _e(u["verdict"]),
                     _e(u["exception_id"])]
                    for sid, m in metrics["scenarios"].items() for u in m["exceptions"]["undocumented_releases"]]
    open_rows = [[f"<code>{escape(sid)}</code>", _e(x["exception_id"]), _e(x["kind"]), _e(x["owner"]),
                  _e(x["expires"]), _e(x["review_due"]),
                  _yes(x["state"] == "open", "in order", "overdue", "; ".join(x["problems"])), _e(x["reason"])]
                 for sid, m in metrics["scenarios"].items() for x in m["exceptions"]["open_exceptions"]]
    open_table = _table("Open exceptions", ["Scenario", "Exception", "Kind", "Owner", "Expires", "Review due",
                                            "State", "Reason"], open_rows)
    undoc = _table("Releases outside the golden path without an exception",
                   ["Scenario", "Ledger row", "Model version", "Verdict", "Cited exception"], undocumented)
    production = ""
    if metrics.get("gateway"):  # issue 17: production traffic from the gateway's traces
        production = "<h2>Production traffic (MLflow AI Gateway)</h2>" + _table(
            "Per scenario endpoint, from its traces", ["Scenario", "Requests", "Errors", "Tokens in / out",
                                                       "p95 latency (s)", "SLO p95 (s)", "Meets SLO", "Cost (USD)",
                                                       "Prefix-cache hit rate (min)"],
            [[f"<code>{escape(sid)}</code>", _e(u["error"]), "", "", "", "", "", "", ""] if "error" in u else
             [f"<code>{escape(sid)}</code>", _e(u["requests"]), _e(u["errors"]),
              f"{_e(u['input_tokens'])} / {_e(u['output_tokens'])}",
              _e(None if u["latency_p95_s"] is None else round(u["latency_p95_s"], 3)), _e(u["latency_slo_p95_s"]),
              "n/a" if u["meets_latency_slo"] is None else _yes(u["meets_latency_slo"], "yes", "over the SLO"),
              _e(None if u["cost_usd"] is None else round(u["cost_usd"], 6)) + f' <span class="muted">({_e(u["cost_basis"])})</span>',
              _prefix_cache_cell(u["prefix_cache"])]
             for sid, u in sorted(metrics["gateway"].items())])
    invalid = ""
    if metrics.get("invalid_contracts"):
        invalid = "<h2>Contracts left out</h2>" + _table(
            "Contracts that do not parse", ["Path", "Error"],
            [[escape(i["path"]), escape(i["error"])] for i in metrics["invalid_contracts"]])
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>releasegate governance report</title>
<style>{_CSS}</style>
</head>
<body>
<header>
<h1>Governance report</h1>
<p class="sub">{_e(p['scenarios'])} scenarios; generated {_e(metrics['generated_at'])} from the release ledger and the scenario contracts.</p>
</header>
<main>
<h2>Portfolio</h2>
{summary}
<h2>Scenarios</h2>
{per}
<h2>Exceptions and releases</h2>
{open_table}
{undoc}
<h2>Support load</h2>
{load}
{trust}
{production}
{invalid}
</main>
</body>
</html>
"""


def governance_report(*, ledger: Ledger | str | None = None, html: Path | None = None,
                      open_exceptions: bool = False, actor: str | None = None,
                      traffic_window_s: float | None = None) -> dict[str, Any]:
    """Metrics over every contract under the datasets folder (an invalid one is listed, not
    counted), the gateway's traffic per scenario and provider keys used outside the gateway;
    with `html`, the page too (written atomically). `releasegate governance` prints it.
    `open_exceptions`: first open the `direct_provider_key` exception each such scenario lacks
    (once, owned by its platform owner, recorded in the ledger), so the report counts them.
    `traffic_window_s`: the production traffic counted (default: the last 30 days)."""
    from releasegate.gateway import open_provider_key_exceptions, portfolio_usage, provider_key_findings
    from releasegate.releases import Ledger, governance_metrics
    from releasegate.scenarios import read_scenario, scenario_paths

    if html is not None and html.is_dir():
        raise InputError(f"{html} is a folder", field="--html", fix="pass a file name such as governance.html")
    loaded, invalid = [], []
    for path in scenario_paths():
        ls, errors = read_scenario(path)
        if ls is None:
            invalid.append({"path": str(path), "error": str(errors[0]) if errors else "unreadable"})
        else:
            loaded.append(ls)
    ledger = Ledger.of(ledger)
    opened = open_provider_key_exceptions(loaded, ledger=ledger, actor=actor) if open_exceptions else {}
    metrics = governance_metrics(ledger, loaded)
    metrics["invalid_contracts"] = invalid
    metrics["gateway"] = portfolio_usage(  # production traffic
        ledger, [ls.scenario.id for ls in loaded],
        **({} if traffic_window_s is None else {"since_s": traffic_window_s}))
    metrics["provider_keys_outside_gateway"] = provider_key_findings(loaded)
    metrics["provider_key_exceptions"] = opened
    if html is not None:
        atomic_write_text(html, render_governance_html(metrics))
    return metrics
