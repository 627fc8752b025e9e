"""Users, profiles, portfolio builds and bot state on a real temporary SQLite database."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
import sqlite_utils

from smallq.errors import StorageError
from smallq.models import Profile
from smallq.profile import make_profile
from smallq.types import CovModel, Objective, RiskLevel, Sector, Strategy
from storage.codec import dumps, profile_from_dict, profile_to_dict
from storage.conversations import BotStateRepository
from storage.db import connect
from storage.portfolios import PortfolioRepository, record_from_report
from storage.users import UserRepository, erase_user
from tests.bot.fakes import make_report


@pytest.fixture
def db(tmp_path: Path) -> sqlite_utils.Database:
    return connect(tmp_path / "t.db")


def full_profile() -> Profile:
    return make_profile(
        sectors=["tech", "Health Care"], capital="10,000", risk_level="aggressive",
        strategy="low_vol", top_n=12, max_weight=0.3, sector_caps={"IT": 0.6},
        objective="min_volatility", cov_model="sample", fractional=True,
        include="brk.b, aapl", exclude=["XOM"], min_market_cap=1e9, as_of=date(2022, 6, 30),
    )  # fmt: skip


def test_migrations_create_tables_in_wal_mode(db: sqlite_utils.Database) -> None:
    names = set(db.table_names())
    assert {"users", "profiles", "portfolios", "holdings", "bot_conversations"} <= names
    assert {"bot_user_data", "_migrations"} <= names
    applied = {r["name"] for r in db["_migrations"].rows}
    assert {"0100_users_profiles", "0101_portfolios_holdings", "0102_bot_state"} <= applied
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_profile_round_trips_every_field() -> None:
    profile = full_profile()
    back = profile_from_dict(profile_to_dict(profile))
    assert back == profile
    assert back.sectors == (Sector.INFORMATION_TECHNOLOGY, Sector.HEALTH_CARE)
    assert back.risk_level is RiskLevel.AGGRESSIVE and back.strategy is Strategy.LOW_VOL
    assert back.objective is Objective.MIN_VOLATILITY and back.cov_model is CovModel.SAMPLE
    assert back.include == ("BRK-B", "AAPL") and back.sector_caps == {
        Sector.INFORMATION_TECHNOLOGY: 0.6
    }


def test_unreadable_profile_raises_storage_error() -> None:
    with pytest.raises(StorageError):
        profile_from_dict({"sectors": ["Not a sector"], "capital": 1.0})


def test_dumps_writes_nan_as_null() -> None:
    assert dumps({"a": math.nan, "b": [math.inf, 1.5]}) == '{"a":null,"b":[null,1.5]}'


def test_touch_inserts_then_updates(db: sqlite_utils.Database) -> None:
    users = UserRepository(db)
    users.touch(7, username="a", first_name="Ann", now="2024-01-01T00:00:00+00:00")
    users.touch(7, username="b", first_name="Ann", now="2024-02-01T00:00:00+00:00")
    user = users.get(7)
    assert user is not None and user.username == "b"
    assert user.created_at.startswith("2024-01-01") and user.last_seen_at.startswith("2024-02-01")
    assert users.count() == 1 and users.get(8) is None


def test_save_profile_replaces(db: sqlite_utils.Database) -> None:
    users = UserRepository(db)
    assert users.get_profile(7) is None
    users.save_profile(7, full_profile())
    changed = replace(full_profile(), top_n=20)
    users.save_profile(7, changed)
    assert users.get_profile(7) == changed
    assert db.execute("SELECT count(*) FROM profiles").fetchone()[0] == 1


def test_portfolio_record_matches_report(db: sqlite_utils.Database) -> None:
    profile = make_profile(sectors="IT", capital=10_000)
    report = make_report(profile, fallback=True, notes=("Dropped XYZ: too short",))
    record = record_from_report(report)
    # 10,000 at 50/30/20%: floor(5000/150)=33, floor(3000/250)=12, floor(2000/160)=12
    assert [(h.ticker, h.shares, h.amount) for h in record.holdings] == [
        ("AAPL", 33.0, 4950.0), ("MSFT", 12.0, 3000.0), ("JNJ", 12.0, 1920.0),
    ]  # fmt: skip
    assert record.cash_left == pytest.approx(10_000 - 4950 - 3000 - 1920)
    assert record.fallbacks == (("max_sharpe", "all returns below the risk-free rate"),)
    assert record.objective_used == "min_volatility" and record.solver == "CLARABEL"
    assert record.var_at(0.95).var == pytest.approx(0.02 * 0.95)


def test_portfolios_add_get_latest(db: sqlite_utils.Database) -> None:
    UserRepository(db).touch(7)
    repo = PortfolioRepository(db)
    profile = make_profile(sectors="IT", capital=10_000)
    first = repo.add(7, record_from_report(make_report(profile)))
    record = record_from_report(make_report(replace(profile, capital=20_000)))
    second = repo.add(7, record)
    assert second > first and repo.count(7) == 2 and repo.list_ids(7) == [second, first]
    latest = repo.latest(7)
    assert latest is not None and latest.id == second and latest.user_id == 7
    assert latest.capital == 20_000 and latest.holdings == record.holdings
    assert latest.var == record.var and latest.metrics == record.metrics
    assert latest.view == record.view and latest.profile == record.profile
    assert latest.notes == record.notes
    assert repo.get(first) is not None and repo.get(999) is None
    assert repo.latest(8) is None


def test_portfolio_requires_existing_user(db: sqlite_utils.Database) -> None:
    record = record_from_report(make_report(make_profile(sectors="IT", capital=10_000)))
    with pytest.raises(StorageError, match="FOREIGN KEY"):
        PortfolioRepository(db).add(99, record)
    assert PortfolioRepository(db).count() == 0  # the transaction rolled back


def test_bot_state_round_trip(db: sqlite_utils.Database) -> None:
    state = BotStateRepository(db)
    state.set_conversation("build", (7, 7), 2)
    state.set_conversation("build", (8, 8), 3)
    state.set_conversation("build", (8, 8), None)
    assert state.conversations("build") == {(7, 7): 2}
    state.set_user_data(7, {"draft": {"sectors": ["IT"], "capital": None}})
    assert state.user_data(7) == {"draft": {"sectors": ["IT"], "capital": None}}
    assert state.all_user_data() == {7: {"draft": {"sectors": ["IT"], "capital": None}}}
    state.set_user_data(7, {})
    assert state.user_data(7) == {}


def test_erase_user_removes_everything(db: sqlite_utils.Database) -> None:
    users, repo, state = UserRepository(db), PortfolioRepository(db), BotStateRepository(db)
    profile = make_profile(sectors="IT", capital=10_000)
    for uid in (7, 8):
        users.touch(uid)
        users.save_profile(uid, profile)
        repo.add(uid, record_from_report(make_report(profile)))
        state.set_conversation("build", (uid, uid), 2)
        state.set_user_data(uid, {"draft": {}})
    assert erase_user(db, 7) is True
    assert users.get(7) is None and users.get_profile(7) is None and repo.latest(7) is None
    assert db.execute("SELECT count(*) FROM holdings h JOIN portfolios p ON "
                      "p.id = h.portfolio_id WHERE p.user_id = 7").fetchone()[0] == 0  # fmt: skip
    assert db.execute("SELECT count(*) FROM holdings").fetchone()[0] == 3  # user 8's
    assert state.conversations("build") == {(8, 8): 2} and state.user_data(7) == {}
    assert users.get(8) is not None and repo.count(8) == 1
    assert erase_user(db, 7) is False
