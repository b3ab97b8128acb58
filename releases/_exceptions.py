"""The exceptions register: how a scenario leaves the golden path on the record.

An exception (a direct provider key, a skipped check, a release despite a FAIL, ...) has an
owner, a reason, an expiry and a periodic review. It lives in the ledger as events, so it is as
tamper-evident as a promotion:

- exception_opened (subject: exception id, actor): exception_id, kind, owner, reason, expires
  (ISO date, inclusive), review_interval_days.
- exception_reviewed (subject: exception id, actor: reviewer): exception_id, reviewer, note,
  next_review_due (ISO date).
- exception_closed (subject: exception id, actor): exception_id, resolution, closed_by.

An open exception is *overdue* when it is expired (its expiry date has passed) or unreviewed (no
review, counting the opening as the first one, within its review interval). The gate's
`exceptions` check fails on an overdue exception, and `exception_status` (the one rule, used by
approval, promotion, citing and serving) refuses to let an overdue exception, or one of a kind
that cannot release, waive a FAIL.
"""
from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from releasegate.core import InputError, Refused, state_dir
from releasegate.scenarios import LoadedScenario, load_contract

from ._events import ExceptionClosed, ExceptionOpened, ExceptionReviewed, append_event, event_types
from ._ledger import Ledger, LedgerEvent
from ._operating import _ID_LOCK, check_identity, check_text, fold_register, next_id, parse_time, utc_now

if TYPE_CHECKING:
    from releasegate.evals import Check, CheckFn, GateContext

# Review cadence: an exception nobody has looked at for a month is no longer a decision, it is
# drift. Recorded in each exception_opened payload so a later change does not rewrite history.
REVIEW_INTERVAL_DAYS = 30
EXCEPTION_KINDS = ("direct_provider_key", "skipped_check", "release_despite_fail", "other")
EXCEPTION_EVENTS = event_types("exception")
# Only these may waive a FAIL/INCONCLUSIVE verdict: an exception granted for, say, a direct
# provider key must not double as a licence to ship a model that failed its gate.
RELEASE_KINDS = ("release_despite_fail", "skipped_check")


# --------------------------------------------------------------------------- the register
@dataclass(frozen=True)
class ExceptionStatus:
    """Whether a cited exception may be used, and why (or why not)."""

    exception_id: str
    usable: bool
    reason: str  # why it cannot be used, or "open until <date>, review due <date>"


@dataclass
class ExceptionRecord:
    """One exception folded from its ledger events."""

    exception_id: str
    scenario_id: str
    kind: str
    owner: str
    reason: str
    expires: dt.date | None
    opened_at: dt.datetime
    opened_by: str | None
    review_interval_days: int
    opened_seq: int
    reviews: list[dict[str, Any]] = field(default_factory=list)  # {at, reviewer, note, seq}
    closed_at: dt.datetime | None = None
    resolution: str | None = None

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    @property
    def last_reviewed_at(self) -> dt.datetime:
        # Opening counts as the first review: the owner has just looked at it.
        return self.reviews[-1]["at"] if self.reviews else self.opened_at

    @property
    def review_due(self) -> dt.date:
        return (self.last_reviewed_at + dt.timedelta(days=self.review_interval_days)).date()

    def expired(self, now: dt.datetime | None = None) -> bool:
        today = (now or utc_now()).date()
        return self.expires is None or self.expires < today

    def unreviewed(self, now: dt.datetime | None = None) -> bool:
        return (now or utc_now()) - self.last_reviewed_at > dt.timedelta(days=self.review_interval_days)

    def problems(self, now: dt.datetime | None = None) -> list[str]:
        """Why this open exception is overdue ([] when it is in order, or closed)."""
        if not self.is_open:
            return []
        out = []
        if self.expires is None:
            out.append(f"{self.exception_id} has no valid expiry")
        elif self.expired(now):
            out.append(f"{self.exception_id} expired on {self.expires}")
        if self.unreviewed(now):
            out.append(f"{self.exception_id} was last reviewed on {self.last_reviewed_at.date()}, "
                       f"more than {self.review_interval_days} days ago")
        return out

    def overdue(self, now: dt.datetime | None = None) -> bool:
        return bool(self.problems(now))

    def state(self, now: dt.datetime | None = None) -> str:
        return "closed" if not self.is_open else ("overdue" if self.overdue(now) else "open")

    def to_dict(self, now: dt.datetime | None = None) -> dict[str, Any]:
        return {
            "exception_id": self.exception_id, "scenario_id": self.scenario_id, "kind": self.kind,
            "owner": self.owner, "reason": self.reason,
            "expires": self.expires.isoformat() if self.expires else None,
            "opened_at": self.opened_at.isoformat(), "opened_by": self.opened_by,
            "review_interval_days": self.review_interval_days,
            "last_reviewed_at": self.last_reviewed_at.isoformat(), "review_due": self.review_due.isoformat(),
            "reviews": [{**r, "at": r["at"].isoformat()} for r in self.reviews],
            "closed_at": self.closed_at.isoformat() if self.closed_at else None,
            "resolution": self.resolution, "state": self.state(now), "problems": self.problems(now),
        }


