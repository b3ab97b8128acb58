"""A decision releases exactly what it names: the checks promote adds to the signatures.

The signed predicate names the scenario, the candidate entry, the weights, the prompt version,
the aliases it may move and (through `created_at` plus the release policy's duration) when it
expires. A model version is only the decision's when every tag releasegate wrote on it still
says so AND it is the version releasegate registered for it (the ledger's sync record), its run
is the evaluation's run, and its prompt URI points at the prompt registry version holding the
contract template the evaluation recorded. A decision whose release was rolled back is revoked
(ledger `decision_revoked`): promoting it again needs a fresh evaluation and fresh approvals.
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from ._decision import decision_digest, statement_of

if TYPE_CHECKING:
    from ._ledger import Ledger, LedgerEvent

DEFAULT_ALIASES = ("champion",)  # a decision that names no aliases may move only the champion
DEFAULT_VALID_DAYS = 30
REVOKED_EVENT = "decision_revoked"


def _when(value: Any) -> dt.datetime | None:
    try:
        when = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


def decision_aliases(pred: dict[str, Any]) -> list[str]:
    aliases = pred.get("aliases")
    return [str(a) for a in aliases] if isinstance(aliases, list) and aliases else list(DEFAULT_ALIASES)


def decision_expiry(pred: dict[str, Any], valid_days: int | None = None) -> dt.datetime | None:
    """`expires_at` when the decision names it, else created_at + the policy's duration."""
    if pred.get("expires_at"):
        return _when(pred["expires_at"])
    created = _when(pred.get("created_at"))
    return created + dt.timedelta(days=valid_days or DEFAULT_VALID_DAYS) if created else None


def revocations(ledger: Ledger, scenario_id: str, digest: str, conn: Any = None) -> list[LedgerEvent]:
    return [e for e in ledger.events(scenario_id=scenario_id, event_type=REVOKED_EVENT, conn=conn)
            if digest in (e.subject, e.payload.get("decision_digest"))]


def _prompt_template(spec: dict[str, Any]) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": spec["system"]}] if spec.get("system") else []
    return [*messages, {"role": "user", "content": spec["user"]}]


def binding_reasons(envelope: dict[str, Any], mv: Any, *, alias: str, ledger: Ledger, c: Any,
                    evaluated: LedgerEvent | None, valid_days: int | None = None,
                    now: dt.datetime | None = None, conn: Any = None) -> list[str]:
    """Every reason `mv` is not exactly what this decision releases to `alias` ([] = it is)."""
    from mlflow.exceptions import MlflowException

    statement = statement_of(envelope)
    pred = statement["predicate"]
    digest = decision_digest(envelope)
    reasons: list[str] = []
    allowed = decision_aliases(pred)
    if alias not in allowed:
        reasons.append(f"the decision may move {', '.join(allowed)}, not {alias}")
    expiry = decision_expiry(pred, valid_days)
    if expiry is None:
        reasons.append("the decision has no readable created_at/expires_at")
    elif expiry <= (now or dt.datetime.now(dt.timezone.utc)):
        reasons.append(f"decision {digest[:12]} expired at {expiry.isoformat()}: evaluate again")
    for ev in revocations(ledger, pred["scenario_id"], digest, conn):
        reasons.append(f"decision {digest[:12]} was revoked (ledger row {ev.seq}: "
                       f"{ev.payload.get('reason') or 'rolled back'}): evaluate again and collect fresh approvals")
    if mv is None:
        return reasons
    tags = mv.tags or {}
    expected = {"scenario_id": pred["scenario_id"], "candidate_entry": pred["candidate"]["entry"],
                "prompt_version": pred["prompt_family"]["version"]}
    for tag, want in expected.items():
        if tags.get(tag) != want:
            reasons.append(f"model version {mv.version}'s {tag} tag is {tags.get(tag)!r}, the decision says {want!r}")
    synced = ledger.synced().get(evaluated.seq) if evaluated is not None else None
    if synced and synced.get("model_version") and str(synced["model_version"]) != str(mv.version):
        reasons.append(f"model version {mv.version} is not the one releasegate registered for decision "
                       f"{digest[:12]} (version {synced['model_version']})")
    try:
        run = c.get_run(mv.run_id) if mv.run_id else None
    except MlflowException:
        run = None
    if run is None or run.data.tags.get("decision_digest") != digest:
        reasons.append(f"model version {mv.version}'s source run {mv.run_id or '-'} is not the evaluation "
                       f"run of decision {digest[:12]}")
    if synced and synced.get("run_id") and mv.run_id != synced["run_id"]:
        reasons.append(f"model version {mv.version} comes from run {mv.run_id}, the evaluation's run is "
                       f"{synced['run_id']}")
    uri = tags.get("prompt_uri")
    family = (evaluated.payload.get("prompt_family") if evaluated is not None else None) or {}
    spec = (family.get("versions") or {}).get(pred["prompt_family"]["version"])
    if uri:
        try:
            _, pname, pversion = uri.rsplit("/", 2)
            pv = c.get_prompt_version(pname.split(":/")[-1], int(pversion))
        except (ValueError, MlflowException):
            pv = None
        if pv is None or pv.name != pred["prompt_family"]["name"]:
            reasons.append(f"model version {mv.version}'s prompt {uri} is not a version of "
                           f"{pred['prompt_family']['name']}")
        elif (pv.tags or {}).get("releasegate.prompt_version") != pred["prompt_family"]["version"]:
            reasons.append(f"model version {mv.version}'s prompt {uri} is contract version "
                           f"{(pv.tags or {}).get('releasegate.prompt_version')!r}, the decision says "
                           f"{pred['prompt_family']['version']!r}")
        elif spec is not None and pv.template != _prompt_template(spec):
            reasons.append(f"model version {mv.version}'s prompt {uri} differs from the template the "
                           f"evaluation recorded for {pred['prompt_family']['version']}")
    elif spec is not None:
        reasons.append(f"model version {mv.version} has no prompt_uri: the decision releases prompt "
                       f"{pred['prompt_family']['name']} {pred['prompt_family']['version']}")
    return reasons


