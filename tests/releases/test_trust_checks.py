"""Issue 14's attacks, each one that must fail: with a signed root, approve, promote and audit
take owners, keys and criteria from the chain in the ledger, never from the working tree."""
from __future__ import annotations

import dataclasses
import datetime as dt
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from releases_fixtures import (ESCALATION, INTRUDER, PLATFORM, PRODUCT, Keys, attested, make_verdict, weights_digest,
                               write_scenario)
from trust_fixtures import BOT, ROOTS, edit_contract, key, onboard

from releasegate.core import Refused
from releasegate.evals import Check
from releasegate.releases import (
    Keyring,
    Ledger,
    approve,
    build_decision,
    decision_digest,
    generate_key,
    promotion_reasons,
    record_approval,
    record_policy_approval,
    trust_audit,
)
from releasegate.releases._dsse import sign_envelope
from releasegate.releases._keys import private_key_path
from releasegate.releases._trust import apply_root, current_scenario_root, propose_scenario_root, sign_root
from releasegate.scenarios import LoadedScenario, parse_scenario

ACCOMPLICE = "contractor@support.example"
POLICY = {"identity": BOT, "expires": (dt.date.today() + dt.timedelta(days=90)).isoformat(),
          "change_kinds": ["prompt_only"], "require_checks": ["cost_ratio", "latency_p95"],
          "no_open_incidents": ["sev1", "sev2"]}


@pytest.fixture
def ledger(home: Path, keys: Keys) -> Ledger:
    for ident in (ACCOMPLICE, BOT):
        generate_key(ident)
    return Ledger.open()


def _pass_checks(verdict):  # noqa: ANN001, ANN202
    extra = [Check(name=n, kind=k, metric=m, value=v, ci_low=v, ci_high=v, threshold=t, direction="<=",  # type: ignore[arg-type]
                   status="pass", critical=False, reason=f"{n} within its limit")  # type: ignore[arg-type]
             for n, k, m, v, t in (("cost_ratio", "change", "cost_ratio", 1.0, 3.0),
                                   ("latency_p95", "value", "latency_p95_s", 1.4, 30.0))]
    return dataclasses.replace(verdict, checks=[*verdict.checks, *extra])


def _decision(loaded: LoadedScenario, ledger: Ledger, *, decision: str = "PASS", prompt_only: bool = False,
              checks: bool = True, with_root: bool = True, evidence: bool = True) -> dict:
    model = "smollm2-135m-instruct" if prompt_only else "gemma3-270m"
    verdict = make_verdict(loaded, decision=decision, candidate="smollm2-v3" if prompt_only else "gemma3-v1",
                           model=model)
    if checks:
        verdict = _pass_checks(verdict)
    if evidence:
        verdict = attested(verdict)
    root = current_scenario_root(ledger, loaded.scenario.id) if with_root else None
    env = build_decision(loaded, verdict, candidate_model_digest=weights_digest(model), trust_root=root)
    ledger.append("evaluated", loaded.scenario.id, {"decision_digest": decision_digest(env)})
    return env


def _version(envelope: dict) -> SimpleNamespace:
    digest = decision_digest(envelope)
    from releasegate.releases import statement_of
    subject = statement_of(envelope)["subject"][0]["digest"]["sha256"]
    return SimpleNamespace(version="3", tags={"weight_digest": subject, "decision_digest": digest})


def _reasons(loaded: LoadedScenario, env: dict, ledger: Ledger, keyring: Keyring | None = None) -> list[str]:
    return promotion_reasons(loaded, env, keyring=keyring or Keyring.load(), ledger=ledger, model_version=_version(env))


def _approve(env: dict, role: str, identity: str, loaded: LoadedScenario, ledger: Ledger, tmp: Path) -> dict:
    signed, _ = record_approval(env, role, key(identity), keyring=Keyring.load(), ledger=ledger,
                                decision_path=tmp / "d.dsse.json", loaded=loaded)
    return signed


def test_signed_root_release_goes_through(scenario: LoadedScenario, ledger: Ledger, tmp_path: Path) -> None:
    onboard(ledger, scenario)
    env = _decision(scenario, ledger)
    env = _approve(env, "product", PRODUCT, scenario, ledger, tmp_path)
    env = _approve(env, "platform", PLATFORM, scenario, ledger, tmp_path)
    assert _reasons(scenario, env, ledger) == []
    from releasegate.releases import statement_of
    assert statement_of(env)["predicate"]["trust_root"]["version"] == 1  # the root it was judged under


