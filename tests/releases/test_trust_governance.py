"""Governance of trust roots: releases by policy vs by hand, lead times, manual platform
approvals in support load, and criteria changed after a non-PASS (moved goalposts)."""
from __future__ import annotations

from pathlib import Path

from releases_fixtures import PLATFORM, PRODUCT, Keys
from trust_fixtures import BOT, edit_contract, key, onboard

from releasegate.releases import Keyring, Ledger, generate_key, governance_metrics
from releasegate.releases._trust import apply_root, propose_scenario_root, sign_root
from releasegate.reports import render_governance_html
from releasegate.scenarios import LoadedScenario


def _evaluated(ledger: Ledger, digest: str, verdict: str, candidate: str = "gemma3-v1") -> None:
    ledger.append("evaluated", "support-triage", {"decision_digest": digest, "verdict": verdict,
                                                  "candidate_entry": candidate})


def _promoted(ledger: Ledger, digest: str, version: str, policy: bool) -> None:
    signers = [{"role": "product", "identity": PRODUCT, "fingerprint": "p"}]
    signers.append({"role": "platform", "identity": BOT, "fingerprint": "b", "by_policy": True} if policy
                   else {"role": "platform", "identity": PLATFORM, "fingerprint": "q"})
    ledger.append("promoted", "support-triage", {"target": "model", "version": version, "verdict": "PASS",
                                                 "decision_digest": digest, "signers": signers})


def test_policy_and_manual_releases_and_moved_goalposts(scenario: LoadedScenario, keys: Keys, home: Path) -> None:
    generate_key(BOT)
    ledger = Ledger.open()
    onboard(ledger, scenario)
    _evaluated(ledger, "d1", "PASS", "smollm2-v3")
    ledger.append("approved", "support-triage", {"decision_digest": "d1", "role": "platform", "identity": BOT,
                                                 "by_policy": True})
    _promoted(ledger, "d1", "2", policy=True)
    _evaluated(ledger, "d2", "PASS", "smollm2-v2")
    ledger.append("approved", "support-triage", {"decision_digest": "d2", "role": "platform", "identity": PLATFORM})
    _promoted(ledger, "d2", "3", policy=False)
    # a FAIL, then the margin loosened with both owners' signatures, then the same candidate again
    _evaluated(ledger, "d3", "FAIL")
    loosened = edit_contract(scenario, lambda d: d["success_criteria"].update(non_inferiority_margin=0.3))
    md = propose_scenario_root(ledger, loosened, keyring=Keyring.load())
    for ident in (PRODUCT, PLATFORM):
        sign_root(md, key(ident))
    apply_root(ledger, md)
    _evaluated(ledger, "d4", "PASS")

    m = governance_metrics(ledger, [loosened])
    t = m["scenarios"]["support-triage"]["trust"]
    assert (t["root_version"], t["releases_by_policy"], t["releases_by_hand"], t["manual_platform_approvals"]) == (2, 1, 1, 1)
    assert t["lead_time_hours"]["policy"]["count"] == 1 and t["lead_time_hours"]["manual"]["count"] == 1
    assert t["lead_time_hours"]["policy"]["mean"] >= 0
    [moved] = t["moved_goalposts"]
    assert moved["root_version"] == 2 and moved["candidate"] == "gemma3-v1" and moved["after_verdict"] == "FAIL"
    assert moved["changes"] == ["criteria changed: success_criteria.non_inferiority_margin 0.05 -> 0.3"]
    assert moved["re_evaluated"][0]["verdict"] == "PASS"
    assert sorted(moved["signed_by"]) == sorted([PRODUCT, PLATFORM])
    p = m["portfolio"]
    assert p["trust"]["releases_by_policy"] == 1 and p["trust"]["moved_goalposts"] == 1
    [month] = p["support_load"].values()
    assert month["manual_platform_approvals"] == 1 and month["total"] == 1
    html = render_governance_html(m)
    assert "Trust and approvals" in html and "non_inferiority_margin 0.05 -&gt; 0.3" in html


def test_a_criteria_change_without_a_prior_failure_is_not_a_moved_goalpost(scenario: LoadedScenario, keys: Keys,
                                                                           home: Path) -> None:
    ledger = Ledger.open()
    onboard(ledger, scenario)
    _evaluated(ledger, "d1", "PASS")
    tightened = edit_contract(scenario, lambda d: d["success_criteria"].update(non_inferiority_margin=0.02))
    md = propose_scenario_root(ledger, tightened, keyring=Keyring.load())
    for ident in (PRODUCT, PLATFORM):
        sign_root(md, key(ident))
    apply_root(ledger, md)
    assert governance_metrics(ledger, [tightened])["scenarios"]["support-triage"]["trust"]["moved_goalposts"] == []
