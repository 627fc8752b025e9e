"""Synthetic users for the weekly sweep: tests and ``bench/bench_sweep.py`` share them.

Each user has a profile (one of a few universes), a paper account on the offline sample's
tickers (sometimes an unknown ticker, or no account at all), alert-threshold
overrides for some, and a weekly (or monthly) check due at :data:`T0`. Written with plain
``executemany`` in one transaction so 10,000 users take a second, not minutes.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlite_utils

from smallq.profile import make_profile
from smallq.types import RiskLevel
from storage.codec import dumps, profile_to_dict
from storage.db import transaction

#: a Monday after the sample's last day (2022-12-28): the check uses the sample's last prices
T0 = datetime(2023, 1, 2, 9, 0, tzinfo=UTC)
SAMPLE_TICKERS = (
    "AAPL", "AMD", "BAC", "BBY", "CVX", "GE", "HD", "JNJ", "JPM", "KO",
    "LLY", "MRK", "MSFT", "PEP", "PFE", "PG", "RRC", "UNH", "WMT", "XOM",
)  # fmt: skip
UNIVERSES: tuple[tuple[str, ...], ...] = (
    ("Information Technology", "Health Care"),
    ("Financials", "Energy", "Consumer Staples"),
    ("Health Care", "Consumer Staples", "Consumer Discretionary"),
)


def iso(moment: datetime) -> str:
    """The ledger's time format."""
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def profiles() -> list[str]:
    """Stored profile texts: every universe at three risk levels (nine universe keys)."""
    levels = (RiskLevel.CAUTIOUS, RiskLevel.MODERATE, RiskLevel.AGGRESSIVE)
    made = [
        make_profile(sectors=list(sectors), capital=10_000, risk_level=level)
        for sectors in UNIVERSES
        for level in levels
    ]
    return [dumps(profile_to_dict(profile)) for profile in made]


def populate(db: sqlite_utils.Database, n_users: int, *, seed: int = 11, first_id: int = 1) -> None:
    """Write ``n_users`` users with accounts and checks due at :data:`T0`."""
    rng = random.Random(seed)
    stamp = iso(T0 - timedelta(days=30))
    texts = profiles()
    users = list(range(first_id, first_id + n_users))
    positions: list[tuple[int, str, int]] = []
    accounts: list[tuple[int, float, str]] = []
    thresholds: list[tuple[int, str, float, str]] = []
    for u in users:
        if u % 23 == 5:  # a profile but no paper account yet
            continue
        picked = rng.sample(SAMPLE_TICKERS, rng.randint(2, 10))
        if u % 17 == 3:
            picked.append("GONE")  # delisted: a missing-data alert
        positions += [(u, t, rng.randint(1, 60)) for t in picked]
        accounts.append((u, rng.choice([0.0, 12.5, 480.0, 25_000.0]), stamp))
        if u % 3 == 0:
            thresholds.append((u, "drift_threshold", 1.0 if u % 2 == 0 else 0.01, stamp))
        if u % 4 == 0:
            thresholds.append((u, "var_limit", 0.012, stamp))
    _insert(db, users, texts, rng, accounts, positions, thresholds, stamp)


def _insert(
    db: sqlite_utils.Database,
    users: Sequence[int],
    texts: Sequence[str],
    rng: random.Random,
    accounts: Sequence[tuple[int, float, str]],
    positions: Sequence[tuple[int, str, int]],
    thresholds: Sequence[tuple[int, str, float, str]],
    stamp: str,
) -> None:
    with transaction(db):
        conn = db.conn
        conn.executemany("INSERT INTO users (id, created_at, last_seen_at) VALUES (?, ?, ?)",
                         [(u, stamp, stamp) for u in users])  # fmt: skip
        conn.executemany("INSERT INTO profiles (user_id, params, updated_at) VALUES (?, ?, ?)",
                         [(u, rng.choice(texts), stamp) for u in users])  # fmt: skip
        conn.executemany(
            "INSERT INTO paper_accounts (user_id, cash, currency, version, portfolio_id, "
            "updated_at) VALUES (?, ?, 'USD', 1, NULL, ?)",
            accounts,
        )
        conn.executemany(
            "INSERT INTO paper_positions (user_id, ticker, shares) VALUES (?, ?, ?)", positions
        )
        conn.executemany(
            "INSERT INTO alert_thresholds (user_id, name, value, updated_at) VALUES (?, ?, ?, ?)",
            thresholds,
        )
        conn.executemany(
            "INSERT INTO schedules (chat_id, user_id, kind, frequency, day, local_time, timezone, "
            "next_due_at, created_at, updated_at) VALUES (?, ?, 'digest', ?, ?, '09:00', 'UTC', "
            "?, ?, ?)",
            # weekly on Mondays (day 0), or monthly on the 2nd: both due at T0
            [(u, u, *(("monthly", 2) if u % 5 == 0 else ("weekly", 0)), iso(T0), stamp, stamp)
             for u in users],
        )  # fmt: skip
