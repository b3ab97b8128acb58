"""The operating model: exceptions register, the gate's exceptions check, citing an exception on a
decision, incidents linked to rollbacks, and the flows' hooks (champion entry, regression alert)."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from operating_fixtures import LedgerClock, at
from releases_fixtures import ESCALATION, PLATFORM, PRODUCT, Keys, make_verdict, weights_digest, write_scenario

from releasegate.releases import (
    Keyring,
    Ledger,
    approve,
    build_decision,
    champion_entry,
    cite_exception,
    close_exception,
    close_incident,
    decision_digest,
    exceptions_check,
    gate_checks,
    link_action,
    list_exceptions,
    load_private_key,
    open_exception,
    open_incident,
    open_regression_alert,
    promotion_reasons,
    review_exception,
    rollback_for_incident,
    statement_of,
)
from releasegate.core import InputError, Refused
from releasegate.scenarios import LoadedScenario, parse_scenario

OWNER = "support-lead@support.example"
REVIEWER = "head-of-support@support.example"


def _ctx(scenario_id: str = "support-triage") -> SimpleNamespace:
    """The one thing the exceptions check reads from the gate context."""
    return SimpleNamespace(scenario=SimpleNamespace(id=scenario_id))


def _later(days: int) -> str:
    return (dt.date.today() + dt.timedelta(days=days)).isoformat()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> LedgerClock:
    return LedgerClock(monkeypatch)


# --------------------------------------------------------------------------- the register
def test_open_exception_records_owner_reason_expiry_and_review_interval(scenario: LoadedScenario) -> None:
    expires = _later(60)
    record = open_exception("support-triage", owner=OWNER, reason="hosted fallback during GPU migration",
                            expires=expires, kind="direct_provider_key", actor="ops")
    assert (record.exception_id, record.scenario_id, record.kind, record.owner) == \
        ("EX-1", "support-triage", "direct_provider_key", OWNER)
    assert record.expires.isoformat() == expires and record.is_open
    assert record.review_due == (record.opened_at + dt.timedelta(days=30)).date()
    [event] = Ledger.open().events(event_type="exception_opened")
    assert event.subject == "EX-1" and event.actor == "ops"
    assert event.payload == {"exception_id": "EX-1", "kind": "direct_provider_key", "owner": OWNER,
                             "reason": "hosted fallback during GPU migration", "expires": expires,
                             "review_interval_days": 30}
    second = open_exception("support-triage", owner=OWNER, reason="skip cache check", expires=expires)
    assert second.exception_id == "EX-2" and second.kind == "other"


@pytest.mark.parametrize(("kw", "field", "words"), [
    ({"expires": dt.date.today().isoformat()}, "--expires", "is not in the future"),
    ({"expires": "2020-01-01"}, "--expires", "is not in the future"),
    ({"expires": "next month"}, "--expires", "is not a date"),
    ({"kind": "vibes"}, "--kind", "unknown exception kind 'vibes'"),
    ({"owner": "FILL-ME-owner"}, "--owner", "is a placeholder"),
    ({"reason": "  "}, "--reason", "is empty"),
    ({"scenario": "no-such-scenario"}, "--scenario", "unknown scenario 'no-such-scenario'"),
])
def test_open_exception_refuses_bad_input_and_writes_nothing(scenario: LoadedScenario, home: Path, kw: dict,
                                                             field: str, words: str) -> None:
    args = {"scenario": "support-triage", "owner": OWNER, "reason": "why", "expires": _later(10), **kw}
    with pytest.raises(InputError, match=words) as err:
        open_exception(args.pop("scenario"), **args)
    assert err.value.field == field
    assert not (home / "state" / "ledger.db").exists()  # checked before the ledger is even opened


def test_review_and_close(scenario: LoadedScenario) -> None:
    ex = open_exception("support-triage", owner=OWNER, reason="why", expires=_later(90))
    with pytest.raises(Refused) as refused:
        review_exception(ex.exception_id, reviewer=OWNER)
    assert refused.value.reasons == [f"{OWNER} owns EX-1: a review needs a second person"]
    assert refused.value.code == "operating"
    reviewed = review_exception("EX-1", reviewer=REVIEWER, note="still migrating")
    assert [r["reviewer"] for r in reviewed.reviews] == [REVIEWER]
    [event] = Ledger.open().events(event_type="exception_reviewed")
    assert event.payload["next_review_due"] == _later(30) and event.actor == REVIEWER
    closed = close_exception("EX-1", resolution="back on vLLM", actor="ops")
    assert not closed.is_open and closed.resolution == "back on vLLM" and closed.state() == "closed"
    with pytest.raises(Refused, match="EX-1 is already closed"):
        close_exception("EX-1")
    with pytest.raises(Refused, match="EX-1 is closed"):
        review_exception("EX-1", reviewer=REVIEWER)
    with pytest.raises(Refused, match="no exception EX-9 in the register"):
        close_exception("EX-9")


def test_expired_exception_cannot_be_reviewed(scenario: LoadedScenario) -> None:
    open_exception("support-triage", owner=OWNER, reason="why", expires=_later(5))
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=6)
    with pytest.raises(Refused, match=f"EX-1 expired on {_later(5)}: close it"):
        review_exception("EX-1", reviewer=REVIEWER, now=later)


def test_list_overdue(scenario: LoadedScenario, clock: LedgerClock) -> None:
    start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=40)
    clock.set(start)
    open_exception("support-triage", owner=OWNER, reason="unreviewed for 40 days", expires=_later(60),
                   today=start.date())
    clock.set(start + dt.timedelta(days=35))
    open_exception("support-triage", owner=OWNER, reason="fresh", expires=_later(60), today=start.date())
    open_exception("support-triage", owner=OWNER, reason="closed", expires=_later(60), today=start.date())
    close_exception("EX-3")
    ledger = Ledger.open()
    assert [r.exception_id for r in list_exceptions(ledger)] == ["EX-1", "EX-2", "EX-3"]
    assert [r.exception_id for r in list_exceptions(ledger, overdue=True)] == ["EX-1"]
    assert [r.state() for r in list_exceptions(ledger)] == ["overdue", "open", "closed"]


# --------------------------------------------------------------------------- the gate check
def test_gate_check_passes_with_no_exceptions_and_no_ledger(scenario: LoadedScenario, home: Path) -> None:
    [check] = gate_checks()[0](_ctx())  # type: ignore[arg-type]
    assert (check.name, check.status, check.value, check.threshold) == ("exceptions", "pass", 0.0, 0.0)
    assert check.reason == "no open exceptions on this scenario"
    assert not (home / "state" / "ledger.db").exists()  # scoring creates no state


def test_gate_check_fails_on_an_expired_exception(scenario: LoadedScenario) -> None:
    open_exception("support-triage", owner=OWNER, reason="why", expires=_later(3))
    after_expiry = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=4)
    [check] = exceptions_check(_ctx(), now=after_expiry)  # type: ignore[arg-type]
    assert check.status == "fail" and check.value == 1.0
    assert check.reason == f"overdue exceptions: EX-1 expired on {_later(3)}"
    # Another scenario's exception is not this scenario's problem.
    assert exceptions_check(_ctx("invoice-extraction"), now=after_expiry)[0].status == "pass"  # type: ignore[arg-type]


def test_gate_check_fails_on_an_unreviewed_exception_and_a_review_fixes_it(
        scenario: LoadedScenario, clock: LedgerClock) -> None:
    t0 = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=40)
    clock.set(t0)
    open_exception("support-triage", owner=OWNER, reason="why", expires=_later(60), today=t0.date())
    [check] = exceptions_check(_ctx())  # type: ignore[arg-type]
    assert check.status == "fail"
    assert check.reason == (f"overdue exceptions: EX-1 was last reviewed on {t0.date()}, "
                            "more than 30 days ago")
    clock.set(t0 + dt.timedelta(days=25))  # reviewed 15 days ago: in order again
    review_exception("EX-1", reviewer=REVIEWER, now=t0 + dt.timedelta(days=25))
    [check] = exceptions_check(_ctx())  # type: ignore[arg-type]
    assert check.status == "pass" and check.value == 0.0
    assert check.reason.startswith(f"open exceptions are unexpired and reviewed: EX-1 (until {_later(60)}")


def test_closed_exception_no_longer_counts(scenario: LoadedScenario) -> None:
    open_exception("support-triage", owner=OWNER, reason="why", expires=_later(3))
    close_exception("EX-1")
    after_expiry = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=4)
    assert exceptions_check(_ctx(), now=after_expiry)[0].status == "pass"  # type: ignore[arg-type]


def _records(scenario: LoadedScenario, entry: str) -> pd.DataFrame:
    from releasegate.scenarios import RECORD_COLUMNS, load_dataset_for

    cases = load_dataset_for(scenario).to_pandas()
    frame = pd.DataFrame({
        "example_id": cases["id"].astype(str), "model_entry": entry, "model": entry, "model_digest": "",
        "prompt_version": "v1", "output": cases["reference"], "prompt_tokens": 100, "completion_tokens": 2,
        "ttft_s": 0.2, "latency_s": 1.0, "finish_reason": "stop", "cached": False, "error": None,
        "cost_usd": 1e-5, "tool_calls": None})
    for column, dtype in RECORD_COLUMNS.items():
        frame[column] = frame[column].astype(dtype)
    return frame


def test_run_gate_with_the_releases_checks_fails_on_an_overdue_exception(scenario: LoadedScenario) -> None:
    from releasegate.evals import run_gate
    from releasegate.scenarios import load_dataset_for

    dataset = load_dataset_for(scenario)
    cand, inc = _records(scenario, "gemma3-v1"), _records(scenario, "smollm2-v1")
    meta = {"scenario_id": "support-triage"}
    before = run_gate(scenario, dataset, cand, meta, inc, meta, extra_checks=gate_checks())
    assert [c.status for c in before.checks if c.name == "exceptions"] == ["pass"]
    open_exception("support-triage", owner=OWNER, reason="why", expires=_later(2))
    after = run_gate(scenario, dataset, cand, meta, inc, meta,
                     extra_checks=gate_checks(now=dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=3)))
    assert after.decision == "FAIL" and "exceptions" in after.reason
    assert [c.status for c in after.checks if c.name == "exceptions"] == ["fail"]


# --------------------------------------------------------------------------- citing on a decision
def _fail_decision(scenario: LoadedScenario) -> dict:
    """A FAIL decision, recorded in the ledger (only recorded decisions can cite an exception)."""
    env = build_decision(scenario, make_verdict(scenario, decision="FAIL"),
                         candidate_model_digest=weights_digest("gemma3-270m"))
    if not [e for e in Ledger.open().events(event_type="evaluated")
            if e.payload.get("decision_digest") == decision_digest(env)]:
        Ledger.open().append("evaluated", "support-triage", {"decision_digest": decision_digest(env)},
                             subject=decision_digest(env))
    return env


def test_cite_exception_refuses_a_hand_edited_unrecorded_envelope(scenario: LoadedScenario) -> None:
    import base64
    import json

    ledger = Ledger.open()
    open_exception("support-triage", owner=OWNER, reason="ship despite the FAIL", expires=_later(14),
                   kind="release_despite_fail", ledger=ledger)
    env = _fail_decision(scenario)
    statement = json.loads(base64.b64decode(env["payload"]))
    statement["predicate"]["verdict"]["reason"] = "edited by hand"  # any edit: another digest
    edited = {**env, "payload": base64.b64encode(json.dumps(statement).encode()).decode()}
    with pytest.raises(Refused) as refused:
        cite_exception(edited, "EX-1", ledger=ledger)
    assert refused.value.reasons == [f"decision {decision_digest(edited)[:12]} is not recorded in the ledger: "
                                     "cite an exception only for a decision releasegate evaluated and recorded"]
    assert statement_of(cite_exception(env, "EX-1", ledger=ledger))["predicate"]["exception_id"] == "EX-1"


def test_cite_exception_needs_escalation_and_is_refused_for_a_pass_or_unknown_exception(
        scenario: LoadedScenario, keys: Keys) -> None:
    ledger = Ledger.open()
    env = _fail_decision(scenario)
    with pytest.raises(Refused) as refused:
        cite_exception(env, "EX-1", ledger=ledger)
    assert refused.value.reasons == ["exception EX-1 cannot be cited: no exception EX-1 on scenario support-triage"]
    passing = build_decision(scenario, make_verdict(scenario), candidate_model_digest=weights_digest("gemma3-270m"))
    with pytest.raises(Refused, match="the verdict is PASS: a release on the golden path needs no exception"):
        cite_exception(passing, "EX-1", ledger=ledger)

    open_exception("support-triage", owner=OWNER, reason="ship despite the FAIL on 3 cases", expires=_later(14),
                   kind="release_despite_fail", ledger=ledger)
    cited = cite_exception(env, "EX-1", ledger=ledger)
    pred = statement_of(cited)["predicate"]
    assert pred["exception_id"] == "EX-1" and not cited["signatures"]
    assert pred["approvers"] == {"product": PRODUCT, "platform": PLATFORM, "escalation": ESCALATION}
    assert pred["verdict"] == statement_of(env)["predicate"]["verdict"]
    assert decision_digest(cited) != decision_digest(env)

    ring = Keyring.load()
    for role, key in (("product", keys.product), ("platform", keys.platform)):
        cited = approve(cited, role, load_private_key(key), ring, ledger=ledger)
    ledger.append("evaluated", "support-triage", {"decision_digest": decision_digest(cited)})
    mv = SimpleNamespace(version="4", tags={"weight_digest": weights_digest("gemma3-270m"),
                                            "decision_digest": decision_digest(cited)})
    loaded = parse_scenario(scenario.path)
    assert promotion_reasons(loaded, cited, keyring=ring, ledger=ledger, model_version=mv) == [
        f"missing approval: no valid escalation signature from {ESCALATION}"]
    cited = approve(cited, "escalation", load_private_key(keys.escalation), ring, ledger=ledger)
    assert promotion_reasons(loaded, cited, keyring=ring, ledger=ledger, model_version=mv) == []


def test_an_unreviewed_exception_cannot_waive_a_fail(scenario: LoadedScenario, keys: Keys,
                                                     clock: LedgerClock) -> None:
    t0 = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=31)
    clock.set(t0)
    open_exception("support-triage", owner=OWNER, reason="why", expires=_later(30), today=t0.date(),
                   kind="release_despite_fail")
    clock.set(dt.datetime.now(dt.timezone.utc))
    env = build_decision(scenario, make_verdict(scenario, decision="FAIL"),
                         candidate_model_digest=weights_digest("gemma3-270m"), exception_id="EX-1")
    with pytest.raises(Refused) as refused:
        approve(env, "product", load_private_key(keys.product), Keyring.load(), ledger=Ledger.open())
    assert refused.value.reasons == [
        f"verdict is FAIL and the cited exception EX-1 cannot be used: EX-1 was last reviewed on {t0.date()}, "
        "more than 30 days ago"]


# --------------------------------------------------------------------------- incidents
def test_open_incident_assigns_the_incident_owner_and_shows_escalation(scenario: LoadedScenario) -> None:
    record = open_incident("support-triage", severity="2", summary="misroutes refunds", actor="ops")
    assert (record.incident_id, record.severity, record.owner) == ("INC-1", "sev2", "oncall-llm@platform.example")
    assert record.escalation_path == [ESCALATION, "platform-director@platform.example"]
    [event] = Ledger.open().events(event_type="incident_opened")
    assert event.payload["rollback_targets"] == ["model", "prompt", "tool_policy"]
    assert event.payload["source"] == "manual" and event.payload["runbook"] == "https://runbooks.example/support-triage"
    with pytest.raises(InputError, match="unknown severity 'critical'"):
        open_incident("support-triage", severity="critical", summary="x")
    with pytest.raises(InputError, match="what is wrong is empty"):
        open_incident("support-triage", severity="sev1", summary="")


@pytest.fixture
def tool_policy_history(home: Path) -> LoadedScenario:
    """Contract at tool policy v2, with v1 then v2 released through the ledger."""
    from releasegate.scenarios import load_scenario

    write_scenario(home / "datasets" / "support-triage",
                   tool_policy={"version": "v2", "allowed_tools": [], "owner": PLATFORM})
    ledger = Ledger.open()
    for version, tools in (("3", "v1"), ("4", "v2")):
        ledger.append("promoted", "support-triage", {"target": "model", "version": version,
                                                     "tool_policy_version": tools, "verdict": "PASS"})
    return load_scenario("support-triage")


def test_rollback_for_incident_links_the_rollback(tool_policy_history: LoadedScenario) -> None:
    ledger = Ledger.open()
    incident = open_incident("support-triage", severity="sev1", summary="tool v2 leaks data", ledger=ledger)
    result, linked = rollback_for_incident(incident.incident_id, "support-triage", target="tool_policy",
                                           reason="v2 leaks data", ledger=ledger, actor="oncall")
    assert (result.from_version, result.to_version) == ("v2", "v1")
    assert linked.actions == [{"action": "tool_policy_rollback", "ledger_seq": result.event.seq,
                               "target": "tool_policy", "from_version": "v2", "to_version": "v1"}]
    [event] = ledger.events(event_type="incident_linked")
    assert event.subject == "INC-1" and event.payload["ledger_seq"] == result.event.seq
    # The same row cannot be linked twice; a row that is not such a rollback is refused.
    with pytest.raises(Refused, match=f"ledger row {result.event.seq} is already linked to INC-1"):
        link_action("INC-1", action="tool_policy_rollback", ledger=ledger)
    with pytest.raises(Refused, match="ledger row 1 is not a model rollback of support-triage"):
        link_action("INC-1", action="model_rollback", ledger_seq=1, ledger=ledger)
    with pytest.raises(Refused, match="no prompt rollback of support-triage since INC-1 opened"):
        link_action("INC-1", action="prompt_rollback", ledger=ledger)
    with pytest.raises(InputError, match="unknown action 'reboot'"):
        link_action("INC-1", action="reboot", ledger=ledger)


def test_rollback_for_a_closed_incident_is_refused_before_anything_moves(tool_policy_history: LoadedScenario) -> None:
    ledger = Ledger.open()
    open_incident("support-triage", severity="sev3", summary="x", ledger=ledger)
    close_incident("INC-1", resolution="false alarm", ledger=ledger)
    with pytest.raises(Refused, match=r"INC-1 is closed \(false alarm\)"):
        rollback_for_incident("INC-1", "support-triage", target="tool_policy", reason="r", ledger=ledger)
    assert ledger.events(event_type="rolled_back") == []
    with pytest.raises(Refused, match="no incident INC-7 in the ledger"):
        rollback_for_incident("INC-7", "support-triage", target="tool_policy", reason="r", ledger=ledger)


def test_close_incident_gives_time_to_restore(scenario: LoadedScenario, clock: LedgerClock) -> None:
    clock.set(at("2026-11-05 10:00"))
    open_incident("support-triage", severity="sev2", summary="latency spike")
    clock.set(at("2026-11-05 11:30"))
    record = close_incident("INC-1", resolution="rolled back the model", now=at("2026-11-05 11:30"))
    assert record.time_to_restore == dt.timedelta(minutes=90)
    assert record.to_dict()["time_to_restore_s"] == 5400.0
    [event] = Ledger.open().events(event_type="incident_closed")
    assert event.payload == {"incident_id": "INC-1", "resolution": "rolled back the model", "closed_by": None,
                             "time_to_restore_s": 5400.0}
    with pytest.raises(Refused, match="INC-1 is closed"):
        close_incident("INC-1", resolution="again")
    open_incident("support-triage", severity="sev2", summary="another")
    with pytest.raises(InputError, match="how it was resolved is empty"):
        close_incident("INC-2", resolution=" ")



def test_a_row_under_another_scenario_does_not_close_an_incident_or_an_exception(scenario: LoadedScenario) -> None:
    """Both registers replay through one fold: an update counts only under the record's scenario."""
    from releasegate.releases import append_event, list_incidents
    from releasegate.releases._events import ExceptionClosed, IncidentClosed

    ledger = Ledger.open()
    open_incident("support-triage", severity="sev2", summary="latency spike", ledger=ledger)
    exc = open_exception("support-triage", kind="other", owner=OWNER, reason="waiting for a fix",
                         expires=_later(30), ledger=ledger)
    append_event(ledger, "invoice-extraction", IncidentClosed(incident_id="INC-1", resolution="not mine",
                                                              closed_by="someone", time_to_restore_s=1.0),
                 subject="INC-1", actor="someone")
    append_event(ledger, "invoice-extraction", ExceptionClosed(exception_id=exc.exception_id,
                                                               resolution="not mine", closed_by="someone"),
                 subject=exc.exception_id, actor="someone")
    [incident] = list_incidents(ledger)
    assert incident.is_open and incident.resolution is None
    [still] = list_exceptions(ledger)
    assert still.is_open and still.resolution is None
    close_incident("INC-1", resolution="rolled back", ledger=ledger)
    [closed] = list_incidents(ledger)
    assert not closed.is_open and closed.resolution == "rolled back"


