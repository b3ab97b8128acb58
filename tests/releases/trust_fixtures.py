"""Helpers for the trust-root tests: portfolio root keys and an onboarded scenario root."""
from __future__ import annotations

from pathlib import Path

import yaml

from releasegate.releases import Keyring, Ledger, generate_key, load_private_key
from releasegate.releases._keys import private_key_path
from releasegate.releases._trust import (
    ScenarioRoot,
    apply_root,
    current_scenario_root,
    propose_portfolio_root,
    propose_scenario_root,
    sign_root,
)
from releasegate.scenarios import LoadedScenario, load_scenario

ROOTS = ("root-a@platform.example", "root-b@platform.example", "root-c@platform.example")
BOT = "release-bot@platform.example"
LEDGER_KEY = "ledger@platform.example"


def key(identity: str):  # noqa: ANN201 (an Ed25519 private key)
    return load_private_key(private_key_path(identity))


def init_portfolio(ledger: Ledger, signers: tuple[str, ...] = ROOTS[:2]) -> None:
    for ident in (*ROOTS, LEDGER_KEY):
        if not private_key_path(ident).exists():
            generate_key(ident)
    md = propose_portfolio_root(ledger, list(ROOTS), 2, keyring=Keyring.load(),
                                ledger_identities=[LEDGER_KEY])
    for ident in signers:
        sign_root(md, key(ident))
    apply_root(ledger, md)


def onboard(ledger: Ledger, loaded: LoadedScenario, *, policy: dict | None = None,
            expires_days: float = 365) -> ScenarioRoot:
    """Portfolio root (2 of 3) + scenario root v1 signed by two root keys and the new owners."""
    init_portfolio(ledger)
    md = propose_scenario_root(ledger, loaded, keyring=Keyring.load(), release_policy=policy,
                               expires_days=expires_days)
    owners = md.signed.unrecognized_fields["x-releasegate"]["owners"]
    for ident in (*ROOTS[:2], *owners["product"]["identities"], *owners["platform"]["identities"]):
        sign_root(md, key(ident))
    apply_root(ledger, md)
    root = current_scenario_root(ledger, loaded.scenario.id)
    assert root is not None
    return root


def edit_contract(loaded: LoadedScenario, edit) -> LoadedScenario:  # noqa: ANN001
    data = yaml.safe_load(Path(loaded.path).read_text())
    edit(data)
    Path(loaded.path).write_text(yaml.safe_dump(data, sort_keys=False))
    return load_scenario(loaded.scenario.id)
