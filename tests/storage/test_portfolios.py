"""storage.portfolios: builds and their holdings, the stored view document, and rows written before
views and note kinds existed (decoding the document: tests/bot/services/test_records.py)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import sqlite_utils

from smallq.errors import StorageError
from smallq.models import NoteKind
from smallq.profile import make_profile
from storage.codec import dumps
from storage.db import connect
from storage.portfolios import PortfolioRepository
from storage.users import UserRepository
from tests.bot.fakes import make_report
from tests.storage.samples import stored_record

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
    record = stored_record(make_report(PROFILE, fallback=True, notes=("Dropped X",)))
    loaded = repo.get(repo.add(7, record))
    assert loaded is not None and loaded.notes == record.notes
    assert loaded.view_document.schema == "smallq.view/1"
    assert loaded.view_document.data == json.loads(dumps(record.view_document.data))
    assert [n.kind for n in loaded.notes] == [NoteKind.DATA]


def test_rows_stored_before_views_load_and_show_the_same(db: sqlite_utils.Database) -> None:
    UserRepository(db).touch(7)
    repo = PortfolioRepository(db)
    report = make_report(PROFILE, fallback=True, notes=("Dropped XYZ: too short",))
    record = stored_record(report)
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
    # the document is returned as stored; bot.services.records presents it from the columns
    assert old.view_document.schema is None
    assert old.view_document.data == json.loads(dumps(_old_stress_summary(report)))


def test_portfolio_record_matches_report(db: sqlite_utils.Database) -> None:
    profile = make_profile(sectors="IT", capital=10_000)
    report = make_report(profile, fallback=True, notes=("Dropped XYZ: too short",))
    record = stored_record(report)
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
    first = repo.add(7, stored_record(make_report(profile)))
    record = stored_record(make_report(replace(profile, capital=20_000)))
    second = repo.add(7, record)
    assert second > first and repo.count(7) == 2 and repo.list_ids(7) == [second, first]
    latest = repo.latest(7)
    assert latest is not None and latest.id == second and latest.user_id == 7
    assert latest.capital == 20_000 and latest.holdings == record.holdings
    assert latest.var == record.var and latest.metrics == record.metrics
    assert latest.view_document.data == json.loads(dumps(record.view_document.data))
    assert latest.profile == record.profile
    assert latest.notes == record.notes
    assert repo.get(first) is not None and repo.get(999) is None
    assert repo.latest(8) is None


def test_portfolio_requires_existing_user(db: sqlite_utils.Database) -> None:
    record = stored_record(make_report(make_profile(sectors="IT", capital=10_000)))
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
