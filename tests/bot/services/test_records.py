"""bot.services.records: a stored build's view document decoded into the one portfolio view, and
rows stored before views existed presented from their columns, shown as a fresh build is."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlite_utils

from bot.services.records import portfolio_view, record_of
from bot.views.messages import render_portfolio, render_risk, render_stress
from smallq.errors import StorageError
from smallq.presentation import present_portfolio
from smallq.profile import make_profile
from storage.codec import dumps
from storage.db import connect
from storage.portfolios import PortfolioRepository
from storage.users import UserRepository
from tests.bot.fakes import make_report
from tests.storage.test_portfolios import _old_stress_summary

PROFILE = make_profile(sectors="IT", capital=10_000)


@pytest.fixture
def db(tmp_path: Path) -> sqlite_utils.Database:
    return connect(tmp_path / "t.db")


def test_a_stored_view_reads_back_as_presented(db: sqlite_utils.Database) -> None:
    UserRepository(db).touch(7)
    repo = PortfolioRepository(db)
    report = make_report(PROFILE, fallback=True, notes=("Dropped X",))
    record = record_of(report)
    loaded = repo.get(repo.add(7, record))
    assert loaded is not None
    assert portfolio_view(loaded) == portfolio_view(record) == present_portfolio(report)


def test_rows_stored_before_views_are_presented_the_same(db: sqlite_utils.Database) -> None:
    UserRepository(db).touch(7)
    repo = PortfolioRepository(db)
    report = make_report(PROFILE, fallback=True, notes=("Dropped XYZ: too short",))
    record = record_of(report)
    pid = repo.add(7, record)
    old_notes = [
        "Dropped XYZ: too short",
        "Fallback: max_sharpe was not used — all returns below the risk-free rate",
        "Prices from sample up to 2022-12-28, fetched 2024-01-02 03:04 UTC.",
    ]
    db.execute(
        "UPDATE portfolios SET stress = ?, notes = ? WHERE id = ?",
        (dumps(_old_stress_summary(report)), dumps(old_notes), pid),
    )
    db.conn.commit()
    old = repo.get(pid)
    assert old is not None
    view = portfolio_view(old)
    assert view.figure("var_95_amount").value == pytest.approx(0.02 * 0.95 * 10_000, rel=1e-12)
    assert [s.amount for s in view.scenarios] == pytest.approx([-0.4 * 10_000, -0.08 * 10_000])
    assert view.monte_carlo[0].percentile(0.05) == -0.2
    assert [h.ticker for h in view.holdings] == ["AAPL", "MSFT", "JNJ"]
    # shown exactly as a fresh build: same figures, same notes once the kinds are known
    fresh = portfolio_view(record)
    assert render_portfolio(view) == render_portfolio(fresh)
    assert render_risk(view) == render_risk(fresh)
    assert render_stress(view) == render_stress(fresh)


def test_an_unreadable_view_document_is_a_storage_error(db: sqlite_utils.Database) -> None:
    UserRepository(db).touch(7)
    repo = PortfolioRepository(db)
    pid = repo.add(7, record_of(make_report(PROFILE)))
    db.execute(
        "UPDATE portfolios SET stress = ? WHERE id = ?",
        (dumps({"schema": "smallq.view/1", "as_of": "2022-12-28"}), pid),
    )
    db.conn.commit()
    stored = repo.get(pid)
    assert stored is not None
    with pytest.raises(StorageError, match="unreadable"):
        portfolio_view(stored)
