"""`releasegate exceptions|incident|governance|decision cite-exception` and `rollback --incident`:
each command's happy path and its refusal (exit 1 with the reason) or bad input (InputError, exit 2)."""
from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner, Result

from releasegate.flows.cli import app
from releasegate.core import InputError, project_root

OWNER = "support-lead@support.example"
REVIEWER = "head-of-support@support.example"


@pytest.fixture
def env(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """State, keys and a copy of support-triage (tool policy at v2) under tmp_path."""
    tmp_path = isolated_home
    monkeypatch.setenv("RELEASEGATE_DATASETS", str(tmp_path / "datasets"))
    folder = tmp_path / "datasets" / "support-triage"
    folder.mkdir(parents=True)
    src = project_root() / "datasets" / "support-triage"
    shutil.copy(src / "cases.jsonl", folder / "cases.jsonl")
    data = yaml.safe_load((src / "scenario.yaml").read_text())
    data["tool_policy"]["version"] = "v2"
    (folder / "scenario.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return tmp_path


def rg(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "250"}, catch_exceptions=False)


def _later(days: int) -> str:
    return (dt.date.today() + dt.timedelta(days=days)).isoformat()


def test_exceptions_open_list_review_close(env: Path) -> None:
    r = rg("exceptions", "open", "--scenario", "support-triage", "--owner", OWNER, "--reason",
           "hosted fallback while GPUs move", "--expires", _later(45), "--kind", "direct_provider_key")
    assert r.exit_code == 0, r.output
    assert f"opened EX-1 on support-triage (direct_provider_key); owner {OWNER}; expires {_later(45)}; " \
           f"review due {_later(30)}" in r.output
    r = rg("exceptions", "list")
    assert r.exit_code == 0 and "EX-1" in r.output and "hosted fallback while GPUs move" in r.output
    assert "no exceptions" in rg("exceptions", "list", "--overdue").output
    [listed] = json.loads(rg("exceptions", "list", "--json", "--scenario", "support-triage").stdout)
    assert (listed["exception_id"], listed["state"], listed["owner"]) == ("EX-1", "open", OWNER)

    r = rg("exceptions", "review", "EX-1", "--reviewer", REVIEWER, "--note", "on track")
    assert r.exit_code == 0 and f"reviewed EX-1 by {REVIEWER}; next review due {_later(30)}" in r.output
    r = rg("exceptions", "close", "EX-1", "--resolution", "back on vLLM")
    assert r.exit_code == 0 and "closed EX-1" in r.output
    [listed] = json.loads(rg("exceptions", "list", "--json").stdout)
    assert listed["state"] == "closed" and listed["resolution"] == "back on vLLM"


def test_exceptions_refusals_exit_1_with_the_reason(env: Path) -> None:
    rg("exceptions", "open", "--scenario", "support-triage", "--owner", OWNER, "--reason", "r", "--expires", _later(5))
    r = rg("exceptions", "review", "EX-1", "--reviewer", OWNER)
    assert r.exit_code == 1 and f"{OWNER} owns EX-1: a review needs a second person" in r.output
    r = rg("exceptions", "close", "EX-2")
    assert r.exit_code == 1 and "no exception EX-2 in the register" in r.output


def test_exceptions_open_bad_input_writes_nothing(env: Path) -> None:
    with pytest.raises(InputError, match="is not in the future") as err:
        rg("exceptions", "open", "--scenario", "support-triage", "--owner", OWNER, "--reason", "r",
           "--expires", "2020-01-01")
    assert err.value.exit_code == 2 and err.value.field == "--expires"
    assert not (env / "state" / "ledger.db").exists()


def _release_history() -> None:
    """Tool policy v1 then v2 released (what `promote` records), so a tool-policy rollback has a target."""
    from releasegate.releases import Ledger

    ledger = Ledger.open()
    for version, tools in (("1", "v1"), ("2", "v2")):
        ledger.append("promoted", "support-triage", {"target": "model", "version": version,
                                                     "tool_policy_version": tools, "verdict": "PASS"})


def test_incident_open_rollback_link_close_and_list(env: Path) -> None:
    _release_history()
    r = rg("incident", "open", "--scenario", "support-triage", "--severity", "sev1", "--summary", "tool v2 leaks data")
    assert r.exit_code == 0, r.output
    assert "opened INC-1 (sev1) on support-triage: tool v2 leaks data" in r.output
    assert "assigned to: oncall-llm@platform.example" in r.output
    assert "escalation path: head-of-support@support.example -> platform-director@platform.example" in r.output

    r = rg("rollback", "--scenario", "support-triage", "--target", "tool_policy", "--reason", "leak",
           "--incident", "INC-1")
    assert r.exit_code == 0, r.output
    assert "rolled back tool_policy of support-triage: v2 -> v1; ledger row 4; linked to INC-1" in r.output
    [listed] = json.loads(rg("incident", "list", "--json").stdout)
    assert listed["actions"] == [{"action": "tool_policy_rollback", "ledger_seq": 4, "target": "tool_policy",
                                  "from_version": "v2", "to_version": "v1"}]
    r = rg("incident", "link", "INC-1", "--action", "tool_policy_rollback", "--ledger-seq", "4")
    assert r.exit_code == 1 and "ledger row 4 is already linked to INC-1" in r.output

    r = rg("incident", "close", "INC-1", "--resolution", "tool policy v1 restored")
    assert r.exit_code == 0 and "closed INC-1; time to restore" in r.output and "1 linked action(s)" in r.output
    r = rg("incident", "close", "INC-1", "--resolution", "again")
    assert r.exit_code == 1 and "INC-1 is closed (tool policy v1 restored)" in r.output
    # A rollback citing a closed incident is refused before anything moves.
    r = rg("rollback", "--scenario", "support-triage", "--target", "tool_policy", "--reason", "x", "--incident", "INC-1")
    assert r.exit_code == 1 and "INC-1 is closed" in r.output
    r = rg("incident", "list")
    assert r.exit_code == 0 and "INC-1" in r.output and "tool_policy_rollback@4" in r.output


def test_incident_link_without_a_rollback_is_refused(env: Path) -> None:
    rg("incident", "open", "--scenario", "support-triage", "--severity", "2", "--summary", "slow")
    r = rg("incident", "link", "INC-1", "--action", "model_rollback")
    assert r.exit_code == 1 and "no model rollback of support-triage since INC-1 opened" in r.output
    with pytest.raises(InputError, match="unknown severity 'huge'"):
        rg("incident", "open", "--scenario", "support-triage", "--severity", "huge", "--summary", "x")


def test_governance_text_json_and_html(env: Path) -> None:
    _release_history()
    rg("exceptions", "open", "--scenario", "support-triage", "--owner", OWNER, "--reason", "r", "--expires", _later(9))
    rg("incident", "open", "--scenario", "support-triage", "--severity", "sev3", "--summary", "s")
    rg("incident", "close", "INC-1", "--resolution", "fixed")
    html = env / "out" / "governance.html"
    r = rg("governance", "--html", str(html))
    assert r.exit_code == 0, r.output
    assert "Governance: 1 scenarios" in r.output and "owners complete" in r.output
    assert "exceptions open / overdue / undocumented" in r.output and "1 / 0 / 0 (closed 0)" in r.output
    assert f"HTML report written to {html}" in r.output
    page = html.read_text()
    assert page.startswith("<!doctype html>") and "<code>support-triage</code>" in page
    with pytest.raises(InputError, match="is a folder"):
        rg("governance", "--html", str(env))
    metrics = json.loads(rg("governance", "--json", "--html", str(html)).stdout)  # the HTML note goes to stderr
    p = metrics["portfolio"]
    assert p["releases"] == 2 and p["incidents"]["closed"] == 1 and p["exceptions"]["open"] == 1
    assert p["self_service"]["count"] == 0  # released, but an exception was opened
    month = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m")
    assert p["support_load"] == {month: {"exceptions": 1, "rollbacks": 0, "alias_repairs": 0, "manual_platform_approvals": 0, "total": 1}}


def test_release_despite_a_fail_cites_an_exception_and_needs_escalation(env: Path) -> None:
    """FAIL -> `decision cite-exception` -> product, platform AND escalation sign -> promote."""
    import hashlib

    from releasegate.evals import Check, ModelSide, Verdict
    from releasegate.releases import (
        Ledger,
        build_decision,
        champion_entry,
        decision_digest,
        read_decision,
        statement_of,
        write_decision,
    )
    from releasegate.scenarios import parse_scenario

    loaded = parse_scenario(env / "datasets" / "support-triage" / "scenario.yaml")
    digest = hashlib.sha256(b"weights").hexdigest()
    check = Check(name="min_acceptance_rate", kind="value", metric="acceptance_rate", value=0.5, ci_low=0.4,
                  ci_high=0.6, threshold=0.7, direction=">=", status="fail", critical=False, reason="below")

    def decision(verdict: str) -> Path:
        v = Verdict(scenario_id="support-triage", decision=verdict,  # type: ignore[arg-type]
                    checks=[check if verdict == "FAIL" else Check(**{**check.__dict__, "status": "pass"})],
                    candidate=ModelSide("gemma3-v1", "gemma3-270m", digest, "v1", "c" * 64),
                    incumbent=ModelSide("smollm2-v1", "smollm2-135m-instruct", "", "v1", "i" * 64),
                    contract_sha256=loaded.contract_sha256, dataset_sha256=loaded.scenario.dataset.sha256,
                    n=3, confidence=0.95, seed=1)
        env = build_decision(loaded, v, candidate_model_digest=digest)
        # Only a decision recorded in the ledger may cite an exception (as `evaluate` records it).
        Ledger.open().append("evaluated", "support-triage", {"decision_digest": decision_digest(env),
                                                             "verdict": verdict}, subject=decision_digest(env))
        return write_decision(env)

    r = rg("decision", "cite-exception", str(decision("FAIL")), "--exception", "EX-1")
    assert r.exit_code == 1 and "no exception EX-1 on scenario support-triage" in r.output
    rg("exceptions", "open", "--scenario", "support-triage", "--owner", OWNER, "--reason", "ship anyway",
       "--expires", _later(7), "--kind", "release_despite_fail")
    r = rg("decision", "cite-exception", str(decision("PASS")), "--exception", "EX-1")
    assert r.exit_code == 1 and "the verdict is PASS" in r.output

    r = rg("decision", "cite-exception", str(decision("FAIL")), "--exception", "EX-1")
    assert r.exit_code == 0, r.output
    assert "cites EX-1" in r.output and "escalation (head-of-support@support.example)" in r.output
    cited = Path(r.output.split("new decision ")[1].split(" cites")[0])
    pred = statement_of(read_decision(cited))["predicate"]
    assert pred["exception_id"] == "EX-1" and pred["approvers"]["escalation"] == "head-of-support@support.example"
    [evaluated] = [e for e in Ledger.open().events(event_type="evaluated")
                   if e.payload.get("decision_path") == str(cited)]
    assert evaluated.payload["verdict"] == "FAIL" and evaluated.payload["decision_path"] == str(cited)

    signers = {"product": "product-owner@support.example", "platform": "platform-owner@platform.example",
               "escalation": "head-of-support@support.example"}
    for role in ("product", "platform"):
        assert rg("keys", "generate", "--identity", signers[role]).exit_code == 0
        r = rg("approve", str(cited), "--role", role, "--key", str(env / "keys" / f"{signers[role]}.pem"))
        assert r.exit_code == 0, r.output
    r = rg("promote", "--scenario", "support-triage", "--decision", str(cited))
    assert r.exit_code == 1
    assert "missing approval: no valid escalation signature from head-of-support@support.example" in r.output
    assert champion_entry("support-triage") is None

    rg("keys", "generate", "--identity", signers["escalation"])
    r = rg("approve", str(cited), "--role", "escalation", "--key", str(env / "keys" / f"{signers['escalation']}.pem"))
    assert r.exit_code == 0, r.output
    r = rg("promote", "--scenario", "support-triage", "--decision", str(cited))
    assert r.exit_code == 0, r.output
    [promoted] = Ledger.open().events(event_type="promoted")
    assert promoted.payload["exception_id"] == "EX-1" and promoted.payload["verdict"] == "FAIL"
    assert sorted(s["role"] for s in promoted.payload["signers"]) == ["escalation", "platform", "product"]
    # The flows' hook: the entry now at champion, read back from MLflow.
    assert champion_entry("support-triage") == "gemma3-v1"
