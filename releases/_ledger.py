"""The release ledger: an append-only, hash-chained table of events (SQLAlchemy 2 + Alembic).

SQLite file `state_dir()/ledger.db` by default; PostgreSQL by URL (`RELEASEGATE_LEDGER_URL`,
`postgresql+psycopg://...`). Each row's hash is sha256(prev_hash + canonical JSON of its content),
with `seq` inside the content, so an edited row breaks its own hash, a deleted row leaves a gap,
and the head row (last seq + hash, written in the same transaction) catches a deleted tail.
That only stops naive edits: whoever can write the database can recompute every hash. Signed
checkpoints kept outside the database (`_checkpoints.py`) and actor signatures on privileged
rows (`_actors.py`) make a rewrite evident.

Each row records its canonicalisation scheme (`canon`): rows written since checkpoints exist use
RFC 8785 (`releasegate.core.canonical_json`) over the content including `canon` and
`actor_signature`, hashed as sha256(prev_hash bytes + canonical bytes); rows written before
(`canon` NULL) still verify under the legacy scheme (Python's sorted-key json.dumps). A legacy
row after an RFC 8785 row is a downgrade and fails verification.

Appends serialise on the head row (SELECT ... FOR UPDATE; SQLite: BEGIN IMMEDIATE). Promotions
take a per-scenario lock for the whole check-and-move (PostgreSQL: pg_advisory_xact_lock).

Every row: seq, event_id, scenario_id, event_type, subject, actor, created_at, payload (JSON),
prev_hash, hash. The event types and their payload models are registered in `_events.py` (one
typed model per type, JSON Schemas under docs/schemas/events/); `append` refuses a type that is
not registered there.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    select,
    text,
)
from sqlalchemy.engine import make_url

from releasegate.core import CANONICAL_JSON_SCHEME, MAX_DOCUMENT_BYTES, InputError, canonical_json, state_dir

from ._actors import ActorSigner, default_signer, is_privileged, sign_event

from ._events import EVENTS, event_types

GENESIS_HASH = "0" * 64
DEFAULT_LOCK_WAIT_S = 10.0  # how long a write waits for another writer's SQLite lock
MIGRATIONS_DIR = Path(__file__).with_name("migrations")

# Every list of event types derives from the registry in _events.py.
EVENT_TYPES = event_types()
_EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]{1,63}$")

metadata = MetaData()
events_table = Table(
    "ledger_events", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("scenario_id", String(200), nullable=False, index=True),
    Column("event_type", String(64), nullable=False, index=True),
    Column("subject", String(300), nullable=True),
    Column("actor", String(200), nullable=True),
    Column("created_at", String(40), nullable=False),
    Column("payload", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("canon", String(16), nullable=True),  # NULL: the legacy scheme (rows written before 0003)
    Column("actor_signature", Text, nullable=True),
)
head_table = Table(
    "ledger_head", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
)
deliveries_table = Table(  # webhook delivery ids the guard has acted on (replays are ignored)
    "webhook_deliveries", metadata,
    Column("delivery_id", String(200), primary_key=True),
    Column("received_at", String(40), nullable=False),
)
sync_table = Table(
    "ledger_sync", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("target", String(32), primary_key=True),
    Column("synced_at", String(40), nullable=False),
    Column("detail", Text, nullable=True),
)


LEGACY_SCHEME = "legacy-json"  # what a NULL `canon` means


def _canonical(obj: Any) -> str:
    """The legacy scheme (rows before RFC 8785): kept only to verify those rows."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False, ensure_ascii=False)


def event_hash(prev_hash: str, content: dict[str, Any], canon: str | None = None) -> str:
    if canon is None:
        return hashlib.sha256((prev_hash + _canonical(content)).encode()).hexdigest()
    if canon != CANONICAL_JSON_SCHEME:
        raise ValueError(f"unknown canonicalisation scheme {canon!r}")
    return hashlib.sha256(prev_hash.encode() + canonical_json(content)).hexdigest()


