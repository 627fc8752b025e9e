"""storage.portfolios: builds and their holdings."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import sqlite_utils

from smallq.errors import StorageError
from smallq.profile import make_profile
from storage.db import connect
from storage.portfolios import PortfolioRepository, record_from_report
from storage.users import UserRepository
from tests.bot.fakes import make_report


@pytest.fixture
def db(tmp_path: Path) -> sqlite_utils.Database:
    return connect(tmp_path / "t.db")


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
    assert latest.stress == record.stress and latest.profile == record.profile
    assert repo.get(first) is not None and repo.get(999) is None
    assert repo.latest(8) is None


def test_portfolio_requires_existing_user(db: sqlite_utils.Database) -> None:
    record = record_from_report(make_report(make_profile(sectors="IT", capital=10_000)))
    with pytest.raises(StorageError, match="FOREIGN KEY"):
        PortfolioRepository(db).add(99, record)
    assert PortfolioRepository(db).count() == 0  # the transaction rolled back
