"""Promotion and rollback: the ledger first, then MLflow.

Every alias move happens inside the scenario's ledger lock, in the same transaction as its
ledger event: the event is appended, the alias is moved, then the transaction commits. If MLflow
fails the event rolls back with it; if the commit fails after the move, `audit` sees the drift.
Each alias-moving event carries `aliases`, the registered model's full alias state after it, so
the expected state is always the last such event's payload.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from releasegate.core import InputError, Reason, Refused
from releasegate.scenarios import LoadedScenario, file_sha256, load_contract

from . import _registry as reg
from ._decision import (
    decision_digest,
    statement_of,
    verdict_gate_reasons,
)
from ._events import (
    ModelRolledBack,
    PromptRef,
    PromptRolledBack,
    Promoted,
    Signer,
    ToolPolicyRolledBack,
    append_event,
)
from ._intent import (
    PromotionIntent,
    busy_wait_seconds,
    fault_point,
    mark_live,
    owner,
    pending_intents,
    prompt_alias_version,
    resolve_pending,
    unmark_live,
)
from ._keys import Keyring
from ._binding import promote_binding_reasons, registered_version, revoke_decision, rolled_back_as_bad
from ._checkpoints import CheckpointResult, checkpoint_after_move
from ._ledger import Ledger, LedgerBusy, LedgerEvent
from ._recording import _error_line, evaluated_event, expected_aliases
from ._trust_checks import release_signature_reasons, released_under_chain, signing_authority


@dataclass
class PromotionResult:
    """What `promote` did. Not promoted: `refused` carries every reason (None when nothing was
    refused, e.g. the alias already pointed at the version)."""

    promoted: bool
    refused: Refused | None
    scenario_id: str
    alias: str
    version: str | None = None
    from_version: str | None = None
    event: LedgerEvent | None = None
    note: str | None = None
    recovered: list[str] = field(default_factory=list)  # interrupted promotions finished or undone
    checkpoint: CheckpointResult | None = None  # the signed checkpoint written after the move

    @property
    def reasons(self) -> list[Reason]:
        return self.refused.reasons if self.refused else []

    @property
    def exit_code(self) -> int:
        return 0 if self.promoted or (self.note and not self.reasons) else 1


def judge_reasons(scenario: Any, predicate: dict[str, Any]) -> list[str]:
    """A decision judged by another judge (scorers, judge model, prompt, parameters or acceptance
    rule) than the contract's current one does not stand (issue 18)."""
    from releasegate.evals import judge_digest

    judged = (((predicate.get("verdict") or {}).get("metrics") or {}).get("judge") or {}).get("digest")
    current = judge_digest(scenario)
    if judged and judged != current:
        return [f"judged by another judge: the decision's judge is {judged[:12]}, the contract's is now "
                f"{current[:12]}; evaluate again"]
    return []


def promotion_reasons(
    loaded: LoadedScenario, envelope: dict[str, Any], *, keyring: Keyring, ledger: Ledger,
    model_version: Any | None,
) -> list[str]:
    """Every reason this decision may not move an alias to `model_version` ([] = allowed)."""
    s = loaded.scenario
    statement = statement_of(envelope)
    pred = statement["predicate"]
    reasons: list[str] = []
    if pred["scenario_id"] != s.id:
        reasons.append(f"the decision is for scenario {pred['scenario_id']}, not {s.id}")
    reasons += verdict_gate_reasons(envelope, ledger)
    # Owners, keys and criteria: from the scenario's signed root when it has one (issue 14).
    reasons += release_signature_reasons(signing_authority(ledger, loaded, keyring), loaded, envelope, ledger)[0]
    if pred["contract_sha256"] != loaded.contract_sha256:
        reasons.append(f"stale contract: the decision was made on contract {pred['contract_sha256'][:12]}, "
                       f"the current {loaded.path.name} is {loaded.contract_sha256[:12]}")
    reasons += judge_reasons(s, pred)
    dataset = loaded.dataset_path
    current = file_sha256(dataset) if dataset.is_file() else s.dataset.sha256
    if pred["dataset_sha256"] != current:
        reasons.append(f"stale dataset: the decision was made on dataset {pred['dataset_sha256'][:12]}, "
                       f"the current {dataset.name} is {current[:12]}")
    digest = decision_digest(envelope)
    if evaluated_event(ledger, digest) is None:
        reasons.append(f"decision {digest[:12]} is not recorded in the ledger")
    subject = statement["subject"][0]["digest"]["sha256"]
    if model_version is None:
        reasons.append(f"no model version of {reg.registered_model_name(s.id)} carries decision "
                       f"{digest[:12]} (run `releasegate sync`)")
    elif model_version.tags.get("weight_digest") != subject:
        reasons.append(f"decision replayed onto another model: its subject is {subject[:12]}, model version "
                       f"{model_version.version} has weights {str(model_version.tags.get('weight_digest'))[:12]}")
    elif model_version.tags.get("decision_digest") != digest:
        # Same weights, another evaluation (e.g. another prompt version): still not this decision's.
        reasons.append(f"decision replayed onto another evaluation: model version {model_version.version} "
                       f"was registered for decision {str(model_version.tags.get('decision_digest'))[:12]}, "
                       f"not {digest[:12]}")
    return reasons


