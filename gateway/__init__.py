"""gateway stage: serve what was released.

Verify before serve (`verify_servable`: the ledger's alias, its signed decision, the weights by a
model_signing manifest) and, on MLflow's AI Gateway, one endpoint per scenario whose linked models
are the verified serving replicas of the current release. Imports scenarios, gpu and releases;
reports and flows may import it, releases never does (flows call both).
"""
from ._verify import (
    ServableRelease,
    decision_reasons,
    manifest_weight_digest,
    verify_servable,
    weights_manifest,
)

__all__ = [
    "ServableRelease",
    "decision_reasons",
    "manifest_weight_digest",
    "verify_servable",
    "weights_manifest",
]

from ._endpoint import (
    EndpointFinding,
    EndpointSpec,
    LinkedModel,
    SwitchResult,
    apply_endpoint,
    audit_endpoints,
    desired_endpoint,
    expected_endpoint,
    follow_release,
    live_replicas,
    open_provider_key_exceptions,
    provider_key_findings,
    read_endpoint,
    record_replica,
    record_replica_stopped,
    set_provider_secret,
    switch_endpoint,
)
from ._mlflow_fixes import FIXES as MLFLOW_FIXES
from ._server import GATEWAY_SETTINGS, GatewayServer, chat_url

__all__ += [
    "EndpointFinding", "EndpointSpec", "GATEWAY_SETTINGS", "GatewayServer", "MLFLOW_FIXES", "LinkedModel", "SwitchResult",
    "apply_endpoint", "audit_endpoints", "chat_url", "desired_endpoint", "expected_endpoint",
    "follow_release", "live_replicas", "open_provider_key_exceptions", "provider_key_findings", "read_endpoint", "record_replica",
    "record_replica_stopped", "set_provider_secret", "switch_endpoint",
]
from ._serve import VerifiedReplica, start_verified_replica, stop_verified_replica

__all__ += ["VerifiedReplica", "start_verified_replica", "stop_verified_replica"]
from ._policy import ContractCache, budget_reasons, check_request, policy_app

__all__ += ["ContractCache", "budget_reasons", "check_request", "policy_app"]
from ._usage import (
    BudgetStatus,
    GatewayUsage,
    budget_status,
    gateway_usage,
    portfolio_usage,
    prefix_cache,
    production_regressions,
)

__all__ += ["BudgetStatus", "GatewayUsage", "budget_status", "gateway_usage", "portfolio_usage",
            "prefix_cache", "production_regressions"]
