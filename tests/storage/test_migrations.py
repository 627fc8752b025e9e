"""storage.migrations: the schema, and old databases migrating to it."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlite_utils

from storage.db import connect


@pytest.fixture
def db(tmp_path: Path) -> sqlite_utils.Database:
    return connect(tmp_path / "t.db")


def test_migrations_create_tables_in_wal_mode(db: sqlite_utils.Database) -> None:
    names = set(db.table_names())
    assert {"users", "profiles", "portfolios", "holdings", "bot_conversations"} <= names
    assert {"bot_user_data", "_migrations"} <= names
    applied = {r["name"] for r in db["_migrations"].rows}
    assert {"0100_users_profiles", "0101_portfolios_holdings", "0102_bot_state"} <= applied
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
