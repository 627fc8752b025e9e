"""Every schema change, in one place and in apply order.

This module is the bottom of ``storage``: it imports no other storage module (an
import-linter contract in ``pyproject.toml`` keeps it so), and every repository only reads
and writes the tables created here. :func:`storage.db.connect` applies the migrations that a
database has not recorded in ``_migrations`` yet.

Rules:

* a migration's name is unique and sorts in apply order (``0001_…`` caches, ``01xx`` the
  bot's users, builds and conversation state, ``02xx`` the scheduler's ledger and deliveries);
* an applied migration is never edited, only followed by a new one (a file database created
  by an older version must end with the same schema as a new one);
* each migration runs inside the ``BEGIN IMMEDIATE`` transaction of
  :func:`storage.db.apply_migrations`, so it is applied completely or not at all.

Adding a change: write a function (or SQL statements for :func:`_sql`) below and append a
:class:`Migration` to :data:`MIGRATIONS`; ``tests/storage/test_migrations.py`` then checks
that a database at every older version migrates to it with its rows intact.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sqlite_utils

MigrationFn = Callable[[sqlite_utils.Database], None]


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema change; ``name`` is unique and sorts in apply order ("0001_prices")."""

    name: str
    apply: MigrationFn


def _sql(*statements: str) -> MigrationFn:
    """A migration that runs ``statements`` in order (inside the caller's transaction)."""

    def apply(db: sqlite_utils.Database) -> None:
        for statement in statements:
            db.execute(statement)

    return apply


# --------------------------------------------------------------------------- 00xx caches
def _price_cache(db: sqlite_utils.Database) -> None:
    """0001: ``prices`` (one row per source, ticker, ISO date) and ``series`` (coverage)."""
    db["prices"].create(  # type: ignore[union-attr]
        {"source": str, "ticker": str, "date": str}
        | {f: float for f in ("close", "open", "high", "low", "volume")},
        pk=("source", "ticker", "date"),
        not_null={"source", "ticker", "date", "close"},
    )
    db["series"].create(  # type: ignore[union-attr]
        {"source": str, "ticker": str, "fetched_at": str, "first_date": str, "last_date": str},
        pk=("source", "ticker"),
        not_null={"source", "ticker", "fetched_at", "first_date", "last_date"},
    )


def _company_cache(db: sqlite_utils.Database) -> None:
    """0002: ``companies`` (a source's company table with sectors and fundamentals)."""
    db["companies"].create(  # type: ignore[union-attr]
        {
            "source": str,
            "ticker": str,
            "name": str,
            "sector": str,
            "market_cap": float,
            "pe": float,
            "pb": float,
            "dividend_yield": float,
            "fetched_at": str,
        },
        pk=("source", "ticker"),
        not_null={"source", "ticker", "fetched_at"},
    )


