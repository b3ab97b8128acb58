"""A local MLflow SQLite store that an interrupted write left half-migrated (issue 13).

A disk filling up during an MLflow schema migration can leave `alembic_version` saying one
revision while the tables say another (a table of the next migration created, the rest not).
MLflow then fails on every open: its own upgrade stops at "table ... already exists", so `sync`
failed for ever. `repair_store` runs before `sync` pushes anything:

1. healthy (the head revision of this MLflow, every table and column its models declare): nothing.
2. behind: MLflow's own migration (`mlflow.store.db.utils._upgrade_db`) on the store, after a
   backup copy beside it; healthy afterwards: done.
3. otherwise (the migration fails, a revision this MLflow does not know, not a database): the store
   is moved aside and rebuilt from the ledger (MLflow is its projection): every `evaluated` and
   `approved` event is pushed again. Model version numbers follow ledger order, so run
   `releasegate audit` afterwards to check the aliases against the ledger.

Only a local `sqlite:///` store is repaired; a tracking server owns its own database. MLflow caches
a store (and its engine) per URI for the life of a process, so the repair runs first thing in
`releasegate sync`, before anything in that process opens the store.
"""
from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from sqlalchemy.engine import make_url

from . import _registry as reg
from ._ledger import Ledger


def store_path(uri: str | None = None) -> Path | None:
    """The SQLite file behind a local MLflow URI, or None (a server, or no file yet)."""
    resolved = reg.mlflow_uri(uri)
    if not resolved.startswith("sqlite:///"):
        return None
    database = make_url(resolved).database
    if not database or database == ":memory:" or not Path(database).is_file():
        return None
    return Path(database)


def store_problem(path: Path) -> str | None:
    """What is wrong with the store's schema for this MLflow, or None when it is complete."""
    import sqlalchemy
    from mlflow.store.db.base_sql_model import Base
    from mlflow.store.db.utils import _get_latest_schema_revision, _get_schema_version
    from mlflow.store.model_registry.dbmodels import models as _registry_models  # noqa: F401  (declares tables)
    from mlflow.store.tracking.dbmodels import models as _tracking_models  # noqa: F401

    engine = sqlalchemy.create_engine(f"sqlite:///{path}")
    try:
        head = _get_latest_schema_revision()
        revision = _get_schema_version(engine)
        if revision != head:
            return f"schema revision {revision or 'none'}, this MLflow needs {head}"
        inspector = sqlalchemy.inspect(engine)
        present = set(inspector.get_table_names())
        for name, table in sorted(Base.metadata.tables.items()):
            if name not in present:
                return f"table {name} is missing"
            columns = {c["name"] for c in inspector.get_columns(name)}
            missing = [c.name for c in table.columns if c.name not in columns]
            if missing:
                return f"table {name} lacks column(s) {', '.join(missing)}"
        return None
    except sqlalchemy.exc.DatabaseError as exc:  # not a database, or unreadable
        return f"unreadable ({str(exc.orig).splitlines()[0] if exc.orig else exc})"
    finally:
        engine.dispose()


def _migrate(path: Path) -> str | None:
    """Run MLflow's own migration on the store; the error line when it fails."""
    import sqlalchemy
    from mlflow.store.db.utils import _upgrade_db

    engine = sqlalchemy.create_engine(f"sqlite:///{path}")
    try:
        _upgrade_db(engine)
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
    finally:
        engine.dispose()
    return None


def repair_store(ledger: Ledger, uri: str | None = None) -> list[str]:
    """Detect and repair a half-migrated local MLflow store (module doc); one line per action."""
    path = store_path(uri)
    if path is None:
        return []
    problem = store_problem(path)
    if problem is None:
        return []
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
    backup = path.with_name(f"{path.name}.{stamp}.bak")
    shutil.copy2(path, backup)
    failure = _migrate(path) if not problem.startswith("unreadable") else problem
    if failure is None:
        remaining = store_problem(path)
        if remaining is None:
            return [f"MLflow store {path}: {problem}; migrated with MLflow's own migration "
                    f"(the store before it is {backup})"]
        failure = f"after it, {remaining}"
    aside = path.with_name(f"{path.name}.{stamp}.broken")
    backup.replace(aside)  # the store as it was found, kept for inspection
    path.unlink()
    for extra in (path.with_name(path.name + "-journal"), path.with_name(path.name + "-wal")):
        extra.unlink(missing_ok=True)
    forgotten = ledger.forget_synced("mlflow")
    return [f"MLflow store {path}: {problem}; MLflow's migration failed ({failure}): moved aside to {aside} "
            f"and rebuilt from the ledger ({forgotten} event(s) pushed again); check the model aliases "
            "with `releasegate audit`"]