def test_repository_edit_of_owners_and_keyring_changes_nothing(scenario: LoadedScenario, ledger: Ledger,
                                                               tmp_path: Path) -> None:
    """The issue's attack: owners changed to two identities one person holds keys for, both keys
    in the keyring, evaluate, approve with both keys, promote."""
    onboard(ledger, scenario)
    edited = edit_contract(scenario, lambda d: d["owners"].update(product={"id": INTRUDER},
                                                                   platform={"id": ACCOMPLICE}))
    env = _decision(edited, ledger, with_root=False)  # the attacker's decision names their identities
    with pytest.raises(Refused) as refused:
        _approve(env, "product", INTRUDER, edited, ledger, tmp_path)
    # judged outside the signed root (the attacker left it out of the decision): refused before any key
    assert refused.value.reasons == ["the decision names no signed root it was judged under (evaluated before "
                                     "support-triage had one): evaluate again under root v1"]
    with pytest.raises(Refused) as refused:  # judged under the root: the attacker's key is not the root's
        _approve(_decision(edited, ledger), "product", INTRUDER, edited, ledger, tmp_path)
    assert any("is not in the keyring <signed trust root support-triage v1>" in r for r in refused.value.reasons)
    # signing the raw envelope bypasses approve(): promote still refuses, naming the signed owners
    for ident in (INTRUDER, ACCOMPLICE):
        env = sign_envelope(env, key(ident))
    reasons = _reasons(edited, env, ledger)
    assert f"the decision names {INTRUDER} as product owner, the signed root v1 names {PRODUCT}" in reasons
    assert f"the decision names {ACCOMPLICE} as platform owner, the signed root v1 names {PLATFORM}" in reasons
    assert any(r.startswith(f"missing approval: no valid product signature from {INTRUDER} under the signed root v1")
               for r in reasons)
    assert len(ledger.events(event_type="approved")) == 0  # nothing recorded, nothing moved
    problems, notes = trust_audit(ledger, "support-triage", edited, Keyring.load())
    assert any(f"names {INTRUDER} as product owner" in n for n in notes)


def test_swapped_key_for_an_existing_owner_is_refused(scenario: LoadedScenario, ledger: Ledger, tmp_path: Path) -> None:
    onboard(ledger, scenario)
    ring = Keyring.load()
    entries = {i: e for i, e in ring.entries.items() if i != INTRUDER}
    swapped = Keyring(ring.path, {**entries, PRODUCT: dataclasses.replace(ring.entries[INTRUDER], identity=PRODUCT)})
    swapped.save()  # keyring.yaml now gives the product owner the intruder's key
    env = _decision(scenario, ledger)
    with pytest.raises(Refused, match="not in the keyring <signed trust root"):
        record_approval(env, "product", key(INTRUDER), keyring=Keyring.load(), ledger=ledger,
                        decision_path=tmp_path / "d.json", loaded=scenario)
    env = approve(env, "product", key(INTRUDER), Keyring.load())  # the working-tree rule alone would accept
    env = _approve(env, "platform", PLATFORM, scenario, ledger, tmp_path)
    reasons = _reasons(scenario, env, ledger)
    assert any(r.startswith(f"missing approval: no valid product signature from {PRODUCT}") for r in reasons)
    # audit: the keyring's key for the product owner differs from the root, outside a signed rotation
    ledger.append("approved", "support-triage", {"decision_digest": decision_digest(env), "role": "product",
                                                 "identity": PRODUCT, "fingerprint": Keyring.load().entries[PRODUCT].fingerprint})
    problems, notes = trust_audit(ledger, "support-triage", scenario, Keyring.load())
    assert any("a key changed outside a signed rotation" in p and PRODUCT in p for p in problems)
    assert any("changed outside a signed rotation" in n for n in notes)
    assert any("first signature by" in n and PRODUCT in n for n in notes)


