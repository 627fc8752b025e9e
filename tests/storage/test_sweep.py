"""storage.sweep: a batch of users' check inputs in one query equals the per-user reads."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
import sqlite_utils

from smallq.models import Order
from smallq.profile import make_profile
from smallq.types import Side
from storage.db import connect
from storage.deliveries import DeliveryRepository, DuePlan, NewOccurrence
from storage.ledger import LedgerRepository
from storage.portfolios import PortfolioRepository
from storage.subscriptions import ScheduleRepository, ThresholdRepository
from storage.sweep import SweepRepository, UserCheck
from storage.users import UserRepository
from tests.bot.fakes import make_report
from tests.storage.samples import T0, T1, T2, full_profile, stored_record

PERIOD = "2026-W10"


@pytest.fixture
def db() -> sqlite_utils.Database:
    """User 1 has everything; user 2 only a schedule; chat -100 is a group."""
    database = connect(":memory:")
    users, schedules = UserRepository(database), ScheduleRepository(database)
    plans = []
    for uid in (1, 2):
        users.touch(uid)
        schedule = schedules.upsert(
            uid, "check", frequency="weekly" if uid == 1 else "monthly", day=0,
            local_time="09:00", timezone="UTC", next_due_at=T0, user_id=uid,
            drift_threshold=0.04, now=T0,
        )  # fmt: skip
        occurrence = NewOccurrence(uid, "check", PERIOD, T0, uid)
        plans.append(DuePlan(schedule.id, T0, (occurrence,), T2))
    DeliveryRepository(database).record_due_many(plans, now=T0)
    DeliveryRepository(database).enqueue(NewOccurrence(-100, "check", PERIOD, T0), now=T0)
    users.save_profile(1, full_profile())
    portfolios = PortfolioRepository(database)
    profile = make_profile(sectors="IT", capital=10_000)
    portfolios.add(1, stored_record(make_report(profile)))
    portfolios.add(1, stored_record(make_report(replace(profile, capital=20_000))))
    orders = [
        Order("MSFT", Side.BUY, 3, 250.0, 750.0, 0.0),
        Order("AAPL", Side.BUY, 5, 150.0, 750.0, 0.0),
    ]
    LedgerRepository(database).record_trades(
        1, orders,
        trade_date=date(2026, 2, 27), reference="accept:2", opening_cash=2000.0, portfolio_id=2,
    )  # fmt: skip
    ThresholdRepository(database).set(1, "var_limit", 0.03)
    ThresholdRepository(database).set(1, "stale_days", 5)
    return database


def test_a_users_check_equals_the_per_user_reads(db: sqlite_utils.Database) -> None:
    checks = SweepRepository(db).due_user_checks("check", PERIOD)
    assert [c.user_id for c in checks] == [1, 2]  # the group's delivery is not a user check
    full, bare = checks
    assert full.profile == UserRepository(db).get_profile(1) == full_profile()
    assert full.account == LedgerRepository(db).account(1)
    assert full.account is not None and full.account.positions == (("AAPL", 5), ("MSFT", 3))
    assert full.thresholds == ThresholdRepository(db).overrides(1)
    latest = PortfolioRepository(db).latest(1)
    assert latest is not None and full.latest_build is not None
    assert (full.latest_build.id, full.latest_build.as_of) == (latest.id, latest.as_of)
    assert full.latest_build.target_weights == tuple(
        (h.ticker, h.target_weight) for h in latest.holdings
    )
    schedule = ScheduleRepository(db).get(1, "check")
    assert schedule is not None
    assert (full.schedule_id, full.frequency, full.rule, full.drift_threshold) == (
        schedule.id, "weekly", "drift", 0.04,
    )  # fmt: skip
    assert (full.chat_id, full.kind, full.period, full.due_at, full.status) == (
        1, "check", PERIOD, T0, "due",
    )  # fmt: skip
    assert bare == UserCheck(
        delivery_id=bare.delivery_id, chat_id=2, user_id=2, kind="check", period=PERIOD,
        due_at=T0, status="due", schedule_id=bare.schedule_id, frequency="monthly",
        rule="drift", drift_threshold=0.04, profile=None, account=None, latest_build=None,
        thresholds={},
    )  # fmt: skip


def test_checks_by_leased_ids_and_by_status(db: sqlite_utils.Database) -> None:
    sweep, ledger = SweepRepository(db), DeliveryRepository(db)
    leased = ledger.acquire(now=T0, lease_until=T1, max_attempts=3, limit=1)
    assert [c.user_id for c in sweep.user_checks([r.id for r in leased])] == [1]
    assert sweep.user_checks([]) == [] and sweep.user_checks([999]) == []
    assert [c.status for c in sweep.due_user_checks("check", PERIOD)] == ["sending", "due"]
    assert [c.user_id for c in sweep.due_user_checks("check", PERIOD, statuses=["due"])] == [2]
    assert sweep.due_user_checks("check", "2026-W11") == []
    assert sweep.due_user_checks("digest", PERIOD) == []
