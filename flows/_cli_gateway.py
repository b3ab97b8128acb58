"""`releasegate gateway up|switch|show|audit` and verified `serve --alias` (library: gateway/).

Promote, rollback and audit call `follow_endpoint` / `audit_endpoint_lines` after their own work:
releases never imports gateway (import order), flows composes both.
"""
from __future__ import annotations

import json
import signal
from typing import Annotated

import typer

from releasegate.core import Refused
from releasegate.flows._cli_common import GATEWAY, err, out, refused
from releasegate.flows._cli_releases import LedgerUrl, MlflowUri, _actor


def follow_endpoint(scenario: str, *, ledger_url: str | None, mlflow_uri: str | None) -> None:
    """After an alias move: move the scenario's endpoint too, when releasegate manages one."""
    from releasegate.gateway import follow_release
    from releasegate.releases import Ledger

    try:
        result = follow_release(scenario, ledger=Ledger.open(ledger_url), mlflow_uri=mlflow_uri, actor=_actor())
    except Refused as exc:
        err.print(f"gateway endpoint unchanged: {exc}")
        return
    except Exception as exc:  # the alias moved and the ledger says where the endpoint must go
        err.print(f"gateway endpoint not updated ({type(exc).__name__}: {exc}); "
                  "`releasegate audit --repair` restores it from the ledger")
        return
    if result is not None and result.changed:
        e = result.endpoint
        out.print(f"gateway endpoint {e.name}: primary " + ", ".join(m.api_base for m in e.primaries)
                  + (f"; fallback " + ", ".join(m.api_base for m in e.fallbacks) if e.fallbacks else ""))


def audit_endpoint_lines(scenarios: list[str] | None, *, repair: bool, ledger_url: str | None,
                         mlflow_uri: str | None) -> tuple[list[str], bool]:
    """(lines to print, clean) for every scenario endpoint releasegate set."""
    from releasegate.gateway import audit_endpoints
    from releasegate.releases import Ledger

    findings = audit_endpoints(scenarios or None, repair=repair, ledger=Ledger.open(ledger_url),
                               mlflow_uri=mlflow_uri, actor=_actor())
    lines = [f"ENDPOINT DRIFT {f.scenario_id}: " + "; ".join(f.reasons)
             + (" -> repaired from the ledger" if f.repaired else "") for f in findings]
    return lines, all(f.repaired for f in findings)


def _stop_on_sigterm() -> None:
    """SIGTERM stops a foreground server as Ctrl-C does (a script's background job ignores SIGINT):
    the replica's end is recorded and its vLLM / MLflow child stopped, never orphaned."""
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def serve_alias(scenario: str | None, alias: str, *, port: int | None, host: str, startup_timeout: float) -> None:
    """`serve --scenario S --alias A`: refuse with every reason, or serve the verified weights."""
    from releasegate.core import InputError
    from releasegate.gateway import start_verified_replica, stop_verified_replica
    from releasegate.gpu import ServingError

    if not scenario:
        raise InputError("--alias needs --scenario", field="--scenario", fix="pass the scenario id")
    try:
        replica = start_verified_replica(scenario, alias, port=port, host=host, startup_timeout_s=startup_timeout,
                                         actor=_actor(), echo=lambda m: out.print(m))
    except Refused as exc:
        refused(f"refusing to serve {scenario}@{alias}:", exc.reasons)
    except ServingError as exc:
        err.print(f"serving error: {exc}")
        raise typer.Exit(1) from None
    out.print(f"serving {replica.release.model} (version {replica.release.version}) at {replica.api_base}; "
              f"{replica.endpoint_note}; Ctrl-C to stop")
    reason = "stopped"
    _stop_on_sigterm()
    try:
        code = replica.server.wait()
        reason = f"vLLM exited with code {code}"
        err.print(f"{reason}; log tail:\n{replica.server.log_tail()}")
    except KeyboardInterrupt:
        out.print("stopping")
    finally:
        out.print(stop_verified_replica(replica, reason=reason, actor=_actor()))