def test_keyring_scenario_path_and_environment_overrides_change_nothing(
        scenario: LoadedScenario, ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    onboard(ledger, scenario)
    # --scenario OTHER/PATH: a contract elsewhere with the same id and the attacker as owners
    other = write_scenario(tmp_path / "other" / "support-triage")
    data = yaml.safe_load(other.read_text())
    data["owners"]["product"], data["owners"]["platform"] = {"id": INTRUDER}, {"id": ACCOMPLICE}
    other.write_text(yaml.safe_dump(data, sort_keys=False))
    other_loaded = parse_scenario(other)
    # --keyring OTHER.yaml / RELEASEGATE_KEYRING: a keyring that names them
    other_ring = Keyring(tmp_path / "other.yaml", dict(Keyring.load().entries))
    other_ring.save()
    monkeypatch.setenv("RELEASEGATE_KEYRING", str(other_ring.path))
    env = _decision(other_loaded, ledger, with_root=False)
    for ident in (INTRUDER, ACCOMPLICE):
        env = sign_envelope(env, key(ident))
    reasons = _reasons(other_loaded, env, ledger, keyring=Keyring.load(other_ring.path))
    assert f"the decision names {INTRUDER} as product owner, the signed root v1 names {PRODUCT}" in reasons
    assert any(r.startswith("missing approval: no valid platform signature") for r in reasons)
    assert ledger.events(event_type="approved") == []  # nothing recorded, nothing moved
    # audit reports what it saw: the other contract's owners differ from the signed root
    problems, notes = trust_audit(ledger, "support-triage", other_loaded, Keyring.load(other_ring.path))
    assert problems == []
    assert (f"the working tree names {INTRUDER} as product owner, the signed root v1 names {PRODUCT}" in notes
            and f"the working tree names {ACCOMPLICE} as platform owner, the signed root v1 names {PLATFORM}" in notes)


def test_rotation_old_key_can_no_longer_approve(scenario: LoadedScenario, ledger: Ledger, tmp_path: Path) -> None:
    onboard(ledger, scenario)
    old = key(PRODUCT)
    generate_key(PRODUCT, overwrite=True)
    md = propose_scenario_root(ledger, scenario, keyring=Keyring.load())
    for k in (old, key(PRODUCT), key(PLATFORM)):
        sign_root(md, k)
    apply_root(ledger, md)
    env = _decision(scenario, ledger)
    with pytest.raises(Refused, match="not in the keyring <signed trust root support-triage v2>"):
        record_approval(env, "product", old, keyring=Keyring.load(), ledger=ledger,
                        decision_path=tmp_path / "d.json", loaded=scenario)
    env = _approve(env, "product", PRODUCT, scenario, ledger, tmp_path)  # the new key signs
    env = _approve(env, "platform", PLATFORM, scenario, ledger, tmp_path)
    assert _reasons(scenario, env, ledger) == []


def test_loosened_margin_after_a_fail_needs_both_owners(scenario: LoadedScenario, ledger: Ledger,
                                                        tmp_path: Path) -> None:
    onboard(ledger, scenario)
    _decision(scenario, ledger, decision="FAIL")  # the FAIL that tempts someone to move the goalposts
    loosened = edit_contract(scenario, lambda d: d["success_criteria"].update(non_inferiority_margin=0.25))
    env = _decision(loosened, ledger)  # re-judged under the loosened margin: PASS
    with pytest.raises(Refused, match="not the current signed criteria"):
        _approve(env, "product", PRODUCT, loosened, ledger, tmp_path)
    for ident in (PRODUCT, PLATFORM):
        env = sign_envelope(env, key(ident))
    assert any("not the current signed criteria" in r for r in _reasons(loosened, env, ledger))
    # with both owners' signatures the change is a new root version, recorded with what changed
    md = propose_scenario_root(ledger, loosened, keyring=Keyring.load())
    for ident in (PRODUCT, PLATFORM):
        sign_root(md, key(ident))
    ev = apply_root(ledger, md)
    assert "criteria changed: success_criteria.non_inferiority_margin 0.05 -> 0.25" in ev.payload["changes"]
    stale = env  # judged under the loosened margin before any root signed it: evaluate again under v2
    assert any(r.startswith("the decision was judged under criteria ") and "that root v1 did not sign" in r
               for r in _reasons(loosened, stale, ledger))
    fresh = _decision(loosened, ledger)
    fresh = _approve(fresh, "product", PRODUCT, loosened, ledger, tmp_path)
    fresh = _approve(fresh, "platform", PLATFORM, loosened, ledger, tmp_path)
    assert _reasons(loosened, fresh, ledger) == []


def test_expired_root_blocks_approve_and_promote(scenario: LoadedScenario, ledger: Ledger, tmp_path: Path) -> None:
    onboard(ledger, scenario, expires_days=2 / 86400)
    env = _decision(scenario, ledger)
    for ident in (PRODUCT, PLATFORM):
        env = sign_envelope(env, key(ident))
    time.sleep(2.2)
    assert any("expired" in r for r in _reasons(scenario, env, ledger))
    with pytest.raises(Refused, match="expired"):
        _approve(_decision(scenario, ledger), "product", PRODUCT, scenario, ledger, tmp_path)


def test_policy_approval_releases_a_prompt_only_pass_with_one_person(scenario: LoadedScenario, ledger: Ledger,
                                                                     tmp_path: Path) -> None:
    onboard(ledger, scenario, policy=POLICY)
    env = _decision(scenario, ledger, prompt_only=True)
    env = _approve(env, "product", PRODUCT, scenario, ledger, tmp_path)
    env, ev, conditions = record_policy_approval(env, key(BOT), ledger=ledger, loaded=scenario,
                                                 decision_path=tmp_path / "d.json", keyring=Keyring.load())
    assert all(c.passed for c in conditions) and {c.name for c in conditions} >= {
        "verdict_pass", "no_exception", "change_kind", "check:cost_ratio", "check:latency_p95",
        "no_open_incident", "policy_not_expired", "evidence_attested"}
    assert ev.payload["by_policy"] is True and len(ev.payload["policy_sha256"]) == 64
    assert _reasons(scenario, env, ledger) == []
    # promote re-checks: an open sev2 incident after the approval blocks the release
    ledger.append("incident_opened", "support-triage", {"incident_id": "INC-1", "severity": "sev2",
                                                        "summary": "x", "owner": "o", "escalation_path": []})
    assert any("no_open_incident" in r for r in _reasons(scenario, env, ledger))


@pytest.mark.parametrize("case, condition", [
    ("fail", "verdict_pass"), ("weights", "change_kind"), ("no_checks", "check:cost_ratio"),
    ("incident", "no_open_incident"), ("expired", "policy_not_expired"), ("exception", "no_exception"),
    ("self_declared", "evidence_attested"),
])
def test_policy_refuses_each_failed_condition(scenario: LoadedScenario, ledger: Ledger, tmp_path: Path,
                                              case: str, condition: str) -> None:
    onboard(ledger, scenario, policy=POLICY)
    env = _decision(scenario, ledger, decision="FAIL" if case == "fail" else "PASS",
                    prompt_only=case != "weights", checks=case != "no_checks", evidence=case != "self_declared")
    if case == "exception":
        from releasegate.releases import statement_of
        verdict = attested(_pass_checks(make_verdict(scenario, candidate="smollm2-v3", model="smollm2-135m-instruct")))
        env = build_decision(scenario, verdict, candidate_model_digest=weights_digest("smollm2-135m-instruct"),
                             exception_id="EX-1", trust_root=current_scenario_root(ledger, "support-triage"))
        ledger.append("evaluated", "support-triage", {"decision_digest": decision_digest(env)})
        assert statement_of(env)["predicate"]["approvers"]["escalation"] == ESCALATION
    if case == "incident":
        ledger.append("incident_opened", "support-triage", {"incident_id": "INC-1", "severity": "sev1",
                                                            "summary": "x", "owner": "o", "escalation_path": []})
    today = dt.date.today() + dt.timedelta(days=91) if case == "expired" else None
    before = len(ledger.events(event_type="approved"))
    with pytest.raises(Refused) as refused:
        record_policy_approval(env, key(BOT), ledger=ledger, loaded=scenario, decision_path=tmp_path / "d.json",
                               keyring=Keyring.load(), today=today)
    assert any(r.startswith(f"policy condition {condition} failed") for r in refused.value.reasons), refused.value.reasons
    assert len(ledger.events(event_type="approved")) == before and not (tmp_path / "d.json").exists()


def test_policy_key_must_be_the_policys(scenario: LoadedScenario, ledger: Ledger, tmp_path: Path) -> None:
    onboard(ledger, scenario, policy=POLICY)
    env = _decision(scenario, ledger, prompt_only=True)
    with pytest.raises(Refused, match="is not the release policy's key"):
        record_policy_approval(env, key(INTRUDER), ledger=ledger, loaded=scenario,
                               decision_path=tmp_path / "d.json", keyring=Keyring.load())
    assert private_key_path(BOT).exists()


def test_another_ledger_cannot_drop_the_root(scenario: LoadedScenario, ledger: Ledger, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """--ledger-url / RELEASEGATE_LEDGER_URL pointing at a ledger without the root (or with another
    one) while CI pins the real portfolio root: nobody may sign."""
    onboard(ledger, scenario)
    pin = ledger.events(event_type="trust_portfolio_root")[0].payload["sha256"]
    monkeypatch.setenv("RELEASEGATE_TRUST_ROOT", f"sha256:{pin}")
    env = _decision(scenario, ledger)
    for ident in (PRODUCT, PLATFORM):
        env = sign_envelope(env, key(ident))
    assert _reasons(scenario, env, ledger) == []
    empty = Ledger.open(f"sqlite:///{tmp_path / 'other-ledger.db'}")
    empty.append("evaluated", "support-triage", {"decision_digest": decision_digest(env)})
    reasons = _reasons(scenario, env, empty)
    assert any("pins a portfolio root but the ledger has none" in r for r in reasons)
    assert any(r.startswith("missing approval: no valid product signature") for r in reasons)
    other = Ledger.open(f"sqlite:///{tmp_path / 'forged-ledger.db'}")  # a ledger with its own roots
    from trust_fixtures import init_portfolio
    monkeypatch.delenv("RELEASEGATE_TRUST_ROOT")
    init_portfolio(other, signers=ROOTS[1:])  # other signatures: another document (Ed25519 is deterministic)
    monkeypatch.setenv("RELEASEGATE_TRUST_ROOT", f"sha256:{pin}")
    assert any("not the pinned trust root" in r for r in _reasons(scenario, env, other))


@pytest.mark.parametrize("switch", ["pin", "require"])
def test_root_required_mode_refuses_an_unrooted_scenario(scenario: LoadedScenario, ledger: Ledger, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch, switch: str) -> None:
    """The original one-person attack on a scenario never onboarded: the repository names two
    identities the attacker holds keys for as owners, keyring.yaml has both keys. With the portfolio
    root pinned (or RELEASEGATE_REQUIRE_TRUST_ROOT=1) approve, promote, rollback, cite-exception and
    gateway verify refuse with the fix, and nothing moves."""
    from trust_fixtures import init_portfolio

    from releasegate.gateway._verify import decision_reasons
    from releasegate.releases import cite_exception, rollback
    from releasegate.releases._trust import REQUIRE_ENV

    init_portfolio(ledger)
    pin = ledger.events(event_type="trust_portfolio_root")[0].payload["sha256"]
    if switch == "pin":
        monkeypatch.setenv("RELEASEGATE_TRUST_ROOT", f"sha256:{pin}")
        why = "RELEASEGATE_TRUST_ROOT pins a portfolio root"
    else:
        monkeypatch.setenv(REQUIRE_ENV, "1")
        why = f"{REQUIRE_ENV} is set"
    edited = edit_contract(scenario, lambda d: d["owners"].update(
        product={"id": INTRUDER}, platform={"id": ACCOMPLICE}))
    env = _decision(edited, ledger, with_root=False)
    refusal = (f"support-triage has no signed scenario root and {why}: every scenario needs one (the contract's "
               "owners and keyring.yaml are only a proposal). Onboard it: `releasegate trust propose --scenario "
               "support-triage --out ROOT.json`, `releasegate trust sign ROOT.json --key KEY` (the portfolio root "
               "threshold and the new product and platform owners), `releasegate trust apply ROOT.json`")
    before = len(ledger.events())
    for role, ident in (("product", INTRUDER), ("platform", ACCOMPLICE)):
        with pytest.raises(Refused) as caught:
            record_approval(env, role, key(ident), keyring=Keyring.load(), ledger=ledger,
                            decision_path=tmp_path / "d.dsse.json", loaded=edited)
        assert caught.value.reasons == [refusal]
    assert not (tmp_path / "d.dsse.json").exists()
    for ident in (INTRUDER, ACCOMPLICE):  # signed by hand, outside releasegate
        env = sign_envelope(env, key(ident))
    reasons = _reasons(edited, env, ledger)
    assert reasons[0] == refusal and any(r.startswith("missing approval: no valid product") for r in reasons)
    with pytest.raises(Refused) as caught:
        rollback("support-triage", reason="attack", ledger=ledger)
    assert caught.value.reasons == [refusal]
    failing = _decision(edited, ledger, decision="FAIL", with_root=False)
    with pytest.raises(Refused) as refused:
        cite_exception(failing, "EX-1", ledger=ledger, loaded=edited)
    assert refusal in refused.value.reasons
    assert refusal in decision_reasons(edited, env, keyring=Keyring.load(), ledger=ledger)
    assert trust_audit(ledger, "support-triage", edited, Keyring.load()) == ([refusal], [])  # audit says it too
    assert [e.event_type for e in ledger.events()[before:]] == ["evaluated"]  # nothing approved, nothing moved
    # onboarded (signed by the portfolio threshold and the real owners), the same release goes through
    monkeypatch.setenv("RELEASEGATE_TRUST_ROOT", f"sha256:{pin}")
    onboard_existing = propose_scenario_root(ledger, scenario, keyring=Keyring.load(), release_policy=None)
    for ident in (*ROOTS[:2], PRODUCT, PLATFORM):
        sign_root(onboard_existing, key(ident))
    apply_root(ledger, onboard_existing)
    env = _decision(scenario, ledger)
    env = _approve(env, "product", PRODUCT, scenario, ledger, tmp_path)
    env = _approve(env, "platform", PLATFORM, scenario, ledger, tmp_path)
    assert _reasons(scenario, env, ledger) == []


def test_verdict_judged_under_v1_is_refused_after_v2_changed_the_criteria(scenario: LoadedScenario, ledger: Ledger,
                                                                         tmp_path: Path) -> None:
    """Issue 14 item 3: the verdict names the root it was judged under (version, digest, criteria
    digest); the decision takes it from the verdict; promote refuses it once the signed criteria
    changed, even fully approved under v1."""
    from releasegate.evals import TrustRootRef, Verdict
    from releasegate.releases import statement_of, verdict_trust_root

    root1 = onboard(ledger, scenario)
    judged = verdict_trust_root(scenario, ledger)
    assert judged == TrustRootRef(version=1, sha256=root1.digest, criteria_sha256=root1.criteria_sha256)
    verdict = dataclasses.replace(_pass_checks(make_verdict(scenario)), trust_root=judged)
    assert Verdict.from_json(verdict.to_json()).trust_root == judged  # typed, round-trips
    assert "trust_root" not in make_verdict(scenario).to_dict()  # absent without a root: old bytes kept
    env = build_decision(scenario, verdict, candidate_model_digest=weights_digest("gemma3-270m"), trust_root=root1)
    ledger.append("evaluated", "support-triage", {"decision_digest": decision_digest(env)})
    env = _approve(env, "product", PRODUCT, scenario, ledger, tmp_path)
    env = _approve(env, "platform", PLATFORM, scenario, ledger, tmp_path)
    assert _reasons(scenario, env, ledger) == []
    # v2 tightens the margin, signed by both owners; the contract follows
    tightened = edit_contract(scenario, lambda d: d["success_criteria"].update(non_inferiority_margin=0.01))
    md = propose_scenario_root(ledger, tightened, keyring=Keyring.load())
    for ident in (PRODUCT, PLATFORM):
        sign_root(md, key(ident))
    apply_root(ledger, md)
    root2 = current_scenario_root(ledger, "support-triage")
    assert root2 is not None and root2.version == 2
    reasons = _reasons(tightened, env, ledger)
    assert (f"the decision was judged under root v1 with criteria {root1.criteria_sha256[:12]}, not the current "
            f"signed criteria {root2.criteria_sha256[:12]} of root v2: evaluate again") in reasons
    # a decision built under v2 from the v1 verdict still names v1: the verdict decides, not the current root
    rebuilt = build_decision(tightened, dataclasses.replace(verdict, contract_sha256=tightened.contract_sha256),
                             candidate_model_digest=weights_digest("gemma3-270m"), trust_root=root2)
    assert statement_of(rebuilt)["predicate"]["trust_root"] == {
        "scenario_id": "support-triage", "version": 1, "sha256": root1.digest,
        "criteria_sha256": root1.criteria_sha256}
    assert any("judged under root v1" in r for r in _reasons(tightened, rebuilt, ledger))
