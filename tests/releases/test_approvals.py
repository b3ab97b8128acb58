"""Approvals and promotion rules, without MLflow: each refusal comes with its reason."""
from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from types import SimpleNamespace

import pytest
from releases_fixtures import ESCALATION, PLATFORM, PRODUCT, Keys, make_verdict, weights_digest, write_scenario

from releasegate.core import Refused
from releasegate.releases import (
    Keyring,
    Ledger,
    approve,
    build_decision,
    decision_digest,
    load_private_key,
    promotion_reasons,
)
from releasegate.releases._dsse import sign_envelope
from releasegate.scenarios import LoadedScenario, parse_scenario


def _exception_opened(ledger: Ledger, exception_id: str, expires: dt.date, kind: str = "release_despite_fail") -> None:
    ledger.append("exception_opened", "support-triage", {
        "exception_id": exception_id, "kind": kind, "owner": PRODUCT, "reason": "known regression",
        "expires": expires.isoformat()})


def _decision(loaded: LoadedScenario, decision: str = "PASS", **kw: object) -> dict:
    verdict = make_verdict(loaded, decision=decision)
    return build_decision(loaded, verdict, candidate_model_digest=weights_digest("gemma3-270m"), **kw)  # type: ignore[arg-type]


def _signed(loaded: LoadedScenario, keys: Keys, ledger: Ledger | None = None, **kw: object) -> dict:
    ring = Keyring.load()
    env = approve(_decision(loaded, **kw), "product", load_private_key(keys.product), ring, ledger=ledger)  # type: ignore[arg-type]
    return approve(env, "platform", load_private_key(keys.platform), ring, ledger=ledger)


def _recorded(ledger: Ledger, envelope: dict) -> None:
    ledger.append("evaluated", "support-triage", {"decision_digest": decision_digest(envelope)})


def _version(envelope: dict, model: str = "gemma3-270m") -> SimpleNamespace:
    """A registry model version as `record_evaluation` tags it."""
    return SimpleNamespace(version="3", tags={"weight_digest": weights_digest(model),
                                              "decision_digest": decision_digest(envelope)})


def test_non_owner_cannot_approve(scenario: LoadedScenario, keys: Keys) -> None:
    with pytest.raises(Refused) as refused:
        approve(_decision(scenario), "product", load_private_key(keys.intruder), Keyring.load())
    assert refused.value.reasons == [f"intern@support.example is not the product owner ({PRODUCT})"]
    assert refused.value.code == "approval" and refused.value.reasons[0].code == "approval"


def test_one_identity_cannot_sign_both_roles(scenario: LoadedScenario, keys: Keys) -> None:
    ring = Keyring.load()
    env = approve(_decision(scenario), "product", load_private_key(keys.product), ring)
    with pytest.raises(Refused) as refused:
        approve(env, "platform", load_private_key(keys.product), ring)
    assert f"{PRODUCT} is not the platform owner ({PLATFORM})" in refused.value.reasons
    assert any("cannot sign both roles" in r for r in refused.value.reasons)


def test_fail_verdict_cannot_be_approved(scenario: LoadedScenario, keys: Keys) -> None:
    with pytest.raises(Refused) as refused:
        approve(_decision(scenario, "FAIL"), "product", load_private_key(keys.product), Keyring.load())
    assert refused.value.reasons == ["verdict is FAIL: only a PASS (or a cited open exception) can be released"]


