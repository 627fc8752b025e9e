"""A market-wide crash day is not a bad print.

The spike rule repairs a one-day round trip of 20% or more (a bad print). On 2009-01-20 the
S&P 500 fell 5.3% and BAC (-29%) and JPM (-21%) fell with it, then rebounded the next day;
on 2008-09-29 (S&P 500 -8.8%) UNH fell 19% and AMD 25%. These are real moves: erasing
them (the old rule recorded the day's move as zero) removes the worst days from every
historical VaR, CVaR, drawdown and Monte Carlo that looks back over them. A round trip whose
first leg goes the same way as a market move of at least ``params.crash_day_market_move``
(4%) on the same day is kept; an idiosyncratic round trip on a quiet day is still repaired.
"""

from __future__ import annotations

import dataclasses
from datetime import date

import numpy as np
import pandas as pd
import pytest

from smallq.data.market import load_market_data
from smallq.data.sample import SampleSource
from smallq.data.validation import clean_prices
from smallq.models import PriceData
from smallq.params import DEFAULT_PARAMS
from smallq.pipeline import build_portfolio
from smallq.profile import make_profile
from smallq.types import VarMethod

TODAY = date(2026, 11, 25)


def _frame() -> tuple[pd.DataFrame, pd.Series]:
    dates = pd.bdate_range("2021-01-04", periods=8)
    close = pd.DataFrame(
        {
            "CRASH": [50, 50, 50, 38, 49, 50, 50, 50],  # -24%/+29% on a -6% market day
            "PRINT": [50, 50, 50, 50, 50, 38, 50, 50],  # -24%/+32% on a quiet day
        },
        index=dates,
        dtype=float,
    )
    market = pd.Series([100, 100, 100, 94, 97, 100.2, 100, 100], index=dates, dtype=float)
    return close, market


def test_a_round_trip_on_a_market_crash_day_is_kept() -> None:
    close, market = _frame()
    cleaned = clean_prices(PriceData(close=close), market=market)
    np.testing.assert_array_equal(cleaned.close["CRASH"], close["CRASH"])
    assert cleaned.close["PRINT"].iloc[5] == 50.0  # still a bad print
    assert not any("CRASH" in n for n in cleaned.notes)


def test_without_a_market_the_rule_is_unchanged() -> None:
    close, _ = _frame()
    cleaned = clean_prices(PriceData(close=close))
    assert cleaned.close["CRASH"].iloc[3] == 50.0 and cleaned.close["PRINT"].iloc[5] == 50.0


def test_a_rally_day_does_not_excuse_a_fall() -> None:
    close, market = _frame()
    rally = market.copy()
    rally.iloc[3] = 106.0  # the market rose 6% while CRASH fell 24%: a bad print
    cleaned = clean_prices(PriceData(close=close), market=rally)
    assert cleaned.close["CRASH"].iloc[3] == 50.0


def test_the_sample_keeps_the_real_crash_days() -> None:
    source = SampleSource()
    market = load_market_data(
        source,
        ("BAC", "JPM", "UNH", "KO"),
        source.fetch_companies(),
        start=date(2008, 1, 2),
        end=date(2009, 12, 31),
    )
    raw = source.fetch_prices(["BAC", "JPM", "UNH", "KO"], date(2008, 1, 2), date(2009, 12, 31))
    for ticker, day in (("BAC", "2009-01-20"), ("JPM", "2009-01-20"), ("UNH", "2008-09-29")):
        assert market.prices.loc[day, ticker] == raw.close.loc[day, ticker]
        assert market.prices[ticker].pct_change().loc[day] < -0.18


def test_a_build_whose_window_holds_a_crash_day_measures_it() -> None:
    """Historical VaR 99% of the bought portfolio equals the hand figure on the raw closes."""
    source = SampleSource()
    profile = make_profile(
        sectors="financials,health,staples,energy,tech",
        capital=20_000.0,
        top_n=10,
        as_of=date(2010, 6, 30),
    )
    report = build_portfolio(
        profile, source, today=TODAY, params=dataclasses.replace(DEFAULT_PARAMS, mc_paths=200)
    )
    weights = report.allocation.achieved_weights
    weights = weights[weights > 0]
    assert "JPM" in weights.index  # the window holds 2009-01-20
    closes = source.fetch_prices(list(weights.index), date(2007, 1, 1), report.as_of).close
    returns = closes.iloc[-(profile.lookback_days + 1) :].pct_change().iloc[1:]
    losses = np.sort(-(returns.to_numpy() @ weights.to_numpy()))
    expected = losses[int(np.ceil(len(losses) * 0.99)) - 1]
    estimate = report.metrics.var_at(0.99, 1, VarMethod.HISTORICAL)
    assert estimate.var == pytest.approx(expected, abs=1e-12)
    assert estimate.cvar == pytest.approx(losses[losses >= expected].mean(), abs=1e-12)
