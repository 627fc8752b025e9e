"""The backtest users run (fast path) equals the reference path: same decisions, same equity.

``run_strategy_backtest`` runs :class:`~smallq.backtest.fast_pipeline.FastPipelinePolicy`;
``reference=True`` runs every decision through pandas and PyPortfolioOpt (the reference).
The QP is solved exactly by daqp and PyPortfolioOpt's by an interior-point solver, so weights
agree to the reference solver's tolerance (1e-4 here) and equity to 1e-4 per unit of capital.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from smallq.backtest.fast_pipeline import FastPipelinePolicy, rank_prices
from smallq.backtest.policy import PipelinePolicy
from smallq.data.csv import CsvSource
from smallq.data.market import load_market_data, load_universe
from smallq.data.memory import FrameSource
from smallq.data.sample import SampleSource
from smallq.decision import history_rows, prices_known_at
from smallq.params import DEFAULT_PARAMS
from smallq.pipeline import run_strategy_backtest
from smallq.profile import make_profile
from smallq.ranking import rank_stocks
from smallq.results import BacktestReport
from smallq.types import Strategy
from tests.shared_csv import shared_csv_dir, shared_csv_source  # noqa: F401  (fixtures)

WEIGHT_TOL = 1e-4
EQUITY_TOL = 1e-4


def _both(source: object, start: date, end: date, rebalance: str, **fields: object) -> tuple[
    BacktestReport, BacktestReport
]:
    options: dict[str, object] = {"sectors": "tech,health care", "capital": 10_000.0, **fields}
    profile = make_profile(**options)  # type: ignore[arg-type]
    runs = [
        run_strategy_backtest(
            profile, source, start=start, end=end, rebalance=rebalance, reference=reference
        )
        for reference in (False, True)
    ]
    return runs[0], runs[1]


def _assert_same(fast: BacktestReport, reference: BacktestReport) -> None:
    assert [r.date for r in fast.result.rebalances] == [r.date for r in reference.result.rebalances]
    for ours, theirs in zip(fast.result.rebalances, reference.result.rebalances, strict=True):
        tickers = ours.target.index.union(theirs.target.index)
        diff = ours.target.reindex(tickers, fill_value=0.0) - theirs.target.reindex(
            tickers, fill_value=0.0
        )
        assert float(diff.abs().max()) <= WEIGHT_TOL, ours.date
    equity = (fast.result.equity - reference.result.equity).abs().max()
    assert float(equity) <= EQUITY_TOL
    assert fast.fallback_dates == reference.fallback_dates
    ours = [n for n in fast.notes if "reference path" not in n]
    assert ours == list(reference.notes)


def test_fast_backtest_equals_reference_on_the_sample() -> None:
    fast, reference = _both(
        SampleSource(), date(2019, 1, 1), date(2022, 12, 28), "monthly", objective="max_sharpe"
    )
    _assert_same(fast, reference)
    assert not [n for n in fast.notes if "reference path" in n]


def test_the_default_risk_level_placement_runs_fast_and_equals_the_reference() -> None:
    fast, reference = _both(SampleSource(), date(2022, 1, 1), date(2022, 12, 28), "monthly")
    _assert_same(fast, reference)
    assert not [n for n in fast.notes if "reference path" in n]  # no decision fell back


def test_fast_backtest_equals_reference_weekly_low_vol_per_sector_min_volatility() -> None:
    fast, reference = _both(
        SampleSource(),
        date(2021, 6, 1),
        date(2022, 12, 28),
        "weekly",
        strategy="low_vol",
        per_sector=True,
        top_n=2,
        max_weight=0.5,
        objective="min_volatility",
        returns_model="ema",
        cov_model="sample",
    )
    _assert_same(fast, reference)


def test_an_objective_without_a_fast_path_runs_the_reference_and_says_so() -> None:
    fast, reference = _both(
        SampleSource(), date(2022, 1, 1), date(2022, 12, 28), "monthly", objective="hrp"
    )
    _assert_same(fast, reference)
    note = [n for n in fast.notes if "reference path" in n]
    assert note and note[0].startswith(f"{len(fast.result.rebalances)} of ")


def test_a_bad_print_on_a_decision_day_is_cleaned_point_in_time_as_the_reference() -> None:
    sample = SampleSource()
    prices = sample.fetch_prices(["AAPL", "MSFT", "AMD", "JNJ", "LLY", "MRK", "PFE", "UNH"],
                                 date(2015, 1, 1), date(2022, 12, 28))
    benchmark = sample.fetch_benchmark(date(2015, 1, 1), date(2022, 12, 28))
    close = prices.close.copy()
    # a one-day spike on a rebalance day (the next close reverts) and a real jump that stays
    close.loc["2022-03-01", "AAPL"] *= 1.4
    close.loc["2022-06-01":, "LLY"] *= 1.3
    companies = sample.fetch_companies().loc[close.columns].reset_index()
    source = FrameSource(close, benchmark, companies)
    fast, reference = _both(source, date(2021, 12, 1), date(2022, 12, 28), "monthly")
    _assert_same(fast, reference)


def test_a_round_trip_on_a_crash_day_is_kept_as_the_reference_keeps_it() -> None:
    # the sample's round trips with the market (2008-09-29, 2009-01-20: AMD, BAC, JPM, UNH)
    # are not bad prints (validation rule 3); a window holding them must read them as they are
    fast, reference = _both(
        SampleSource(),
        date(2009, 1, 1),
        date(2010, 6, 30),
        "monthly",
        sectors="tech,health care,financials",
        objective="max_sharpe",
    )
    _assert_same(fast, reference)


def test_the_rows_a_decision_reads_are_those_a_build_on_its_date_cleans() -> None:
    # every row near a bad-print candidate (cleaned point in time from a later start, or
    # from the first row) and every 25th other row, against prices_known_at from the first row
    sample = SampleSource()
    tickers = ["AAPL", "MSFT", "AMD", "JNJ", "LLY", "MRK", "PFE", "UNH"]
    prices = sample.fetch_prices(tickers, date(2018, 1, 1), date(2022, 12, 28))
    benchmark = sample.fetch_benchmark(date(2018, 1, 1), date(2022, 12, 28))
    close = prices.close.copy()
    close.loc["2022-03-01", "AAPL"] *= 1.4  # a spike
    close.loc["2022-06-01":, "LLY"] *= 1.3  # a jump that stays
    close.loc["2021-05-03":"2021-05-20", "MRK"] = np.nan  # a halt
    # a long halt where the rows the spike's decisions read begin: cleaning those decisions
    # from a later start would not carry MRK's last close, so they clean from the first row
    close.loc["2019-02-01":"2019-04-30", "MRK"] = np.nan
    close.loc["2021-09-01", "PFE"] = -1.0  # a non-positive print
    close.loc["2022-10-03":, "AMD"] = np.nan  # stops trading
    companies = sample.fetch_companies().loc[close.columns].reset_index()
    source = FrameSource(close, benchmark, companies)
    profile = make_profile(sectors="tech,health care", capital=1.0)
    universe = load_universe(profile, source, date(2021, 1, 1))
    market = load_market_data(
        source,
        universe.first_pass.tickers,
        universe.companies,
        start=date(2018, 1, 1),
        end=date(2022, 12, 28),
    )
    policy = PipelinePolicy.for_profile(profile, market, universe.fundamentals, DEFAULT_PARAMS)
    fast = FastPipelinePolicy(policy, market, DEFAULT_PARAMS)
    reads = history_rows(profile.lookback_days)
    checked = 0
    for row in range(reads + 30, len(market.prices)):
        if fast._quiet[row] and row % 25:
            continue
        history, columns, keep = fast._known(row, market.prices.index[row])
        frame, _ = prices_known_at(market, market.prices.index[row])
        expected = np.full((row + 1, len(columns)), np.nan)
        expected[:, columns.get_indexer(frame.columns)] = frame.to_numpy(dtype=float)
        assert len(history) == row + 1
        np.testing.assert_array_equal(history[-reads:], expected[-reads:])
        assert keep.tolist() == sorted(columns.get_indexer(frame.columns).tolist())
        checked += 1
    assert checked > 50


@pytest.mark.parametrize("strategy", [Strategy.MOMENTUM, Strategy.LOW_VOL])
@pytest.mark.parametrize("per_sector", [False, True])
def test_numpy_ranking_selects_as_rank_stocks(strategy: Strategy, per_sector: bool) -> None:
    sample = SampleSource()
    companies = sample.fetch_companies()
    prices = sample.fetch_prices(list(companies.index), date(2010, 1, 1), date(2022, 12, 28)).close
    prices.iloc[:300, 3] = np.nan  # a late listing
    for as_of in pd.date_range("2012-01-01", "2022-12-28", freq="97D"):
        past = prices.loc[:as_of]
        expected = rank_stocks(
            past, companies, strategy, as_of.date(), top_n=3, per_sector=per_sector
        ).selected
        chosen = rank_prices(
            past.to_numpy(),
            past.columns,
            companies["sector"].reindex(past.columns).to_numpy(object),
            strategy,
            top_n=3,
            per_sector=per_sector,
            params=DEFAULT_PARAMS,
        )
        assert tuple(past.columns[chosen]) == expected, as_of


@pytest.mark.shared_data
def test_fast_backtest_equals_reference_on_shared_data(
    shared_csv_source: CsvSource,  # noqa: F811
) -> None:
    fast, reference = _both(
        shared_csv_source, date(2016, 6, 1), date(2018, 2, 7), "monthly", lookback_days=252
    )
    _assert_same(fast, reference)