def _date_or_none(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def fold_exceptions(events: list[LedgerEvent]) -> dict[str, ExceptionRecord]:
    """Exception id -> record, from exception_* events (others are ignored), oldest first."""
    def opened(e: LedgerEvent) -> ExceptionRecord:
        p = e.payload
        return ExceptionRecord(
            exception_id=p["exception_id"], scenario_id=e.scenario_id, kind=str(p.get("kind") or "other"),
            owner=str(p.get("owner") or ""), reason=str(p.get("reason") or ""),
            expires=_date_or_none(p.get("expires")), opened_at=parse_time(e.created_at),
            opened_by=e.actor, opened_seq=e.seq,
            review_interval_days=int(p.get("review_interval_days") or REVIEW_INTERVAL_DAYS))

    def reviewed(record: ExceptionRecord, e: LedgerEvent) -> None:
        record.reviews.append({"at": parse_time(e.created_at), "reviewer": e.payload.get("reviewer"),
                               "note": e.payload.get("note"), "seq": e.seq})

    return fold_register(events, "exception_id", "exception_opened", opened, "exception_closed",
                         {"exception_reviewed": reviewed})


def list_exceptions(ledger: Ledger, *, scenario_id: str | None = None, overdue: bool = False,
                    include_closed: bool = True, now: dt.datetime | None = None) -> list[ExceptionRecord]:
    records = fold_exceptions(ledger.events(scenario_id=scenario_id, event_type=EXCEPTION_EVENTS))
    out = [r for r in records.values() if include_closed or r.is_open]
    if overdue:
        out = [r for r in out if r.overdue(now)]
    return out


def get_exception(ledger: Ledger, exception_id: str, conn: Any = None) -> ExceptionRecord:
    records = fold_exceptions(ledger.events(event_type=EXCEPTION_EVENTS, conn=conn))
    if exception_id not in records:
        raise Refused([f"no exception {exception_id} in the register"], code="operating")
    return records[exception_id]


def open_exception(
    scenario: str, *, owner: str, reason: str, expires: str | dt.date, kind: str = "other",
    ledger: Ledger | str | None = None, actor: str | None = None, today: dt.date | None = None,
) -> ExceptionRecord:
    """Record a new exception; every input is checked before anything is written."""
    if kind not in EXCEPTION_KINDS:
        raise InputError(f"unknown exception kind {kind!r}", field="--kind", fix=f"use one of: {', '.join(EXCEPTION_KINDS)}")
    owner = check_identity(owner, "--owner")
    reason = check_text(reason, "--reason", "why the scenario leaves the golden path")
    expiry = expires if isinstance(expires, dt.date) else _date_or_none(expires)
    if expiry is None or (isinstance(expires, str) and len(expires.strip()) != 10):
        raise InputError(f"expiry {expires!r} is not a date", field="--expires", fix="use YYYY-MM-DD")
    today = today or utc_now().date()
    if expiry <= today:
        raise InputError(f"expiry {expiry} is not in the future", field="--expires",
                         fix="an exception must end: pass a date after today")
    sid = load_contract(scenario).scenario.id
    ledger = Ledger.of(ledger)
    with ledger.scenario_lock(_ID_LOCK) as conn:
        eid = next_id(ledger, conn, "EX", "exception_opened")
        append_event(ledger, sid, ExceptionOpened(
            exception_id=eid, kind=kind, owner=owner, reason=reason,
            expires=expiry.isoformat(), review_interval_days=REVIEW_INTERVAL_DAYS,
        ), subject=eid, actor=actor, conn=conn)
    return get_exception(ledger, eid)


def review_exception(exception_id: str, *, reviewer: str, note: str | None = None,
                     ledger: Ledger | str | None = None, now: dt.datetime | None = None) -> ExceptionRecord:
    """Record a periodic review. Refused for a closed or expired exception, or by its own owner."""
    reviewer = check_identity(reviewer, "--reviewer")
    ledger = Ledger.of(ledger)
    with ledger.transaction() as conn:
        record = get_exception(ledger, exception_id, conn)
        reasons = []
        if not record.is_open:
            reasons.append(f"{exception_id} is closed")
        elif record.expired(now):
            reasons.append(f"{exception_id} expired on {record.expires}: close it (or open a new one)")
        if reviewer == record.owner:
            reasons.append(f"{reviewer} owns {exception_id}: a review needs a second person")
        if reasons:
            raise Refused(reasons, code="operating")
        due = ((now or utc_now()) + dt.timedelta(days=record.review_interval_days)).date()
        append_event(ledger, record.scenario_id, ExceptionReviewed(
            exception_id=exception_id, reviewer=reviewer, note=note, next_review_due=due.isoformat(),
        ), subject=exception_id, actor=reviewer, conn=conn)
    return get_exception(ledger, exception_id)


def close_exception(exception_id: str, *, resolution: str | None = None, ledger: Ledger | str | None = None,
                    actor: str | None = None) -> ExceptionRecord:
    ledger = Ledger.of(ledger)
    with ledger.transaction() as conn:
        record = get_exception(ledger, exception_id, conn)
        if not record.is_open:
            raise Refused([f"{exception_id} is already closed"], code="operating")
        append_event(ledger, record.scenario_id, ExceptionClosed(
            exception_id=exception_id, resolution=(resolution or "").strip() or None, closed_by=actor,
        ), subject=exception_id, actor=actor, conn=conn)
    return get_exception(ledger, exception_id)


def exception_status(ledger: Ledger | None, scenario_id: str, exception_id: str) -> ExceptionStatus:
    """The one rule for whether a cited exception may waive a FAIL/INCONCLUSIVE verdict (approval,
    promotion, citing, serving): open, on this scenario, of a release kind, unexpired AND reviewed."""
    if ledger is None:
        return ExceptionStatus(exception_id, False, "no ledger to look the exception up in")
    record = fold_exceptions(ledger.events(scenario_id=scenario_id, event_type=EXCEPTION_EVENTS)).get(exception_id)
    if record is None:
        return ExceptionStatus(exception_id, False, f"no exception {exception_id} on scenario {scenario_id}")
    if not record.is_open:
        return ExceptionStatus(exception_id, False, "the exception is closed")
    if record.kind not in RELEASE_KINDS:
        return ExceptionStatus(exception_id, False, f"it is a {record.kind} exception; only "
                               f"{' or '.join(RELEASE_KINDS)} exceptions can waive a verdict")
    problems = record.problems()
    if problems:
        return ExceptionStatus(exception_id, False, "; ".join(problems))
    return ExceptionStatus(exception_id, True, f"open until {record.expires}, review due {record.review_due}")


# --------------------------------------------------------------------------- the gate check
def _ledger_for_gate() -> Ledger | None:
    """The ledger, opened lazily; None when the default SQLite file does not exist yet (no
    exceptions can exist, and scoring should not create state as a side effect)."""
    if not os.environ.get("RELEASEGATE_LEDGER_URL") and not (Path(state_dir()) / "ledger.db").is_file():
        return None
    return Ledger.open()


def exceptions_check(ctx: GateContext, *, ledger: Ledger | None = None,
                     now: dt.datetime | None = None) -> list[Check]:
    """The gate's `exceptions` check: fails when an open exception on the scenario is expired or
    unreviewed. Value: the number of overdue exceptions; threshold 0."""
    from releasegate.evals import Check

    own = ledger is None
    ledger = ledger or _ledger_for_gate()
    try:
        records = [] if ledger is None else list_exceptions(ledger, scenario_id=ctx.scenario.id,
                                                            include_closed=False)
    finally:
        if own and ledger is not None:
            ledger.close()
    problems = [p for r in records for p in r.problems(now)]
    overdue = sum(r.overdue(now) for r in records)
    if problems:
        status, reason = "fail", "overdue exceptions: " + "; ".join(problems)
    elif records:
        status, reason = "pass", "open exceptions are unexpired and reviewed: " + ", ".join(
            f"{r.exception_id} (until {r.expires}, review due {r.review_due})" for r in records)
    else:
        status, reason = "pass", "no open exceptions on this scenario"
    return [Check(name="exceptions", kind="value", metric="overdue_exceptions", value=float(overdue),
                  ci_low=None, ci_high=None, threshold=0.0, direction="<=", status=status,  # type: ignore[arg-type]
                  critical=False, reason=reason)]


def gate_checks(*, ledger: Ledger | None = None, now: dt.datetime | None = None) -> list[CheckFn]:
    """The releases stage's extra gate checks, for `evals.run_gate(..., extra_checks=...)`."""
    def exceptions(ctx: GateContext) -> list[Check]:
        return exceptions_check(ctx, ledger=ledger, now=now)

    return [exceptions]


# --------------------------------------------------------------------------- citing on a decision
def cite_exception(envelope: dict[str, Any], exception_id: str, *, ledger: Ledger,
                   loaded: LoadedScenario | None = None) -> dict[str, Any]:
    """A new, unsigned decision envelope: the same verdict and evidence, citing `exception_id`.

    The predicate is signed, so citing cannot edit an envelope in place: the result has its own
    digest, names the escalation path's first approver as a third signer (build_decision does
    that), and must be recorded (`record_evaluation`) and signed again.
    """
    from releasegate.evals import Verdict

    from ._decision import build_decision, statement_of

    statement = statement_of(envelope)
    pred = statement["predicate"]
    loaded = loaded or load_contract(pred["scenario_id"])
    decision = pred["verdict"].get("decision")
    reasons: list[str] = []
    if decision == "PASS":
        reasons.append("the verdict is PASS: a release on the golden path needs no exception")
    if pred["verdict"].get("vetoed_by"):
        reasons.append(f"critical checks failed ({', '.join(pred['verdict']['vetoed_by'])}): "
                       "no exception can waive them")
    status = exception_status(ledger, pred["scenario_id"], exception_id)
    if not status.usable:
        reasons.append(f"exception {exception_id} cannot be cited: {status.reason}")
    reasons += recorded_decision_reasons(ledger, envelope)
    from ._trust import root_required_reasons

    reasons += root_required_reasons(ledger, loaded.scenario.id)
    if reasons:
        raise Refused(reasons, code="operating")
    return build_decision(
        loaded, Verdict.from_dict(pred["verdict"]),
        candidate_model_digest=statement["subject"][0]["digest"]["sha256"],
        report_sha256=pred.get("report_sha256"), serving=pred.get("serving"),
        exception_id=exception_id, records=pred.get("records"),
        trust_root=_signed_root(ledger, loaded.scenario.id))


def recorded_decision_reasons(ledger: Ledger, envelope: dict[str, Any]) -> list[str]:
    """Only a decision releasegate recorded (its `evaluated` row) may be re-issued: a hand-edited
    envelope (another verdict, other evidence) has another digest and is not in the ledger."""
    from ._decision import decision_digest
    from ._recording import evaluated_event

    digest = decision_digest(envelope)
    if evaluated_event(ledger, digest) is None:
        return [f"decision {digest[:12]} is not recorded in the ledger: cite an exception only for a "
                "decision releasegate evaluated and recorded"]
    return []


def _signed_root(ledger: Ledger, scenario_id: str) -> Any:
    """The scenario's current signed root (issue 14), or None; a broken chain refuses."""
    from ._trust import current_scenario_root

    try:
        return current_scenario_root(ledger, scenario_id)
    except Refused as exc:
        raise Refused([f"the trust chain of {scenario_id} does not verify: {r}" for r in exc.reasons], code="operating") from None


def record_cited_decision(
    envelope: dict[str, Any], exception_id: str, *, ledger: Ledger | str | None = None,
    mlflow_uri: str | None = None,
) -> dict[str, Any]:
    """`cite_exception`, then record the new decision like an evaluation (ledger, then MLflow),
    reusing the original evaluation's records and report paths. Returns record_evaluation's
    result plus `previous_decision_digest` and `envelope`."""
    from releasegate.evals import Verdict

    from ._decision import decision_digest, statement_of
    from ._recording import evaluated_event, record_evaluation

    ledger = Ledger.of(ledger)
    pred = statement_of(envelope)["predicate"]
    loaded = load_contract(pred["scenario_id"])
    cited = cite_exception(envelope, exception_id, ledger=ledger, loaded=loaded)
    original = evaluated_event(ledger, decision_digest(envelope))
    extra: dict[str, Any] = {}
    if original is not None:
        extra = {"records_paths": original.payload.get("records_paths") or [],
                 "report_path": original.payload.get("report_path")}
    result = record_evaluation(loaded, Verdict.from_dict(pred["verdict"]), cited, ledger=ledger,
                               mlflow_uri=mlflow_uri, **extra)
    return {**result, "previous_decision_digest": decision_digest(envelope), "envelope": cited}