def test_cited_exception_is_the_hook_for_releasing_a_fail(scenario: LoadedScenario, keys: Keys) -> None:
    ledger = Ledger.open()
    env = _decision(scenario, "FAIL", exception_id="EX-7")
    ring = Keyring.load()
    with pytest.raises(Refused, match="no exception EX-7 on scenario support-triage"):
        approve(env, "product", load_private_key(keys.product), ring, ledger=ledger)
    # The operating model records exceptions in the ledger; an open, unexpired, reviewed one of a
    # release kind allows signing.
    _exception_opened(ledger, "EX-7", dt.date.today() + dt.timedelta(days=1))
    env = approve(env, "product", load_private_key(keys.product), ring, ledger=ledger)
    env = approve(env, "platform", load_private_key(keys.platform), ring, ledger=ledger)
    # ...and a release despite a FAIL also needs the escalation path's first approver.
    ledger_ok = promotion_reasons(parse_scenario(scenario.path), env, keyring=ring, ledger=ledger,
                                  model_version=_version(env))
    assert ledger_ok == [f"missing approval: no valid escalation signature from {ESCALATION}",
                         f"decision {decision_digest(env)[:12]} is not recorded in the ledger"]
    env = approve(env, "escalation", load_private_key(keys.escalation), ring, ledger=ledger)
    _recorded(ledger, env)
    assert promotion_reasons(parse_scenario(scenario.path), env, keyring=ring, ledger=ledger,
                             model_version=_version(env)) == []
    # Closed: the same decision is blocked again.
    ledger.append("exception_closed", "support-triage", {"exception_id": "EX-7"})
    reasons = promotion_reasons(parse_scenario(scenario.path), env, keyring=ring, ledger=ledger,
                                model_version=_version(env))
    assert reasons == ["verdict is FAIL and the cited exception EX-7 cannot be used: the exception is closed"]


def test_an_unusable_exception_refuses_and_vetoes_are_final(scenario: LoadedScenario, keys: Keys) -> None:
    ledger = Ledger.open()
    _exception_opened(ledger, "EX-1", dt.date(2026, 1, 1))  # expired
    _exception_opened(ledger, "EX-2", dt.date.today() + dt.timedelta(days=30), kind="direct_provider_key")
    with pytest.raises(Refused, match="cannot be used: EX-1 expired on 2026-01-01"):
        approve(_decision(scenario, "FAIL", exception_id="EX-1"), "product",
                load_private_key(keys.product), Keyring.load(), ledger=ledger)
    # the same rule everywhere: a provider-key exception is no licence to ship a FAIL
    with pytest.raises(Refused, match="cannot be used: it is a direct_provider_key exception"):
        approve(_decision(scenario, "FAIL", exception_id="EX-2"), "product",
                load_private_key(keys.product), Keyring.load(), ledger=ledger)
    with pytest.raises(Refused, match="cannot be used: no ledger to look the exception up in"):
        approve(_decision(scenario, "FAIL", exception_id="EX-1"), "product",
                load_private_key(keys.product), Keyring.load())
    # A failing critical check (evals' vetoed_by) is never waivable, whatever the exception says.
    verdict = make_verdict(scenario, decision="FAIL")
    vetoed = type(verdict)(**{**verdict.__dict__, "vetoed_by": ["non_inferiority"]})
    env = build_decision(scenario, vetoed, candidate_model_digest=weights_digest("gemma3-270m"), exception_id="EX-1")
    with pytest.raises(Refused, match=r"critical checks failed \(non_inferiority\)"):
        approve(env, "product", load_private_key(keys.product), Keyring.load())


def test_fully_signed_pass_is_allowed(scenario: LoadedScenario, keys: Keys) -> None:
    ledger = Ledger.open()
    env = _signed(scenario, keys)
    _recorded(ledger, env)
    assert promotion_reasons(parse_scenario(scenario.path), env, keyring=Keyring.load(), ledger=ledger,
                             model_version=_version(env)) == []


def test_promotion_blocked_by_non_owner_signature(scenario: LoadedScenario, keys: Keys) -> None:
    ledger = Ledger.open()
    # Bypass approve()'s refusal: the intruder signs the raw envelope directly.
    env = sign_envelope(_decision(scenario), load_private_key(keys.intruder))
    env = approve(env, "platform", load_private_key(keys.platform), Keyring.load())
    _recorded(ledger, env)
    reasons = promotion_reasons(parse_scenario(scenario.path), env, keyring=Keyring.load(), ledger=ledger,
                                model_version=_version(env))
    assert reasons == [f"missing approval: no valid product signature from {PRODUCT} (signatures seen: "
                       "intern@support.example: valid, but the signer holds no role in this decision)"]


