"""`releasegate trust init|propose|sign|apply|show`: the signed trust roots (releases/_trust.py).

Thin: parse options, call `releases._trust`, print. Exit codes: 0 ok, 1 refused (every reason
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

    def _apply_or_refuse(ledger, md) -> None:  # noqa: ANN001
        from releasegate.releases._trust import PIN_ENV, apply_root

        try:
            ev = apply_root(ledger, md, actor=_actor())
        except Refused as exc:
            refused("trust root refused:", exc.reasons)
        who = ", ".join(s["identity"] for s in ev.payload["signers"])
        out.print(f"applied {ev.scenario_id} root v{ev.payload['version']} sha256:{ev.payload['sha256']} "
                  f"(ledger row {ev.seq}; signed by {who})")
        for change in ev.payload["changes"]:
            out.print(f"  {change}")
        if ev.event_type == "trust_portfolio_root" and ev.payload["version"] == 1:
            out.print("pin it outside the repository (a protected CI variable):")
            out.print(f"  export {PIN_ENV}=sha256:{ev.payload['sha256']}")

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
        from releasegate.core import InputError
        from releasegate.releases import Keyring, Ledger, load_private_key
        from releasegate.releases._trust import (
            portfolio_chain,
            proposals_dir,
            propose_portfolio_root,
            sign_root,
            write_root,
        )

        ledger = Ledger.open(ledger_url)
        if portfolio_chain(ledger, allow_empty=True):
            raise InputError("this ledger already has a portfolio root", field="trust init",
                             fix="`releasegate trust show` lists it; rotate with a new version signed by its threshold")
        private = [load_private_key(k) for k in key or []]  # read every key before writing anything
        md = propose_portfolio_root(ledger, root, threshold, keyring=Keyring.load(keyring),
                                    expires_days=expires_days, ledger_identities=ledger_identity or [])
        for k in private:
            sign_root(md, k)
        if len(md.signatures) >= threshold:
            _apply_or_refuse(ledger, md)
            return
        path = write_root(md, out_file or proposals_dir() / "portfolio-v1.json")
        out.print(f"portfolio root v1 proposed: {path} ({len(md.signatures)} of {threshold} signatures)")
        out.print(f"next: releasegate trust sign {path} --key ROOT.pem (x{threshold - len(md.signatures)}), "
                  f"then releasegate trust apply {path}")

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
        from releasegate.core import InputError, load_yaml_strict
        from releasegate.releases import Keyring, Ledger
        from releasegate.releases._trust import (
            current_scenario_root,
            portfolio_chain,
            proposals_dir,
            propose_portfolio_root,
            propose_scenario_root,
            root_changes,
            write_root,
        )
        from releasegate.scenarios import load_contract

        if portfolio:
            ledger = Ledger.open(ledger_url)
            chain = portfolio_chain(ledger, allow_empty=True)
            if not chain:
                raise InputError("no portfolio root yet", field="--portfolio", fix="run `releasegate trust init`")
            md = propose_portfolio_root(ledger, list(root or []), threshold, keyring=Keyring.load(keyring),
                                        expires_days=expires_days, ledger_identities=ledger_identity or [])
            path = write_root(md, out_file or proposals_dir() / f"portfolio-v{md.signed.version}.json")
            out.print(f"portfolio root v{md.signed.version} proposed: {path}")
            for change in root_changes(chain[-1], md):
                out.print(f"  {change}")
            out.print(f"must sign: {chain[-1].threshold} of v{chain[-1].version}'s root keys "
                      f"({', '.join(chain[-1].root_identities)}) and {threshold} of the new ones")
            return
        if not scenario:
            raise InputError("name the scenario", field="--scenario", fix="--scenario ID, or --portfolio")
        loaded = load_contract(scenario)
        release_policy: object = True
        if no_policy:
            release_policy = None
        elif policy is not None:
            release_policy, _ = load_yaml_strict(policy, what="release policy")
            if not isinstance(release_policy, dict):
                raise InputError("a release policy is a YAML mapping", file=policy,
                                 fix="pass a YAML mapping: identity, expires, change_kinds, ...")
        ledger = Ledger.open(ledger_url)
        try:
            prev = current_scenario_root(ledger, loaded.scenario.id)
            md = propose_scenario_root(ledger, loaded, keyring=Keyring.load(keyring), expires_days=expires_days,
                                       release_policy=release_policy)  # type: ignore[arg-type]
        except Refused as exc:
            refused("cannot propose:", exc.reasons)
        v = md.signed.version
        path = write_root(md, out_file or proposals_dir() / f"{loaded.scenario.id}-v{v}.json")
        out.print(f"{loaded.scenario.id} root v{v} proposed: {path}")
        for change in root_changes(prev, md):
            out.print(f"  {change}")
        ext = md.signed.unrecognized_fields["x-releasegate"]
        new_signers = [i for r in ("product", "platform") for i in ext["owners"][r]["identities"]]
        if prev is None:
            out.print("must sign: the portfolio root's threshold, and the new owners " + ", ".join(new_signers))
        else:
            old = [i for r in ("product", "platform") for i in prev.owners[r].identities]
            out.print(f"must sign: v{prev.version}'s owners {', '.join(old)}"
                      + (f", and the new owners {', '.join(sorted(set(new_signers) - set(old)))}"
                         if set(new_signers) - set(old) else "") + " (a changed key signs with old and new)")

    @trust_app.command("sign")
    def sign_cmd(
        proposal: Annotated[Path, typer.Argument(help="A root proposal (.json)")],
        key: Annotated[Path, typer.Option("--key", help="Your private key .pem")],
    ) -> None:
        """Add your signature to a root proposal (the document itself does not change)."""
        from releasegate.releases import fingerprint, load_private_key
        from releasegate.releases._trust import read_root, sign_root, write_root

        md = read_root(proposal)
        private = load_private_key(key)
        sign_root(md, private)
        write_root(md, proposal)
        out.print(f"signed {proposal} with key {fingerprint(private.public_key())[:16]} "
                  f"({len(md.signatures)} signatures)")

    @trust_app.command("apply")
    def apply_cmd(proposal: Annotated[Path, typer.Argument(help="A signed root proposal (.json)")],
                  ledger_url: LedgerUrl = None) -> None:
        """Verify a signed root against the chain and record it in the ledger (exit 1 with every reason)."""
        from releasegate.releases import Ledger
        from releasegate.releases._trust import read_root

        _apply_or_refuse(Ledger.open(ledger_url), read_root(proposal))

    @trust_app.command("show")
    def show_cmd(
        scenario: Annotated[str | None, typer.Option("--scenario", help="Scenario id (default: the portfolio root)")] = None,
        as_json: Annotated[bool, typer.Option("--json")] = False,
        keyring: KeyringOpt = None, ledger_url: LedgerUrl = None,
    ) -> None:
        """The chain's history (who changed what, signed by whom) and where the working tree differs."""
        from releasegate.releases import Keyring, Ledger
        from releasegate.releases._trust import PIN_ENV, current_scenario_root, history
        from releasegate.releases._trust import working_tree_differences as diffs_of
        from releasegate.scenarios import load_contract

        ledger = Ledger.open(ledger_url)
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
            diffs = diffs_of(root, loaded, Keyring.load(keyring))
        if as_json:
            out.print(json.dumps({"scope": scenario or "portfolio", "versions": [
                {k: v for k, v in e.payload.items() if k != "metadata"} | {"ledger_seq": e.seq, "at": e.created_at,
                                                                          "actor": e.actor}
                for e in events], "working_tree_differences": diffs, "problems": problems}, sort_keys=True))
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
            for d in diffs:
                out.print(f"working tree differs (not in force until signed): {d}")
            if events and not scenario:
                import os
                pin = os.environ.get(PIN_ENV)
                out.print(f"{PIN_ENV}={pin}" if pin else f"{PIN_ENV} is not set: pin sha256:{events[0].payload['sha256']}")
        if problems:
            refused("the trust chain does not verify:", problems)
