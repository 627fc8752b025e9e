"""End to end: Accept records paper trades; a scheduled check's Apply updates the holdings.

A user builds a portfolio through the conversation (real pipeline, sample data), accepts it,
later moves to a conservative risk level and subscribes to monthly checks (calendar rule);
when the check comes due, its "Apply (paper)" button records the trades.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.main import make_deps
from bot.scheduler.calendar import SchedulerSettings
from smallq.types import RiskLevel
from storage.db import connect
from storage.ledger import LedgerRepository
from storage.users import UserRepository
from tests.bot.scheduler.test_dispatch import FakeClock
from tests.e2e.fake_telegram import FakeTelegramServer
from tests.e2e.harness import TOKEN, Chatter, e2e_config, running_bot, settle

USER = 7001
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)  # Sunday


@pytest.fixture
async def server() -> AsyncIterator[FakeTelegramServer]:
    async with FakeTelegramServer(TOKEN) as fake:
        yield fake


async def test_accept_then_scheduled_apply_updates_holdings(
    tmp_path: Path, server: FakeTelegramServer
) -> None:
    api, clock = server.api, FakeClock(START)
    config = e2e_config(tmp_path, server)
    deps = make_deps(config)
    deps.clock = clock
    deps.scheduler = SchedulerSettings(tick_seconds=0.2, first_tick_seconds=0.1)
    user = Chatter(api, USER)
    async with running_bot(config, deps):
        # level 4: level 5's four 25% holdings leave less cash than the 10 bp fees, so accepting
        # buys one share less than built (a paper-trading limit reported separately)
        await user.answer_questions(sectors=("IT", "HC"), capital="10,000", risk=4)
        await user.tap("confirm:build", wait_answer=False)
        await user.wait_result()
        db = connect(config.db_path)
        (portfolio_id,) = db.execute("SELECT id FROM portfolios").fetchone()
        await user.tap(f"accept:{portfolio_id}")
        await api.wait_for(lambda: "Paper trades recorded" in api.texts_to(USER)[-1], 15)
        ledger = LedgerRepository(db)
        accepted = ledger.account(USER)
        built = db.execute(
            "SELECT ticker, shares FROM holdings WHERE portfolio_id = ? AND shares > 0",
            (portfolio_id,),
        ).fetchall()
        assert accepted is not None and dict(accepted.positions) == {t: int(n) for t, n in built}
        assert 0 <= accepted.cash < 10_000 and len(ledger.trades(USER)) == len(built)

        user.say("/holdings")
        await api.wait_for(lambda: "Your paper holdings" in api.texts_to(USER)[-1], 15)
        assert all(t in api.texts_to(USER)[-1] for t, _ in built)

        profiles = UserRepository(db)
        profile = profiles.get_profile(USER)
        profiles.save_profile(USER, replace(profile, risk_level=RiskLevel.CONSERVATIVE))
        user.say("/subscribe monthly 2 09:00")
        await api.wait_for(lambda: "Subscribed" in api.texts_to(USER)[-1], 15)
        clock.now = START + timedelta(hours=21, minutes=1)  # Monday 2 March, 09:01 UTC
        await api.wait_for(lambda: _plan_button(api) is not None, 60)
        check = next(t for t in reversed(api.texts_to(USER)) if "monthly check" in t)
        assert "Rebalance signals" in check and "drift" in check
        data = _plan_button(api)
        await user.tap(data)
        await api.wait_for(lambda: "Applied" in api.texts_to(USER)[-1], 15)
        await settle(0.3)

    plan = ledger.plan(data.split(":")[2])
    after = ledger.account(USER)
    assert plan is not None and plan.status.value == "applied"
    expected = dict(accepted.positions)
    for order in plan.orders:
        sign = 1 if order.side.value == "BUY" else -1
        expected[order.ticker] = expected.get(order.ticker, 0) + sign * order.shares
    assert dict(after.positions) == {t: n for t, n in expected.items() if n > 0}
    assert after.version == accepted.version + 1
    assert after.cash == pytest.approx(
        accepted.cash
        + sum((-1 if o.side.value == "BUY" else 1) * o.value - o.fee for o in plan.orders),
        abs=1e-6,
    )
    assert len(ledger.trades(USER, 100)) == len(built) + len(plan.orders)


def _plan_button(api) -> str | None:
    for (chat, _), message in sorted(api.messages.items(), reverse=True):
        if chat != USER:
            continue
        for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
            for button in row:
                if button.get("callback_data", "").startswith("rebal:apply:"):
                    return button["callback_data"]
    return None