def test_promotion_blocked_when_one_person_holds_both_roles(home: Path, keys: Keys) -> None:
    # A contract naming one identity for both roles fails validation; promote still refuses it.
    path = write_scenario(home / "datasets" / "support-triage")
    same = parse_scenario(path)
    import yaml

    data = yaml.safe_load(path.read_text())
    data["owners"]["platform"] = {"id": PRODUCT}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    loaded = parse_scenario(path)
    assert loaded.contract_sha256 != same.contract_sha256
    env = sign_envelope(_decision(loaded), load_private_key(keys.product))
    ledger = Ledger.open()
    _recorded(ledger, env)
    reasons = promotion_reasons(loaded, env, keyring=Keyring.load(), ledger=ledger, model_version=_version(env))
    assert reasons == ["one identity is named for two roles: two keys need two different people",
                       "one identity signed for two roles: two keys need two different people"]


def test_promotion_blocked_for_replay_onto_another_model(scenario: LoadedScenario, keys: Keys) -> None:
    ledger = Ledger.open()
    env = _signed(scenario, keys)
    _recorded(ledger, env)
    reasons = promotion_reasons(parse_scenario(scenario.path), env, keyring=Keyring.load(), ledger=ledger,
                                model_version=_version(env, "smollm2-135m-instruct"))
    assert reasons == [f"decision replayed onto another model: its subject is {weights_digest('gemma3-270m')[:12]}, "
                       f"model version 3 has weights {weights_digest('smollm2-135m-instruct')[:12]}"]
    # Same weights but registered for another evaluation (e.g. the same model with prompt v2).
    other = _decision(scenario, created_at="2026-01-01T00:00:00+00:00")
    reasons = promotion_reasons(parse_scenario(scenario.path), env, keyring=Keyring.load(), ledger=ledger,
                                model_version=_version(other))
    assert reasons == [f"decision replayed onto another evaluation: model version 3 was registered for "
                       f"decision {decision_digest(other)[:12]}, not {decision_digest(env)[:12]}"]


def test_promotion_blocked_for_stale_dataset(scenario: LoadedScenario, keys: Keys, home: Path) -> None:
    ledger = Ledger.open()
    env = _signed(scenario, keys)
    _recorded(ledger, env)
    # The cases change (and the contract's digest with them) after the decision was signed.
    path = write_scenario(home / "datasets" / "support-triage", cases="relabelled")
    new = parse_scenario(path)
    new_digest = hashlib.sha256((path.parent / "cases.jsonl").read_bytes()).hexdigest()
    reasons = promotion_reasons(new, env, keyring=Keyring.load(), ledger=ledger, model_version=_version(env))
    assert reasons == [
        f"stale contract: the decision was made on contract {scenario.contract_sha256[:12]}, the current "
        f"scenario.yaml is {new.contract_sha256[:12]}",
        f"stale dataset: the decision was made on dataset {scenario.scenario.dataset.sha256[:12]}, the current "
        f"cases.jsonl is {new_digest[:12]}",
    ]


def test_promotion_lists_every_reason_at_once(scenario: LoadedScenario, keys: Keys) -> None:
    env = _decision(scenario, "FAIL")
    reasons = promotion_reasons(parse_scenario(scenario.path), env, keyring=Keyring.load(), ledger=Ledger.open(),
                                model_version=None)
    assert reasons == [
        "verdict is FAIL: only a PASS (or a cited open exception) can be released",
        f"missing approval: no valid product signature from {PRODUCT}",
        f"missing approval: no valid platform signature from {PLATFORM}",
        f"decision {decision_digest(env)[:12]} is not recorded in the ledger",
        f"no model version of support-triage carries decision {decision_digest(env)[:12]} (run `releasegate sync`)",
    ]
