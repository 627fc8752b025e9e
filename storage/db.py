"""Connections, transactions and migrations.

* :func:`connect` opens one connection (WAL mode, foreign keys on, a busy timeout) and
  applies every pending migration. Connections are never shared across threads.
* :func:`transaction` runs a block inside ``BEGIN IMMEDIATE`` so a read-then-write
  cannot interleave with another writer; sqlite-utils writes inside it nest as savepoints.
* ``sqlite3.OperationalError: database is locked`` becomes
  :class:`~smallq.errors.DatabaseLockedError`; nothing is half-written.
* :func:`query_one` and :func:`query_all` return rows as dicts keyed by column name
  (sqlite-utils' ``Database.query``); repositories read columns by name, never by position.

The schema itself lives in :mod:`storage.migrations` (the bottom of the package).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from smallq.errors import DatabaseLockedError, StorageError
from storage.migrations import MIGRATIONS, Migration, MigrationFn

__all__ = [
    "Migration",
    "MigrationFn",
    "Row",
    "apply_migrations",
    "connect",
    "query_all",
    "query_one",
    "transaction",
    "utc_now_iso",
]

Row = dict[str, Any]
"""One result row keyed by column name."""


def connect(
    path: str | Path = ":memory:",
    *,
    migrations: Sequence[Migration] | None = None,
    busy_timeout_s: float = 5.0,
) -> sqlite_utils.Database:
    """Open a connection, set WAL mode and apply pending migrations.

    Parameters
    ----------
    path : str or Path
        Database file, or ``":memory:"``.
    migrations : sequence of Migration, optional
        Defaults to :data:`storage.migrations.MIGRATIONS`.
    busy_timeout_s : float
        How long a writer waits for a lock before :class:`DatabaseLockedError`.
    """
    if migrations is None:
        migrations = MIGRATIONS
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = sqlite3.connect(str(path), timeout=busy_timeout_s)
        db = sqlite_utils.Database(conn)
        if str(path) != ":memory:":
            db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("PRAGMA synchronous=NORMAL")
        apply_migrations(db, migrations)
    except sqlite3.OperationalError as exc:
        raise _translate(exc) from exc
    return db


def apply_migrations(db: sqlite_utils.Database, migrations: Sequence[Migration]) -> list[str]:
    """Apply the migrations not yet recorded in ``_migrations``; return their names."""
    names = [m.name for m in migrations]
    if len(set(names)) != len(names):
        raise StorageError(f"duplicate migration names: {names}")
    applied: list[str] = []
    with transaction(db):
        if "_migrations" not in db.table_names():
            db.table("_migrations").create({"name": str, "applied_at": str}, pk="name")
        done = {row["name"] for row in db.table("_migrations").rows}
        for migration in sorted(migrations, key=lambda m: m.name):
            if migration.name in done:
                continue
            migration.apply(db)
            db.table("_migrations").insert({"name": migration.name, "applied_at": utc_now_iso()})
            applied.append(migration.name)
    return applied


@contextmanager
def transaction(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """Run the block in one ``BEGIN IMMEDIATE`` transaction; roll back on any error.

    Nested use falls back to a savepoint, so repositories can call each other.

    Raises
    ------
    DatabaseLockedError
        When another writer holds the lock past the busy timeout.
    StorageError
        For any other failed statement or a broken constraint (``sqlite3`` errors do not
        leave storage).
    """
    if db.conn.in_transaction:
        with db.atomic():
            yield db
        return
    try:
        db.conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        raise _translate(exc) from exc
    try:
        yield db
    except (sqlite3.OperationalError, sqlite3.IntegrityError) as exc:
        db.rollback()
        raise _translate(exc) from exc
    except BaseException:
        db.rollback()
        raise
    try:
        db.conn.execute("COMMIT")
    except sqlite3.OperationalError as exc:
        db.rollback()
        raise _translate(exc) from exc


def query_one(
    db: sqlite_utils.Database, sql: str, params: Sequence[object] | None = None
) -> Row | None:
    """The first row of ``sql`` as a dict keyed by column name, or ``None``."""
    row: Row | None = next(db.query(sql, params if params is not None else ()), None)
    return row


def query_all(
    db: sqlite_utils.Database, sql: str, params: Sequence[object] | None = None
) -> list[Row]:
    """Every row of ``sql`` as dicts keyed by column name (sqlite-utils ``Database.query``)."""
    return list(db.query(sql, params if params is not None else ()))


def utc_now_iso() -> str:
    """The current UTC time as ISO 8601 (storage's only clock default)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def _translate(exc: sqlite3.DatabaseError) -> StorageError:
    text = str(exc).lower()
    if "locked" in text or "busy" in text:
        return DatabaseLockedError(str(exc))
    return StorageError(str(exc))
