"""Point in time through the pipeline: fundamentals dated after D and bad prints on D.

Each test here failed on the code before issue #9 (items 3 and 5): the rankings read an undated
company table at any date, and the decision day's close was used as it came.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from smallq.backtest.policy import PipelinePolicy
from smallq.data.csv import CsvSource
from smallq.data.memory import FrameSource
from smallq.data.sample import SampleSource
from smallq.errors import FundamentalsNotKnownYetError
from smallq.fundamentals import Fundamentals
from smallq.params import DEFAULT_PARAMS
from smallq.pipeline import build_portfolio, run_strategy_backtest, select_stocks
from smallq.profile import make_profile, resolve_settings
from smallq.ranking import rank_stocks
from smallq.types import Strategy

TODAY = date(2026, 11, 25)
FAST = replace(DEFAULT_PARAMS, mc_paths=500)
TICKERS = ["AAA", "BBB", "CCC", "DDD", "EEE", "FFF"]
DATES = pd.bdate_range("2019-01-01", periods=420)
DECISION = DATES[399].date()  # 2020-07-14; 20 rows of data follow it


def _prices(seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    returns = 0.0004 + rng.normal(0, 0.01, size=(len(DATES), len(TICKERS)))
    return pd.DataFrame(100 * np.cumprod(1 + returns, axis=0), index=DATES, columns=TICKERS)


def _companies() -> pd.DataFrame:
    return pd.DataFrame(
        {"ticker": TICKERS, "name": TICKERS, "sector": "Energy", "market_cap": 5e10}
    )


def _history(later_seed: int) -> pd.DataFrame:
    """Fundamentals rows dated 2020-03-31 (known at DECISION) and 2020-07-31 (after it)."""
    known = pd.DataFrame(
        {
            "ticker": TICKERS,
            "pe": [8.0, 12.0, 20.0, 35.0, -10.0, 15.0],
            "pb": [1.0, 2.0, 3.0, 6.0, 1.5, np.nan],
            "dividend_yield": [0.04, 0.02, 0.01, 0.0, 0.03, 0.025],
            "market_cap": [2e9, 8e9, 3e10, 9e10, 4e9, 1.5e10],
        }
    ).assign(date="2020-03-31")
    rng = np.random.default_rng(later_seed)
    later = known.assign(
        date="2020-07-31",
        pe=rng.uniform(5, 50, 6),
        pb=rng.uniform(0.5, 9, 6),
        dividend_yield=rng.uniform(0, 0.06, 6),
        market_cap=rng.uniform(1e9, 1e11, 6),
    )
    return pd.concat([known, later], ignore_index=True)


def _winsorized_z(column: pd.Series) -> pd.Series:
    """Clip at the 5th/95th percentiles, then z-score with the population std."""
    low, high = column.dropna().quantile([0.05, 0.95])
    clipped = column.clip(low, high)
    return (clipped - clipped.mean()) / clipped.std(ddof=0)


def _value_profile(**fields: object):
    return make_profile(
        sectors="Energy",
        capital=10_000.0,
        strategy="value",
        top_n=4,
        lookback_days=252,
        max_weight=0.4,
        as_of=DECISION,
        **fields,
    )


# --------------------------------------------------------------------------- item 3
def test_value_on_the_sample_before_its_snapshot_is_refused_and_names_it() -> None:
    # the defect: `rank --strategy value --as-of 2005-06-30` scored 2005 with 2022 P/E
    profile = make_profile(
        sectors="tech,health", capital=10_000.0, strategy="value", as_of=date(2005, 6, 30)
    )
    with pytest.raises(FundamentalsNotKnownYetError) as info:
        select_stocks(profile, SampleSource(), today=TODAY, require_benchmark=False)
    message = info.value.user_message()
    assert "2005-06-30" in message and "2022-12-30" in message
    assert "momentum or low volatility" in message


def test_a_value_backtest_before_the_snapshot_is_refused() -> None:
    # the defect: a value backtest from 2015 used end-2022 fundamentals at every rebalance
    profile = make_profile(sectors="tech,health", capital=10_000.0, strategy="composite")
    with pytest.raises(FundamentalsNotKnownYetError):
        run_strategy_backtest(
            profile, SampleSource(), start=date(2015, 1, 2), end=date(2016, 1, 4), params=FAST
        )


def _csv_dir(tmp_path: Path, later_seed: int) -> Path:
    folder = tmp_path / f"csv{later_seed}"
    folder.mkdir()
    prices = _prices()
    prices.rename_axis("date").to_csv(folder / "prices.csv")
    prices.mean(axis=1).rename("close").rename_axis("date").to_csv(folder / "benchmark.csv")
    # the undated company table holds figures no ranking may use
    _companies().assign(pe=1.0, pb=1.0, dividend_yield=0.5).to_csv(
        folder / "companies.csv", index=False
    )
    _history(later_seed)[["date", "ticker", "pe", "pb", "dividend_yield", "market_cap"]].to_csv(
        folder / "fundamentals.csv", index=False
    )
    return folder


def test_csv_fundamentals_history_is_read_as_of_the_decision(tmp_path: Path) -> None:
    rankings = [
        select_stocks(_value_profile(), CsvSource(_csv_dir(tmp_path, seed)), today=TODAY).ranking
        for seed in (1, 2)
    ]
    # changing every fundamental dated after D changes nothing at D
    pd.testing.assert_frame_equal(rankings[0].table, rankings[1].table)
    # and the scores are those of the rows dated 2020-03-31, computed independently
    known = _history(1).iloc[:6].set_index("ticker")
    ratios = pd.DataFrame(
        {"ey": 1 / known["pe"], "bp": 1 / known["pb"], "dy": known["dividend_yield"]}
    )
    expected = ratios.apply(_winsorized_z).mean(axis=1)
    z = _winsorized_z(expected)
    table = rankings[0].table
    np.testing.assert_allclose(table["value"], expected[table.index], rtol=0, atol=1e-12)
    np.testing.assert_allclose(table["score"], z[table.index], rtol=0, atol=1e-12)
    assert rankings[0].selected == tuple(z.sort_values(ascending=False).index[:4])


def test_the_market_cap_band_uses_the_cap_known_at_the_decision(tmp_path: Path) -> None:
    # dated caps at D: AAA 2e9, EEE 4e9, BBB 8e9 are below 1e10; the undated table says 5e10
    profile = _value_profile(min_market_cap=1e10)
    selection = select_stocks(profile, CsvSource(_csv_dir(tmp_path, 1)), today=TODAY)
    assert sorted(selection.ranking.table.index) == ["CCC", "DDD", "FFF"]


def test_the_market_cap_band_before_any_dated_cap_says_what_it_used() -> None:
    sample = SampleSource()
    profile = make_profile(sectors="tech,health", capital=10_000.0, min_market_cap=1e11)
    selection = select_stocks(profile, sample, today=TODAY)
    assert any(
        "Market caps of" in n and "not known on 2022-12-28" in n and "2022-12-30" in n
        for n in selection.market.notes
    )


def test_backtest_decisions_rank_on_fundamentals_known_at_each_rebalance() -> None:
    prices = _prices()
    companies = _companies().set_index("ticker")
    histories = [Fundamentals.from_rows(_history(seed), "history") for seed in (1, 2)]
    settings = resolve_settings(_value_profile())
    weights = []
    for fundamentals in histories:
        policy = PipelinePolicy(
            companies,
            Strategy.VALUE,
            settings,
            top_n=4,
            lookback_days=252,
            fundamentals=fundamentals,
        )
        weights.append(policy(prices, pd.Timestamp(DECISION)))
        assert policy.decisions[-1][1] == tuple(
            rank_stocks(
                prices.loc[: pd.Timestamp(DECISION)],
                companies,
                Strategy.VALUE,
                DECISION,
                top_n=4,
                fundamentals=histories[0],
            ).selected
        )
    pd.testing.assert_series_equal(weights[0], weights[1])


# --------------------------------------------------------------------------- item 5
def _frame_source(prices: pd.DataFrame) -> FrameSource:
    return FrameSource(prices, prices.mean(axis=1).rename("index"), _companies())


def test_a_decision_day_spike_is_left_out_of_the_build_with_a_note() -> None:
    prices = _prices().loc[: pd.Timestamp(DECISION)]
    prices.iloc[-1, prices.columns.get_loc("CCC")] *= 1.27  # +27% on the decision day
    profile = make_profile(
        sectors="Energy", capital=10_000.0, top_n=5, lookback_days=252, max_weight=0.4
    )
    report = build_portfolio(profile, _frame_source(prices), today=TODAY, params=FAST)
    assert "CCC" not in report.ranking.table.index
    assert "CCC" not in report.allocation.prices.index
    assert any(n.text.startswith("CCC: the close on the decision day") for n in report.notes)


def test_a_decision_day_close_outside_its_range_is_not_the_order_price(tmp_path: Path) -> None:
    prices = _prices().loc[: pd.Timestamp(DECISION)]
    long = prices.stack().rename("close").rename_axis(["date", "ticker"]).reset_index()
    long["high"], long["low"] = long["close"] * 1.01, long["close"] * 0.99
    last = long["date"].eq(long["date"].max()) & long["ticker"].eq("AAA")
    good = float(long.loc[last, "close"].iloc[0])
    long.loc[last, "close"] = good * 0.5  # the LNT pattern: close far below the day's low
    long.to_csv(tmp_path / "prices.csv", index=False)
    prices.mean(axis=1).rename("close").rename_axis("date").to_csv(tmp_path / "benchmark.csv")
    _companies().to_csv(tmp_path / "companies.csv", index=False)
    profile = make_profile(
        sectors="Energy", capital=10_000.0, top_n=6, lookback_days=252, max_weight=0.4
    )
    report = build_portfolio(profile, CsvSource(tmp_path), today=TODAY, params=FAST)
    assert report.allocation.prices["AAA"] == pytest.approx(good * 0.99, rel=1e-12)
    assert any(
        "AAA: close outside the day's low-high range on the last day" in note.text
        for note in report.notes
    )


def test_a_backtest_decision_never_trades_on_an_unconfirmed_spike() -> None:
    prices = _prices()
    start = DATES[300]
    spiked = prices.copy()
    spiked.loc[start, "CCC"] *= 1.27  # a bad print on the decision day, undone the next day
    profile = make_profile(
        sectors="Energy",
        capital=10_000.0,
        top_n=6,
        lookback_days=252,
        max_weight=0.4,
        objective="equal_weight",
    )
    report = run_strategy_backtest(
        profile,
        _frame_source(spiked),
        start=start.date(),
        end=DATES[-1].date(),
        params=FAST,
    )
    first = report.result.weights.loc[start]
    assert first.get("CCC", 0.0) == 0.0  # left out of the decision made that day
    assert first.drop("CCC", errors="ignore").sum() == pytest.approx(1.0, abs=1e-9)
    assert first["AAA"] == pytest.approx(1 / 5, abs=1e-9)
    # the next month's decision sees the repaired history and holds CCC again
    assert report.result.weights["CCC"].iloc[-1] > 0