def promote(
    scenario: str, envelope: dict[str, Any], *, alias: str = "champion", version: str | None = None,
    ledger: Ledger | None = None, keyring: Keyring | None = None, mlflow_uri: str | None = None,
    actor: str | None = None, replaces: str | None = None,
) -> PromotionResult:
    """Move `alias` to the decision's model version if every release rule holds."""
    from mlflow.exceptions import MlflowException

    loaded = load_contract(scenario)
    sid = loaded.scenario.id
    ledger = ledger or Ledger.open()
    keyring = keyring or Keyring.load()
    name = reg.registered_model_name(sid)
    digest = decision_digest(envelope)
    try:
        c = reg.client(mlflow_uri)
        if version is not None:
            try:
                mv = c.get_model_version(name, str(version))
            except MlflowException as exc:
                if "RESOURCE_DOES_NOT_EXIST" not in str(exc.error_code):
                    raise
                raise InputError(f"model {name} has no version {version}", field="--version",
                                 fix="pass a version listed in the MLflow registry") from None
        else:
            mv = registered_version(c, ledger, sid, digest)
    except InputError:
        raise
    except Exception as exc:  # registry down: blocked, nothing moved, nothing recorded
        return PromotionResult(False, Refused([f"MLflow registry unavailable: {_error_line(exc)}"], code="promotion"),
                               sid, alias)
    reasons = promotion_reasons(loaded, envelope, keyring=keyring, ledger=ledger, model_version=mv)
    reasons += promote_binding_reasons(ledger, sid, envelope, mv, alias=alias, c=c)
    if reasons:
        return PromotionResult(False, Refused(reasons, code="promotion"), sid, alias, mv.version if mv else None)
    signers = release_signature_reasons(signing_authority(ledger, loaded, keyring), loaded, envelope, ledger)[1]
    pred = statement_of(envelope)["predicate"]
    version = str(mv.version)
    deadline = time.monotonic() + busy_wait_seconds()
    # Phase 1, under the scenario lock: finish or undo an interrupted promotion, check that this
    # one still applies, and COMMIT its intent before any alias moves (issue 13).
    while True:
        try:
            with ledger.scenario_lock(sid) as conn:
                finished: list[LedgerEvent] = []
                notes = resolve_pending(ledger, sid, c, conn, actor=actor, finished=finished)
                current = reg.get_alias_version(c, sid, alias)
                before = expected_aliases(ledger, sid, conn)
                from_version = str(current.version) if current is not None else None
                if from_version == version:
                    if before.get(alias) == version:
                        mine = [e for e in finished if e.payload.get("decision_digest") == digest
                                and e.payload.get("alias") == alias]
                        if mine:  # this decision's interrupted promotion, finished just now
                            return PromotionResult(True, None, sid, alias, version, mine[-1].payload.get("from_version"),
                                                   mine[-1], recovered=notes)
                        return PromotionResult(False, None, sid, alias, version, version,
                                               note=f"{alias} already points at version {version}",
                                               recovered=notes)
                    # MLflow shows the move but the ledger does not (a promote that died before
                    # intents existed, or a move outside releasegate): record it from the version
                    # the ledger last recorded, so the row is neither lost nor doubled.
                    from_version = before.get(alias)
                older = newer_decision_reasons(ledger, sid, alias, digest, replaces, conn)
                if older:
                    return PromotionResult(False, Refused(older, code="promotion"), sid, alias, version, from_version, recovered=notes)
                aliases = dict(before)
                aliases[alias] = version
                moves = [alias]
                if alias == "champion" and from_version is not None:
                    aliases["previous"] = from_version
                    moves.append("previous")
                uri = mv.tags.get("prompt_uri")
                prompt_move = None
                if uri and alias == "champion":  # the prompt family's champion follows the model's
                    _, pname, pversion = uri.rsplit("/", 2)
                    pname = pname.split(":/")[-1]
                    prompt_move = {"name": pname, "alias": alias, "to": str(int(pversion)),
                                   "from": prompt_alias_version(c, pname, alias)}
                planned = Promoted(
                    alias=alias, model_name=name, version=version,
                    from_version=from_version, aliases=aliases,
                    decision_digest=digest, weight_digest=mv.tags.get("weight_digest"),
                    prompt=PromptRef(name=pred["prompt_family"]["name"], version=pred["prompt_family"]["version"],
                                     uri=uri),
                    tool_policy_version=pred.get("tool_policy_version"),
                    verdict=pred["verdict"]["decision"], exception_id=pred.get("exception_id"),
                    signers=[Signer(**s) for s in signers],
                    envelope=envelope,
                )
                intent = append_event(ledger, sid, PromotionIntent(
                    planned=planned.to_payload(), moves=moves, aliases_before=before,
                    prompt_alias=prompt_move, owner=owner()), subject=digest, actor=actor, conn=conn)
                mark_live(intent.seq)
            break
        except LedgerBusy:  # a promotion in flight, or the SQLite write lock held past its wait
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.2)
    # Phase 2, under the lock again: move the aliases, then record the outcome in the same
    # transaction. Killed anywhere here, the intent stays pending for the next promote / audit.
    try:
        fault_point("after_intent")
        with ledger.scenario_lock(sid) as conn:
            if intent.seq not in {e.seq for e in pending_intents(ledger, sid, conn)}:
                return PromotionResult(False, Refused(["this promotion was resolved by another command while it "
                                                       "ran (it took longer than RELEASEGATE_PROMOTION_LEASE_S); "
                                                       "promote again"], code="promotion"),
                                       sid, alias, version)
            c.set_registered_model_alias(name, alias, version)
            fault_point("after_model_alias")
            if "previous" in moves:
                c.set_registered_model_alias(name, "previous", aliases["previous"])
                fault_point("after_previous_alias")
            if prompt_move is not None:
                c.set_prompt_alias(prompt_move["name"], alias, int(prompt_move["to"]))
                fault_point("after_prompt_alias")
            ev = append_event(ledger, sid, Promoted(**{**planned.model_dump(), "intent_seq": intent.seq}),
                              subject=digest, actor=actor, conn=conn)
            fault_point("before_outcome_commit")
    except MlflowException as exc:
        unmark_live(intent.seq)
        with ledger.scenario_lock(sid) as conn:  # put back whatever moved, and say so in the ledger
            resolve_pending(ledger, sid, c, conn, actor=actor)
        return PromotionResult(False, Refused([f"MLflow refused the alias move, aliases restored: "
                                               f"{_error_line(exc)}"], code="promotion"), sid, alias, version)
    finally:
        unmark_live(intent.seq)
    return PromotionResult(True, None, sid, alias, version, from_version, ev, recovered=notes,
                           checkpoint=checkpoint_after_move(ledger, [sid], mlflow_uri))


