"""The estimation-window rule and the one decision shared by the build and the backtest.

A stock listed late is left out (with a note naming it) instead of shortening the window of
the others; ``build --as-of D`` and the backtest's rebalance on ``D`` decide the same, checked
on the real data of ../shared/data through the project's CSV source.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd
import pytest

from smallq.data.csv import CsvSource
from smallq.data.memory import FrameSource
from smallq.forecast import estimation_window
from smallq.models import NoteKind
from smallq.params import DEFAULT_PARAMS
from smallq.pipeline import build_portfolio, run_strategy_backtest, select_stocks
from smallq.profile import make_profile
from tests.shared_csv import shared_csv_dir, shared_csv_source  # noqa: F401  (fixtures)

TODAY = date(2026, 11, 25)
FAST = replace(DEFAULT_PARAMS, mc_paths=500)
LOOKBACK = 500
LATE_DAYS = 300  # the late stock has prices on the last 300 days only


def _source_with_a_late_listing() -> FrameSource:
    rng = np.random.default_rng(9)
    dates = pd.bdate_range("2019-01-01", periods=900)
    tickers = ["AAA", "BBB", "CCC", "DDD", "EEE", "NEW"]
    returns = 0.0004 + rng.normal(0, 0.012, size=(len(dates), len(tickers)))
    returns[:, -1] += 0.002  # the late stock has the best momentum: the old code picked it
    prices = pd.DataFrame(100 * np.cumprod(1 + returns, axis=0), index=dates, columns=tickers)
    prices.iloc[: len(dates) - LATE_DAYS, -1] = np.nan
    index = pd.Series(1000 * np.cumprod(1 + returns[:, :-1].mean(axis=1)), index=dates)
    companies = pd.DataFrame(
        {"ticker": tickers, "name": tickers, "sector": "Energy", "market_cap": 1e10}
    )
    return FrameSource(prices, index, companies)


def test_a_late_listing_does_not_shorten_the_others_window() -> None:
    source = _source_with_a_late_listing()
    profile = make_profile(
        sectors="Energy",
        capital=10_000.0,
        top_n=6,
        lookback_days=LOOKBACK,
        max_weight=0.4,
        returns_model="mean",
        cov_model="sample",
        fractional=True,
    )
    report = build_portfolio(profile, source, today=TODAY, params=FAST)
    assert "NEW" not in report.mu.index
    assert sorted(report.mu.index) == ["AAA", "BBB", "CCC", "DDD", "EEE"]
    # independent: plain pandas on the last LOOKBACK + 1 closes of the five full stocks
    closes = source.fetch_prices(list(report.mu.index), date(2019, 1, 1), TODAY).close
    returns = closes.iloc[-(LOOKBACK + 1) :].pct_change().iloc[1:]
    assert len(returns) == LOOKBACK
    np.testing.assert_allclose(report.mu, returns.mean() * 252, rtol=1e-12)
    np.testing.assert_allclose(report.cov, np.cov(returns.to_numpy().T, ddof=1) * 252, rtol=1e-10)
    notes = [n.text for n in report.notes if n.kind is NoteKind.DATA and "NEW (" in n.text]
    assert notes and f"NEW ({LATE_DAYS} days" in notes[0]


def test_estimation_window_keeps_complete_columns_and_names_the_rest() -> None:
    dates = pd.bdate_range("2020-01-01", periods=30)
    prices = pd.DataFrame({"A": np.linspace(10, 12, 30), "B": np.linspace(5, 6, 30)}, index=dates)
    prices.iloc[:25, 1] = np.nan
    result = estimation_window(prices, 10)
    assert list(result.window.columns) == ["A"] and len(result.window) == 11
    assert result.left_out == ("B",)
    assert "B (5 days, from 2020-02-05)" in result.notes[0]


# --------------------------------------------------------------------------- real data
SECTORS = "Information Technology,Health Care,Consumer Staples,Energy,Financials"
#: the old build's top 12 held a late listing on 2017-03-01 (CFG, 613 days of prices) and on
#: 2017-09-01 (PYPL, listed 2015-07-06), whose history cut every stock's 756-day window; it
#: then differed from the backtest by up to 25 points of weight. 2016-09-01 had none.
DECISION_DATES = (date(2016, 9, 1), date(2017, 3, 1), date(2017, 9, 1))


@pytest.mark.shared_data
@pytest.mark.parametrize("as_of", DECISION_DATES, ids=str)
def test_build_as_of_equals_the_backtest_decision(
    shared_csv_source: CsvSource,  # noqa: F811
    as_of: date,
) -> None:
    profile = make_profile(
        sectors=SECTORS, capital=100_000.0, top_n=12, as_of=as_of, fractional=True
    )
    built = build_portfolio(profile, shared_csv_source, today=TODAY, params=FAST)
    assert built.as_of == as_of
    backtest = run_strategy_backtest(
        profile, shared_csv_source, start=as_of, end=as_of.replace(day=20), costs_bps=0.0
    )
    first = backtest.result.rebalances[0]
    assert first.date == pd.Timestamp(as_of)
    weights = built.optimization.weights
    union = weights.index.union(first.target.index)
    np.testing.assert_allclose(
        weights.reindex(union, fill_value=0.0),
        first.target.reindex(union, fill_value=0.0),
        rtol=0,
        atol=1e-9,
    )
    assert len(built.mu) == profile.top_n  # the late listings were replaced, not just dropped


@pytest.mark.shared_data
def test_the_late_listings_are_named_and_left_out(shared_csv_source: CsvSource) -> None:  # noqa: F811
    as_of = DECISION_DATES[2]
    profile = make_profile(sectors=SECTORS, capital=100_000.0, top_n=12, as_of=as_of)
    built = build_portfolio(profile, shared_csv_source, today=TODAY, params=FAST)
    note = next(n.text for n in built.notes if "estimation window" in n.text)
    assert "PYPL (547 days, from 2015-07-06)" in note
    assert "PYPL" not in built.mu.index and "KHC" not in built.mu.index
    closes = shared_csv_source.fetch_prices(list(built.mu.index), date(2013, 2, 8), as_of).close
    assert closes.loc[: pd.Timestamp(as_of)].iloc[-757:].notna().all().all()


# --------------------------------------------------------------------------- smallq rank
def test_rank_leaves_out_a_late_listing_as_the_build_does() -> None:
    """``smallq rank`` shows the stocks a build on that date would act on (the window rule)."""
    source = _source_with_a_late_listing()
    profile = make_profile(
        sectors="Energy", capital=10_000.0, top_n=3, lookback_days=LOOKBACK, max_weight=0.4
    )
    selection = select_stocks(profile, source, today=TODAY)
    built = build_portfolio(profile, source, today=TODAY, params=FAST)
    assert "NEW" not in selection.ranking.selected  # the best momentum, but no full window
    assert list(selection.ranking.selected) == list(built.ranking.selected)
    assert any(f"NEW ({LATE_DAYS} days" in note for note in selection.market.notes)


@pytest.mark.shared_data
def test_rank_selects_the_build_candidates_on_real_data(shared_csv_source: CsvSource) -> None:  # noqa: F811
    as_of = DECISION_DATES[2]  # PYPL ranks but has 547 of the 757 days the window needs
    profile = make_profile(sectors=SECTORS, capital=100_000.0, top_n=12, as_of=as_of)
    selection = select_stocks(profile, shared_csv_source, today=TODAY)
    built = build_portfolio(profile, shared_csv_source, today=TODAY, params=FAST)
    assert "PYPL" not in selection.ranking.selected
    assert list(selection.ranking.selected) == list(built.mu.index)
