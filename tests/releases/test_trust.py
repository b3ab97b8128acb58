"""Trust roots (issue 14): the portfolio root, scenario roots and their rotation, and every way
an attacker with write access to the repository or the ledger might try to change who signs."""
from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from releases_fixtures import ESCALATION, INTRUDER, PLATFORM, PRODUCT, Keys
from securesystemslib.formats import encode_canonical
from securesystemslib.signer import Signature, SSlibKey
from trust_fixtures import LEDGER_KEY, ROOTS, edit_contract, init_portfolio, key, onboard

from releasegate.core import Refused
from releasegate.releases import Keyring, Ledger, generate_key, trust_audit
from releasegate.releases._trust import (
    PIN_ENV,
    apply_root,
    current_portfolio_root,
    current_scenario_root,
    propose_scenario_root,
    root_for_check,
    sign_root,
    working_tree_differences,
)
from releasegate.scenarios import LoadedScenario


@pytest.fixture
def ledger(home: Path) -> Ledger:
    return Ledger.open()


def _independent_verify(metadata: dict, keyids: list[str], keys: dict | None = None) -> set[str]:
    """Key ids whose signature verifies, checked without python-tuf: securesystemslib's canonical
    JSON of the signed part, and each key verified twice (securesystemslib, then raw Ed25519)."""
    payload = encode_canonical(metadata["signed"]).encode()
    ok: set[str] = set()
    for sig in metadata["signatures"]:
        if sig["keyid"] not in keyids:
            continue
        key_dict = {**metadata["signed"]["keys"], **(keys or {})}[sig["keyid"]]
        sslib = SSlibKey.from_dict(sig["keyid"], dict(key_dict))
        sslib.verify_signature(Signature(sig["keyid"], sig["sig"]), payload)  # raises if bad
        pub = Ed25519PublicKey.from_public_bytes(bytes.fromhex(key_dict["keyval"]["public"]))
        pub.verify(bytes.fromhex(sig["sig"]), payload)
        ok.add(sig["keyid"])
    return ok