# --------------------------------------------------------------------------- the flows' hooks
def test_open_regression_alert_records_the_regression_and_an_incident(scenario: LoadedScenario, tmp_path: Path) -> None:
    verdict_path = tmp_path / "verdict.json"
    verdict_path.write_text(json.dumps({"decision": "FAIL", "reason": "failed: non_inferiority"}))
    incident_id = open_regression_alert("support-triage", champion="gemma3-v1", verdict_path=str(verdict_path),
                                        report_path=str(tmp_path / "report.html"))
    assert incident_id == "INC-1"
    ledger = Ledger.open()
    [regression] = ledger.events(event_type="regression_detected")
    assert regression.subject == "gemma3-v1"
    assert regression.payload == {"champion": "gemma3-v1", "alias": "champion", "verdict_path": str(verdict_path),
                                  "verdict": "FAIL", "verdict_reason": "failed: non_inferiority",
                                  "report_path": str(tmp_path / "report.html"), "incident_id": "INC-1"}
    [opened] = ledger.events(event_type="incident_opened")
    assert opened.payload["severity"] == "sev2" and opened.payload["owner"] == "oncall-llm@platform.example"
    assert opened.payload["source"] == "regression"
    assert opened.payload["summary"] == ("regression: champion gemma3-v1 is FAIL on the current dataset "
                                         "(failed: non_inferiority)")
    assert opened.seq < regression.seq


