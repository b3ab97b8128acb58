"""gateway stage: serve what was released.

Verify before serve (`verify_servable`: the ledger's alias, its signed decision, the weights by a
model_signing manifest) and, on MLflow's AI Gateway, one endpoint per scenario whose linked models
are the verified serving replicas of the current release. Imports scenarios, gpu and releases;
reports and flows may import it, releases never does (flows call both).
"""
from ._verify import (
    REVOCATION_EVENTS,
    ServableRelease,
    ServeRefused,
    decision_reasons,
    manifest_weight_digest,
    verify_servable,
    weight_reasons,
    weights_manifest,
)

__all__ = [
    "REVOCATION_EVENTS",
    "ServableRelease",
    "ServeRefused",
    "decision_reasons",
    "manifest_weight_digest",
    "verify_servable",
    "weight_reasons",
    "weights_manifest",
]
