"""`serve --scenario S --alias A`: verify, start vLLM on exactly the verified folder, check again,
register the replica in the ledger and point the scenario's endpoint at it when releasegate
manages one. Stopping records the replica's end (the endpoint falls back or moves on)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from releasegate.core import Refused
from releasegate.releases import Ledger

from ._endpoint import follow_release, record_replica, record_replica_stopped
from ._verify import ServableRelease, verify_servable, weight_reasons


@dataclass
class VerifiedReplica:
    release: ServableRelease
    server: Any  # gpu.VllmServer
    api_base: str
    endpoint_note: str


def start_verified_replica(scenario: str, alias: str = "champion", *, port: int | None = None,
                           host: str = "127.0.0.1", startup_timeout_s: float = 600.0,
                           ledger: Ledger | None = None, mlflow_uri: str | None = None,
                           actor: str | None = None, echo: Callable[[str], None] = print) -> VerifiedReplica:
    """Everything before traffic: Refused when any check fails (vLLM never starts then)."""
    from releasegate.gpu import ServerSpec, VllmServer
    from releasegate.scenarios import load_contract

    ledger = ledger or Ledger.open()
    release = verify_servable(scenario, alias, ledger=ledger, mlflow_uri=mlflow_uri)
    echo(f"verified {release.scenario_id}@{alias}: version {release.version}, decision "
         f"{release.decision_digest[:12]}, weights {release.weight_digest[:12]} ({len(release.manifest)} files)")
    loaded = load_contract(scenario)
    spec = ServerSpec.from_entry(loaded.scenario.models[release.entry])
    if spec.model.path != release.weights_path:  # what vLLM loads must be what was hashed
        raise Refused([f"vLLM would load {spec.model.path}, the verified weights are {release.weights_path}"], code="serve")
    server = VllmServer(spec, port=port, host=host, startup_timeout_s=startup_timeout_s, state_file=True)
    endpoint = server.start()
    # The files could change between the check and vLLM reading them: check again once loaded.
    problems, _ = weight_reasons(release.weights_path, release.weight_digest)
    if problems:
        server.stop()
        raise Refused(problems + ["the weights changed while vLLM loaded them: server stopped"], code="serve")
    record_replica(ledger, release, api_base=endpoint.base_url, served_model=endpoint.model, actor=actor)
    try:
        switched = follow_release(release.scenario_id, ledger=ledger, mlflow_uri=mlflow_uri,
                                  reason=f"replica {endpoint.base_url} of version {release.version}", actor=actor)
        note = ("no gateway endpoint yet: `releasegate gateway switch --scenario "
                f"{release.scenario_id}` creates it" if switched is None else
                f"endpoint {switched.endpoint.name}: {len(switched.endpoint.primaries)} primary, "
                f"{len(switched.endpoint.fallbacks)} fallback")
    except Refused as exc:
        note = f"endpoint unchanged: {exc}"
    return VerifiedReplica(release, server, endpoint.base_url, note)


def stop_verified_replica(replica: VerifiedReplica, *, reason: str, ledger: Ledger | None = None,
                          mlflow_uri: str | None = None, actor: str | None = None) -> str:
    """Record the end first (the endpoint moves off it), then stop the server."""
    ledger = ledger or Ledger.open()
    record_replica_stopped(ledger, replica.release.scenario_id, replica.api_base, reason=reason, actor=actor)
    try:
        follow_release(replica.release.scenario_id, ledger=ledger, mlflow_uri=mlflow_uri,
                       reason=f"replica {replica.api_base} stopped", actor=actor)
        note = "endpoint updated"
    except Refused as exc:
        note = f"endpoint unchanged (its fallback answers): {exc}"
    replica.server.stop()
    return note