def test_champion_entry_reads_the_version_tag_then_the_ledger(scenario: LoadedScenario,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import releasegate.releases._registry as reg

    at_alias: dict[str, SimpleNamespace] = {}
    monkeypatch.setattr(reg, "client", lambda uri=None: None)
    monkeypatch.setattr(reg, "get_alias_version", lambda c, sid, alias: at_alias.get(alias))
    assert champion_entry("support-triage") is None
    at_alias["champion"] = SimpleNamespace(version="5", tags={"candidate_entry": "gemma3-v1"})
    assert champion_entry("support-triage") == "gemma3-v1"
    # A version without the tag: the promotion's decision names the entry.
    at_alias["previous"] = SimpleNamespace(version="2", tags={})
    env = build_decision(scenario, make_verdict(scenario, candidate="smollm2-v2", model="smollm2-135m-instruct"),
                         candidate_model_digest=weights_digest("smollm2-135m-instruct"))
    Ledger.open().append("promoted", "support-triage", {"target": "model", "version": "2", "envelope": env})
    assert champion_entry("support-triage", alias="previous") == "smollm2-v2"


def test_only_release_kinds_can_waive_a_verdict(scenario: LoadedScenario) -> None:
    ledger = Ledger.open()
    open_exception("support-triage", owner=OWNER, reason="hosted key", expires=_later(9), kind="direct_provider_key",
                   ledger=ledger)
    with pytest.raises(Refused) as refused:
        cite_exception(_fail_decision(scenario), "EX-1", ledger=ledger)
    assert refused.value.reasons == ["exception EX-1 cannot be cited: it is a direct_provider_key exception; only "
                                     "release_despite_fail or skipped_check exceptions can waive a verdict"]
    open_exception("support-triage", owner=OWNER, reason="no cost telemetry yet", expires=_later(9),
                   kind="skipped_check", ledger=ledger)
    assert statement_of(cite_exception(_fail_decision(scenario), "EX-2", ledger=ledger))["predicate"][
        "exception_id"] == "EX-2"
