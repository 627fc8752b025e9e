"""storage.portfolios: builds and their holdings, the stored view, and rows written before views
and note kinds existed."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import sqlite_utils

from bot.views.messages import format_portfolio, format_risk, format_stress
from smallq.errors import StorageError
from smallq.models import NoteKind
from smallq.profile import make_profile
from storage.codec import dumps
from storage.db import connect
from storage.portfolios import PortfolioRepository, record_from_report
from storage.users import UserRepository
from tests.bot.fakes import make_report

PROFILE = make_profile(sectors="IT", capital=10_000)


@pytest.fixture
def db(tmp_path: Path) -> sqlite_utils.Database:
    return connect(tmp_path / "t.db")


def _old_stress_summary(report) -> dict:  # type: ignore[no-untyped-def]
    """The ``stress`` column as it was written before views (copied from the old code)."""
    return {
        "scenarios": [
            {"name": s.name, "kind": s.kind, "portfolio_return": s.portfolio_return,
             "benchmark_return": s.benchmark_return, "estimated": s.estimated, "note": s.note}
            for s in report.stress.scenarios
        ],
        "monte_carlo": [
            {"method": m.method.value, "n_paths": m.n_paths, "horizon_days": m.horizon_days,
             "mean_return": m.mean_return,
             "percentiles": {str(k): v for k, v in m.percentiles.items()},
             "loss_probabilities": {str(k): v for k, v in m.loss_probabilities.items()}}
            for m in report.stress.monte_carlo
        ],
    }  # fmt: skip


def test_a_stored_view_reads_back_equal(db: sqlite_utils.Database) -> None:
    UserRepository(db).touch(7)
    repo = PortfolioRepository(db)
    record = record_from_report(make_report(PROFILE, fallback=True, notes=("Dropped X",)))
    loaded = repo.get(repo.add(7, record))
    assert loaded is not None
    assert loaded.view == record.view and loaded.notes == record.notes
    assert [n.kind for n in loaded.notes] == [NoteKind.DATA]


def test_rows_stored_before_views_load_and_show_the_same(db: sqlite_utils.Database) -> None:
    UserRepository(db).touch(7)
    repo = PortfolioRepository(db)
    report = make_report(PROFILE, fallback=True, notes=("Dropped XYZ: too short",))
    record = record_from_report(report)
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
    assert [n.kind for n in old.notes] == [NoteKind.DATA, NoteKind.FALLBACK, NoteKind.FRESHNESS]
    assert [n.text for n in old.notes] == old_notes
    view = old.view
    assert view.figure("var_95_amount").value == pytest.approx(0.02 * 0.95 * 10_000, rel=1e-12)
    assert [s.amount for s in view.scenarios] == pytest.approx([-0.4 * 10_000, -0.08 * 10_000])
    assert view.monte_carlo[0].percentile(0.05) == -0.2
    assert [h.ticker for h in view.holdings] == ["AAPL", "MSFT", "JNJ"]
    # shown exactly as a fresh build: same figures, same notes once the kinds are known
    assert format_portfolio(old) == format_portfolio(record)
    assert format_risk(old) == format_risk(record)
    assert format_stress(old) == format_stress(record)


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


def test_owned_reads_a_build_only_for_its_owner(db: sqlite_utils.Database) -> None:
    users, repo = UserRepository(db), PortfolioRepository(db)
    users.touch(1)
    users.touch(2)
    profile = make_profile(sectors=["Information Technology"], capital=1000.0)
    first = repo.add(1, record_from_report(make_report(profile)))
    owned = repo.owned(1, first)
    assert owned is not None and owned.id == first and owned.user_id == 1
    assert repo.owned(2, first) is None  # the query is scoped by user id
    assert repo.owned(1, first + 1000) is None