# --------------------------------------------------------------------------- 01xx bot
_USERS_PROFILES = _sql(
    """CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            username TEXT,
            first_name TEXT,
            language_code TEXT,
            created_at TEXT NOT NULL,
            last_seen_at TEXT NOT NULL
        )""",
    """CREATE TABLE profiles (
            user_id INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
            params TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
)

_PORTFOLIOS_HOLDINGS = _sql(
    """CREATE TABLE portfolios (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            created_at TEXT NOT NULL,
            as_of TEXT NOT NULL,
            source TEXT NOT NULL,
            fetched_at TEXT,
            profile TEXT NOT NULL,
            settings TEXT NOT NULL,
            capital REAL NOT NULL,
            currency TEXT NOT NULL,
            cash_left REAL NOT NULL,
            fractional INTEGER NOT NULL,
            objective_requested TEXT NOT NULL,
            objective_used TEXT NOT NULL,
            fallbacks TEXT NOT NULL,
            solver TEXT NOT NULL,
            metrics TEXT NOT NULL,
            var TEXT NOT NULL,
            risk_contributions TEXT NOT NULL,
            stress TEXT NOT NULL,
            notes TEXT NOT NULL
        )""",
    "CREATE INDEX portfolios_user ON portfolios(user_id, id)",
    """CREATE TABLE holdings (
            portfolio_id INTEGER NOT NULL REFERENCES portfolios(id) ON DELETE CASCADE,
            ticker TEXT NOT NULL,
            sector TEXT,
            target_weight REAL NOT NULL,
            weight REAL NOT NULL,
            shares REAL NOT NULL,
            price REAL,
            amount REAL NOT NULL,
            PRIMARY KEY (portfolio_id, ticker)
        )""",
)

_BOT_STATE = _sql(
    """CREATE TABLE bot_conversations (
            name TEXT NOT NULL,
            key TEXT NOT NULL,
            user_id INTEGER,
            state TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (name, key)
        )""",
    "CREATE INDEX bot_conversations_user ON bot_conversations(user_id)",
    """CREATE TABLE bot_user_data (
            user_id INTEGER PRIMARY KEY,
            data TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
)

# --------------------------------------------------------------------------- 02xx scheduler
_PAPER_LEDGER = _sql(
    """CREATE TABLE paper_accounts (
            user_id INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
            cash REAL NOT NULL, currency TEXT NOT NULL, version INTEGER NOT NULL,
            portfolio_id INTEGER, updated_at TEXT NOT NULL)""",
    """CREATE TABLE paper_positions (
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            ticker TEXT NOT NULL, shares INTEGER NOT NULL CHECK (shares > 0),
            PRIMARY KEY (user_id, ticker))""",
    """CREATE TABLE paper_trades (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            trade_date TEXT NOT NULL, ticker TEXT NOT NULL,
            side TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),
            shares INTEGER NOT NULL CHECK (shares > 0), price REAL NOT NULL, fee REAL NOT NULL,
            reference TEXT NOT NULL, created_at TEXT NOT NULL)""",
    "CREATE INDEX paper_trades_user ON paper_trades(user_id, id)",
    """CREATE TABLE rebalance_plans (
            id TEXT PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            status TEXT NOT NULL, base_version INTEGER NOT NULL, body TEXT NOT NULL,
            trade_date TEXT NOT NULL, created_at TEXT NOT NULL, expires_at TEXT NOT NULL,
            decided_at TEXT)""",
)

_SCHEDULES_THRESHOLDS_CHATS = _sql(
    """CREATE TABLE schedules (
            id INTEGER PRIMARY KEY AUTOINCREMENT, chat_id INTEGER NOT NULL,
            user_id INTEGER REFERENCES users(id) ON DELETE CASCADE, kind TEXT NOT NULL,
            frequency TEXT NOT NULL CHECK (frequency IN ('weekly', 'monthly')),
            day INTEGER NOT NULL, local_time TEXT NOT NULL, timezone TEXT NOT NULL,
            rule TEXT NOT NULL DEFAULT 'drift', drift_threshold REAL NOT NULL DEFAULT 0.05,
            active INTEGER NOT NULL DEFAULT 1, next_due_at TEXT NOT NULL,
            created_at TEXT NOT NULL, updated_at TEXT NOT NULL, UNIQUE (chat_id, kind))""",
    "CREATE INDEX schedules_due ON schedules(active, next_due_at)",
    """CREATE TABLE alert_thresholds (
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            name TEXT NOT NULL, value REAL NOT NULL, updated_at TEXT NOT NULL,
            PRIMARY KEY (user_id, name))""",
    """CREATE TABLE chat_links (
            chat_id INTEGER PRIMARY KEY, chat_type TEXT NOT NULL, title TEXT,
            linked_by INTEGER, portfolio_id INTEGER, active INTEGER NOT NULL DEFAULT 1,
            created_at TEXT NOT NULL, updated_at TEXT NOT NULL)""",
    """CREATE TABLE chat_state (
            chat_id INTEGER PRIMARY KEY, active INTEGER NOT NULL, reason TEXT,
            migrated_to INTEGER, updated_at TEXT NOT NULL)""",
)

_DELIVERY_LEDGER = _sql(
    """CREATE TABLE deliveries (
            id INTEGER PRIMARY KEY AUTOINCREMENT, chat_id INTEGER NOT NULL,
            kind TEXT NOT NULL, period TEXT NOT NULL,
            schedule_id INTEGER REFERENCES schedules(id) ON DELETE SET NULL,
            user_id INTEGER REFERENCES users(id) ON DELETE CASCADE,
            due_at TEXT NOT NULL,
            status TEXT NOT NULL
                CHECK (status IN ('due', 'sending', 'sent', 'failed', 'skipped')),
            attempts INTEGER NOT NULL DEFAULT 0, owner TEXT, lease_until TEXT,
            not_before TEXT, reason TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
            sent_at TEXT, UNIQUE (chat_id, kind, period))""",
    "CREATE INDEX deliveries_work ON deliveries(status, not_before, lease_until)",
    """CREATE TABLE delivery_parts (
            delivery_id INTEGER NOT NULL REFERENCES deliveries(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL, body TEXT NOT NULL, photo BLOB, sent_at TEXT,
            message_id INTEGER, PRIMARY KEY (delivery_id, seq))""",
)

# A sweep reads one (kind, period) of the ledger at a time (storage.sweep).
_DELIVERY_PERIOD_INDEX = _sql(
    "CREATE INDEX deliveries_period ON deliveries(kind, period, status)",
)

MIGRATIONS: list[Migration] = [
    Migration("0001_price_cache", _price_cache),
    Migration("0002_company_cache", _company_cache),
    Migration("0100_users_profiles", _USERS_PROFILES),
    Migration("0101_portfolios_holdings", _PORTFOLIOS_HOLDINGS),
    Migration("0102_bot_state", _BOT_STATE),
    Migration("0200_paper_ledger", _PAPER_LEDGER),
    Migration("0201_schedules_thresholds_chats", _SCHEDULES_THRESHOLDS_CHATS),
    Migration("0202_delivery_ledger", _DELIVERY_LEDGER),
    Migration("0203_delivery_period_index", _DELIVERY_PERIOD_INDEX),
]
"""Every migration, in apply order."""
