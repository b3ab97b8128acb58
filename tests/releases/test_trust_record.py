"""The record against the trust roots (issues 14 and 15): a privileged ledger row is
authenticated by the keys of ITS scenario's signed root version in force at that row (the
portfolio root for portfolio-level rows; the keyring only for scenarios without a root, never in
root-required mode), and checkpoints are anchored outside the working tree.

The attacker can edit keyring.yaml and write the ledger database."""
from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner
from releases_fixtures import INTRUDER, PLATFORM, PRODUCT, Keys
from test_ledger_checkpoints import _rewrite
from trust_fixtures import LEDGER_KEY, ROOTS, key, onboard

from releasegate.core import InputError
from releasegate.flows.cli import app
from releasegate.releases import Keyring, Ledger, generate_key
from releasegate.releases._actors import ActorSigner
from releasegate.releases._checkpoints import (
    DEFAULT_LEDGER_IDENTITY,
    LEDGER_PUBKEY_ENV,
    WORKING_TREE_ANCHOR,
    build_checkpoint,
    publish_to_folder,
    verify_ledger,
    write_checkpoint,
)
from releasegate.releases._keys import fingerprint, private_key_path, public_pem
from releasegate.releases._trust import (
    PIN_ENV,
    PORTFOLIO_SCOPE,
    REQUIRE_ENV,
    apply_root,
    current_portfolio_root,
    propose_scenario_root,
    sign_root,
)
from releasegate.scenarios import LoadedScenario

SID = "support-triage"
PRIVILEGED = ("approved", "promoted", "rolled_back", "alias_repaired", "decision_revoked",
              "exception_opened", "exception_reviewed", "exception_closed", "incident_opened", "incident_closed")


@pytest.fixture
def ledger(home: Path, keys: Keys) -> Ledger:
    return Ledger.open()


def _row(ledger: Ledger, identity: str, private_key, event_type: str = "promoted", sid: str = SID):  # noqa: ANN001, ANN202
    return ledger.append(event_type, sid, {"alias": "champion", "version": "7"},
                         signer=ActorSigner(private_key, identity))


def _problems(ledger: Ledger) -> list[str]:
    return verify_ledger(ledger, use_mlflow=False).problems


# --- item 1: actor signatures come from the row's scenario root, not the working tree ----------

@pytest.mark.parametrize("event_type", PRIVILEGED)
def test_keyring_key_added_for_an_owner_cannot_sign_a_rooted_scenarios_row(
        ledger: Ledger, scenario: LoadedScenario, event_type: str) -> None:
    onboard(ledger, scenario)
    honest = _row(ledger, PRODUCT, key(PRODUCT), event_type)
    assert _problems(ledger) == []
    # the attacker replaces the product owner's key in keyring.yaml with one they hold
    generate_key(PRODUCT, overwrite=True)
    forged = _row(ledger, PRODUCT, key(PRODUCT), event_type)
    problems = _problems(ledger)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"row {forged.seq} ({event_type}, actor '{PRODUCT}'): signed by key "
                                  f"{fingerprint(key(PRODUCT).public_key())[:16]}, not the actor's key")
    assert f"row {honest.seq} " not in problems[0]  # the honest row, signed with the root's key, verifies


def test_identity_only_the_keyring_knows_cannot_sign_a_rooted_scenarios_row(
        ledger: Ledger, scenario: LoadedScenario) -> None:
    onboard(ledger, scenario)
    forged = _row(ledger, INTRUDER, key(INTRUDER), "approved")  # INTRUDER is in keyring.yaml, not the root
    assert _problems(ledger) == [f"row {forged.seq} (approved, actor '{INTRUDER}'): the actor has no key in "
                                 f"the signed root v1 of {SID} in force at this row"]


def test_a_scenario_without_a_root_still_uses_the_keyring(ledger: Ledger, scenario: LoadedScenario) -> None:
    onboard(ledger, scenario)
    _row(ledger, INTRUDER, key(INTRUDER), sid="other-scenario")  # no root, no pin: the keyring decides
    assert _problems(ledger) == []
    generate_key(INTRUDER, overwrite=True)  # ... and so does an edit of it (why root-required mode exists)
    assert len(_problems(ledger)) == 1