@dataclass(frozen=True)
class LedgerEvent:
    seq: int
    event_id: str
    scenario_id: str
    event_type: str
    subject: str | None
    actor: str | None
    created_at: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str
    canon: str | None = None  # None: legacy scheme
    actor_signature: dict[str, Any] | None = None

    def content(self) -> dict[str, Any]:
        """What the hash covers (and, less actor_signature plus prev_hash, what the actor signs)."""
        base = {"seq": self.seq, "event_id": self.event_id, "scenario_id": self.scenario_id,
                "event_type": self.event_type, "subject": self.subject, "actor": self.actor,
                "created_at": self.created_at, "payload": self.payload}
        if self.canon is None:
            return base
        return {**base, "canon": self.canon, "actor_signature": self.actor_signature}

    def to_dict(self) -> dict[str, Any]:
        return {**self.content(), "prev_hash": self.prev_hash, "hash": self.hash}


def default_ledger_url() -> str:
    env = os.environ.get("RELEASEGATE_LEDGER_URL")
    return env if env else f"sqlite:///{state_dir() / 'ledger.db'}"


def _normalise_url(url: str) -> str:
    # psycopg 3 is the driver we ship; plain postgresql:// would ask for psycopg2.
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def seconds_from_env(var: str, default: float) -> float:
    """A finite, non-negative number of seconds from the environment (InputError naming it)."""
    raw = os.environ.get(var, "")
    try:
        value = float(raw) if raw else default
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise InputError(f"{var}={raw!r} is not a number of seconds", field=var,
                         fix=f"set it to e.g. {default:g}")
    return value


def lock_wait_seconds() -> float:
    """How long a SQLite ledger write waits for another process's write lock (then: busy, retry)."""
    return seconds_from_env("RELEASEGATE_LEDGER_LOCK_WAIT_S", DEFAULT_LOCK_WAIT_S)


class LedgerBusy(InputError):
    """Another process holds the ledger's write lock past the wait: retry (exit 1, not bad input).

    An operational error, deliberately not a `Refused` reason: a refusal is the rules' judgement of
    a request (the same request against the same ledger is refused again, every reason listed),
    while a busy ledger means the request was never judged and nothing was written; the same
    command succeeds once the lock is free, and `promote` itself retries it (`PromotionBusy`), which
    it must never do with a refusal. It keeps `InputError`'s one line (the ledger, the message,
    the fix) with exit code 1, since the input was fine.
    """

    exit_code = 1


class LedgerRowUnreadable(InputError):
    """A row whose JSON no writer of ours produces (too deep, too large, duplicate keys, not JSON):
    the database was edited outside releasegate. Exit 1: the ledger, not the caller's input, is bad."""

    exit_code = 1


def _row_json(row: Any, column: str) -> Any:
    """A JSON column of an event row. Verify parses every row, so this is plain `json.loads` (the
    bounded document reader costs five times as much), guarded so that a database writer cannot
    crash readers with a value nested past the recursion limit or a huge one."""
    text = str(getattr(row, column))
    what = f"ledger row {row.seq}'s {column}"
    if len(text) > MAX_DOCUMENT_BYTES:
        raise LedgerRowUnreadable(f"{what} is larger than {MAX_DOCUMENT_BYTES} bytes", fix=_FIX_ROW)
    try:
        return json.loads(text)
    except RecursionError:
        raise LedgerRowUnreadable(f"{what} is nested too deep to read", fix=_FIX_ROW) from None
    except ValueError as exc:
        raise LedgerRowUnreadable(f"{what} is not JSON ({exc})", fix=_FIX_ROW) from None


_FIX_ROW = "the row was edited outside releasegate: run `releasegate ledger verify` and restore the ledger"