def newer_decision_reasons(ledger: Ledger, sid: str, alias: str, digest: str, replaces: str | None,
                           conn: Any) -> list[str]:
    """An older decision does not undo a newer promotion unless it names the one it replaces."""
    moves = [e for e in ledger.events(scenario_id=sid, event_type=("promoted", "rolled_back"), conn=conn)
             if e.payload.get("alias") == alias and e.payload.get("target", "model") == "model"
             and e.payload.get("decision_digest")]
    if not moves:
        return []
    current_digest = moves[-1].payload.get("decision_digest")
    if not current_digest or current_digest == digest:
        return []
    ours, theirs = evaluated_event(ledger, digest, conn), evaluated_event(ledger, current_digest, conn)
    if ours is None or theirs is None or ours.seq > theirs.seq:
        return []
    if replaces and current_digest.startswith(replaces):
        return []
    return [f"{alias} holds decision {current_digest[:12]}, evaluated after this decision {digest[:12]}: "
            f"an older decision does not replace a newer one (pass --replaces {current_digest[:12]} to mean it, "
            "or use rollback)"]


@dataclass
class RollbackResult:
    target: str
    scenario_id: str
    from_version: str | None
    to_version: str
    event: LedgerEvent
    notes: list[str] = field(default_factory=list)
    checkpoint: CheckpointResult | None = None


