"""What was bought: the holdings rule and risk figures of the bought shares plus their cash.

With $100 and prices of $60-$90 one share is bought; every figure must then describe that
one share and the cash left (earning nothing), checked against hand computations.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd
import pytest

from smallq.data.memory import FrameSource
from smallq.params import DEFAULT_PARAMS
from smallq.pipeline import build_portfolio
from smallq.presentation import HoldingView, present_portfolio
from smallq.profile import make_profile
from smallq.report import format_view, report_to_dict

TODAY = date(2026, 11, 25)
FAST = replace(DEFAULT_PARAMS, mc_paths=500)
LOOKBACK = 300


@pytest.fixture(scope="module")
def one_share():
    rng = np.random.default_rng(21)
    dates = pd.bdate_range("2020-01-01", periods=700)
    tickers = ["AAA", "BBB", "CCC", "DDD", "EEE"]
    returns = 0.0006 + rng.normal(0, 0.013, size=(len(dates), len(tickers)))
    level = np.cumprod(1 + returns, axis=0)
    prices = pd.DataFrame(level / level[-1] * [61, 67, 73, 79, 85], index=dates, columns=tickers)
    index = pd.Series(1000 * np.cumprod(1 + returns.mean(axis=1)), index=dates)
    companies = pd.DataFrame(
        {"ticker": tickers, "name": tickers, "sector": "Energy", "market_cap": 1e10}
    )
    source = FrameSource(prices, index, companies)
    profile = make_profile(
        sectors="Energy",
        capital=100.0,
        top_n=5,
        max_weight=0.4,
        lookback_days=LOOKBACK,
        returns_model="mean",
        cov_model="sample",
    )
    return build_portfolio(profile, source, today=TODAY, params=FAST), prices


def test_one_share_is_bought(one_share) -> None:
    report, _ = one_share
    assert list(report.allocation.shares.index) == [report.allocation.shares.index[0]]
    assert float(report.allocation.shares.iloc[0]) == 1.0
    assert (report.optimization.weights > 0).sum() >= 3  # the targets spread over more stocks


def test_the_figures_describe_one_share_plus_cash(one_share) -> None:
    report, prices = one_share
    ticker = str(report.allocation.shares.index[0])
    weight = float(prices[ticker].iloc[-1]) / 100.0  # one share's price over the capital
    daily = prices[ticker].iloc[-(LOOKBACK + 1) :].pct_change().iloc[1:]
    share_vol = float(daily.std(ddof=1)) * math.sqrt(252)
    metrics = report.metrics
    assert metrics.volatility == pytest.approx(weight * share_vol, rel=1e-10)
    assert metrics.expected_return == pytest.approx(weight * daily.mean() * 252, rel=1e-10)
    assert metrics.sharpe == pytest.approx(
        (weight * daily.mean() * 252 - 0.02) / (weight * share_vol), rel=1e-9
    )
    losses = np.sort(-(weight * daily.to_numpy()))  # cash earns nothing
    var_95 = losses[math.ceil(len(losses) * 0.95) - 1]
    estimate = metrics.var_at(0.95, 1, metrics.var[0].method)
    assert estimate.var == pytest.approx(var_95, rel=1e-12)
    assert estimate.cvar == pytest.approx(losses[losses >= var_95].mean(), rel=1e-12)
    assert metrics.effective_holdings == pytest.approx(1.0)
    assert dict(metrics.risk_contributions.items()) == pytest.approx({ticker: 1.0})
    view = present_portfolio(report)
    assert view.figure("var_95").value == pytest.approx(var_95, rel=1e-12)
    assert view.figure("var_95_amount").value == pytest.approx(var_95 * 100.0, rel=1e-12)
    mc = report.stress.monte_carlo[0]  # the simulated share moves w x its return
    assert mc.percentiles[0.05] > -weight  # cannot lose more than what is invested


def test_holdings_show_the_weight_bought_and_the_target_only_where_it_differs(one_share) -> None:
    report, _ = one_share
    view = present_portfolio(report)
    first = view.holdings[0]
    assert first.shares == 1 and first.achieved_weight == pytest.approx(first.amount / 100.0)
    assert all(h.shows_target for h in view.holdings)  # one share is far from every target
    text = format_view(view)
    row = next(line for line in text.splitlines() if line.startswith(first.ticker + " "))
    assert f"{first.achieved_weight:.1%}" in row and f"{first.target_weight:.1%}" in row
    holdings = report_to_dict(report, view)["holdings"]
    assert holdings[0]["weight"] == pytest.approx(first.achieved_weight)
    assert holdings[0]["shows_target"] is True


@pytest.mark.parametrize(
    ("target", "achieved", "shown"),
    [(0.25, 0.2179, True), (0.25, 0.2460, False), (0.25, 0.2550, False), (0.25, 0.2551, True)],
)
def test_the_target_is_shown_beyond_half_a_point(
    target: float, achieved: float, shown: bool
) -> None:
    holding = HoldingView("X", None, None, 1.0, 1.0, achieved, target, achieved)
    assert holding.shows_target is shown
