"""report and verify read a decision only after checking it (issue 13): a statement with a wrong
payload type, no subject, a verdict of "MAYBE", or a PASS whose checks failed is exit 2 with one
line, never a rendered PASS and never exit 0."""
from __future__ import annotations

import base64
import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from hostile_cli import refused_cleanly, run_main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reports"))
from report_fixtures import make_verdict, ni_check  # noqa: E402

SUBJECT = [{"name": "gemma3-270m", "digest": {"sha256": "a" * 64}}]


def _envelope(verdict: dict, *, payload_type: str = "application/vnd.in-toto+json",
              subject: object = SUBJECT, predicate_type: str = "https://releasegate.dev/decision/v1") -> str:
    statement = {"_type": "https://in-toto.io/Statement/v1", "subject": subject,
                 "predicateType": predicate_type,
                 "predicate": {"scenario_id": "support-triage", "verdict": verdict}}
    return json.dumps({"payloadType": payload_type, "signatures": [],
                       "payload": base64.b64encode(json.dumps(statement).encode()).decode()})


def _pass() -> dict:
    return make_verdict("PASS", [ni_check(0.01, -0.02, 0.04, "pass")]).to_dict()


def _cases() -> dict[str, tuple[str, str]]:
    maybe = {**_pass(), "decision": "MAYBE"}
    failed_pass = make_verdict("PASS", [ni_check(-0.09, -0.12, -0.06, "fail")]).to_dict()
    vetoed = {**_pass(), "vetoed_by": ["non_inferiority"]}
    all_failed = make_verdict("PASS", [replace(ni_check(-0.09, -0.12, -0.06, "fail"), critical=False)]).to_dict()
    no_checks = {**_pass(), "checks": []}
    nan_value = json.dumps(_pass()).replace('"value": 0.01', '"value": NaN')
    return {
        "wrong-payload-type": (_envelope(_pass(), payload_type="text/plain"), "payloadType is 'text/plain'"),
        "no-subject": (_envelope(_pass(), subject=[]), "not a releasegate decision statement"),
        "subject-without-digest": (_envelope(_pass(), subject=[{"name": "m"}]), "subject must list the model"),
        "wrong-predicate-type": (_envelope(_pass(), predicate_type="x"), "not a releasegate decision statement"),
        "maybe-in-envelope": (_envelope(maybe), "decision 'MAYBE' is not one of PASS, FAIL, INCONCLUSIVE"),
        "pass-whose-checks-failed": (_envelope(failed_pass), "says PASS but its critical check(s) non_inferiority"),
        "pass-vetoed": (_envelope(vetoed), "says PASS but names vetoing checks"),
        "pass-whose-checks-all-failed": (_envelope(all_failed), "says PASS but none of its checks passed"),
        "no-checks": (_envelope(no_checks), "a verdict needs its list of checks"),
        "maybe-verdict-file": (json.dumps(maybe), "decision 'MAYBE' is not one of"),
        "failed-pass-verdict-file": (json.dumps(failed_pass), "says PASS but"),
        "nan-in-verdict": (nan_value, "contains NaN"),
        "deep-json": ("[" * 10_000 + "]" * 10_000, "nested deeper than 64 levels"),
        "duplicate-keys": ('{"decision": "FAIL", "decision": "PASS"}', "has the key 'decision' twice"),
    }


@pytest.mark.parametrize("name", sorted(_cases()))
def test_report_refuses_the_document(tmp_path: Path, name: str) -> None:
    text, says = _cases()[name]
    path = tmp_path / "decision.json"
    path.write_text(text)
    out = tmp_path / "report.html"
    line = refused_cleanly(run_main("report", str(path), "--out", str(out)))
    assert says in line and str(path) in line
    assert not out.exists() and not (tmp_path / "decision.report.html").exists()


@pytest.mark.parametrize("name", [n for n in sorted(_cases()) if "verdict-file" not in n])
def test_verify_refuses_the_document(tmp_path: Path, name: str) -> None:
    text, says = _cases()[name]
    path = tmp_path / "decision.dsse.json"
    path.write_text(text)
    line = refused_cleanly(run_main("verify", str(path)))
    assert says in line


@pytest.mark.parametrize("command", [["approve", "{path}", "--role", "product", "--key", "{key}"],
                                     ["promote", "--scenario", "support-triage", "--decision", "{path}"]])
def test_approve_and_promote_refuse_json_nested_ten_thousand_deep(tmp_path: Path, monkeypatch, command) -> None:  # noqa: ANN001
    """Issue 13: a decision nested 10,000 deep raised RecursionError in approve and promote."""
    monkeypatch.setenv("RELEASEGATE_HOME", str(tmp_path / "state"))
    path = tmp_path / "decision.dsse.json"
    path.write_text("[" * 10_000 + "]" * 10_000)
    args = [a.format(path=path, key=tmp_path / "key.pem") for a in command]
    line = refused_cleanly(run_main(*args))
    assert f"{path}: decision is nested deeper than 64 levels" in line
    assert path.read_text() == "[" * 10_000 + "]" * 10_000  # nothing signed or rewritten


def test_a_sound_verdict_still_renders(tmp_path: Path) -> None:
    path = tmp_path / "verdict.json"
    path.write_text(json.dumps(_pass()))
    run = run_main("report", str(path), "--out", str(tmp_path / "r.html"))
    assert run.code == 0, run.err
    assert "PASS" in (tmp_path / "r.html").read_text()


def test_audit_of_an_unknown_scenario_is_bad_input(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("RELEASEGATE_HOME", str(tmp_path / "state"))
    line = refused_cleanly(run_main("audit", "--scenario", "no-such"))
    assert "--scenario: unknown scenario 'no-such': no contract and no ledger events" in line


def test_over_long_scenario_id_in_exceptions_open_is_one_line(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("RELEASEGATE_HOME", str(tmp_path / "state"))
    run = run_main("exceptions", "open", "--scenario", "x" * 5000, "--owner", "a@b.example", "--reason", "r",
                   "--expires", "2099-01-01")
    assert run.code == 2 and "Traceback" not in run.err
    lines = [line for line in run.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "(fix: " in lines[0], run.err


def test_unwritable_governance_html_path_is_one_line(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """Issue 13: an unwritable `governance --html` path raised FileNotFoundError."""
    monkeypatch.setenv("RELEASEGATE_HOME", str(tmp_path / "state"))
    line = refused_cleanly(run_main("governance", "--html", "/proc/no-such/governance.html"))
    assert line.startswith("error: /proc/no-such/governance.html: cannot write") and "writable location" in line