def _promotions(ledger: Ledger, sid: str, conn: Any = None) -> list[LedgerEvent]:
    return ledger.events(scenario_id=sid, event_type="promoted", conn=conn)


def rollback(
    scenario: str, *, reason: str, to: str | None = None, target: str = "model", alias: str = "champion",
    ledger: Ledger | None = None, mlflow_uri: str | None = None, actor: str | None = None,
) -> RollbackResult:
    """Move back to the last approved (promoted) version, or to `to` if it was approved; then
    checkpoint the ledger (after the move's transaction committed)."""
    result = _rollback(scenario, reason=reason, to=to, target=target, alias=alias, ledger=ledger,
                       mlflow_uri=mlflow_uri, actor=actor)
    result.checkpoint = checkpoint_after_move(ledger or Ledger.open(), [result.scenario_id], mlflow_uri)
    return result


def _rollback(
    scenario: str, *, reason: str, to: str | None = None, target: str = "model", alias: str = "champion",
    ledger: Ledger | None = None, mlflow_uri: str | None = None, actor: str | None = None,
) -> RollbackResult:
    if not reason.strip():
        raise InputError("a rollback needs a reason", field="--reason", fix="say what went wrong")
    if target not in ("model", "prompt", "tool_policy"):
        raise InputError(f"unknown rollback target {target!r}", field="--target",
                         fix="use model, prompt or tool_policy")
    loaded = load_contract(scenario)
    sid = loaded.scenario.id
    if target not in loaded.scenario.incident_process.rollback_targets:
        raise loaded.error("incident_process.rollback_targets", f"{target} rollback is not in the "
                           "contract's incident process", f"add {target} to rollback_targets")
    ledger = ledger or Ledger.open()
    from ._trust import root_required_reasons

    refused = root_required_reasons(ledger, sid)  # issue 14: root-required mode
    if refused:
        raise Refused(refused, code="rollback")
    if target == "tool_policy":
        return _rollback_tool_policy(loaded, ledger, reason=reason, to=to, actor=actor)
    c = reg.client(mlflow_uri)
    with ledger.scenario_lock(sid) as conn:
        promotions = _promotions(ledger, sid, conn)
        rolled_back = ledger.events(scenario_id=sid, event_type="rolled_back", conn=conn)
        if target == "prompt":
            return _rollback_prompt(loaded, c, ledger, conn, promotions, rolled_back,
                                    reason=reason, to=to, alias=alias, actor=actor)
        current = reg.get_alias_version(c, sid, alias)
        cur = str(current.version) if current else None
        approved = {e.payload["version"]: e for e in promotions}
        bad = {e.payload.get("from_version") for e in rolled_back if e.payload.get("target") == "model"}
        if to is not None:
            if str(to) not in approved:
                raise Refused([f"version {to} was never promoted through releasegate: "
                               f"approved versions are {', '.join(sorted(approved)) or 'none'}"], code="rollback")
            refused = rolled_back_as_bad(str(to), approved[str(to)], rolled_back)
            if refused:
                raise Refused([refused], code="rollback")
            dest = str(to)
        else:
            order = [e.payload["version"] for e in reversed(promotions)]
            choices = [v for v in order if v != cur and v not in bad]
            if not choices:
                raise Refused([f"no earlier approved version of {sid} to roll back to"], code="rollback")
            dest = choices[0]
        if dest == cur:
            raise Refused([f"{alias} already points at version {dest}"], code="rollback")
        # issue 14: only to a version whose decision verifies under the signed chain of its time
        untrusted = released_under_chain(ledger, sid, approved[dest].payload.get("envelope") or {}, approved[dest].seq) \
            if approved[dest].payload.get("envelope") else None
        if untrusted:
            raise Refused([f"version {dest} cannot be restored: {r}" for r in untrusted], code="rollback")
        aliases = expected_aliases(ledger, sid, conn)
        aliases[alias] = dest
        if aliases.get("previous") == dest:
            aliases.pop("previous")  # `previous` must not equal the champion it backs up
        ev = append_event(ledger, sid, ModelRolledBack(
            target="model", alias=alias, model_name=reg.registered_model_name(sid),
            from_version=cur, to_version=dest, reason=reason, aliases=aliases,
            decision_digest=approved[dest].payload["decision_digest"],
        ), subject=approved[dest].payload["decision_digest"], actor=actor, conn=conn)
        if cur in approved:  # the release rolled back: its decision may not be promoted again
            revoke_decision(ledger, sid, approved[cur], reason=reason, rolled_back=ev, actor=actor, conn=conn)
        name = reg.registered_model_name(sid)
        c.set_registered_model_alias(name, alias, dest)
        if "previous" not in aliases and reg.get_alias_version(c, sid, "previous") is not None:
            c.delete_registered_model_alias(name, "previous")
    return RollbackResult("model", sid, cur, dest, ev)


