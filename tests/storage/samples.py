"""Sample values shared by the storage tests."""

from __future__ import annotations

from datetime import date

import sqlite_utils

from smallq.models import Profile, Report
from smallq.presentation import present_portfolio
from smallq.profile import make_profile
from storage.portfolios import PortfolioRecord, ViewDocument, record_from_report
from storage.subscriptions import ScheduleRecord, ScheduleRepository

T0 = "2026-03-02T09:00:00+00:00"
T1 = "2026-03-02T09:10:00+00:00"
T2 = "2026-03-09T09:00:00+00:00"


def stored_record(report: Report) -> PortfolioRecord:
    """A report's storable record with its view document (as ``bot.services.records`` makes it)."""
    return record_from_report(report, ViewDocument(present_portfolio(report).to_dict()))


def full_profile() -> Profile:
    return make_profile(
        sectors=["tech", "Health Care"], capital="10,000", risk_level="aggressive",
        strategy="low_vol", top_n=12, max_weight=0.3, sector_caps={"IT": 0.6},
        objective="min_volatility", cov_model="sample", fractional=True,
        include="brk.b, aapl", exclude=["XOM"], min_market_cap=1e9, as_of=date(2022, 6, 30),
    )  # fmt: skip


def add_schedule(db: sqlite_utils.Database, chat_id: int = 1, next_due: str = T0) -> ScheduleRecord:
    return ScheduleRepository(db).upsert(
        chat_id,
        "digest",
        frequency="weekly",
        day=0,
        local_time="09:00",
        timezone="UTC",
        next_due_at=next_due,
        user_id=1 if chat_id == 1 else None,
        now=T0,
    )