def test_rotation_old_key_rows_before_verify_after_refused(ledger: Ledger, scenario: LoadedScenario) -> None:
    onboard(ledger, scenario)
    old = key(PRODUCT)
    before = _row(ledger, PRODUCT, old, "approved")
    generate_key(PRODUCT, overwrite=True)
    md = propose_scenario_root(ledger, scenario, keyring=Keyring.load())
    for k in (old, key(PRODUCT), key(PLATFORM)):
        sign_root(md, k)
    apply_root(ledger, md)
    after_new = _row(ledger, PRODUCT, key(PRODUCT), "approved")
    assert _problems(ledger) == []  # the old key's row before the rotation, the new key's after
    after_old = _row(ledger, PRODUCT, old, "approved")
    problems = _problems(ledger)
    assert len(problems) == 1 and problems[0].startswith(f"row {after_old.seq} (approved, actor '{PRODUCT}'): "
                                                         f"signed by key {fingerprint(old.public_key())[:16]}")
    assert before.seq < after_new.seq < after_old.seq
    # the new key before the rotation would have been refused too: the version in force decides
    assert "not the actor's key" in problems[0]


def test_portfolio_rows_are_checked_against_the_portfolio_root(ledger: Ledger, scenario: LoadedScenario) -> None:
    onboard(ledger, scenario)
    _row(ledger, ROOTS[0], key(ROOTS[0]), "incident_opened", sid=PORTFOLIO_SCOPE)
    assert _problems(ledger) == []
    forged = _row(ledger, PRODUCT, key(PRODUCT), "incident_opened", sid=PORTFOLIO_SCOPE)  # a keyring identity
    assert _problems(ledger) == [f"row {forged.seq} (incident_opened, actor '{PRODUCT}'): the actor has no key "
                                 "in portfolio root v1"]


@pytest.mark.parametrize("switch", ["pin", "require"])
def test_root_required_mode_refuses_keyring_authenticated_rows(
        ledger: Ledger, scenario: LoadedScenario, monkeypatch: pytest.MonkeyPatch, switch: str) -> None:
    onboard(ledger, scenario)
    forged = _row(ledger, INTRUDER, key(INTRUDER), sid="other-scenario")
    assert _problems(ledger) == []
    if switch == "pin":
        monkeypatch.setenv(PIN_ENV, f"sha256:{current_portfolio_root(ledger).digest}")  # type: ignore[union-attr]
        why = f"{PIN_ENV} pins a portfolio root"
    else:
        monkeypatch.setenv(REQUIRE_ENV, "1")
        why = f"{REQUIRE_ENV} is set"
    assert _problems(ledger) == [f"row {forged.seq} (promoted, actor '{INTRUDER}'): no signed root of "
                                 f"other-scenario was in force at this row and {why}: the keyring cannot "
                                 "authenticate it"]