def _rollback_prompt(loaded: LoadedScenario, c: Any, ledger: Ledger, conn: Any,
                     promotions: list[LedgerEvent], rolled_back: list[LedgerEvent], *,
                     reason: str, to: str | None, alias: str, actor: str | None) -> RollbackResult:
    from mlflow.exceptions import MlflowException

    sid = loaded.scenario.id
    name = loaded.scenario.prompt_family.name
    try:
        current = c.get_prompt_version_by_alias(name, alias)
        cur = str(current.version)
        cur_contract = (current.tags or {}).get("releasegate.prompt_version")
    except MlflowException:
        cur, cur_contract = None, None
    # contract prompt version -> MLflow prompt version, for versions released through releasegate
    released: dict[str, str] = {}
    for e in promotions:
        uri = (e.payload.get("prompt") or {}).get("uri")
        if uri:
            released[e.payload["prompt"]["version"]] = uri.rsplit("/", 1)[1]
    bad = {e.payload.get("from_version") for e in rolled_back if e.payload.get("target") == "prompt"}
    if to is not None:
        by_mlflow = {v: k for k, v in released.items()}
        if to in released:
            dest = released[to]
        elif str(to) in by_mlflow:
            dest = str(to)
        else:
            raise Refused([f"prompt version {to} was never released through releasegate "
                           f"(released: {', '.join(sorted(released)) or 'none'})"], code="rollback")
    else:
        order = [released[e.payload["prompt"]["version"]] for e in reversed(promotions)
                 if (e.payload.get("prompt") or {}).get("uri")]
        choices = [v for v in order if v != cur and v not in bad]
        if not choices:
            raise Refused([f"no earlier released version of prompt {name} to roll back to"], code="rollback")
        dest = choices[0]
    ev = append_event(ledger, sid, PromptRolledBack(
        target="prompt", prompt_name=name, alias=alias, from_version=cur,
        from_contract_version=cur_contract, to_version=dest,
        to_contract_version={v: k for k, v in released.items()}.get(dest), reason=reason,
    ), subject=f"prompts:/{name}/{dest}", actor=actor, conn=conn)
    c.set_prompt_alias(name, alias, int(dest))
    return RollbackResult("prompt", sid, cur, dest, ev)


def _rollback_tool_policy(loaded: LoadedScenario, ledger: Ledger, *, reason: str, to: str | None,
                          actor: str | None) -> RollbackResult:
    sid = loaded.scenario.id
    current = loaded.scenario.tool_policy.version
    with ledger.scenario_lock(sid) as conn:
        history = [e.payload.get("tool_policy_version") for e in reversed(_promotions(ledger, sid, conn))]
        released = [v for v in history if v]
        if to is None:
            choices = [v for v in released if v != current]
            if not choices:
                raise Refused([f"no earlier released tool policy of {sid} (current {current}): pass --to"], code="rollback")
            to = choices[0]
        elif to not in released:
            raise Refused([f"tool policy {to} was never released through releasegate "
                           f"(released: {', '.join(sorted(set(released))) or 'none'})"], code="rollback")
        ev = append_event(ledger, sid, ToolPolicyRolledBack(target="tool_policy", from_version=current,
                                                            to_version=to, reason=reason),
                          subject=f"tool_policy:{to}", actor=actor, conn=conn)
    return RollbackResult("tool_policy", sid, current, to, ev,
                          [f"set tool_policy.version to {to} (and its allowed_tools) in {loaded.path}"])
