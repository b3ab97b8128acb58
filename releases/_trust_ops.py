"""What a person does with trust roots, as library calls: init, propose, sign, apply, show.

`releasegate trust ...` parses its options, calls one of these and prints the typed result
(`RootProposal`, `SignedProposal`, the applied `LedgerEvent`, `TrustHistory`). Every input (keys,
release policy, contract, ledger state) is read and checked before a proposal file is written.
Refusals are `Refused` (every reason), bad input `InputError`, as everywhere.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from releasegate.core import InputError, Refused, load_yaml_strict
from releasegate.scenarios import load_contract

from ._keys import Keyring, fingerprint, load_private_key
from ._ledger import Ledger, LedgerEvent
from ._trust import (
    PIN_ENV,
    apply_root,
    current_scenario_root,
    history,
    portfolio_chain,
    proposals_dir,
    propose_portfolio_root,
    propose_scenario_root,
    read_root,
    root_changes,
    sign_root,
    working_tree_differences,
    write_root,
)


@dataclass(frozen=True)
class RootProposal:
    """A root version written to a proposal file: not in force until signed and applied."""

    path: Path
    scope: str  # "portfolio", or the scenario id
    version: int
    signatures: int
    changes: list[str]  # from the version in force ([] for a first portfolio root)
    must_sign: str  # who must sign before `trust apply` accepts it


@dataclass(frozen=True)
class SignedProposal:
    path: Path
    keyid: str
    signatures: int


def init_portfolio_root(ledger: Ledger, root_identities: list[str], threshold: int, *, keyring: Keyring,
                        keys: Sequence[Path] = (), expires_days: float, ledger_identities: Sequence[str] = (),
                        out: Path | None = None, actor: str | None = None) -> RootProposal | LedgerEvent:
    """Portfolio root v1, signed with `keys`: applied at once (the ledger event) when they reach the
    threshold, else written as a proposal for the other root key holders to sign."""
    if portfolio_chain(ledger, allow_empty=True):
        raise InputError("this ledger already has a portfolio root", field="trust init",
                         fix="`releasegate trust show` lists it; rotate with a new version signed by its threshold")
    private = [load_private_key(k) for k in keys]  # read every key before writing anything
    md = propose_portfolio_root(ledger, root_identities, threshold, keyring=keyring,
                                expires_days=expires_days, ledger_identities=list(ledger_identities))
    for k in private:
        sign_root(md, k)
    if len(md.signatures) >= threshold:
        return apply_root(ledger, md, actor=actor)
    path = write_root(md, out or proposals_dir() / "portfolio-v1.json")
    return RootProposal(path, "portfolio", 1, len(md.signatures), [],
                        f"{threshold} of the root keys ({', '.join(root_identities)})")


def propose_portfolio_version(ledger: Ledger, root_identities: list[str], threshold: int, *, keyring: Keyring,
                              expires_days: float, ledger_identities: Sequence[str] = (),
                              out: Path | None = None) -> RootProposal:
    """The portfolio root's next version (a rotation): signed by the current threshold and the new one."""
    chain = portfolio_chain(ledger, allow_empty=True)
    if not chain:
        raise InputError("no portfolio root yet", field="--portfolio", fix="run `releasegate trust init`")
    md = propose_portfolio_root(ledger, root_identities, threshold, keyring=keyring,
                                expires_days=expires_days, ledger_identities=list(ledger_identities))
    path = write_root(md, out or proposals_dir() / f"portfolio-v{md.signed.version}.json")
    current = chain[-1]
    return RootProposal(path, "portfolio", md.signed.version, len(md.signatures), root_changes(current, md),
                        f"{current.threshold} of v{current.version}'s root keys "
                        f"({', '.join(current.root_identities)}) and {threshold} of the new ones")


def read_release_policy(path: Path) -> dict[str, Any]:
    """A release policy YAML file (identity, expires, change_kinds, ...) as a mapping."""
    policy, _ = load_yaml_strict(path, what="release policy")
    if not isinstance(policy, dict):
        raise InputError("a release policy is a YAML mapping", file=path,
                         fix="pass a YAML mapping: identity, expires, change_kinds, ...")
    return policy


