"""The governance report page: self-contained, accessible tables, the metrics' real values."""
from __future__ import annotations

import datetime as dt
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from releasegate.releases import Ledger, governance_metrics
from releasegate.reports import render_governance_html
from releasegate.scenarios import LoadedScenario

UTC = dt.timezone.utc


class _Structure(HTMLParser):
    """Counts what accessibility and self-containment depend on."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: dict[str, int] = {}
        self.th_without_scope = 0
        self.external: list[str] = []
        self.lang: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags[tag] = self.tags.get(tag, 0) + 1
        if tag == "html":
            self.lang = a.get("lang")
        if tag == "th" and a.get("scope") not in ("col", "row"):
            self.th_without_scope += 1
        for attr in ("src", "href"):
            if a.get(attr):
                self.external.append(str(a[attr]))


@pytest.fixture
def metrics(tmp_path: Path, contract: LoadedScenario, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """support-triage with a closed incident (90 min), an overdue exception and a release."""
    import releasegate.releases._ledger as ledger_module

    times = iter(["2026-11-01T10:00:00+00:00", "2026-11-02T09:00:00+00:00", "2026-11-02T10:30:00+00:00",
                  "2026-11-03T08:00:00+00:00"])

    class _Clock(dt.datetime):
        @classmethod
        def now(cls, tz: dt.tzinfo | None = None) -> dt.datetime:  # type: ignore[override]
            return dt.datetime.fromisoformat(next(times))

    # The ledger stamps rows with its module's clock: give it ours (not the global datetime).
    monkeypatch.setattr(ledger_module, "dt", SimpleNamespace(datetime=_Clock, timezone=dt.timezone))
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'ledger.db'}")
    ledger.append("exception_opened", "support-triage", {"exception_id": "EX-1", "expires": "2026-11-20"})
    ledger.append("incident_opened", "support-triage", {"incident_id": "INC-1", "severity": "sev2"})
    ledger.append("incident_closed", "support-triage", {"incident_id": "INC-1"})
    ledger.append("promoted", "support-triage", {"target": "model", "version": "3", "verdict": "FAIL",
                                                 "exception_id": "EX-404"})
    monkeypatch.undo()
    m = governance_metrics(ledger, [contract], now=dt.datetime(2026, 11, 27, 12, tzinfo=UTC))
    m["invalid_contracts"] = [{"path": "datasets/x/scenario.yaml", "error": "owners: <script>alert(1)</script>"}]
    return m


def test_page_is_self_contained_and_its_tables_are_accessible(metrics: dict[str, Any]) -> None:
    page = render_governance_html(metrics)
    s = _Structure()
    s.feed(page)
    assert s.lang == "en" and s.external == [] and "script" not in s.tags
    # portfolio, scenarios, open exceptions, undocumented releases, support load, trust and
    # approvals (issue 14), invalid contracts
    assert s.tags["table"] == s.tags["caption"] == 7
    assert s.th_without_scope == 0
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # contract errors are text, never markup


def test_page_shows_the_metrics(metrics: dict[str, Any]) -> None:
    page = render_governance_html(metrics)
    p = metrics["portfolio"]
    assert p["incidents"]["mttr_hours"] == 1.5 and p["exceptions"] == {"open": 1, "overdue": 1, "undocumented": 1,
                                                                        "closed": 0}
    assert "<th scope=\"row\">Mean time to restore (MTTR)</th><td class=\"num\">1.5 h</td>" in page
    assert "<th scope=\"row\">Owners complete</th><td class=\"num\">1/1 (100%)</td>" in page
    # EX-1 expired on 2026-11-20 and is listed as overdue, with why.
    assert "<td>EX-1</td><td>other</td><td></td><td class=\"num\">2026-11-20</td>" in page
    assert "overdue</span> <span class=\"muted\">(EX-1 expired on 2026-11-20)</span>" in page
    # The FAIL released citing an exception the register does not know is listed as undocumented.
    assert "<td class=\"num\">3</td><td>FAIL</td><td>EX-404</td>" in page
    assert "<th scope=\"row\">2026-11</th><td class=\"num\">1</td><td class=\"num\">0</td><td class=\"num\">0</td>" \
           "<td class=\"num\">0</td><td class=\"num\">1</td>" in page  # the 0: manual platform approvals
    # Nothing evaluated: the scenario is not covered, and the page says why.
    assert "not covered</span> <span class=\"muted\">(missing: recent evaluation)" in page
    assert "<th scope=\"row\">Releases with a cost review</th><td class=\"num\">0/1 (0%)</td>" in page
