"""Paper ledger: trades, positions, cash, plans; atomicity and ownership."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest

from smallq.errors import StorageError
from smallq.models import Order
from smallq.rebalance import plan_rebalance
from smallq.types import PlanOutcome, Side
from storage.db import connect
from storage.ledger import LedgerRepository
from storage.users import UserRepository, erase_user

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DAY = date(2026, 2, 27)


@pytest.fixture
def db():
    database = connect(":memory:")
    for uid in (1, 2):
        UserRepository(database).touch(uid)
    return database


def buy(ticker: str, shares: int, price: float, fee: float = 0.0) -> Order:
    return Order(ticker, Side.BUY, shares, price, shares * price, fee)


def sell(ticker: str, shares: int, price: float, fee: float = 0.0) -> Order:
    return Order(ticker, Side.SELL, shares, price, shares * price, fee)


def test_opening_trades_set_positions_and_cash(db) -> None:
    repo = LedgerRepository(db)
    assert repo.account(1) is None
    account = repo.record_trades(
        1,
        [buy("AAA", 10, 100.0, 1.0), buy("BBB", 5, 50.0, 0.25)],
        trade_date=DAY,
        reference="accept:7",
        opening_cash=2000.0,
        portfolio_id=7,
    )
    assert account.positions == (("AAA", 10), ("BBB", 5))
    assert account.cash == pytest.approx(2000 - 1000 - 1 - 250 - 0.25)
    assert (account.version, account.portfolio_id) == (1, 7)
    assert account.shares.to_dict() == {"AAA": 10, "BBB": 5}
    trades = repo.trades(1)
    assert [(t.ticker, t.side, t.shares, t.price, t.fee, t.trade_date) for t in trades] == [
        ("BBB", Side.BUY, 5, 50.0, 0.25, DAY),
        ("AAA", Side.BUY, 10, 100.0, 1.0, DAY),
    ]
    account = repo.record_trades(1, [sell("AAA", 10, 110.0, 1.1)], trade_date=DAY, reference="x")
    assert account.positions == (("BBB", 5),)
    assert account.cash == pytest.approx(748.75 + 1100 - 1.1)
    assert account.version == 2


def test_bad_trades_change_nothing(db) -> None:
    repo = LedgerRepository(db)
    with pytest.raises(StorageError):
        repo.record_trades(1, [buy("AAA", 1, 10.0)], trade_date=DAY, reference="x")
    repo.record_trades(1, [buy("AAA", 1, 10.0)], trade_date=DAY, reference="x", opening_cash=100)
    with pytest.raises(StorageError):  # overdraw
        repo.record_trades(1, [buy("BBB", 1, 95.0)], trade_date=DAY, reference="y")
    with pytest.raises(StorageError):  # sell more than held: the first (valid) order rolls back
        repo.record_trades(
            1, [buy("CCC", 1, 1.0), sell("AAA", 2, 10.0)], trade_date=DAY, reference="z"
        )
    with pytest.raises(StorageError):  # stale version
        repo.record_trades(1, [], trade_date=DAY, reference="v", expected_version=99)
    account = repo.account(1)
    assert account is not None
    assert (account.positions, account.cash, account.version) == ((("AAA", 1),), 90.0, 1)
    assert len(repo.trades(1)) == 1


def make_plan(repo: LedgerRepository):
    account = repo.record_trades(
        1, [buy("AAA", 10, 100.0)], trade_date=DAY, reference="accept:1", opening_cash=1000.0
    )
    plan = plan_rebalance(
        account.shares,
        account.cash,
        pd.Series({"AAA": 0.5, "BBB": 0.5}),
        pd.Series({"AAA": 100.0, "BBB": 50.0}),
        costs_bps=10,
    )
    plan_id = repo.save_plan(1, plan, base_version=account.version, trade_date=DAY, now=NOW)
    return plan, plan_id


def test_apply_plan_once_by_owner_only(db) -> None:
    repo = LedgerRepository(db)
    plan, plan_id = make_plan(repo)
    stored = repo.plan(plan_id)
    assert stored is not None and stored.orders == plan.orders
    assert repo.decide_plan(plan_id, 2, apply=True, now=NOW)[0] is PlanOutcome.NOT_FOUND
    assert repo.decide_plan("forged", 1, apply=True, now=NOW)[0] is PlanOutcome.NOT_FOUND
    outcome, account = repo.decide_plan(plan_id, 1, apply=True, now=NOW)
    assert outcome is PlanOutcome.APPLIED and account is not None
    # V = 1000: sell 5 AAA @100 -> 499.50 after fee; 10 BBB would cost 500.50, so
    # floor(10 * 499.5 / 500.5) = 9 BBB for 450.45 -> 49.05 cash left
    assert account.positions == (("AAA", 5), ("BBB", 9))
    assert account.cash == pytest.approx(499.5 - 450.45)
    assert repo.trades(1)[0].reference == f"plan:{plan_id}"
    again, _ = repo.decide_plan(plan_id, 1, apply=True, now=NOW)
    assert again is PlanOutcome.ALREADY_DONE
    assert len(repo.trades(1)) == 3


def test_stale_expired_and_skipped_plans(db) -> None:
    repo = LedgerRepository(db)
    _, plan_id = make_plan(repo)
    late = NOW + timedelta(days=4)
    assert repo.decide_plan(plan_id, 1, apply=True, now=late)[0] is PlanOutcome.EXPIRED
    repo.record_trades(1, [sell("AAA", 1, 100.0)], trade_date=DAY, reference="manual")
    assert repo.decide_plan(plan_id, 1, apply=True, now=NOW)[0] is PlanOutcome.STALE
    assert repo.decide_plan(plan_id, 1, apply=False, now=NOW)[0] is PlanOutcome.SKIPPED
    assert repo.decide_plan(plan_id, 1, apply=True, now=NOW)[0] is PlanOutcome.ALREADY_DONE


def test_erasing_a_user_erases_the_ledger(db) -> None:
    repo = LedgerRepository(db)
    make_plan(repo)
    erase_user(db, 1)
    assert repo.account(1) is None and repo.trades(1) == []
    for table in ("paper_positions", "paper_trades", "rebalance_plans"):
        assert db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0