def test_portfolio_root_is_the_first_event_and_the_pin_decides(ledger: Ledger, keys: Keys,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    init_portfolio(ledger)
    first = ledger.events()[0]
    assert first.event_type == "trust_portfolio_root" and first.seq == 1
    root = current_portfolio_root(ledger)
    assert root is not None and root.threshold == 2 and sorted(root.root_identities) == sorted(ROOTS)
    assert list(root.ledger_keys()) == [LEDGER_KEY]
    assert sorted(s["identity"] for s in first.payload["signers"]) == sorted(ROOTS[:2])
    # independent check: two of the three root keys signed the document stored in the ledger
    md = first.payload["metadata"]
    kids = md["signed"]["roles"]["root"]["keyids"]
    assert len(_independent_verify(md, kids)) == 2
    monkeypatch.setenv(PIN_ENV, f"sha256:{first.payload['sha256']}")
    assert current_portfolio_root(ledger) is not None
    monkeypatch.setenv(PIN_ENV, "sha256:" + "ab" * 32)
    with pytest.raises(Refused, match="not the pinned trust root") as refused:
        current_portfolio_root(ledger)
    assert refused.value.code == "trust"


def test_portfolio_root_below_threshold_is_refused(ledger: Ledger, keys: Keys) -> None:
    with pytest.raises(Refused, match="threshold"):
        init_portfolio(ledger, signers=ROOTS[:1])
    assert ledger.events() == []


def test_pinned_root_with_an_empty_ledger_refuses(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PIN_ENV, "sha256:" + "ab" * 32)
    with pytest.raises(Refused, match="ledger has none"):
        current_scenario_root(ledger, "support-triage")


def test_onboarding_needs_the_portfolio_threshold(ledger: Ledger, scenario: LoadedScenario, keys: Keys) -> None:
    init_portfolio(ledger)
    md = propose_scenario_root(ledger, scenario, keyring=Keyring.load())
    for ident in (ROOTS[0], PRODUCT, PLATFORM):  # one root key of two
        sign_root(md, key(ident))
    with pytest.raises(Refused, match="portfolio root's threshold"):
        apply_root(ledger, md)
    assert current_scenario_root(ledger, "support-triage") is None


def test_scenario_root_names_owners_keys_criteria(ledger: Ledger, scenario: LoadedScenario, keys: Keys) -> None:
    root = onboard(ledger, scenario)
    assert root.version == 1 and root.owner("product") == PRODUCT and root.owner("platform") == PLATFORM
    assert root.owner("escalation") == ESCALATION
    kr = Keyring.load()
    assert {i: k.public_bytes_raw() for i, k in root.keys_for("product").items()} == {
        PRODUCT: kr.entries[PRODUCT].key().public_bytes_raw()}
    assert root.criteria["success_criteria"]["non_inferiority_margin"] == scenario.scenario.success_criteria.non_inferiority_margin
    ev = ledger.events(event_type="trust_scenario_root")[0]
    assert sorted(s["identity"] for s in ev.payload["signers"]) == sorted([*ROOTS[:2], PRODUCT, PLATFORM])
    md = ev.payload["metadata"]
    # securesystemslib verifies all four signatures (two portfolio root keys, both owners)
    want = {kr.entries[i].fingerprint for i in (*ROOTS[:2], PRODUCT, PLATFORM)}
    portfolio_keys = ledger.events(event_type="trust_portfolio_root")[0].payload["metadata"]["signed"]["keys"]
    assert _independent_verify(md, list(want), portfolio_keys) == want
    # a flipped byte of the signed part: the independent verifier refuses
    md["signed"]["x-releasegate"]["owners"]["product"]["identities"] = {INTRUDER: None}
    with pytest.raises(Exception):
        _independent_verify(md, list(want), portfolio_keys)
    assert working_tree_differences(root, scenario, kr) == []


def test_rotation_signed_by_previous_owners_is_accepted(ledger: Ledger, scenario: LoadedScenario, keys: Keys) -> None:
    onboard(ledger, scenario)
    old_product = key(PRODUCT)
    generate_key(PRODUCT, overwrite=True)  # a new key in the keyring: a proposal, nothing more
    root1 = current_scenario_root(ledger, "support-triage")
    assert root1 is not None
    assert any("changed outside a signed rotation" in d for d in working_tree_differences(root1, scenario, Keyring.load()))
    md = propose_scenario_root(ledger, scenario, keyring=Keyring.load())
    sign_root(md, key(PRODUCT))  # the new key accepts
    sign_root(md, key(PLATFORM))
    with pytest.raises(Refused, match="v1's product owners"):  # the old product key has not signed
        apply_root(ledger, md)
    sign_root(md, old_product)
    ev = apply_root(ledger, md)
    assert ev.payload["version"] == 2
    assert sorted(s["identity"] for s in ev.payload["signers"]) == sorted([PLATFORM, PRODUCT, PRODUCT])  # old + new key
    assert any(c.startswith("key changed: product.") for c in ev.payload["changes"])
    root2 = current_scenario_root(ledger, "support-triage")
    assert root2 is not None and root2.version == 2
    assert root2.keys_for("product")[PRODUCT].public_bytes_raw() == key(PRODUCT).public_key().public_bytes_raw()
    assert root2.keyring().by_fingerprint(root1.owners["product"].keyids[0]) is None


def test_version_signed_by_new_owners_alone_is_refused(ledger: Ledger, scenario: LoadedScenario, keys: Keys) -> None:
    onboard(ledger, scenario)
    edited = edit_contract(scenario, lambda d: d["owners"].update(
        product={"id": INTRUDER}, platform={"id": ESCALATION}))
    root = current_scenario_root(ledger, "support-triage")
    assert root is not None
    diffs = working_tree_differences(root, edited, Keyring.load())
    assert any(f"names {INTRUDER} as product owner" in d for d in diffs)
    md = propose_scenario_root(ledger, edited, keyring=Keyring.load())
    for ident in (INTRUDER, ESCALATION):  # the attacker holds both new keys
        sign_root(md, key(ident))
    with pytest.raises(Refused) as exc:
        apply_root(ledger, md)
    assert any("not signed by v1's product owners" in r for r in exc.value.reasons)
    assert any("not signed by v1's platform owners" in r for r in exc.value.reasons)
    assert current_scenario_root(ledger, "support-triage").owner("product") == PRODUCT  # type: ignore[union-attr]
    assert len(ledger.events(event_type="trust_scenario_root")) == 1  # nothing recorded
    problems, notes = trust_audit(ledger, "support-triage", edited, Keyring.load())  # audit says what it saw
    assert problems == [] and f"the working tree names {INTRUDER} as product owner, the signed root v1 names {PRODUCT}" in notes


def test_expired_root_is_refused(ledger: Ledger, scenario: LoadedScenario, keys: Keys) -> None:
    onboard(ledger, scenario, expires_days=2 / 86400)
    time.sleep(2.2)
    root, reasons = root_for_check(ledger, "support-triage")
    assert root is not None and reasons and "expired" in reasons[0]
    assert any("expired" in p for p in trust_audit(ledger, "support-triage", scenario, Keyring.load())[0])
    # applying a version that is already expired is refused too
    md = propose_scenario_root(ledger, scenario, keyring=Keyring.load())
    md.signed.expires = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(days=1)
    for ident in (PRODUCT, PLATFORM):
        sign_root(md, key(ident))
    with pytest.raises(Refused, match="expired"):
        apply_root(ledger, md)
    # a renewal signed by the owners is accepted (no freeze on an expired root)
    md = propose_scenario_root(ledger, scenario, keyring=Keyring.load())
    for ident in (PRODUCT, PLATFORM):
        sign_root(md, key(ident))
    assert apply_root(ledger, md).payload["version"] == 2
    assert root_for_check(ledger, "support-triage")[1] == []


def test_replayed_older_root_is_refused(ledger: Ledger, scenario: LoadedScenario, keys: Keys) -> None:
    onboard(ledger, scenario)
    v1 = ledger.events(event_type="trust_scenario_root")[0].payload["metadata"]
    md = propose_scenario_root(ledger, scenario, keyring=Keyring.load())
    for ident in (PRODUCT, PLATFORM):
        sign_root(md, key(ident))
    apply_root(ledger, md)
    from tuf.api.metadata import Metadata
    with pytest.raises(Refused, match="replayed older root"):
        apply_root(ledger, Metadata.from_dict(json.loads(json.dumps(v1))))
    # written straight into the ledger (chained, so `ledger verify` is clean): the chain refuses it
    ledger.append("trust_scenario_root", "support-triage", {"version": 1, "sha256": "x", "metadata": v1})
    root, reasons = root_for_check(ledger, "support-triage")
    assert root is None and any("replayed older root" in r for r in reasons)
    problems, _ = trust_audit(ledger, "support-triage", scenario, Keyring.load())
    assert any(p.startswith("trust chain does not verify") and "replayed older root" in p for p in problems)


def test_criteria_change_is_listed(ledger: Ledger, scenario: LoadedScenario, keys: Keys) -> None:
    onboard(ledger, scenario)
    loosened = edit_contract(scenario, lambda d: d["success_criteria"].update(non_inferiority_margin=0.2))
    root = current_scenario_root(ledger, "support-triage")
    assert any("gate criteria differ" in d and "non_inferiority_margin" in d
               for d in working_tree_differences(root, loosened, None))  # type: ignore[arg-type]
    md = propose_scenario_root(ledger, loosened, keyring=Keyring.load())
    for ident in (PRODUCT, PLATFORM):
        sign_root(md, key(ident))
    ev = apply_root(ledger, md)
    assert "criteria changed: success_criteria.non_inferiority_margin 0.05 -> 0.2" in ev.payload["changes"]




@pytest.mark.parametrize("policy, field", [
    ({"identity": "release-bot@platform.example", "expires": "2030-01-01", "colour": "red"}, "colour"),
    ({"expires": "2030-01-01"}, "identity"),
    ({"identity": "nobody@platform.example", "expires": "2030-01-01"}, "identity"),
    ({"identity": "release-bot@platform.example", "expires": "soon"}, "expires"),
    ({"identity": "release-bot@platform.example", "expires": "2030-01-01", "change_kinds": ["anything"]}, "change_kinds"),
    ({"identity": "release-bot@platform.example", "expires": "2030-01-01", "weights_allowlist": ["abc"]}, "weights_allowlist"),
])
def test_bad_release_policy_is_one_input_error(keys: Keys, policy: dict, field: str) -> None:
    from releasegate.core import InputError
    from releasegate.releases._policy import normalise_policy

    generate_key("release-bot@platform.example")
    with pytest.raises(InputError) as exc:
        normalise_policy(policy, Keyring.load(), source="policy.yaml")
    assert exc.value.field == field and exc.value.file == "policy.yaml" and exc.value.fix
