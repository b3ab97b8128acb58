"""The report in headless Debian chromium: it renders from the file alone (no request leaves
file://), shows the verdict, every check and every figure, and the slice filter works."""
from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

from releasegate.evals import Verdict
from releasegate.reports import ReportInput, write_report
from releasegate.reports.examples.browser import CHROMIUM, CHROMIUM_ARGS
from releasegate.scenarios import LoadedScenario

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="needs Debian chromium: make chromium"),
]


@pytest.fixture(scope="module")
def opened(tmp_path_factory: pytest.TempPathFactory, demo: tuple[Verdict, pd.DataFrame],
           contract: LoadedScenario, approvals: list) -> Iterator[dict[str, Any]]:
    from playwright.sync_api import sync_playwright

    verdict, cases = demo
    folder = tmp_path_factory.mktemp("report")
    path = folder / "report.html"
    write_report(ReportInput(verdict=verdict, scenario=contract, cases=cases, approvals=approvals),
                 path)
    requests: list[str] = []
    failed: list[str] = []
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("request", lambda r: requests.append(r.url))
        page.on("requestfailed", lambda r: failed.append(f"{r.url} {r.failure}"))
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(path.as_uri(), wait_until="load")
        page.screenshot(path=str(folder / "report.png"), full_page=True)
        yield {"page": page, "verdict": verdict, "cases": cases, "requests": requests,
               "failed": failed, "errors": errors, "png": folder / "report.png", "url": path.as_uri()}
        browser.close()


def test_no_request_leaves_the_file_and_none_fails(opened: dict[str, Any]) -> None:
    assert opened["requests"] == [opened["url"]]  # the page itself, nothing else
    assert all(u.startswith(("file://", "data:")) for u in opened["requests"])
    assert opened["failed"] == []
    assert opened["errors"] == []  # no script error, no CSP violation


def test_screenshot_is_taken(opened: dict[str, Any]) -> None:
    png = opened["png"].read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    height = int.from_bytes(png[20:24], "big")  # IHDR: a long page, not a blank one
    assert height > 4000


def test_dom_shows_the_verdict_first(opened: dict[str, Any]) -> None:
    page = opened["page"]
    assert page.locator("#verdict .decision").inner_text() == "PASS"
    sentence = page.get_by_test_id("verdict-sentence").inner_text()
    assert sentence.startswith("Candidate gemma3-v1 is not worse than the incumbent smollm2-v1 by more "
                               "than 5 points, at 95% confidence")
    box = page.locator("#verdict").bounding_box()
    assert box is not None and box["y"] < 400  # visible without scrolling


def test_dom_has_every_check(opened: dict[str, Any]) -> None:
    page, verdict = opened["page"], opened["verdict"]
    names = page.locator("table.checks tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.check)")
    assert names == [c.name for c in verdict.checks]
    status = page.locator('tr[data-check="non_inferiority"] td.status').inner_text()
    assert status.strip() == "✓ passed"
    headers = page.locator("table.checks thead th").all_inner_texts()
    assert headers == ["Check", "Status", "Value", "Interval", "Threshold", "Reason"]


def test_dom_has_every_figure_rendered_with_a_text_alternative(opened: dict[str, Any]) -> None:
    page = opened["page"]
    figures = page.locator("figure")
    assert figures.count() == 6
    for i in range(6):
        figure = figures.nth(i)
        svg = figure.locator("svg[role=img]")
        box = svg.bounding_box()
        assert box is not None and box["width"] > 500 and box["height"] > 100
        label = svg.evaluate("s => s.getAttribute('aria-labelledby').split(' ')"
                             ".map(id => document.getElementById(id).textContent).join(' ')")
        assert len(label) > 60
        assert figure.locator("figcaption").inner_text()


def test_slice_filter_hides_other_slices(opened: dict[str, Any]) -> None:
    page, cases = opened["page"], opened["cases"]
    lost = cases[cases.incumbent_accepted & ~cases.candidate_accepted]
    email = lost[[s["channel"] == "email" for s in lost.slices]]
    assert 0 < len(email) < len(lost)
    page.select_option('select[data-filter="channel"]', "email")
    visible = page.locator("#cases-lost tbody tr:not([hidden]) th code").all_inner_texts()
    assert visible == list(email.example_id)
    count = page.locator('[data-count-for="cases-lost"]').inner_text()
    assert count == f"({len(email)} of {len(lost)} shown)"
    page.select_option('select[data-filter="channel"]', "")
    assert page.locator("#cases-lost tbody tr:not([hidden])").count() == len(lost)
