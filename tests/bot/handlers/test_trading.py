"""Paper trading handlers on the in-process fake Bot API: Accept, /holdings, /trades,
/rebalance with Apply/Skip, forged and foreign buttons."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from bot.deps import ConnectionFactory, Deps
from bot.services.records import record_of
from smallq.data.memory import FrameSource
from smallq.profile import make_profile
from storage.ledger import LedgerRepository
from tests.bot.fakes import USER, Harness, fake_charts, make_config, make_report

OTHER = 2002
PRICES = {"AAPL": 150.0, "MSFT": 250.0, "JNJ": 160.0}


def frame_source(last: dict[str, float] = PRICES) -> FrameSource:
    index = pd.bdate_range(end="2022-12-28", periods=300)
    rng = np.random.default_rng(3)
    cols = {}
    for ticker, price in last.items():
        walk = np.exp(np.cumsum(rng.normal(0, 0.01, len(index))))
        cols[ticker] = price * walk / walk[-1]
    prices = pd.DataFrame(cols, index=index)
    companies = pd.DataFrame(
        {"ticker": list(last), "name": list(last), "sector": "Information Technology"}
    )
    return FrameSource(prices, prices.mean(axis=1), companies)


def engine(weights=(0.5, 0.3, 0.2)):
    def build(profile, source, *, today, params):
        return make_report(profile, weights=weights, prices=tuple(PRICES.values()))

    return build


@pytest.fixture
async def bot(tmp_path):
    config = make_config(tmp_path)
    source = frame_source()
    deps = Deps(
        config=config, db=ConnectionFactory(config.db_path), source=lambda: source,
        build_portfolio=engine(), render_charts=fake_charts, executor=ThreadPoolExecutor(2),
        clock=lambda: datetime(2023, 1, 2, 12, 0, tzinfo=UTC),
    )  # fmt: skip
    async with Harness(config, deps) as harness:
        yield harness


def store_build(harness: Harness, user: int = USER, capital: float = 10_000.0) -> int:
    profile = make_profile(sectors=["Information Technology"], capital=capital)
    users = harness.deps.users()
    users.touch(user)
    users.save_profile(user, profile)
    report = make_report(profile, prices=tuple(PRICES.values()))
    pid = harness.deps.portfolios().add(user, record_of(report))
    harness.api.store_bot_message(user, text="Your portfolio", reply_markup={
        "inline_keyboard": [[{"text": "Accept", "callback_data": f"accept:{pid}"}]]
    })  # fmt: skip
    return pid


async def test_accept_records_trades_at_latest_prices_once(bot: Harness) -> None:
    pid = store_build(bot)
    await bot.press(f"accept:{pid}")
    # shares: floor(.5*10000/150)=33 AAPL, floor(.3*10000/250)=12 MSFT, floor(.2*10000/160)=12 JNJ
    account = LedgerRepository(bot.deps.db()).account(USER)
    assert account is not None and account.portfolio_id == pid
    assert dict(account.positions) == {"AAPL": 33, "MSFT": 12, "JNJ": 12}
    cost = 33 * 150 + 12 * 250 + 12 * 160  # 9870
    assert account.cash == pytest.approx(10_000 - cost - cost * 0.001, abs=1e-9)
    text = bot.texts()[-1]
    assert "Paper trades recorded" in text and "BUY" in text and "AAPL" in text
    assert "2022-12-28" in text  # the latest price date, not the clock's date
    await bot.press(f"accept:{pid}")
    assert "already in your paper account" in bot.texts()[-1]
    assert len(LedgerRepository(bot.deps.db()).trades(USER)) == 3


async def test_foreign_and_forged_accept_buttons_change_nothing(bot: Harness) -> None:
    pid = store_build(bot)
    bot.api.store_bot_message(OTHER, text="x", reply_markup={"inline_keyboard": [[
        {"text": "Accept", "callback_data": f"accept:{pid}"},
        {"text": "Forged", "callback_data": "accept:abc"},
    ]]})  # fmt: skip
    await bot.press(f"accept:{pid}", user=OTHER)
    assert LedgerRepository(bot.deps.db()).account(OTHER) is None
    assert "no longer active" in bot.texts(OTHER)[-1]
    await bot.press("accept:abc", user=OTHER)
    assert "no longer active" in bot.last_answer()["text"]


async def test_holdings_and_trades_commands(bot: Harness) -> None:
    await bot.text("/holdings")
    assert "no paper holdings" in bot.texts()[-1]
    await bot.press(f"accept:{store_build(bot)}")
    await bot.text("/holdings")
    text = bot.texts()[-1]
    assert (
        "AAPL" in text and "33" in text and "4,950.00" in text and "prices as of 2022-12-28" in text
    )
    assert "total $9,990.13" in text  # 120.13 cash + 9870 at the build's prices
    await bot.text("/trades")
    assert bot.texts()[-1].count("BUY") == 3


async def test_rebalance_apply_records_trades_and_updates_holdings(bot: Harness) -> None:
    await bot.press(f"accept:{store_build(bot)}")
    bot.deps.build_portfolio = engine(weights=(0.2, 0.3, 0.5))  # the target moved
    await bot.text("/rebalance")
    text = bot.texts()[-1]
    assert "Rebalance signals" in text and "SELL" in text and "BUY" in text
    plan_data = next(d for d in _buttons(bot) if d.startswith("rebal:apply:"))
    message_id = bot.api.find_button_message(USER, plan_data)
    await bot.press(plan_data)
    assert bot.last_answer()["text"].startswith("Applied")
    assert plan_data not in str(bot.api.messages[(USER, message_id)].get("reply_markup"))
    account = LedgerRepository(bot.deps.db()).account(USER)
    # V = 9990.13: AAPL floor(.2V/150)=13, MSFT floor(.3V/250)=11, JNJ floor(.5V/160)=31
    assert dict(account.positions) == {"AAPL": 13, "MSFT": 11, "JNJ": 31}
    await bot.press(plan_data, message_id=message_id)  # a stale copy of the button
    assert "already applied or skipped" in bot.last_answer()["text"]
    assert len(LedgerRepository(bot.deps.db()).trades(USER)) == 6


async def test_rebalance_skip_forged_and_foreign_plans(bot: Harness) -> None:
    await bot.press(f"accept:{store_build(bot)}")
    bot.deps.build_portfolio = engine(weights=(0.2, 0.3, 0.5))
    await bot.text("/rebalance")
    apply, skip = (d for d in _buttons(bot) if d.startswith("rebal:"))
    plan_id = apply.split(":")[2]
    bot.api.store_bot_message(OTHER, text="x", reply_markup={"inline_keyboard": [[
        {"text": "Apply", "callback_data": apply},
        {"text": "Forged", "callback_data": "rebal:apply:nope"},
        {"text": "Bad", "callback_data": "rebal:dance:" + plan_id},
    ]]})  # fmt: skip
    await bot.press(apply, user=OTHER)
    assert bot.last_answer()["text"] == "This button is no longer active."
    await bot.press("rebal:apply:nope", user=OTHER)
    await bot.press("rebal:dance:" + plan_id, user=OTHER)
    assert bot.last_answer()["text"] == "This button is no longer active."
    message_id = bot.api.find_button_message(USER, skip)
    await bot.press(skip)
    assert bot.last_answer()["text"].startswith("Skipped")
    await bot.press(apply, message_id=message_id)
    assert "already applied or skipped" in bot.last_answer()["text"]
    assert len(LedgerRepository(bot.deps.db()).trades(USER)) == 3


async def test_rebalance_without_profile_or_holdings(bot: Harness) -> None:
    await bot.text("/rebalance")
    assert "no profile yet" in bot.texts()[-1]
    store_build(bot)
    await bot.text("/rebalance")
    assert "no paper holdings" in bot.texts()[-1]


def _buttons(bot: Harness) -> list[str]:
    out = []
    for (chat, _), message in sorted(bot.api.messages.items(), reverse=True):
        if chat == USER:
            markup = message.get("reply_markup") or {}
            out += [b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row]
            if out:
                return out
    return out


async def test_alerts_command_lists_limits_and_current_alerts(bot: Harness) -> None:
    await bot.press(f"accept:{store_build(bot)}")
    await bot.text("/alerts")
    text = bot.texts()[-1]
    assert "Alert limits" in text and "moderate profile" in text
    # AAPL: 33 * 150 = 4950 of 9990.13 = 49.5% > the moderate 35% limit
    assert "Concentration: AAPL is 50% of the account (limit 35%)" in text
    await bot.text("/alerts set max_weight 60%")
    assert "Concentration" not in bot.texts()[-1]  # setting a limit answers with the list only
    await bot.text("/alerts")
    assert "Concentration: AAPL" not in bot.texts()[-1]
