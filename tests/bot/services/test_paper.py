"""bot.services.paper: Accept buys the whole shares the build showed, fees included.

The real pipeline on the embedded sample: at risk level 5 with 10,000 USD in IT and Health
Care the plain allocation leaves 8.17 USD of cash, less than the 9.93 USD of fees of buying it,
so the ledger used to buy one AMD share fewer than the message listed.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.deps import ConnectionFactory, Deps
from bot.services.paper import AcceptStatus, accept_portfolio
from bot.services.portfolio import UserInfo, build_and_store
from smallq.data.sample import SampleSource
from smallq.params import DEFAULT_PARAMS
from smallq.pipeline import build_portfolio
from smallq.profile import make_profile
from storage.ledger import LedgerRepository
from tests.bot.fakes import fake_charts, make_config

USER = 4242
PROFILE = make_profile(sectors="Information Technology,Health Care", capital=10_000.0,
                       risk_level="aggressive")  # fmt: skip
FAST = replace(DEFAULT_PARAMS, mc_paths=500, frontier_points=5)


@pytest.fixture
def deps(tmp_path: Path) -> Iterator[Deps]:
    config = make_config(tmp_path)  # SMALLQ_PAPER_COSTS_BPS: the default 10 bp
    source = SampleSource()
    made = Deps(
        config=config, db=ConnectionFactory(config.db_path), source=lambda: source,
        build_portfolio=build_portfolio, render_charts=fake_charts,
        executor=ThreadPoolExecutor(2), clock=lambda: datetime(2023, 1, 2, 12, tzinfo=UTC),
        params=replace(FAST, purchase_costs_bps=config.paper_costs_bps),  # as bot.main wires it
    )  # fmt: skip
    yield made
    made.executor.shutdown()
    made.storage_executor.shutdown()


async def test_accept_buys_the_shares_the_build_showed(deps: Deps) -> None:
    outcome = await build_and_store(deps, UserInfo(USER), PROFILE)
    shown = {h.ticker: int(h.shares) for h in outcome.record.holdings if h.shares > 0}
    fees = next(n for n in outcome.report.notes if n.get("costs_bps") == "10")
    assert "fees" in fees.text and "exactly as shown" in fees.text
    accepted = await accept_portfolio(deps, USER, outcome.portfolio_id)
    assert accepted.status is AcceptStatus.RECORDED and accepted.plan is not None
    account = LedgerRepository(deps.db()).account(USER)
    assert account is not None and dict(account.positions) == shown
    assert {o.ticker: o.shares for o in accepted.plan.orders} == shown
    assert accepted.notes == ()  # nothing to explain: what was shown was bought
    assert account.cash == pytest.approx(outcome.record.cash_left - accepted.plan.fees, abs=1e-6)
    assert float(fees.get("fees") or 0) == pytest.approx(accepted.plan.fees, abs=0.005)


async def test_a_build_without_room_for_fees_says_what_was_not_bought(deps: Deps) -> None:
    # a build stored before its shares left room for fees (or prices that rose since)
    deps.params = FAST
    outcome = await build_and_store(deps, UserInfo(USER), PROFILE)
    accepted = await accept_portfolio(deps, USER, outcome.portfolio_id)
    (note,) = accepted.notes
    assert note.endswith("AMD 38 of 39.") and "prices and fees" in note


async def test_accepting_a_fractional_build_says_the_fractions_stay_in_cash(deps: Deps) -> None:
    outcome = await build_and_store(deps, UserInfo(USER), replace(PROFILE, fractional=True))
    holdings = [h for h in outcome.record.holdings if h.shares > 0]
    assert any(h.shares != int(h.shares) for h in holdings)
    accepted = await accept_portfolio(deps, USER, outcome.portfolio_id)
    assert accepted.status is AcceptStatus.RECORDED
    account = LedgerRepository(deps.db()).account(USER)
    assert account is not None
    assert dict(account.positions) == {h.ticker: int(h.shares) for h in holdings if h.shares >= 1}
    (note,) = accepted.notes
    assert note.startswith("The paper account holds whole shares: the fractions stay in cash")
    first = next(h for h in holdings if h.shares != int(h.shares))
    assert f"{first.ticker} {first.shares:.4f} → {int(first.shares)}" in note
