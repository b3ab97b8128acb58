"""Governance metrics on a ledger built by the test: every metric, with the numbers worked out by
hand from the events below (two scenarios, two months)."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from operating_fixtures import LedgerClock, at
from releases_fixtures import make_verdict, weights_digest, write_scenario

from releasegate.evals import Check
from releasegate.releases import Ledger, build_decision, governance_metrics
from releasegate.scenarios import LoadedScenario, parse_scenario

NOW = at("2026-11-27 12:00")


def _check(name: str, status: str) -> Check:
    return Check(name=name, kind="value", metric=name, value=1.0, ci_low=None, ci_high=None, threshold=None,
                 direction="<=", status=status, critical=False, reason="")  # type: ignore[arg-type]


def _envelope(loaded: LoadedScenario, decision: str, checks: list[Check]) -> dict[str, Any]:
    verdict = dataclasses.replace(make_verdict(loaded, decision=decision), checks=checks)
    return build_decision(loaded, verdict, candidate_model_digest=weights_digest("gemma3-270m"))


def _promoted(ledger: Ledger, loaded: LoadedScenario, version: str, decision: str, checks: list[Check],
              exception_id: str | None = None) -> None:
    ledger.append("promoted", loaded.scenario.id, {
        "target": "model", "version": version, "verdict": decision, "exception_id": exception_id,
        "envelope": _envelope(loaded, decision, checks)})


@pytest.fixture
def portfolio(home: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Ledger, list[LoadedScenario]]:
    """support-triage: golden path (template, owners complete, released on PASS, one incident).
    legacy-bot: no template, no cache-strategy owner, stale evaluations, exceptions, incidents."""
    triage = parse_scenario(write_scenario(home / "datasets" / "support-triage"))
    legacy = parse_scenario(write_scenario(
        home / "datasets" / "legacy-bot", id="legacy-bot", template=None, intake_date="2026-09-01",
        cache_strategy={"prefix_stable": True, "min_prefix_cache_hit_rate": 0.0}))
    clock = LedgerClock(monkeypatch)
    ledger = Ledger.open()
    quality_and_cost = [_check("non_inferiority", "pass"), _check("min_acceptance_rate", "pass"),
                        _check("max_cost_per_accepted", "pass"), _check("cost_ratio", "skipped")]

    def event(when: str, event_type: str, scenario_id: str, payload: dict[str, Any]) -> None:
        clock.set(at(when))
        ledger.append(event_type, scenario_id, payload)

    # support-triage (intake 2026-10-01 in the contract)
    event("2026-10-11 10:00", "evaluated", "support-triage", {"verdict": "FAIL"})
    event("2026-10-21 09:00", "evaluated", "support-triage", {"verdict": "PASS"})  # onboarding: 20 days
    clock.set(at("2026-10-22 09:00"))
    _promoted(ledger, triage, "1", "PASS", quality_and_cost)
    event("2026-11-05 10:00", "incident_opened", "support-triage", {"incident_id": "INC-1", "severity": "sev2"})
    event("2026-11-05 12:30", "incident_closed", "support-triage", {"incident_id": "INC-1"})  # 2.5 h
    event("2026-11-10 08:00", "rolled_back", "support-triage", {"target": "tool_policy"})
    event("2026-11-20 08:00", "evaluated", "support-triage", {"verdict": "PASS"})  # 7 days before NOW

    # legacy-bot (intake 2026-09-01)
    event("2026-09-15 08:00", "evaluated", "legacy-bot", {"verdict": "PASS"})  # onboarding: 14 days
    event("2026-10-01 08:00", "exception_opened", "legacy-bot",
          {"exception_id": "EX-1", "expires": "2026-12-31", "owner": "ops@platform.example"})  # never reviewed
    clock.set(at("2026-10-02 08:00"))
    # Released despite a FAIL, citing EX-1 (documented); quality ran, the cost check was skipped.
    _promoted(ledger, legacy, "1", "FAIL", [_check("non_inferiority", "fail"),
                                            _check("max_cost_per_accepted", "skipped")], exception_id="EX-1")
    event("2026-10-20 08:00", "rolled_back", "legacy-bot", {"target": "model"})
    event("2026-11-01 08:00", "exception_opened", "legacy-bot", {"exception_id": "EX-2", "expires": "2026-11-30"})
    event("2026-11-03 08:00", "exception_closed", "legacy-bot", {"exception_id": "EX-2"})
    clock.set(at("2026-11-04 08:00"))
    # INCONCLUSIVE released with no exception: undocumented. Cost ran (a failing ratio), no quality check.
    _promoted(ledger, legacy, "2", "INCONCLUSIVE", [_check("cost_ratio", "fail")])
    event("2026-11-12 08:00", "incident_opened", "legacy-bot", {"incident_id": "INC-2", "severity": "sev3"})
    event("2026-11-12 08:30", "incident_closed", "legacy-bot", {"incident_id": "INC-2"})  # 0.5 h
    event("2026-11-14 08:00", "alias_repaired", "legacy-bot", {"target": "model", "alias": "champion"})
    event("2026-11-25 08:00", "incident_opened", "legacy-bot", {"incident_id": "INC-3", "severity": "sev1"})
    event("2026-11-26 08:00", "evaluated", "elsewhere", {"verdict": "PASS"})  # not a contract we know
    return ledger, [triage, legacy]


def test_portfolio_metrics(portfolio: tuple[Ledger, list[LoadedScenario]]) -> None:
    ledger, scenarios = portfolio
    m = governance_metrics(ledger, scenarios, now=NOW)
    p = m["portfolio"]
    assert m["schema"] == "releasegate.governance/v1" and p["scenarios"] == 2
    assert p["owners_complete"] == {"count": 1, "total": 2, "rate": 0.5}
    assert p["eval_coverage"] == {"count": 1, "total": 2, "rate": 0.5}
    assert p["releases"] == 3
    assert p["cost_review"] == {"count": 2, "total": 3, "rate": 0.6667}
    assert p["quality_and_cost_review"] == {"count": 1, "total": 3, "rate": 0.3333}
    assert p["exceptions"] == {"open": 1, "overdue": 1, "undocumented": 1, "closed": 1}
    assert p["incidents"] == {"total": 3, "open": 1, "closed": 2, "mttr_hours": 1.5}  # mean of 2.5 h and 0.5 h
    assert p["onboarding_days"] == {"scenarios": 2, "mean": 17.0, "median": 17.0}
    assert p["self_service"] == {"from_template": 1, "count": 1, "total": 2, "rate": 0.5}
    assert p["support_load"] == {
        "2026-10": {"exceptions": 1, "rollbacks": 1, "alias_repairs": 0, "manual_platform_approvals": 0, "total": 2},
        "2026-11": {"exceptions": 1, "rollbacks": 1, "alias_repairs": 1, "manual_platform_approvals": 0, "total": 3},
    }
    assert m["ledger_only_scenarios"] == ["elsewhere"]


def test_per_scenario_metrics(portfolio: tuple[Ledger, list[LoadedScenario]]) -> None:
    ledger, scenarios = portfolio
    s = governance_metrics(ledger, scenarios, now=NOW)["scenarios"]
    triage, legacy = s["support-triage"], s["legacy-bot"]
    assert triage["owners"] == {"complete": True, "missing": []}
    assert legacy["owners"] == {"complete": False, "missing": ["cache_strategy.owner"]}
    assert triage["eval_coverage"]["covered"] and triage["eval_coverage"]["days_since_evaluation"] == 7.17
    assert legacy["eval_coverage"] == {"covered": False, "dataset": True, "gate": True, "recent_evaluation": False,
                                       "last_evaluated_at": "2026-09-15T08:00:00+00:00",
                                       "days_since_evaluation": 73.17}
    assert (triage["cost_review"]["count"], legacy["cost_review"]["count"]) == (1, 1)
    assert (triage["quality_and_cost_review"]["count"], legacy["quality_and_cost_review"]["count"]) == (1, 0)
    assert legacy["exceptions"]["open_ids"] == ["EX-1"] and legacy["exceptions"]["overdue_ids"] == ["EX-1"]
    assert legacy["exceptions"]["open_exceptions"] == [{
        "exception_id": "EX-1", "kind": "other", "owner": "ops@platform.example", "reason": "",
        "expires": "2026-12-31", "review_due": "2026-10-31", "state": "overdue",
        "problems": ["EX-1 was last reviewed on 2026-10-01, more than 30 days ago"]}]
    assert [(u["version"], u["verdict"]) for u in legacy["exceptions"]["undocumented_releases"]] == \
        [("2", "INCONCLUSIVE")]
    assert triage["incidents"]["mttr_hours"] == 2.5 and legacy["incidents"]["mttr_hours"] == 0.5
    assert triage["onboarding"] == {"intake_date": "2026-10-01", "first_pass_at": "2026-10-21T09:00:00+00:00",
                                    "days": 20}
    assert legacy["onboarding"]["days"] == 14
    assert triage["self_service"]["adopted"] is True
    assert legacy["self_service"] == {"from_template": False, "template": None, "released": True,
                                      "exceptions_ever": 2, "adopted": False}


def test_a_gate_that_cannot_block_and_a_stale_dataset_are_not_coverage(home: Path) -> None:
    import yaml

    path = write_scenario(home / "datasets" / "support-triage")
    data = yaml.safe_load(path.read_text())
    data["success_criteria"].update(min_acceptance_rate=0.0, critical=[])
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    (path.parent / "cases.jsonl").write_text('{"id": "c0"}\n')  # bytes no longer match the digest
    ledger = Ledger.open()
    ledger.append("evaluated", "support-triage", {"verdict": "PASS"})
    cov = governance_metrics(ledger, [parse_scenario(path)])["scenarios"]["support-triage"]["eval_coverage"]
    assert (cov["covered"], cov["dataset"], cov["gate"], cov["recent_evaluation"]) == (False, False, False, True)


def test_empty_portfolio_has_no_rates(home: Path) -> None:
    m = governance_metrics(Ledger.open(), [], now=NOW)
    assert m["portfolio"]["owners_complete"] == {"count": 0, "total": 0, "rate": None}
    assert m["portfolio"]["incidents"]["mttr_hours"] is None
    assert m["portfolio"]["onboarding_days"]["mean"] is None and m["portfolio"]["support_load"] == {}
