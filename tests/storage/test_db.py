"""storage.db: connections, migrations and transactions."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlite_utils

from smallq.errors import DatabaseLockedError
from storage.db import Migration, apply_migrations, connect, transaction
from storage.migrations import MIGRATIONS


def test_migrations_apply_once(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    db = connect(path)
    names = [row["name"] for row in db["_migrations"].rows]
    assert names == sorted(m.name for m in MIGRATIONS)
    assert "0001_price_cache" in names
    assert {"prices", "series"} <= set(db.table_names())
    assert apply_migrations(db, MIGRATIONS) == []
    db.conn.close()
    again = connect(path)  # reconnecting applies nothing new
    assert [row["name"] for row in again["_migrations"].rows] == names


def test_price_cache_schema(tmp_path: Path) -> None:
    db = connect(tmp_path / "x.db")
    prices = db["prices"]
    assert isinstance(prices, sqlite_utils.db.Table)
    assert prices.pks == ["source", "ticker", "date"]
    assert set(prices.columns_dict) == {
        "source",
        "ticker",
        "date",
        "close",
        "open",
        "high",
        "low",
        "volume",
    }
    series = db["series"]
    assert isinstance(series, sqlite_utils.db.Table)
    assert series.pks == ["source", "ticker"]


def test_new_migration_is_applied_after_the_old_ones(tmp_path: Path) -> None:
    db = connect(tmp_path / "x.db")
    extra = Migration("9999_test", lambda d: d["probe"].create({"x": int}))
    assert apply_migrations(db, [*MIGRATIONS, extra]) == ["9999_test"]
    assert apply_migrations(db, [*MIGRATIONS, extra]) == []


def test_files_use_wal_and_memory_does_not(tmp_path: Path) -> None:
    db = connect(tmp_path / "x.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert connect(":memory:").execute("PRAGMA journal_mode").fetchone()[0] == "memory"


def test_transaction_rolls_back_on_error(tmp_path: Path) -> None:
    db = connect(tmp_path / "x.db")
    with pytest.raises(RuntimeError), transaction(db):
        db.execute("INSERT INTO series VALUES ('s', 'A', 't', 'a', 'b')")
        raise RuntimeError("boom")
    assert db.execute("SELECT COUNT(*) FROM series").fetchone()[0] == 0


def test_a_held_write_lock_becomes_database_locked_error(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    db = connect(path, busy_timeout_s=0.1)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(DatabaseLockedError), transaction(db):
            pass
    finally:
        other.rollback()
        other.close()
    with transaction(db):  # free again
        db.execute("INSERT INTO series VALUES ('s', 'A', 't', 'a', 'b')")
    assert db.execute("SELECT COUNT(*) FROM series").fetchone()[0] == 1
