"""Release decisions: signed two-key approvals, ledger, MLflow registry, promotion, rollback, audit.

The public face of the releases stage. Later stages (reports, flows) import from here only.
"""
from ._attestation import attest_records, check_runner_trusted, evidence_inputs, records_evidence, runner_signer
from ._audit import (
    AliasFinding,
    AuditReport,
    audit,
    handle_webhook,
    serve_guard,
    sign_webhook,
    verify_webhook,
)
from ._decision import (
    PREDICATE_TYPE,
    STATEMENT_TYPE,
    ApprovalStatus,
    SignatureCheck,
    approval_status,
    approve,
    build_decision,
    decision_digest,
    decision_id,
    read_decision,
    statement_of,
    subject_digest,
    verdict_gate_reasons,
    write_decision,
)
from ._dsse import PAYLOAD_TYPE, check_signatures
from ._events import EVENTS, EventPayload, append_event, event_types, parse_payload
from ._predicate import DecisionPredicate, predicate_json_schema
from ._keys import Keyring, PublicKeyEntry, default_keyring_path, fingerprint, generate_key, load_private_key
from ._ledger import EVENT_TYPES, Ledger, LedgerEvent
from ._registry import mlflow_uri, registered_model_name
from ._promotion import PromotionResult, RollbackResult, promote, promotion_reasons, rollback
from ._recording import expected_aliases, record_approval, record_evaluation, sync

__all__ = [
    "EVENTS", "EVENT_TYPES", "PAYLOAD_TYPE", "PREDICATE_TYPE", "STATEMENT_TYPE",
    "attest_records", "check_runner_trusted", "evidence_inputs", "records_evidence", "runner_signer",
    "AliasFinding", "DecisionPredicate", "predicate_json_schema", "EventPayload", "append_event", "event_types", "parse_payload", "ApprovalStatus", "AuditReport", "Keyring",
    "Ledger", "LedgerEvent", "PromotionResult", "PublicKeyEntry", "RollbackResult", "SignatureCheck",
    "approval_status", "approve", "audit", "build_decision", "check_signatures", "decision_digest",
    "decision_id", "default_keyring_path",
    "expected_aliases", "fingerprint", "generate_key", "handle_webhook", "load_private_key",
    "mlflow_uri", "promote", "promotion_reasons", "read_decision", "record_approval",
    "record_evaluation", "registered_model_name", "rollback", "serve_guard",
    "sign_webhook", "statement_of", "subject_digest", "sync",
    "verdict_gate_reasons", "verify_webhook", "write_decision",
]

# The operating model (issue 8): exceptions register (`_exceptions`, with the one rule for a
# usable exception, `exception_status`), incidents, governance.
from ._governance import governance_metrics
from ._incidents import (
    IncidentRecord,
    champion_entry,
    close_incident,
    link_action,
    list_incidents,
    open_incident,
    open_regression_alert,
    rollback_for_incident,
)
from ._exceptions import (
    REVIEW_INTERVAL_DAYS,
    ExceptionRecord,
    ExceptionStatus,
    cite_exception,
    close_exception,
    exception_status,
    exceptions_check,
    gate_checks,
    list_exceptions,
    open_exception,
    record_cited_decision,
    review_exception,
)

__all__ += [
    "REVIEW_INTERVAL_DAYS", "ExceptionRecord", "ExceptionStatus", "IncidentRecord",
    "champion_entry", "cite_exception", "close_exception", "close_incident", "exception_status", "exceptions_check",
    "gate_checks", "governance_metrics", "link_action", "list_exceptions", "list_incidents",
    "open_exception", "open_incident", "open_regression_alert", "record_cited_decision",
    "review_exception", "rollback_for_incident",
]

# Trust roots (issue 14): the signed chain decides who may sign a scenario, never the working tree.
# Other stages: `root = current_scenario_root(ledger, scenario_id)` (None without a root;
# Refused when the chain does not verify), `root.keys_for(role)`, `root.owner(role)`,
# `root.identity_of(keyid)`; `current_portfolio_root(ledger).ledger_keys()` for checkpoints;
# `root_required_reasons(ledger, scenario_id)`: the refusal for an un-rooted scenario when the
# portfolio root is pinned (or RELEASEGATE_REQUIRE_TRUST_ROOT=1), [] otherwise.
from ._policy import Condition, evaluate_policy
from ._trust import (
    PIN_ENV,
    PortfolioRoot,
    ScenarioRoot,
    apply_root,
    criteria_sha256,
    current_portfolio_root,
    current_scenario_root,
    root_for_check,
    root_required_reasons,
    working_tree_differences,
)
from ._trust_checks import (
    SigningAuthority,
    approve_decision,
    scenario_authority,
    verify_decision,
    record_policy_approval,
    release_signature_reasons,
    signed_root_or_none,
    signing_authority,
    trust_audit,
    verdict_trust_root,
)

from ._trust_ops import (
    RootProposal,
    apply_proposal,
    init_portfolio_root,
    propose_portfolio_version,
    propose_scenario_version,
    sign_proposal,
    trust_history,
)
from ._checkpoints import checkpoint_ledger, checkpoint_lines, verify_ledger
from ._keys import private_key_path

__all__ += [
    "RootProposal", "apply_proposal", "init_portfolio_root", "propose_portfolio_version", "propose_scenario_version",
    "sign_proposal", "trust_history", "checkpoint_ledger", "checkpoint_lines", "verify_ledger", "private_key_path",
    "verify_decision", "approve_decision", "scenario_authority",
    "SigningAuthority", "record_policy_approval", "release_signature_reasons", "signed_root_or_none", "signing_authority", "trust_audit",
    "verdict_trust_root",
    "PIN_ENV", "Condition", "PortfolioRoot", "ScenarioRoot", "apply_root",
    "criteria_sha256", "current_portfolio_root", "current_scenario_root", "evaluate_policy",
    "root_for_check", "root_required_reasons", "working_tree_differences",
]

# The gateway stage's ledger events (registered in _events.py; written by releasegate.gateway).
from ._events import (
    GatewayBudgetExceeded,
    GatewayDriftDetected,
    GatewayEndpointSet,
    GatewayRepaired,
    GatewayRequestRefused,
    ServingStarted,
    ServingStopped,
)

__all__ += ["GatewayBudgetExceeded", "GatewayDriftDetected", "GatewayEndpointSet", "GatewayRepaired", "GatewayRequestRefused",
            "ServingStarted", "ServingStopped"]
