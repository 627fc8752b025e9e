"""Acceptance: a momentum top-20 backtest over the real 505-stock data (2013-2018) against SPY.

The data enter through the project's CSV source (``tests/shared_csv.py`` layout) and the
pipeline's own cleaning (:func:`smallq.data.market.load_market_data`). The checks are
independent of the simulator: the trades are replayed into the equity curve, the holdings are
compared with a pandas 12-1 momentum ranking, and one decision is recomputed from prices cut
at its date.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import pytest

from smallq.backtest import BacktestResult, run_backtest
from smallq.backtest.policy import PipelinePolicy
from smallq.data.csv import CsvSource
from smallq.data.market import load_market_data
from smallq.models import MarketData, Profile, Settings
from smallq.profile import resolve_settings
from smallq.types import RiskLevel, Sector, Strategy
from smallq.universe import normalise_companies
from tests.shared_csv import shared_csv_dir, shared_csv_source  # noqa: F401  (fixtures)

pytestmark = pytest.mark.shared_data

TOP_N = 20
START, END = "2014-03-01", "2018-02-07"


@dataclass(frozen=True)
class Run:
    market: MarketData
    settings: Settings
    policy: PipelinePolicy
    result: BacktestResult


@pytest.fixture(scope="module")
def run(shared_csv_source: CsvSource) -> Run:  # noqa: F811
    companies = normalise_companies(shared_csv_source.fetch_companies())
    market = load_market_data(
        shared_csv_source,
        tuple(companies.index),
        companies,
        start=date(2013, 2, 8),
        end=date(2018, 2, 7),
    )
    profile = Profile(sectors=tuple(Sector), capital=100_000, risk_level=RiskLevel.MODERATE)
    settings = resolve_settings(profile)
    policy = PipelinePolicy(
        market.companies, Strategy.MOMENTUM, settings, TOP_N, benchmark=market.benchmark
    )
    result = run_backtest(
        market.prices,
        policy,
        start=START,
        end=END,
        rebalance="monthly",
        costs_bps=10.0,
        benchmark=market.benchmark,
    )
    return Run(market, settings, policy, result)


def test_the_universe_is_the_505_stock_file(run: Run) -> None:
    assert run.market.prices.shape[1] >= 490  # a few short histories are dropped with notes
    assert run.market.prices.index[-1] == pd.Timestamp("2018-02-07")


def test_monthly_rebalances_over_four_years(run: Run) -> None:
    result = run.result
    dates = [r.date for r in result.rebalances]
    assert dates[0] == pd.Timestamp("2014-03-03")
    assert len(dates) == 48  # March 2014 .. February 2018
    assert all(d.month != e.month for d, e in itertools.pairwise(dates))
    assert result.equity.iloc[0] == 1.0
    assert result.benchmark_equity is not None and result.benchmark_equity.iloc[0] == 1.0


def test_replaying_the_trades_gives_the_equity_curve(run: Run) -> None:
    result, prices = run.result, run.market.prices.ffill()
    shares = pd.Series(0.0, index=prices.columns)
    cash = 1.0
    by_date: dict[pd.Timestamp, list] = {}
    for trade in result.trades:
        by_date.setdefault(trade.date, []).append(trade)
    for day in result.equity.index:
        held = shares[shares != 0]
        value = cash + float((held * prices.loc[day, held.index]).sum())
        assert value == pytest.approx(result.equity.loc[day], rel=1e-10)
        for trade in by_date.get(day, []):
            shares[trade.ticker] += trade.shares
            cash -= trade.value + trade.cost
    assert result.costs == pytest.approx(sum(t.cost for t in result.trades), rel=1e-12)


def test_holdings_come_from_the_momentum_top_20_and_respect_the_cap(run: Run) -> None:
    prices = run.market.prices
    for rebalance in run.result.rebalances:
        past = prices.loc[: rebalance.date]
        momentum = (past.iloc[-22] / past.iloc[-253] - 1).dropna()  # 12-1, in trading days
        top = set(momentum.sort_values(ascending=False).index[:TOP_N])
        held = set(rebalance.target.index[rebalance.target > 0])
        assert held <= top, rebalance.date
        assert len(held) >= run.settings.min_holdings
        assert rebalance.target.max() <= run.settings.max_weight + 1e-6
        assert rebalance.target.sum() == pytest.approx(1.0, abs=1e-6)


def test_a_decision_only_depends_on_prices_up_to_its_date(run: Run) -> None:
    rebalance = run.result.rebalances[20]
    cut = run.market.prices.loc[: rebalance.date]
    policy = PipelinePolicy(
        run.market.companies,
        Strategy.MOMENTUM,
        run.settings,
        TOP_N,
        benchmark=run.market.benchmark.loc[: rebalance.date],
    )
    again = policy(cut, rebalance.date)
    again = again[again > 0]
    pd.testing.assert_series_equal(
        again.sort_index(), rebalance.target.sort_index(), check_names=False, atol=1e-9
    )


def test_metrics_against_spy(run: Run) -> None:
    strategy, spy = run.result.metrics(risk_free_rate=run.settings.risk_free_rate)
    spy_growth = run.market.benchmark.loc[run.result.equity.index]
    assert spy.total_return == pytest.approx(spy_growth.iloc[-1] / spy_growth.iloc[0] - 1)
    assert spy.beta == pytest.approx(1.0) and spy.tracking_error == 0.0
    assert 0.5 < strategy.beta < 1.6
    assert strategy.tracking_error > 0.02
    assert strategy.n_periods == spy.n_periods == len(run.result.equity) - 1
    for value in (strategy.cagr, strategy.sharpe, strategy.sortino, strategy.alpha):
        assert np.isfinite(value)
    assert 0 < strategy.max_drawdown < 0.6
    placed = {"efficient_risk", "min_volatility", "hrp"}  # a risk level's chain
    assert {d for _, _, d in run.policy.decisions} <= placed