def promote_binding_reasons(ledger: Ledger, scenario_id: str, envelope: dict[str, Any], mv: Any, *,
                            alias: str, c: Any, now: dt.datetime | None = None) -> list[str]:
    """`binding_reasons` with the evaluation's ledger row and the release policy's duration
    (`decision_valid_days` in the scenario's signed root's release policy, default 30)."""
    from ._recording import evaluated_event

    valid_days = None
    try:
        from ._trust import current_scenario_root

        root = current_scenario_root(ledger, scenario_id)
        if root is not None and root.release_policy:
            valid_days = root.release_policy.get("decision_valid_days")
    except Exception:  # noqa: BLE001 - a broken root is refused by the trust checks already
        pass
    return binding_reasons(envelope, mv, alias=alias, ledger=ledger, c=c,
                           evaluated=evaluated_event(ledger, decision_digest(envelope)),
                           valid_days=valid_days, now=now)


def revoke_decision(ledger: Ledger, scenario_id: str, promoted: LedgerEvent, *, reason: str,
                    rolled_back: LedgerEvent, actor: str | None, conn: Any) -> LedgerEvent:
    """Record that the decision behind `promoted` no longer releases anything."""
    from ._events import DecisionRevoked, append_event

    digest = promoted.payload["decision_digest"]
    return append_event(ledger, scenario_id, DecisionRevoked(
        decision_digest=digest, reason=reason, version=promoted.payload.get("version"),
        rolled_back_seq=rolled_back.seq, promoted_seq=promoted.seq,
    ), subject=digest, actor=actor, conn=conn)


def rolled_back_as_bad(version: str, last_promotion: LedgerEvent, rolled_back: list[LedgerEvent]) -> str | None:
    """Why `version` may not be a rollback target: it was rolled back from since it was last promoted."""
    for e in rolled_back:
        if (e.payload.get("target", "model") == "model" and e.payload.get("from_version") == version
                and e.seq > last_promotion.seq):
            return (f"version {version} was rolled back as bad (ledger row {e.seq}: {e.payload.get('reason')}); "
                    "a new signed decision must release it again")
    return None


def registered_version(c: Any, ledger: Ledger, scenario_id: str, digest: str) -> Any:
    """The model version releasegate registered for a decision (the ledger's sync record), so a
    version forged with the same tags is never picked; by tag only when the record has none."""
    from . import _registry as reg
    from ._recording import evaluated_event

    evaluated = evaluated_event(ledger, digest)
    synced = ledger.synced().get(evaluated.seq) if evaluated is not None else None
    if synced and synced.get("model_version"):
        return c.get_model_version(reg.registered_model_name(scenario_id), str(synced["model_version"]))
    return reg.find_version_by_decision(c, scenario_id, digest)