def test_require_switch_is_validated(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(REQUIRE_ENV, "maybe")
    with pytest.raises(InputError, match=f"{REQUIRE_ENV}: .*'maybe' is not a switch"):
        verify_ledger(ledger, use_mlflow=False)


# --- item 2: the checkpoint key is anchored outside the working tree ---------------------------

def _attack(ledger: Ledger, home: Path, identity: str) -> None:
    """Edit the keyring's ledger key, rewrite a row and rechain, wipe the folder, forge a checkpoint."""
    shutil.rmtree(home / "state" / "checkpoints")
    generate_key(identity, overwrite=True)
    events = ledger.events()
    events[1] = dataclasses.replace(events[1], payload={**events[1].payload, "version": "666"})
    _rewrite(ledger, events)
    forged = build_checkpoint(ledger, key(identity), None)
    publish_to_folder(forged, home / "state" / "checkpoints")


def _fill(ledger: Ledger) -> None:
    for i in range(3):
        ledger.append("synced", SID, {"i": i, "version": str(i)}, actor="ci")


def test_keyring_anchor_is_said_plainly_and_is_fooled(ledger: Ledger, home: Path) -> None:
    generate_key(DEFAULT_LEDGER_IDENTITY)
    _fill(ledger)
    write_checkpoint(ledger, mlflow=False)
    result = verify_ledger(ledger, use_mlflow=False)
    assert result.problems == [] and WORKING_TREE_ANCHOR in result.notes
    cli = CliRunner().invoke(app, ["ledger", "verify", "--no-mlflow"])
    assert cli.exit_code == 0 and "checkpoints are anchored in the working tree (keyring.yaml)" in cli.output
    assert WORKING_TREE_ANCHOR.startswith("checkpoints are anchored in the working tree (keyring.yaml): "
                                          "pin a portfolio root")
    _attack(ledger, home, DEFAULT_LEDGER_IDENTITY)
    result = verify_ledger(ledger, use_mlflow=False)
    assert result.problems == [] and WORKING_TREE_ANCHOR in result.notes  # why the anchor must move


@pytest.mark.parametrize("form", ["fingerprint", "path", "pem"])
def test_ledger_pubkey_env_catches_the_forged_checkpoint(ledger: Ledger, home: Path,
                                                         monkeypatch: pytest.MonkeyPatch, form: str) -> None:
    generate_key(DEFAULT_LEDGER_IDENTITY)
    public = key(DEFAULT_LEDGER_IDENTITY).public_key()
    pem_file = home / "ci-vars" / "ledger.pub"  # outside the checkout: a protected CI file
    pem_file.parent.mkdir()
    pem_file.write_text(public_pem(public))
    value = {"fingerprint": f"sha256:{fingerprint(public)}", "path": str(pem_file), "pem": public_pem(public)}[form]
    monkeypatch.setenv(LEDGER_PUBKEY_ENV, value)
    _fill(ledger)
    write_checkpoint(ledger, mlflow=False)
    result = verify_ledger(ledger, use_mlflow=False)
    assert result.problems == [] and result.notes == [] and len(result.checkpoints) == 1
    _attack(ledger, home, DEFAULT_LEDGER_IDENTITY)
    problems = verify_ledger(ledger, use_mlflow=False).problems
    assert len(problems) == 1 and "is not signed by the ledger key RELEASEGATE_LEDGER_PUBKEY" in problems[0]
    if form == "fingerprint":
        assert "which the keyring" in problems[0] and "does not hold (edited?)" in problems[0]


def test_pinned_portfolio_root_catches_the_forged_checkpoint(ledger: Ledger, scenario: LoadedScenario, home: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    onboard(ledger, scenario)  # the portfolio root names LEDGER_KEY as the ledger key
    monkeypatch.setenv(PIN_ENV, f"sha256:{current_portfolio_root(ledger).digest}")  # type: ignore[union-attr]
    monkeypatch.setenv("RELEASEGATE_LEDGER_KEY", str(private_key_path(LEDGER_KEY)))
    _fill(ledger)
    write_checkpoint(ledger, mlflow=False)
    result = verify_ledger(ledger, use_mlflow=False)
    assert result.problems == [] and result.notes == []
    # the attacker edits the ledger key in keyring.yaml: it does not matter, the pinned root names it
    shutil.rmtree(home / "state" / "checkpoints")
    generate_key(LEDGER_KEY, overwrite=True)
    events = ledger.events()
    events[-1] = dataclasses.replace(events[-1], payload={"i": 9, "version": "666"})
    _rewrite(ledger, events)
    publish_to_folder(build_checkpoint(ledger, key(LEDGER_KEY), None), home / "state" / "checkpoints")
    problems = verify_ledger(ledger, use_mlflow=False).problems
    assert len(problems) == 1 and "is not signed by the ledger key of the pinned portfolio root" in problems[0]
    with pytest.raises(InputError, match="is not the ledger key of the pinned portfolio root"):
        write_checkpoint(ledger, mlflow=False)  # the edited key cannot checkpoint either


def test_unpinned_portfolio_root_anchor_is_said(ledger: Ledger, scenario: LoadedScenario) -> None:
    onboard(ledger, scenario)
    # no RELEASEGATE_LEDGER_KEY: the key of the ledger identity the portfolio root names is used
    assert write_checkpoint(ledger, mlflow=False).checkpoint is not None
    result = verify_ledger(ledger, use_mlflow=False)
    assert result.problems == []
    assert result.notes == [f"checkpoints are anchored in a portfolio root that is not pinned: set {PIN_ENV}"]


def test_bad_ledger_pubkey_values_are_input_errors(ledger: Ledger, scenario: LoadedScenario, home: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from releasegate.core import project_root

    cases = {
        "sha256:xyz": "a fingerprint pin is sha256: and 64 hex digits",
        str(home / "missing.pem"): "cannot read ledger public key",
        str(project_root() / "keyring.yaml"): "inside the working tree",
        "-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n": "not an Ed25519 public key in PEM",
    }
    for value, message in cases.items():
        monkeypatch.setenv(LEDGER_PUBKEY_ENV, value)
        with pytest.raises(InputError, match=message) as caught:
            verify_ledger(ledger, use_mlflow=False)
        assert caught.value.exit_code == 2
    # a pinned root and a different env key: a misconfiguration, said, not silently resolved
    onboard(ledger, scenario)
    monkeypatch.setenv(PIN_ENV, f"sha256:{current_portfolio_root(ledger).digest}")  # type: ignore[union-attr]
    monkeypatch.setenv(LEDGER_PUBKEY_ENV, public_pem(key(INTRUDER).public_key()))
    with pytest.raises(InputError, match="is not a ledger key of the pinned portfolio root"):
        verify_ledger(ledger, use_mlflow=False)