def _where(url: str) -> str:
    """The ledger as a user names it: the SQLite file, or the database URL without its password."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.database or ":memory:"
    return parsed.render_as_string(hide_password=True)


def database_error(url: str, exc: BaseException) -> InputError | None:
    """The ledger fault behind a DBAPI error, as one line naming the ledger and the fix; None for
    anything else. Read-only (file or folder mode, a read-only mount, a PostgreSQL role without
    write grants) is exit 2; a write lock held past `lock_wait_seconds` is LedgerBusy (exit 1)."""
    where, text_ = _where(url), str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    sqlstate = getattr(exc, "sqlstate", None)
    lowered = text_.lower()
    if "database is locked" in lowered or "database table is locked" in lowered:
        return LedgerBusy(f"ledger busy, retry: another process held its write lock for more than "
                          f"{lock_wait_seconds():g} s", file=where,
                          fix="retry in a moment (RELEASEGATE_LEDGER_LOCK_WAIT_S sets the wait)")
    if "readonly database" in lowered or "read-only" in lowered or "unable to open database file" in lowered:
        return InputError(f"the ledger cannot be written ({text_})", file=where,
                          fix="make the file and its folder writable by this user (SQLite writes a journal "
                              "beside the file), or point RELEASEGATE_LEDGER_URL at a writable ledger")
    if sqlstate == "42501" or "permission denied" in lowered:
        return InputError(f"the ledger's database role may not do this ({text_})", file=where,
                          fix="GRANT SELECT, INSERT, UPDATE, DELETE on the ledger tables to "
                                              "this role, or use a role that owns them")
    return None


_migrated: set[str] = set()
_migrate_lock = threading.Lock()


class Ledger:
    """Handle on one ledger database. Open with `Ledger.open(url)` (runs migrations)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.is_sqlite = engine.dialect.name == "sqlite"
        # Who signs privileged events this handle appends, unless append() is given a signer;
        # None: $RELEASEGATE_ACTOR_KEY when set, else the row goes in unsigned (and fails verify).
        self.signer: ActorSigner | None = None

    @classmethod
    def of(cls, ledger: Ledger | str | None) -> Ledger:
        """`ledger` itself, or the ledger at that URL (None: the default), opened now. Library
        functions that take either open a URL only after their input checks, so bad input
        creates no database file."""
        return ledger if isinstance(ledger, Ledger) else cls.open(ledger)

    @classmethod
    def open(cls, url: str | None = None) -> Ledger:
        url = _normalise_url(url or default_ledger_url())
        try:
            parsed = make_url(url)
        except Exception:
            raise InputError(f"not a database URL: {url!r}", field="--ledger-url",
                             fix="use sqlite:///PATH or postgresql+psycopg://user@host/db") from None
        if parsed.get_backend_name() not in ("sqlite", "postgresql"):
            raise InputError(f"unsupported ledger database {parsed.get_backend_name()!r}",
                             field="--ledger-url", fix="use SQLite or PostgreSQL")
        if parsed.get_backend_name() == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                try:
                    Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise InputError(f"cannot create the ledger's folder ({exc.strerror})",
                                     file=parsed.database, fix="make its folder writable by this user, or "
                                     "point RELEASEGATE_LEDGER_URL at a writable ledger") from None
            engine = create_engine(url, connect_args={"timeout": lock_wait_seconds()})

            @event.listens_for(engine, "connect")
            def _no_implicit_tx(dbapi_conn: Any, _record: Any) -> None:
                dbapi_conn.isolation_level = None  # let us issue BEGIN ourselves

            @event.listens_for(engine, "begin")
            def _begin_immediate(conn: Connection) -> None:
                # Take the write lock at BEGIN: a read-then-append cannot interleave with another.
                # Plain reads begin deferred, so a read inside a held lock does not wait on it.
                read_only = conn.get_execution_options().get("releasegate_read", False)
                conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")
        else:
            engine = create_engine(url, pool_pre_ping=True)

        @event.listens_for(engine, "handle_error")
        def _one_line(context: Any) -> None:
            # A read-only or locked ledger is one line naming it and the fix, not a traceback.
            error = database_error(url, context.original_exception)
            if error is not None:
                raise error from None

        ledger = cls(engine)
        fresh_file = parsed.get_backend_name() == "sqlite" and not (
            parsed.database and parsed.database != ":memory:" and Path(parsed.database).exists())
        ledger._migrate(url, force=fresh_file)
        return ledger

    def _migrate(self, url: str, *, force: bool = False) -> None:
        with _migrate_lock:
            if url in _migrated and not force:  # a deleted SQLite file is migrated again
                return
            from alembic import command
            from alembic.config import Config

            cfg = Config()
            cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
            try:
                if self._at_head(cfg):  # read without the write lock: a busy ledger can still be read
                    _migrated.add(url)
                    return
                with self.engine.begin() as conn:
                    if not self.is_sqlite:  # two processes opening a fresh database at once
                        conn.execute(text("SELECT pg_advisory_xact_lock(7203391)"))
                    cfg.attributes["connection"] = conn
                    command.upgrade(cfg, "head")
            except Exception as exc:
                if isinstance(exc, InputError):
                    raise
                raise InputError(f"cannot open the ledger database: {type(exc).__name__}: "
                                 f"{str(exc).splitlines()[0]}", field="--ledger-url",
                                 fix="check RELEASEGATE_LEDGER_URL / --ledger-url and that the database is up") from None
            _migrated.add(url)

    def _at_head(self, cfg: Any) -> bool:
        """True when the schema is already at the newest migration (a plain read transaction)."""
        from alembic.migration import MigrationContext
        from alembic.script import ScriptDirectory

        with self._reader() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
        return current == set(ScriptDirectory.from_config(cfg).get_heads())

    def close(self) -> None:
        self.engine.dispose()

    def _reader(self) -> Connection:
        return self.engine.connect().execution_options(releasegate_read=True)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def scenario_lock(self, scenario_id: str) -> Iterator[Connection]:
        """A transaction that holds the scenario's release lock until it ends."""
        with self.engine.begin() as conn:
            if not self.is_sqlite:  # SQLite: BEGIN IMMEDIATE already serialises all writers
                key = int.from_bytes(hashlib.sha256(f"releasegate:{scenario_id}".encode()).digest()[:8],
                                     "big", signed=True)
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
            yield conn

    def append(self, event_type: str, scenario_id: str, payload: dict[str, Any], *,
               subject: str | None = None, actor: str | None = None,
               conn: Connection | None = None, signer: ActorSigner | None = None) -> LedgerEvent:
        """Append one event, chained to the last one. Inside `conn`'s transaction if given.

        A privileged event is signed by `signer` (else this handle's signer, else
        $RELEASEGATE_ACTOR_KEY's); its actor is then the signer's identity, not free text.
        """
        if not _EVENT_TYPE.match(event_type):
            raise ValueError(f"event type {event_type!r} is not snake_case")
        if event_type not in EVENTS:
            raise ValueError(f"unknown ledger event type {event_type!r}: register it in releases/_events.py")
        if is_privileged(event_type):
            signer = signer or self.signer or default_signer()  # resolved before anything is written
            if signer is not None:
                actor = signer.identity
        else:
            signer = None
        if conn is None:
            with self.transaction() as own:
                return self.append(event_type, scenario_id, payload, subject=subject, actor=actor,
                                   conn=own, signer=signer)
        head = conn.execute(select(head_table.c.seq, head_table.c.hash)
                            .where(head_table.c.id == 1).with_for_update()).one()
        try:
            payload = json.loads(canonical_json(payload))  # what is stored is what is hashed
        except ValueError as exc:
            raise ValueError(f"{event_type} payload: {exc}") from None
        ev = LedgerEvent(
            seq=head.seq + 1, event_id=str(uuid.uuid4()), scenario_id=scenario_id,
            event_type=event_type, subject=subject, actor=actor,
            created_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds"),
            payload=payload, prev_hash=head.hash, hash="", canon=CANONICAL_JSON_SCHEME,
        )
        if signer is not None:
            ev = LedgerEvent(**{**ev.__dict__, "actor_signature": sign_event(ev.content(), ev.prev_hash, signer)})
        ev = LedgerEvent(**{**ev.__dict__, "hash": event_hash(head.hash, ev.content(), ev.canon)})
        conn.execute(events_table.insert().values(
            seq=ev.seq, event_id=ev.event_id, scenario_id=ev.scenario_id, event_type=ev.event_type,
            subject=ev.subject, actor=ev.actor, created_at=ev.created_at,
            payload=canonical_json(ev.payload).decode(), prev_hash=ev.prev_hash, hash=ev.hash,
            canon=ev.canon,
            actor_signature=canonical_json(ev.actor_signature).decode() if ev.actor_signature else None))
        conn.execute(head_table.update().where(head_table.c.id == 1).values(seq=ev.seq, hash=ev.hash))
        return ev

    def head(self, conn: Connection | None = None) -> tuple[int, str]:
        """(seq, hash) of the last row, as the head row records it."""
        query = select(head_table.c.seq, head_table.c.hash).where(head_table.c.id == 1)
        if conn is not None:
            row = conn.execute(query).one()
        else:
            with self._reader() as own:
                row = own.execute(query).one()
        return int(row.seq), str(row.hash)

    def row_hashes(self, first: int, last: int, conn: Connection | None = None) -> list[str]:
        """The stored hashes of rows first..last, in order."""
        query = (select(events_table.c.hash).where(events_table.c.seq >= first, events_table.c.seq <= last)
                 .order_by(events_table.c.seq))
        if conn is not None:
            return [r.hash for r in conn.execute(query)]
        with self._reader() as own:
            return [r.hash for r in own.execute(query)]


    @staticmethod
    def _row_to_event(row: Any) -> LedgerEvent:
        return LedgerEvent(row.seq, row.event_id, row.scenario_id, row.event_type, row.subject,
                           row.actor, row.created_at, _row_json(row, "payload"), row.prev_hash, row.hash,
                           row.canon, _row_json(row, "actor_signature") if row.actor_signature else None)

    def events(self, *, scenario_id: str | None = None, event_type: str | tuple[str, ...] | None = None,
               subject: str | None = None, no_subject: bool = False, newest_first: bool = False,
               limit: int | None = None, conn: Connection | None = None) -> list[LedgerEvent]:
        """Events in seq order (newest first if asked), filtered; `limit` keeps the first N.

        Promote and audit look up by (event_type, subject) and by (scenario_id, one event_type)
        newest first: both are indexed (migration 0002), so they do not grow with the ledger.
        (Give one event type for those: with an IN list SQLite picks the scenario_id index.)"""
        seq = events_table.c.seq
        query = select(events_table).order_by(seq.desc() if newest_first else seq)
        if scenario_id:
            query = query.where(events_table.c.scenario_id == scenario_id)
        if event_type:
            types = (event_type,) if isinstance(event_type, str) else event_type
            query = query.where(events_table.c.event_type.in_(types))
        if subject is not None:
            query = query.where(events_table.c.subject == subject)
        if no_subject:
            query = query.where(events_table.c.subject.is_(None))
        if limit is not None:
            query = query.limit(limit)
        if conn is not None:
            return [self._row_to_event(r) for r in conn.execute(query)]
        with self._reader() as own:
            return [self._row_to_event(r) for r in own.execute(query)]

    def scenario_ids(self, event_types: tuple[str, ...] | None = None, conn: Connection | None = None) -> list[str]:
        """Scenarios with at least one event (of these types): read from the indexes, no payload parsed."""
        query = select(events_table.c.scenario_id).distinct().order_by(events_table.c.scenario_id)
        if event_types:
            query = query.where(events_table.c.event_type.in_(event_types))
        if conn is not None:
            return [r[0] for r in conn.execute(query)]
        with self._reader() as own:
            return [r[0] for r in own.execute(query)]

    def verify(self, observe: Callable[[LedgerEvent], None] | None = None) -> list[str]:
        """Every broken link in the chain, naming the row; [] when the ledger is intact.

        `observe` sees each row that parses (checkpoint and actor checks ride the same pass).
        """
        problems: list[str] = []
        prev_hash, expected_seq = GENESIS_HASH, 1
        seen_rfc8785 = False
        with self._reader() as conn:
            head = conn.execute(select(head_table).where(head_table.c.id == 1)).one()
            rows = conn.execution_options(yield_per=10_000).execute(
                select(events_table).order_by(events_table.c.seq))
            for row in rows:
                if row.seq != expected_seq:
                    problems.append(f"rows {expected_seq}..{row.seq - 1} are missing (deleted)"
                                    if row.seq > expected_seq else f"row {row.seq} is out of order")
                try:
                    ev = self._row_to_event(row)
                    digest = event_hash(row.prev_hash, ev.content(), ev.canon)
                except (ValueError, RecursionError, LedgerRowUnreadable) as exc:
                    problems.append(f"row {row.seq} ({row.event_type}): unreadable ({exc}): edited")
                    prev_hash, expected_seq = row.hash, row.seq + 1
                    continue
                if row.prev_hash != prev_hash:
                    problems.append(f"row {row.seq} ({row.event_type}): prev_hash does not match row "
                                    f"{row.seq - 1}'s hash (a row before it was edited or deleted)")
                if digest != row.hash:
                    problems.append(f"row {row.seq} ({row.event_type}, {row.event_id}): content does "
                                    "not match its hash (edited)")
                if ev.canon is None and seen_rfc8785:
                    problems.append(f"row {row.seq} ({row.event_type}): legacy canonicalisation after "
                                    "RFC 8785 rows (a downgraded, rewritten row)")
                seen_rfc8785 = seen_rfc8785 or ev.canon is not None
                if observe is not None:
                    observe(ev)
                prev_hash, expected_seq = row.hash, row.seq + 1
            if head.seq != expected_seq - 1 or head.hash != prev_hash:
                problems.append(f"the ledger head says the last row is {head.seq}, the table ends at "
                                f"{expected_seq - 1} (rows deleted at the end, or the head was edited)")
        return problems

    def remember_delivery(self, delivery_id: str) -> bool:
        """Record a webhook delivery id; False when it was recorded before (a replay)."""
        from sqlalchemy.exc import IntegrityError

        if not delivery_id:
            return False
        try:
            with self.transaction() as conn:
                conn.execute(deliveries_table.insert().values(
                    delivery_id=delivery_id[:200],
                    received_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")))
        except IntegrityError:
            return False
        return True

    # --- the MLflow sync marker: operational state beside the chain, not part of it ---
    def mark_synced(self, seq: int, target: str = "mlflow", detail: dict[str, Any] | None = None) -> None:
        with self.transaction() as conn:
            conn.execute(sync_table.delete().where(sync_table.c.seq == seq, sync_table.c.target == target))
            conn.execute(sync_table.insert().values(
                seq=seq, target=target, detail=_canonical(detail or {}),
                synced_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")))

    def forget_synced(self, target: str = "mlflow") -> int:
        """Forget what was pushed to `target` (its store was rebuilt): `sync` pushes it all again."""
        with self.transaction() as conn:
            return int(conn.execute(sync_table.delete().where(sync_table.c.target == target)).rowcount or 0)

    def synced(self, target: str = "mlflow") -> dict[int, dict[str, Any]]:
        with self._reader() as conn:
            rows = conn.execute(select(sync_table).where(sync_table.c.target == target))
            return {r.seq: json.loads(r.detail or "{}") for r in rows}

    def unsynced(self, event_types: tuple[str, ...], target: str = "mlflow",
                 scenario_id: str | None = None) -> list[LedgerEvent]:
        done = self.synced(target)
        return [e for e in self.events(scenario_id=scenario_id, event_type=event_types) if e.seq not in done]
