"""`releasegate keys|approve|verify|ledger|sync|promote|rollback|audit|guard`: the release commands.

Thin: parse options, call `releases`, print. Exit codes: 0 ok, 1 blocked/refused/tampered,
2 bad input (raised as InputError and printed by `flows.cli.main`).
"""
from __future__ import annotations

import getpass
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from releasegate.core import InputError, Refused

from ._cli_common import RELEASES, err, out, refused, shown

if TYPE_CHECKING:
    from releasegate.releases import SigningAuthority

LedgerUrl = Annotated[str | None, typer.Option("--ledger-url", envvar="RELEASEGATE_LEDGER_URL",
                                               help="Ledger database URL (default sqlite under RELEASEGATE_HOME)")]
MlflowUri = Annotated[str | None, typer.Option("--mlflow-uri", envvar="RELEASEGATE_MLFLOW_URI",
                                               help="MLflow tracking URI (default sqlite under RELEASEGATE_HOME)")]
KeyringOpt = Annotated[Path | None, typer.Option("--keyring", help="Keyring file (default keyring.yaml at the project root)")]


def _actor() -> str:
    try:
        return os.environ.get("RELEASEGATE_ACTOR") or getpass.getuser()
    except Exception:
        return "unknown"


def _authority_said(auth: SigningAuthority) -> None:
    """Where the signers and criteria come from, and where the working tree differs from the
    scenario's signed root (it changes nothing)."""
    if auth.root is not None:
        err.print(f"signers and criteria from {auth.source} of {auth.scenario_id} (the ledger), not the working tree")
    for note in auth.notes:
        err.print(f"[yellow]note:[/] {shown(note)} (not in force: propose, sign and apply a new root version)")


def _checkpoint_said(result: object) -> None:
    """After an alias move: where its signed checkpoint went (nothing when no ledger key is set)."""
    from releasegate.releases import checkpoint_lines

    if result is not None and not getattr(result, "skipped", None):
        for line in checkpoint_lines(result):  # type: ignore[arg-type]
            err.print(line)


