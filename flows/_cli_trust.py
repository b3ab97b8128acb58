"""`releasegate trust init|propose|sign|apply|show`: the signed trust roots (releases/_trust.py).

Thin: parse options, call one `releases` function (releases/_trust_ops.py), print. Exit codes: 0 ok, 1 refused (every reason
listed), 2 bad input (InputError, printed by `flows.cli.main`; nothing is written).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from releasegate.core import Refused

from ._cli_common import TRUST, out, refused
from ._cli_releases import KeyringOpt, LedgerUrl, _actor

ExpiresDays = Annotated[float, typer.Option("--expires-days", help="The root expires after this many days")]


def register(app: typer.Typer) -> None:
    trust_app = typer.Typer(help="Signed trust roots: who may sign for a scenario, and its criteria.",
                            no_args_is_help=True)
    app.add_typer(trust_app, name="trust", rich_help_panel=TRUST)

    def _applied(ev) -> None:  # noqa: ANN001
        from releasegate.releases import PIN_ENV

        who = ", ".join(s["identity"] for s in ev.payload["signers"])
        out.print(f"applied {ev.scenario_id} root v{ev.payload['version']} sha256:{ev.payload['sha256']} "
                  f"(ledger row {ev.seq}; signed by {who})")
        for change in ev.payload["changes"]:
            out.print(f"  {change}")
        if ev.event_type == "trust_portfolio_root" and ev.payload["version"] == 1:
            out.print("pin it outside the repository (a protected CI variable):")
            out.print(f"  export {PIN_ENV}=sha256:{ev.payload['sha256']}")

    def _proposed(p) -> None:  # noqa: ANN001
        out.print(f"{p.scope} root v{p.version} proposed: {p.path}")
        for change in p.changes:
            out.print(f"  {change}")
        out.print(f"must sign: {p.must_sign}")

    @trust_app.command("init")
    def init_cmd(
        root: Annotated[list[str], typer.Option("--root", help="A portfolio root key holder (repeat; keys from the keyring)")],
        threshold: Annotated[int, typer.Option("--threshold", help="Signatures needed, e.g. 2 of 3")],
        key: Annotated[list[Path] | None, typer.Option("--key", help="Sign with this private key .pem (repeat)")] = None,
        ledger_identity: Annotated[list[str] | None, typer.Option("--ledger-identity", help="Ledger checkpoint signer")] = None,
        expires_days: ExpiresDays = 365.0,
        out_file: Annotated[Path | None, typer.Option("--out", help="Where to write the proposal")] = None,
        keyring: KeyringOpt = None, ledger_url: LedgerUrl = None,
    ) -> None:
        """Create the portfolio root (v1); applied and pinned once THRESHOLD root keys signed."""
        from releasegate.releases import Keyring, Ledger, RootProposal, init_portfolio_root

        try:
            result = init_portfolio_root(Ledger.open(ledger_url), root, threshold, keyring=Keyring.load(keyring),
                                         keys=key or [], expires_days=expires_days,
                                         ledger_identities=ledger_identity or [], out=out_file, actor=_actor())
        except Refused as exc:
            refused("trust root refused:", exc.reasons)
        if not isinstance(result, RootProposal):
            _applied(result)
            return
        out.print(f"portfolio root v1 proposed: {result.path} ({result.signatures} of {threshold} signatures)")
        out.print(f"next: releasegate trust sign {result.path} --key ROOT.pem (x{threshold - result.signatures}), "
                  f"then releasegate trust apply {result.path}")

    @trust_app.command("propose")
    def propose_cmd(
        scenario: Annotated[str | None, typer.Option("--scenario", help="Scenario id or contract path")] = None,
        policy: Annotated[Path | None, typer.Option("--policy", help="Release policy YAML (identity, expires, ...)")] = None,
        no_policy: Annotated[bool, typer.Option("--no-policy", help="Drop the current release policy")] = False,
        portfolio: Annotated[bool, typer.Option("--portfolio", help="The portfolio root's next version instead "
                                                "(with --root and --threshold)")] = False,
        root: Annotated[list[str] | None, typer.Option("--root", help="--portfolio: a root key holder (repeat)")] = None,
        threshold: Annotated[int, typer.Option("--threshold", help="--portfolio: signatures needed")] = 0,
        ledger_identity: Annotated[list[str] | None, typer.Option("--ledger-identity")] = None,
        expires_days: ExpiresDays = 365.0,
        out_file: Annotated[Path | None, typer.Option("--out", help="Where to write the proposal")] = None,
        keyring: KeyringOpt = None, ledger_url: LedgerUrl = None,
    ) -> None:
        """Build the scenario's next root from the working tree (contract owners, keyring keys, criteria),
        or with --portfolio the portfolio root's next version (rotation: signed by the current threshold)."""
        from releasegate.core import InputError
        from releasegate.releases import Keyring, Ledger, propose_portfolio_version, propose_scenario_version

        if portfolio:
            _proposed(propose_portfolio_version(Ledger.open(ledger_url), list(root or []), threshold,
                                                keyring=Keyring.load(keyring), expires_days=expires_days,
                                                ledger_identities=ledger_identity or [], out=out_file))
            return
        if not scenario:
            raise InputError("name the scenario", field="--scenario", fix="--scenario ID, or --portfolio")
        try:
            proposal = propose_scenario_version(scenario, ledger_url=ledger_url, keyring=Keyring.load(keyring),
                                                expires_days=expires_days, policy=policy, drop_policy=no_policy,
                                                out=out_file)
        except Refused as exc:
            refused("cannot propose:", exc.reasons)
        _proposed(proposal)

    @trust_app.command("sign")
    def sign_cmd(
        proposal: Annotated[Path, typer.Argument(help="A root proposal (.json)")],
        key: Annotated[Path, typer.Option("--key", help="Your private key .pem")],
    ) -> None:
        """Add your signature to a root proposal (the document itself does not change)."""
        from releasegate.releases import sign_proposal

        signed = sign_proposal(proposal, key)
        out.print(f"signed {signed.path} with key {signed.keyid[:16]} ({signed.signatures} signatures)")

    @trust_app.command("apply")
    def apply_cmd(proposal: Annotated[Path, typer.Argument(help="A signed root proposal (.json)")],
                  ledger_url: LedgerUrl = None) -> None:
        """Verify a signed root against the chain and record it in the ledger (exit 1 with every reason)."""
        from releasegate.releases import Ledger, apply_proposal

        try:
            ev = apply_proposal(Ledger.open(ledger_url), proposal, actor=_actor())
        except Refused as exc:
            refused("trust root refused:", exc.reasons)
        _applied(ev)

    @trust_app.command("show")
    def show_cmd(
        scenario: Annotated[str | None, typer.Option("--scenario", help="Scenario id (default: the portfolio root)")] = None,
        as_json: Annotated[bool, typer.Option("--json")] = False,
        keyring: KeyringOpt = None, ledger_url: LedgerUrl = None,
    ) -> None:
        """The chain's history (who changed what, signed by whom) and where the working tree differs."""
        from releasegate.releases import PIN_ENV, Keyring, Ledger, trust_history

        shown_history = trust_history(Ledger.open(ledger_url), scenario, Keyring.load(keyring))
        events = shown_history.events
        if as_json:
            out.print(json.dumps(shown_history.to_json(), sort_keys=True))
        else:
            if not events:
                out.print(f"no trust root for {scenario or 'the portfolio'}"
                          + ("" if scenario else ": run `releasegate trust init`"))
            for e in events:
                who = ", ".join(s["identity"] for s in e.payload["signers"])
                out.print(f"v{e.payload['version']}  {e.created_at[:19]}  ledger row {e.seq}  sha256:{e.payload['sha256'][:16]}  "
                          f"expires {e.payload['expires'][:10]}  signed by {who}")
                for change in e.payload["changes"]:
                    out.print(f"    {change}")
            for d in shown_history.working_tree_differences:
                out.print(f"working tree differs (not in force until signed): {d}")
            if events and not scenario:
                pin = shown_history.pin
                out.print(f"{PIN_ENV}={pin}" if pin else f"{PIN_ENV} is not set: pin sha256:{events[0].payload['sha256']}")
        if shown_history.problems:
            refused("the trust chain does not verify:", shown_history.problems)
