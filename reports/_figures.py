"""Figures as inline, accessible SVG (matplotlib, Agg backend).

Each figure is returned with its caption and a text alternative; the SVG carries `role="img"`,
a `<title>` and a `<desc>`, text stays text (`svg.fonttype: none`), and ids are salted per
figure so several SVGs can share one page. Output is deterministic (no date, fixed salt).
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")  # no display, no GUI toolkit: reports render on CI machines
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ._evidence import Estimate, Trajectory  # noqa: E402
from ._format import usd  # noqa: E402

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure as MplFigure

# Okabe-Ito: distinguishable with colour-vision deficiencies.
INCUMBENT = "#6b7785"
CANDIDATE = "#0072B2"
FAIL = "#D55E00"
PASS = "#009E73"
UNDECIDED = "#E69F00"
STATUS_COLOURS = {"pass": PASS, "fail": FAIL, "inconclusive": UNDECIDED, "skipped": "#9aa3ad"}
FIG_WIDTH = 9.0  # inches; about 860 px wide on the page
OFF_SCALE = 4.0  # a threshold this many times beyond the data is drawn as an arrow, not to scale

_STYLE = {
    "svg.fonttype": "none",
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Helvetica", "Arial"],
    "font.size": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.grid.axis": "x",
    "grid.color": "#e3e6ea",
    "axes.edgecolor": "#8a949e",
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
}


@dataclass(frozen=True)
class Figure:
    id: str
    title: str
    caption: str
    alt: str  # the text alternative: what the figure shows, with its numbers
    svg: str


def _to_svg(fig: MplFigure, fig_id: str, title: str, alt: str) -> str:
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": fig_id, "svg.fonttype": "none"}):
        fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    svg = buffer.getvalue()
    svg = re.sub(r"<\?xml[^>]*\?>\s*", "", svg)
    svg = re.sub(r"<!DOCTYPE[^>]*>\s*", "", svg)
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.S)  # creator URL, RDF: noise
    # matplotlib numbers its groups per figure (figure_1, axes_1, ...): prefix them so that
    # several SVGs can share one HTML page with unique ids and unbroken references.
    svg = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{fig_id}-{m.group(1)}"', svg)
    svg = re.sub(r"url\(#([^)]+)\)", lambda m: f"url(#{fig_id}-{m.group(1)})", svg)
    svg = re.sub(r'href="#([^"]+)"', lambda m: f'href="#{fig_id}-{m.group(1)}"', svg)
    match = re.search(r"<svg\b[^>]*>", svg)
    assert match, "matplotlib wrote no <svg> element"
    head = match.group(0)
    width = re.search(r'width="([\d.]+)pt"', head)
    new_head = re.sub(r'\s(width|height)="[^"]*"', "", head)
    max_width = f"max-width:{float(width.group(1)) * 4 / 3:.0f}px;" if width else ""
    new_head = new_head[:-1] + (f' role="img" aria-labelledby="{fig_id}-title {fig_id}-desc"'
                                f' style="width:100%;height:auto;{max_width}">')
    accessible = (f'<title id="{fig_id}-title">{escape(title)}</title>'
                  f'<desc id="{fig_id}-desc">{escape(alt)}</desc>')
    return svg.replace(head, new_head + accessible, 1).strip()


def _figure(width: float, height: float) -> tuple[MplFigure, object]:
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(width, height), layout="constrained")
    return fig, ax


def _errorbar(ax: object, y: float, est: Estimate, colour: str, scale: float = 1.0) -> None:
    if est.value is None:
        return
    if est.ci_low is not None and est.ci_high is not None:
        ax.hlines(y, est.ci_low * scale, est.ci_high * scale, color=colour, lw=2.5)
    ax.plot([est.value * scale], [y], "o", color=colour, ms=8, zorder=3)


def acceptance_figure(rates: list[Estimate], minimum: float | None, confidence: float) -> Figure:
    with plt.rc_context(_STYLE):
        fig, ax = _figure(FIG_WIDTH, 1.9)
        colours = [INCUMBENT, CANDIDATE]
        for y, (est, colour) in enumerate(zip(rates, colours)):
            _errorbar(ax, y, est, colour, 100)
            if est.value is not None:
                ax.annotate(f"{est.value:.1%}", (est.value * 100, y), xytext=(0, 9),
                            textcoords="offset points", ha="center", fontsize=9, color=colour)
        if minimum is not None:
            ax.axvline(minimum * 100, color=FAIL, ls="--", lw=1.2)
            ax.annotate(f"minimum {minimum:.0%}", (minimum * 100, len(rates) - 0.5),
                        xytext=(4, 0), textcoords="offset points", color=FAIL, fontsize=9,
                        va="center")
        ax.set_yticks(range(len(rates)), [r.label for r in rates])
        ax.set_ylim(-0.6, len(rates) - 0.3)
        ax.set_xlabel("acceptance rate (%)")
        lows = [r.ci_low or r.value for r in rates if r.value is not None]
        highs = [r.ci_high or r.value for r in rates if r.value is not None]
        if lows:
            lo = min(lows + ([minimum] if minimum is not None else []))
            hi = max(highs)
            pad = max(2.0, (hi - lo) * 100 * 0.15)
            ax.set_xlim(max(0, lo * 100 - pad), min(100, hi * 100 + pad))
        svg_alt = "; ".join(_estimate_words(r, "rate") for r in rates)
    conf = f"{confidence:.0%}"
    alt = f"Acceptance rate of each model with its {conf} interval. {svg_alt}." + (
        f" The contract's minimum is {minimum:.0%}." if minimum is not None else "")
    return Figure("fig-acceptance", "Acceptance rate of each model",
                  f"Share of cases each model got accepted, with {conf} intervals (bars). The dashed "
                  "line is the contract's minimum acceptance rate.", alt,
                  _to_svg(fig, "fig-acceptance", "Acceptance rate of each model", alt))


def _estimate_words(est: Estimate, kind: str) -> str:
    if est.value is None:
        return f"{est.label}: {est.note or 'not reported'}"
    if kind == "rate":
        text = f"{est.label} {est.value:.1%}"
        if est.ci_low is not None and est.ci_high is not None:
            text += f" (interval {est.ci_low:.1%} to {est.ci_high:.1%})"
    elif kind == "usd":
        text = f"{est.label} {usd(est.value)}"
        if est.ci_low is not None:  # no upper end: too few accepted outcomes to bound it
            text += f" (interval {usd(est.ci_low)} to {'unbounded' if est.ci_high is None else usd(est.ci_high)})"
    else:  # difference in points
        text = f"{est.label} {est.value * 100:+.1f} points"
        if est.ci_low is not None and est.ci_high is not None:
            text += f" (interval {est.ci_low * 100:+.1f} to {est.ci_high * 100:+.1f})"
    return text


def forest_figure(overall: Estimate | None, slices: list[Estimate], slice_margin: float | None,
                  overall_margin: float | None, confidence: float) -> Figure:
    """Candidate minus incumbent per slice, with the margin: left of it is 'worse than allowed'."""
    rows = ([overall] if overall else []) + slices
    with plt.rc_context(_STYLE):
        fig, ax = _figure(FIG_WIDTH, max(1.8, 0.36 * len(rows) + 1.0))
        ys = list(range(len(rows)))[::-1]
        for y, est in zip(ys, rows):
            colour = STATUS_COLOURS.get(est.status or "", CANDIDATE)
            _errorbar(ax, y, est, colour, 100)
        values = [v * 100 for r in rows for v in (r.ci_low, r.ci_high, r.value) if v is not None]
        margin = slice_margin if slice_margin is not None else overall_margin
        lo = min(values + ([-margin * 100] if margin else []) + [0]) - 3
        hi = max(values + [0]) + 3
        ax.set_xlim(lo, hi)
        ax.axvline(0, color="#333333", lw=1)
        if margin is not None:
            ax.axvspan(lo, -margin * 100, color=FAIL, alpha=0.08, lw=0)
            ax.axvline(-margin * 100, color=FAIL, ls="--", lw=1.2)
            ax.annotate(f"slice margin −{margin * 100:.0f} pts", (-margin * 100, ys[0] + 0.45),
                        xytext=(4, 0), textcoords="offset points", color=FAIL, fontsize=9,
                        va="center", annotation_clip=False)
        if overall and overall_margin is not None and overall_margin != margin:
            ax.plot([-overall_margin * 100] * 2, [ys[0] - 0.4, ys[0] + 0.4], color=FAIL, lw=2)
        labels = [(f"{r.label} (n={r.n:,}" + (", untested)" if r.status == "skipped" else ")"))
                  if r.n else r.label for r in rows]
        ax.set_yticks(ys, labels)
        if overall:
            ax.get_yticklabels()[0].set_fontweight("bold")
        ax.set_ylim(-0.7, len(rows) - 0.1 + 0.4)
        ax.set_xlabel("candidate minus incumbent, acceptance (percentage points)")
    conf = f"{confidence:.0%}"
    alt_rows = "; ".join(_estimate_words(r, "points") + (f", {r.status}" if r.status else "")
                         for r in rows)
    alt = (f"Forest plot of the acceptance difference, candidate minus incumbent, with {conf} "
           f"intervals. {alt_rows}." + (f" Margin: {margin * 100:.0f} points below zero."
                                        if margin is not None else ""))
    caption = ("Each line is the candidate's acceptance rate minus the incumbent's, with its "
               f"{conf} interval (green: passed, orange: undecided, red: failed, grey: too few "
               "cases to test). An interval that "
               "reaches into the shaded area left of the dashed margin means the candidate may be "
               "worse than allowed on that slice.")
    if overall and overall_margin is not None and overall_margin != margin:
        caption += (" The short red bar on the first row is the overall margin "
                    f"(−{overall_margin * 100:.0f} pts).")
    return Figure("fig-slices", "Acceptance difference per slice", caption, alt,
                  _to_svg(fig, "fig-slices", "Acceptance difference per slice", alt))


def cost_figure(costs: list[Estimate], ceiling: float | None) -> Figure:
    with plt.rc_context(_STYLE):
        fig, ax = _figure(FIG_WIDTH, 1.9)
        colours = [INCUMBENT, CANDIDATE]
        top = max([c.ci_high or c.value or 0 for c in costs] + [0])
        # A ceiling far beyond both costs would squash the bars into slivers: say so in words.
        ceiling_on_scale = ceiling is not None and (top == 0 or ceiling <= top * OFF_SCALE)
        right = max(top, ceiling if ceiling_on_scale else 0) * 1.3 or 1.0
        for y, (est, colour) in enumerate(zip(costs, colours)):
            if est.value is None:
                ax.annotate("not in the verdict", (0, y), xytext=(4, 0), textcoords="offset points",
                            va="center", fontsize=9, color="#555555")
                continue
            ax.barh(y, est.value, color=colour, height=0.55)
            if est.ci_low is not None and est.ci_high is not None:
                ax.errorbar(est.value, y, xerr=[[est.value - est.ci_low], [est.ci_high - est.value]],
                            fmt="none", ecolor="#222222", capsize=4, lw=1.2)
            ax.annotate(usd(est.value), (est.ci_high or est.value, y), xytext=(6, 0),
                        textcoords="offset points", va="center", fontsize=9)
        if ceiling is not None and ceiling_on_scale:
            ax.axvline(ceiling, color=FAIL, ls="--", lw=1.2)
            ax.annotate(f"ceiling {usd(ceiling)}", (ceiling, len(costs) - 0.5), xytext=(-4, 0),
                        textcoords="offset points", ha="right", color=FAIL, fontsize=9, va="center")
        elif ceiling is not None:
            ax.annotate(f"ceiling {usd(ceiling)} (off the scale, {ceiling / top:,.0f}× higher) →",
                        (1, 0.5), xycoords="axes fraction", ha="right", va="center", color=FAIL,
                        fontsize=9)
        ax.set_yticks(range(len(costs)), [c.label for c in costs])
        ax.set_ylim(-0.6, len(costs) - 0.3)
        ax.set_xlabel("cost per accepted outcome (USD)")
        ax.set_xlim(0, right)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(5))
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: usd(v)))
    alt = ("Cost per accepted outcome of each model. " + "; ".join(_estimate_words(c, "usd")
                                                                 for c in costs) + "."
           + (f" The contract's ceiling is {usd(ceiling)}." if ceiling is not None else ""))
    return Figure("fig-cost", "Cost per accepted outcome",
                  "Total serving cost divided by the number of accepted outcomes, with the interval "
                  "from the verdict (whiskers). The dashed line (or the arrow, when it is far off the "
                  "scale) is the contract's ceiling.", alt,
                  _to_svg(fig, "fig-cost", "Cost per accepted outcome", alt))


def _box_panels(cases: pd.DataFrame, panels: list[tuple[str, str, float | None, str]],
                fig_id: str, title: str, caption: str, unit: str) -> Figure:
    """Box plots (whiskers at the 5th and 95th percentiles) per model, one panel per quantity."""
    with plt.rc_context(_STYLE):
        fig, axes = plt.subplots(1, len(panels), figsize=(FIG_WIDTH, 2.3), layout="constrained")
        axes = np.atleast_1d(axes)
        alt_parts = []
        for ax, (column, label, slo, slo_label) in zip(axes, panels):
            data, names, colours = [], [], []
            for side, colour in (("incumbent", INCUMBENT), ("candidate", CANDIDATE)):
                name = f"{side}_{column}"
                if name in cases:
                    values = cases[name].dropna().to_numpy(dtype=float)
                    if len(values):
                        data.append(values)
                        names.append(side)
                        colours.append(colour)
            if not data:
                ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
                ax.set_axis_off()
                alt_parts.append(f"{label}: no data")
                continue
            parts = ax.boxplot(data, orientation="horizontal", whis=(5, 95), widths=0.55,
                               patch_artist=True, showfliers=False, tick_labels=names,
                               medianprops={"color": "#111111"})
            for patch, colour in zip(parts["boxes"], colours):
                patch.set_facecolor(colour)
                patch.set_alpha(0.75)
            reach = max(float(np.percentile(d, 95)) for d in data)
            if slo is not None and slo <= reach * OFF_SCALE:
                ax.axvline(slo, color=FAIL, ls="--", lw=1.2)
                ax.annotate(slo_label, (slo, len(data) + 0.35), ha="right", fontsize=8, color=FAIL,
                            xytext=(-3, 0), textcoords="offset points", annotation_clip=False)
                ax.set_xlim(0, max(reach, slo) * 1.1)
            else:
                ax.set_xlim(0, reach * 1.25)
                if slo is not None:  # far beyond every request: an arrow, not a squashed plot
                    ax.annotate(f"{slo_label} →", (1, 1.0), xycoords="axes fraction", ha="right",
                                va="bottom", fontsize=8, color=FAIL)
            ax.set_title(label)
            ax.set_xlabel(unit)
            medians = ", ".join(f"{n} median {np.median(d):.3g}, 95th percentile "
                                f"{np.percentile(d, 95):.3g}" for n, d in zip(names, data))
            alt_parts.append(f"{label}: {medians}" + (f"; {slo_label}" if slo is not None else ""))
    alt = f"{title}. " + ". ".join(alt_parts) + "."
    return Figure(fig_id, title, caption, alt, _to_svg(fig, fig_id, title, alt))


def latency_figure(cases: pd.DataFrame, slos: dict[str, float | None]) -> Figure:
    def label(key: str) -> str:
        return f"SLO p95 ≤ {slos[key]:g} s" if slos.get(key) is not None else ""

    return _box_panels(
        cases,
        [("ttft_s", "Time to first token", slos.get("ttft"), label("ttft")),
         ("latency_s", "End-to-end latency", slos.get("latency"), label("latency"))],
        "fig-latency", "Latency per request against the SLO",
        "Distribution of per-request latency: the box holds the middle half of requests, the line "
        "in it is the median, the whiskers reach the 5th and 95th percentiles. The dashed line is "
        "the contract's 95th-percentile SLO; the gate's own p95 estimate and interval are in the "
        "checks table.", "seconds")


def tokens_figure(cases: pd.DataFrame) -> Figure:
    return _box_panels(
        cases,
        [("prompt_tokens", "Prompt tokens", None, ""),
         ("completion_tokens", "Completion tokens", None, "")],
        "fig-tokens", "Tokens per request",
        "Prompt and completion tokens per request for each model (box: middle half; whiskers: 5th "
        "and 95th percentiles). A different prompt version or tokenizer changes the prompt tokens.",
        "tokens")


def sequential_figure(traj: Trajectory, confidence: float) -> Figure:
    """The confidence sequence narrowing as cases arrive, with the margin and the stop."""
    with plt.rc_context(_STYLE | {"axes.grid.axis": "both"}):
        fig, ax = _figure(FIG_WIDTH, 3.0)
        n = np.asarray(traj.n)
        low = np.asarray(traj.ci_low) * 100
        high = np.asarray(traj.ci_high) * 100
        ax.fill_between(n, low, high, color=CANDIDATE, alpha=0.22, lw=0, step="post",
                        label=f"{confidence:.0%} confidence sequence")
        ax.step(n, low, where="post", color=CANDIDATE, lw=1.2)
        ax.step(n, high, where="post", color=CANDIDATE, lw=1.2)
        if traj.estimate is not None:
            ax.step(n, np.asarray(traj.estimate) * 100, where="post", color="#222222", lw=1,
                    label="running difference")
        ax.axhline(0, color="#333333", lw=1)
        if traj.margin is not None:
            ax.axhline(-traj.margin * 100, color=FAIL, ls="--", lw=1.2,
                       label=f"margin −{traj.margin * 100:.0f} pts")
        stop = traj.n_used if traj.n_used is not None else int(n[-1])
        end = max(traj.n_total or 0, int(n[-1]))
        ax.axvline(stop, color="#111111", ls=":", lw=1.4)
        if end > stop:  # the cases it did not need
            ax.axvspan(stop, end, color="#8a949e", alpha=0.10, lw=0)
            ax.annotate(f"not evaluated: {end - stop:,} cases", ((stop + end) / 2, 0.06),
                        xycoords=("data", "axes fraction"), ha="center", fontsize=9, color="#555555")
        stop_text = f"stopped at {stop:,}" + (f" of {traj.n_total:,} cases" if traj.n_total else " cases")
        if traj.outcome:
            stop_text += f", {traj.outcome}"
        left_half = stop < end / 2  # keep the label inside the axes, on the roomier side
        ax.annotate(stop_text, (stop, 1), xycoords=("data", "axes fraction"),
                    xytext=(6 if left_half else -6, -4), textcoords="offset points",
                    ha="left" if left_half else "right", va="top", fontsize=9,
                    bbox={"boxstyle": "round,pad=0.25", "fc": "white", "ec": "#bbbbbb"})
        ax.set_xlim(0, end * 1.02)
        finite = np.concatenate([low[np.isfinite(low)], high[np.isfinite(high)]])
        span = np.percentile(finite, [2, 98]) if len(finite) else np.array([-50, 50])
        bottom = min(span[0], -(traj.margin or 0) * 100) - 2
        ax.set_ylim(max(bottom, -100), min(span[1] + 2, 100))
        ax.set_xlabel("cases evaluated")
        ax.set_ylabel("candidate − incumbent (pts)")
        ax.legend(loc="upper right", fontsize=8, framealpha=0.9)
    alt = (f"Confidence sequence for the acceptance difference against cases evaluated: from "
           f"{traj.ci_low[0] * 100:+.1f} to {traj.ci_high[0] * 100:+.1f} points after {traj.n[0]:,} "
           f"cases, narrowing to {traj.ci_low[-1] * 100:+.1f} to {traj.ci_high[-1] * 100:+.1f} "
           f"points after {traj.n[-1]:,}. {stop_text}."
           + (f" Margin: {traj.margin * 100:.0f} points below zero." if traj.margin is not None else ""))
    return Figure("fig-sequential", "Sequential evaluation: the interval narrowing",
                  "The shaded band is the anytime-valid confidence sequence for candidate minus "
                  "incumbent; it may be checked after every batch without inflating errors. The "
                  "evaluation stops once the band lies wholly above the dashed margin (pass) or "
                  "wholly below it (fail); the dotted line marks where it stopped.", alt,
                  _to_svg(fig, "fig-sequential", "Sequential evaluation: the interval narrowing", alt))