def register(app: typer.Typer) -> None:
    keys_app = typer.Typer(help="Signing keys (Ed25519) and the repository keyring.", no_args_is_help=True)
    ledger_app = typer.Typer(help="The hash-chained release ledger.", no_args_is_help=True)
    guard_app = typer.Typer(help="Listen for MLflow alias webhooks and audit at once.", no_args_is_help=True)
    app.add_typer(keys_app, name="keys", rich_help_panel=RELEASES)
    app.add_typer(ledger_app, name="ledger", rich_help_panel=RELEASES)
    app.add_typer(guard_app, name="guard", rich_help_panel=RELEASES)

    @keys_app.command("generate")
    def keys_generate(
        identity: Annotated[str, typer.Option("--identity", help="Owner identity from the contract")],
        keyring: KeyringOpt = None,
        force: Annotated[bool, typer.Option("--force", help="Replace an existing key (rotation)")] = False,
    ) -> None:
        """Write a private key to the keys folder (0600, outside the repo) and add its public key to the keyring."""
        from releasegate.releases import default_keyring_path, generate_key, private_key_path

        entry = generate_key(identity, keyring_path=keyring, overwrite=force)
        out.print(f"private key: {private_key_path(identity)} (mode 0600; never commit or share it)")
        out.print(f"keyring:     {keyring or default_keyring_path()} (commit this)")
        out.print(f"fingerprint: {entry.fingerprint}")
        out.print(entry.public_key_pem.rstrip())

    @app.command("approve", rich_help_panel=RELEASES)
    def approve_cmd(
        decision: Annotated[Path, typer.Argument(help="The decision .dsse.json")],
        role: Annotated[str, typer.Option("--role", help="product | platform (| escalation with an exception)")],
        key: Annotated[Path, typer.Option("--key", help="Your private key .pem (the CI policy key with --by-policy)")],
        by_policy: Annotated[bool, typer.Option("--by-policy", help="Sign as platform under the signed release "
                                                "policy: every condition is checked and recorded")] = False,
        keyring: KeyringOpt = None, ledger_url: LedgerUrl = None, mlflow_uri: MlflowUri = None,
    ) -> None:
        """Sign a release decision as the owner for ROLE named in the scenario's signed root (or contract)."""
        from releasegate.releases import approve_decision

        try:
            done = approve_decision(decision, role, key, by_policy=by_policy, keyring=keyring, ledger_url=ledger_url,
                                    mlflow_uri=mlflow_uri, on_authority=_authority_said)
        except Refused as exc:
            refused("policy approval refused:" if by_policy else "approval refused:", exc.reasons)
        ev = done.event
        if by_policy:
            for c in done.conditions:
                out.print(f"  {'pass' if c.passed else 'FAIL'}  {shown(c.name)}: {shown(c.detail)}")
            out.print(f"approved as platform by policy {ev.payload['policy_sha256'][:16]} "
                      f"({shown(ev.payload['identity'])}); ledger row {ev.seq}; {shown(decision)}")
            return
        out.print(f"approved as {role} by {shown(ev.payload['identity'])} ({ev.payload['fingerprint'][:16]}); "
                  f"ledger row {ev.seq}; {shown(decision)}")

    @app.command("verify", rich_help_panel=RELEASES)
    def verify_cmd(decision: Annotated[Path, typer.Argument(help="The decision .dsse.json")],
                   keyring: KeyringOpt = None) -> None:
        """Print each signature's identity, role and validity (exit 1 if one does not verify)."""
        from releasegate.releases import Keyring, read_decision, verify_decision

        checked = verify_decision(read_decision(decision), Keyring.load(keyring))
        status, by_policy = checked.status, checked.by_policy
        if checked.keys_source is not None:
            out.print(f"keys from {shown(checked.keys_source)} of {shown(checked.scenario_id)}")
        out.print(f"decision {status.decision_digest[:16]} scenario {shown(checked.scenario_id)} "
                  f"verdict {checked.verdict}")
        for s in status.signatures:
            mark = "valid" if s.valid else "INVALID"
            if by_policy and checked.policy_signed(s):
                out.print(f"  {shown(by_policy['identity'])}  role=platform  key={s.keyid[:16]}  valid: by the signed "
                          "release policy (its conditions are re-checked at promote)")
                continue
            out.print(f"  {shown(s.identity or '(unknown key)')}  role={shown(','.join(s.roles) or '-')}  "
                      f"key={s.keyid[:16]}  {mark}: {shown(s.reason)}")
        for role in status.missing_roles:
            out.print(f"  missing: {shown(role)} ({shown(status.required[role])})")
        for p in status.problems:
            out.print(f"  problem: {shown(p)}")
        out.print("fully approved" if status.fully_approved else "not fully approved")
        if checked.any_invalid:
            raise typer.Exit(1)

    @ledger_app.command("verify")
    def ledger_verify(
        checkpoint: Annotated[list[Path] | None, typer.Option(
            "--checkpoint", help="A saved checkpoint file to check against (repeatable), e.g. an auditor's copy")] = None,
        use_mlflow: Annotated[bool, typer.Option(
            "--mlflow/--no-mlflow", help="Also read checkpoints tagged on the scenarios' registered models")] = True,
        require_checkpoint: Annotated[bool, typer.Option(
            "--require-checkpoint", help="Fail when no signed checkpoint is found")] = False,
        keyring: KeyringOpt = None, ledger_url: LedgerUrl = None, mlflow_uri: MlflowUri = None,
    ) -> None:
        """Check the hash chain, actor signatures and every checkpoint found: exit 1 naming the first diverging row.

        Privileged rows must be signed by a key of their scenario's signed root version in force at that row (the keyring only for scenarios without a root, never once a portfolio root is pinned).

        Checkpoints must be signed by the ledger key of the pinned portfolio root, else RELEASEGATE_LEDGER_PUBKEY (PEM, path or sha256:fingerprint), else the keyring's, which a note calls out: anyone who can edit keyring.yaml could then sign checkpoints.
        """
        from releasegate.releases import Keyring, Ledger, verify_ledger

        keys = Keyring.load(keyring)
        result = verify_ledger(Ledger.open(ledger_url), keyring=keys, checkpoint_files=list(checkpoint or []),
                               mlflow_uri=mlflow_uri, use_mlflow=use_mlflow, require_checkpoint=require_checkpoint)
        for note in result.notes:
            err.print(f"note: {shown(note)}")
        if result.problems:
            refused("ledger tampered:", result.problems)
        out.print(f"ledger intact: {result.rows} rows, {len(result.checkpoints)} checkpoints"
                  + (f" (newest at row {result.checkpoints[-1].seq})" if result.checkpoints else ""))

    @ledger_app.command("checkpoint")
    def ledger_checkpoint(
        use_mlflow: Annotated[bool, typer.Option(
            "--mlflow/--no-mlflow", help="Also tag the scenarios' registered models with it")] = True,
        keyring: KeyringOpt = None, ledger_url: LedgerUrl = None, mlflow_uri: MlflowUri = None,
    ) -> None:
        """Sign the ledger's head with the ledger key and publish it (checkpoint folder, MLflow)."""
        from releasegate.releases import Keyring, Ledger, checkpoint_ledger

        result = checkpoint_ledger(Ledger.open(ledger_url), keyring=Keyring.load(keyring), mlflow_uri=mlflow_uri,
                                   mlflow=use_mlflow)
        if result.skipped:
            out.print(result.skipped)
        elif result.checkpoint is not None:
            cp = result.checkpoint
            out.print(f"checkpoint at row {cp.seq} (head {cp.head_hash[:16]}, digest {cp.digest[:16]})")
            for where in result.published:
                out.print(f"  published: {shown(where)}")
        for e in result.errors:
            err.print(f"  not published: {shown(e)}")
        if result.errors:
            raise typer.Exit(1)

    @ledger_app.command("show")
    def ledger_show(
        scenario: Annotated[str | None, typer.Option("--scenario")] = None,
        event_type: Annotated[str | None, typer.Option("--type", help="Only this event type")] = None,
        as_json: Annotated[bool, typer.Option("--json")] = False,
        ledger_url: LedgerUrl = None,
    ) -> None:
        """List ledger events, oldest first."""
        from releasegate.releases import Ledger

        events = Ledger.open(ledger_url).events(scenario_id=scenario, event_type=event_type)
        for e in events:
            if as_json:
                d = e.to_dict()
                d["payload"] = {k: v for k, v in d["payload"].items() if k != "envelope"}
                out.print(json.dumps(d, sort_keys=True), markup=False)
                continue
            brief = {k: v for k, v in e.payload.items()
                     if k in ("alias", "version", "from_version", "to_version", "role", "identity", "verdict",
                              "target", "reason", "candidate_entry", "actual_version", "expected_version")}
            out.print(f"{e.seq:>5} {e.created_at[:19]} {shown(e.scenario_id)} {e.event_type:<22} "
                      + " ".join(f"{k}={shown(v)}" for k, v in brief.items()))

    @app.command("sync", rich_help_panel=RELEASES)
    def sync_cmd(ledger_url: LedgerUrl = None, mlflow_uri: MlflowUri = None) -> None:
        """Push ledger events that MLflow missed (exit 1 if some still fail).

        A local MLflow SQLite store left half-migrated (e.g. by a full disk) is repaired first:
        MLflow's own migration, else moved aside and rebuilt from the ledger (said on stdout)."""
        from releasegate.releases import Ledger, sync

        notes: list[str] = []
        results = sync(Ledger.open(ledger_url), mlflow_uri=mlflow_uri, actor=_actor(), notes=notes)
        for note in notes:  # a half-migrated local MLflow store, repaired before the push
            out.print(f"repaired: {note}")
        for r in results:
            out.print(f"row {r['seq']} {r['event_type']}: " + ("pushed" if r["ok"] else f"failed: {r['error']}"))
        out.print(f"{sum(r['ok'] for r in results)} pushed, {sum(not r['ok'] for r in results)} failed")
        if any(not r["ok"] for r in results):
            raise typer.Exit(1)

    @app.command("promote", rich_help_panel=RELEASES)
    def promote_cmd(
        scenario: Annotated[str, typer.Option("--scenario")],
        decision: Annotated[Path, typer.Option("--decision", help="The signed decision .dsse.json")],
        alias: Annotated[str, typer.Option("--alias")] = "champion",
        version: Annotated[str | None, typer.Option("--version", help="Model version (default: the decision's)")] = None,
        replaces: Annotated[str | None, typer.Option(
            "--replaces", help="Digest (prefix) of the newer decision this older one deliberately replaces")] = None,
        keyring: KeyringOpt = None, ledger_url: LedgerUrl = None, mlflow_uri: MlflowUri = None,
    ) -> None:
        """Move ALIAS to the decision's model version: only with PASS and both owners' signatures."""
        from releasegate.releases import Keyring, Ledger, promote, read_decision, scenario_authority

        envelope = read_decision(decision)
        auth = scenario_authority(scenario, Ledger.open(ledger_url), Keyring.load(keyring))
        if auth is not None:
            _authority_said(auth)
        result = promote(scenario, envelope, alias=alias, version=version, ledger=Ledger.open(ledger_url),
                         keyring=Keyring.load(keyring), mlflow_uri=mlflow_uri, actor=_actor(), replaces=replaces)
        for line in result.recovered:
            out.print(line)
        if result.reasons:
            refused(f"promotion of {scenario} blocked ({len(result.reasons)} reasons):", result.reasons)
        if result.note:
            out.print(result.note)
            return
        out.print(f"promoted {scenario}: {alias} -> version {result.version}"
                  + (f" (previous: {result.from_version})" if result.from_version else "")
                  + f"; ledger row {result.event.seq if result.event else '-'}")
        _checkpoint_said(result.checkpoint)
        from releasegate.flows._cli_gateway import follow_endpoint

        follow_endpoint(scenario, ledger_url=ledger_url, mlflow_uri=mlflow_uri)

    @app.command("rollback", rich_help_panel=RELEASES)
    def rollback_cmd(
        scenario: Annotated[str, typer.Option("--scenario")],
        reason: Annotated[str, typer.Option("--reason")],
        to: Annotated[str | None, typer.Option("--to", help="Version to restore (default: last approved)")] = None,
        target: Annotated[str, typer.Option("--target", help="model | prompt | tool_policy")] = "model",
        alias: Annotated[str, typer.Option("--alias")] = "champion",
        incident: Annotated[str | None, typer.Option("--incident", help="Link the rollback to this open incident")] = None,
        ledger_url: LedgerUrl = None, mlflow_uri: MlflowUri = None,
    ) -> None:
        """Move back to the last approved version (model, prompt alias or tool policy) and record it."""
        from releasegate.releases import Ledger, rollback, rollback_for_incident

        try:
            if incident:  # the incident is checked (open, same scenario) before anything moves
                result, _ = rollback_for_incident(incident, scenario, reason=reason, to=to, target=target, alias=alias,
                                                  ledger=Ledger.open(ledger_url), mlflow_uri=mlflow_uri, actor=_actor())
            else:
                result = rollback(scenario, reason=reason, to=to, target=target, alias=alias,
                                  ledger=Ledger.open(ledger_url), mlflow_uri=mlflow_uri, actor=_actor())
        except Refused as exc:
            refused("rollback refused:", exc.reasons)
        out.print(f"rolled back {result.target} of {scenario}: {result.from_version} -> {result.to_version}; "
                  f"ledger row {result.event.seq}" + (f"; linked to {incident}" if incident else ""))
        for note in result.notes:
            out.print(f"next: {note}")
        _checkpoint_said(result.checkpoint)
        if result.target == "model":
            from releasegate.flows._cli_gateway import follow_endpoint

            follow_endpoint(scenario, ledger_url=ledger_url, mlflow_uri=mlflow_uri)

    @app.command("audit", rich_help_panel=RELEASES)
    def audit_cmd(
        scenario: Annotated[list[str] | None, typer.Option("--scenario")] = None,
        repair: Annotated[bool, typer.Option("--repair", help="Move drifted aliases back")] = False,
        keyring: KeyringOpt = None, ledger_url: LedgerUrl = None, mlflow_uri: MlflowUri = None,
    ) -> None:
        """Check every alias against the ledger's promoted, fully approved versions."""
        from releasegate.releases import Keyring, Ledger, audit

        report = audit(scenario or None, repair=repair, ledger=Ledger.open(ledger_url),
                       keyring=Keyring.load(keyring), mlflow_uri=mlflow_uri, actor=_actor())
        for sid, lines in report.recovered.items():
            for line in lines:
                out.print(f"RECOVERED {shown(sid)}: {shown(line)}")
        for sid, aliases in report.checked.items():
            out.print(f"{shown(sid)}: " + (shown(", ".join(f"{a}={v}" for a, v in sorted(aliases.items())))
                                           or "no aliases"))
        for f in report.findings:
            out.print(f"DRIFT {shown(f.scenario_id)} {shown(f.alias)}: " + shown("; ".join(f.reasons))
                      + (f" -> repaired to {shown(f.expected_version or 'no alias')}" if f.repaired else ""))
        for sid, problems in report.trust_problems.items():
            for p in problems:
                out.print(f"TRUST {shown(sid)}: {shown(p)}")
        for sid, notes in report.trust_notes.items():
            for n in notes:
                out.print(f"trust {shown(sid)}: {shown(n)}")
        if not report.findings:
            out.print("all aliases match the ledger")
        from releasegate.flows._cli_gateway import audit_endpoint_lines

        lines, endpoints_clean = audit_endpoint_lines(scenario, repair=repair, ledger_url=ledger_url,
                                                      mlflow_uri=mlflow_uri)
        for line in lines:
            out.print(shown(line))
        _checkpoint_said(report.checkpoint)
        raise typer.Exit(report.exit_code or (0 if endpoints_clean else 1))

    @guard_app.command("serve")
    def guard_serve(
        port: Annotated[int, typer.Option("--port")] = 8787,
        host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
        secret_env: Annotated[str, typer.Option("--secret-env", help="Env var holding the webhook secret")] = "RELEASEGATE_WEBHOOK_SECRET",
        repair: Annotated[bool, typer.Option("--repair/--no-repair")] = True,
        ledger_url: LedgerUrl = None, mlflow_uri: MlflowUri = None,
    ) -> None:
        """Receive MLflow's model_version_alias.created webhook (HMAC-verified) and audit at once."""
        from releasegate.releases import serve_guard

        secret = os.environ.get(secret_env)
        if not secret:
            raise InputError(f"environment variable {secret_env} is not set", field="--secret-env",
                             fix="export the secret you gave `MlflowClient().create_webhook(..., secret=...)`")
        server = serve_guard(secret, host=host, port=port, repair=repair, ledger_url=ledger_url,
                             mlflow_uri=mlflow_uri, log=lambda m: err.print(shown(m)))
        err.print(f"guard listening on http://{host}:{port}/ (model_version_alias.created)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            server.server_close()