def register(app: typer.Typer) -> None:
    gw = typer.Typer(help="The scenario endpoints on MLflow's AI Gateway.", no_args_is_help=True)
    app.add_typer(gw, name="gateway", rich_help_panel=GATEWAY)

    @gw.command("up")
    def gateway_up(
        port: Annotated[int, typer.Option(help="Port of the MLflow server (UI + gateway)")] = 5000,
        host: Annotated[str, typer.Option(help="Interface")] = "127.0.0.1",
        cache_ttl: Annotated[int, typer.Option("--cache-ttl", help="Seconds a changed endpoint may keep its old config (10-300)")] = 10,
        workers: Annotated[int, typer.Option(
            "--workers", help="Gateway processes, 1-64 (`mlflow server --workers`), one core each at most. Size them "
            "to the traffic: with usage tracking on and the MLflow fixes, one process carried 40 tracked requests/s "
            "on a core (21-32 ms of CPU each; as released 20-33/s at 36-61 ms; docs/GATEWAY.md): plan about 30 per process")] = 1,
        mlflow_fixes: Annotated[bool, typer.Option(
            "--mlflow-fixes/--mlflow-as-released",
            help="Run MLflow with releasegate's three request-path fixes (usage traces written once, by a sink process "
            "per worker at idle priority, three per-request costs kept; gateway/_mlflow_fixes.py), each applied only "
            "on the MLflow code it was written for, "
            "or MLflow exactly as released")] = True,
        mlflow_uri: MlflowUri = None,
    ) -> None:
        """Run MLflow's tracking server with its AI Gateway on releasegate's store (foreground; Ctrl-C or
        SIGTERM stops it)."""
        from releasegate.gateway import MLFLOW_FIXES, GatewayServer

        server = GatewayServer(mlflow_uri=mlflow_uri, port=port, host=host, cache_ttl_s=cache_ttl, workers=workers,
                               mlflow_fixes=MLFLOW_FIXES if mlflow_fixes else ())
        _stop_on_sigterm()
        try:
            url = server.start()
            out.print(f"MLflow with AI Gateway at {url} (UI: {url}/#/gateway); scenario endpoints: "
                      f"POST {url}/gateway/mlflow/v1/chat/completions with model=<scenario id>; Ctrl-C to stop")
            out.print(server.fixes_line())
            server.wait()
        except KeyboardInterrupt:
            out.print("stopping")
        finally:
            server.stop()

    @gw.command("policy")
    def gateway_policy(
        gateway: Annotated[str, typer.Option("--gateway", help="URL of the MLflow server with the AI Gateway")],
        port: Annotated[int, typer.Option(help="Port of the policy layer")] = 8788,
        host: Annotated[str, typer.Option(help="Interface")] = "127.0.0.1",
        ledger_url: LedgerUrl = None,
    ) -> None:
        """Context budget and tool policy in front of the endpoints: refuse + record, else forward."""
        import uvicorn

        from releasegate.gateway import policy_app

        out.print(f"policy layer at http://{host}:{port}/v1/chat/completions -> {gateway}; Ctrl-C to stop")
        uvicorn.run(policy_app(gateway, ledger_url=ledger_url, actor=_actor()), host=host, port=port,
                    log_level="warning")

    secret_app = typer.Typer(help="Provider keys as MLflow AI Gateway secrets (platform only).", no_args_is_help=True)
    gw.add_typer(secret_app, name="secret")

    @secret_app.command("set")
    def secret_set(
        name: Annotated[str, typer.Option("--name", help="The secret name a contract entry's gateway_secret names")],
        api_base: Annotated[str, typer.Option("--api-base", help="The provider's OpenAI-compatible base URL")],
        mlflow_uri: MlflowUri = None,
    ) -> None:
        """Store a hosted provider's key (read from stdin, never an argument) as a gateway secret."""
        import sys

        from releasegate.core import InputError
        from releasegate.gateway import set_provider_secret

        key = sys.stdin.readline().strip()
        if not key:
            raise InputError("no key on stdin", field="stdin", fix="pipe the key in: `... secret set ... < keyfile`")
        set_provider_secret(name, key, api_base=api_base, mlflow_uri=mlflow_uri)
        out.print(f"gateway secret {name} set (MLflow shows it masked)")

    @gw.command("switch")
    def gateway_switch(
        scenario: Annotated[str, typer.Option("--scenario")],
        ledger_url: LedgerUrl = None, mlflow_uri: MlflowUri = None,
    ) -> None:
        """Create or move the scenario's endpoint to the champion's verified replicas (ledger first)."""
        from releasegate.gateway import switch_endpoint
        from releasegate.releases import Ledger

        try:
            result = switch_endpoint(scenario, ledger=Ledger.open(ledger_url), mlflow_uri=mlflow_uri,
                                     reason="gateway switch", actor=_actor())
        except Refused as exc:
            refused(f"endpoint of {scenario} not set:", exc.reasons)
        out.print(json.dumps(result.endpoint.to_dict(), indent=2))
        out.print("changed" if result.changed else "already as the ledger says")

    @gw.command("usage")
    def gateway_usage_cmd(
        scenario: Annotated[str, typer.Option("--scenario")],
        mlflow_uri: MlflowUri = None, ledger_url: LedgerUrl = None,
    ) -> None:
        """Production requests, tokens, latency (p95 vs the SLO) and cost from the endpoint's traces, and the
        spend in the contract's cost-budget window (`budget`, null without a cost_budget)."""
        from releasegate.gateway import budget_status, gateway_usage
        from releasegate.releases import Ledger

        ledger = Ledger.open(ledger_url)
        budget = budget_status(scenario, mlflow_uri=mlflow_uri, ledger=ledger)
        print(json.dumps({**gateway_usage(scenario, mlflow_uri=mlflow_uri, ledger=ledger).to_dict(),
                          "budget": budget.to_dict() if budget else None}, indent=2))

    @gw.command("show")
    def gateway_show(
        scenario: Annotated[str, typer.Option("--scenario")],
        ledger_url: LedgerUrl = None, mlflow_uri: MlflowUri = None,
    ) -> None:
        """The endpoint as the ledger says it is, and as MLflow has it; the live replicas; the champion
        replicas' prefix-cache hit rate against the contract's cache strategy."""
        from releasegate.gateway import expected_endpoint, live_replicas, prefix_cache, read_endpoint
        from releasegate.releases import Ledger

        ledger = Ledger.open(ledger_url)
        want, have = expected_endpoint(ledger, scenario), read_endpoint(scenario, mlflow_uri=mlflow_uri)
        print(json.dumps({"ledger": want.to_dict() if want else None, "mlflow": have.to_dict() if have else None,
                          "replicas": live_replicas(ledger, scenario),
                          "prefix_cache": prefix_cache(scenario, ledger=ledger)}, indent=2))