def propose_scenario_version(scenario: str, *, ledger_url: str | None, keyring: Keyring, expires_days: float,
                             policy: Path | None = None, drop_policy: bool = False,
                             out: Path | None = None) -> RootProposal:
    """The scenario's next root from the working tree (contract owners, keyring keys, criteria).
    The release policy: read from `policy`, dropped with `drop_policy`, else carried over. The ledger
    is opened only once the contract and the policy have been read."""
    loaded = load_contract(scenario)
    release_policy: dict[str, Any] | None | bool = True
    if drop_policy:
        release_policy = None
    elif policy is not None:
        release_policy = read_release_policy(policy)
    ledger = Ledger.open(ledger_url)
    prev = current_scenario_root(ledger, loaded.scenario.id)
    md = propose_scenario_root(ledger, loaded, keyring=keyring, expires_days=expires_days,
                               release_policy=release_policy)
    sid, v = loaded.scenario.id, md.signed.version
    path = write_root(md, out or proposals_dir() / f"{sid}-v{v}.json")
    ext = md.signed.unrecognized_fields["x-releasegate"]
    new_signers = [i for r in ("product", "platform") for i in ext["owners"][r]["identities"]]
    if prev is None:
        must = "the portfolio root's threshold, and the new owners " + ", ".join(new_signers)
    else:
        old = [i for r in ("product", "platform") for i in prev.owners[r].identities]
        added = sorted(set(new_signers) - set(old))
        must = (f"v{prev.version}'s owners {', '.join(old)}"
                + (f", and the new owners {', '.join(added)}" if added else "")
                + " (a changed key signs with old and new)")
    return RootProposal(path, sid, v, len(md.signatures), root_changes(prev, md), must)


def sign_proposal(proposal: Path, key: Path) -> SignedProposal:
    """Add this key's signature to a root proposal file (the signed document does not change)."""
    md = read_root(proposal)
    private = load_private_key(key)
    sign_root(md, private)
    write_root(md, proposal)
    return SignedProposal(proposal, fingerprint(private.public_key()), len(md.signatures))


def apply_proposal(ledger: Ledger, proposal: Path, *, actor: str | None = None) -> LedgerEvent:
    """Verify a signed root proposal against the chain and record it (Refused with every reason)."""
    return apply_root(ledger, read_root(proposal), actor=actor)


@dataclass(frozen=True)
class TrustHistory:
    """One chain's versions (ledger events, oldest first) and where the working tree differs."""

    scope: str  # "portfolio", or the scenario id
    events: list[LedgerEvent]
    working_tree_differences: list[str]
    problems: list[str]  # the chain does not verify: every reason ([] when it does)
    pin: str | None  # RELEASEGATE_TRUST_ROOT as set (portfolio scope only)

    def to_json(self) -> dict[str, Any]:
        return {"scope": self.scope, "versions": [
            {k: v for k, v in e.payload.items() if k != "metadata"} | {"ledger_seq": e.seq, "at": e.created_at,
                                                                      "actor": e.actor}
            for e in self.events], "working_tree_differences": self.working_tree_differences,
            "problems": self.problems}


def trust_history(ledger: Ledger, scenario: str | None, keyring: Keyring) -> TrustHistory:
    """The portfolio chain (scenario None) or a scenario's: its versions, the working tree's
    differences from the version in force, and the reasons it does not verify (if it does not)."""
    events = history(ledger, scenario)
    diffs: list[str] = []
    problems: list[str] = []
    try:
        root = current_scenario_root(ledger, scenario) if scenario else None
    except Refused as exc:
        root, problems = None, exc.reasons
    if root is not None:
        try:
            loaded = load_contract(scenario)  # type: ignore[arg-type]
        except Exception:
            loaded = None
        diffs = working_tree_differences(root, loaded, keyring)
    return TrustHistory(scenario or "portfolio", events, diffs, problems,
                        None if scenario else os.environ.get(PIN_ENV))
