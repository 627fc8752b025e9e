"""Dashboard fixtures: a temporary database with two users, and the app under AppTest."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from smallq.data.sample import SampleSource
from smallq.params import DEFAULT_PARAMS
from smallq.pipeline import build_portfolio
from smallq.profile import make_profile
from smallq.rebalance import Order, Side
from storage.db import connect
from storage.ledger import LedgerRepository
from storage.portfolios import PortfolioRepository, record_from_report
from storage.users import UserRepository

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
SECRET = "dashboard-test-secret-" + "0123456789"
MC_PATHS = 200
ALICE, BOB = 1001, 2002


@dataclass(frozen=True)
class Seeded:
    """Ids written to the test database."""

    db_path: Path
    alice_portfolio: int
    bob_portfolio: int


@pytest.fixture(autouse=True)
def dashboard_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Settings the app reads: a temporary database, the sample source, few MC paths."""
    db_path = tmp_path / "smallq.db"
    monkeypatch.setenv("SMALLQ_DB_PATH", str(db_path))
    monkeypatch.setenv("SMALLQ_SOURCE", "sample")
    monkeypatch.setenv("SMALLQ_MC_PATHS", str(MC_PATHS))
    monkeypatch.setenv("SMALLQ_DASHBOARD_SECRET", SECRET)
    monkeypatch.setenv("SMALLQ_DASHBOARD_URL", "http://dash.test")
    monkeypatch.chdir(tmp_path)  # no developer .env is read
    return db_path


@pytest.fixture()
def seeded(dashboard_env: Path) -> Iterator[Seeded]:
    """Alice and Bob, one build each (Bob's from other sectors), Alice's paper trades."""
    db = connect(dashboard_env)
    source = SampleSource()
    params = replace(DEFAULT_PARAMS, mc_paths=MC_PATHS)
    ids = []
    for user, sectors, as_of in (
        (ALICE, "Information Technology,Health Care", date(2021, 6, 30)),
        (BOB, "Financials,Energy,Consumer Staples", date(2020, 6, 30)),
    ):
        UserRepository(db).touch(user, first_name=f"user{user}")
        profile = make_profile(sectors=sectors, capital=10_000, as_of=as_of)
        report = build_portfolio(profile, source, today=date(2026, 1, 1), params=params)
        ids.append(PortfolioRepository(db).add(user, record_from_report(report)))
    LedgerRepository(db).record_trades(
        ALICE, [Order("AAPL", Side.BUY, 10, 130.0, 1300.0, 1.3)], trade_date=date(2021, 6, 30),
        reference="accept:1", opening_cash=10_000.0,
    )  # fmt: skip
    db.close()
    yield Seeded(dashboard_env, ids[0], ids[1])


def app() -> AppTest:
    """A fresh simulated session of the dashboard."""
    return AppTest.from_file(str(APP), default_timeout=120)


def now() -> datetime:
    """The real time (the app verifies tokens against it)."""
    return datetime.now(UTC)


def every_text(at: AppTest) -> str:
    """All text the page shows (markdown, captions, errors, tables, metrics)."""
    parts: list[str] = []
    for kind in ("markdown", "caption", "error", "info", "success", "warning", "title",
                 "subheader", "metric"):  # fmt: skip
        for element in getattr(at, kind):
            parts.append(str(getattr(element, "value", "")))
            parts.append(str(getattr(element, "label", "")))
    for frame in [*at.dataframe, *at.table]:
        parts.append(frame.value.to_string())
    return "\n".join(parts)
