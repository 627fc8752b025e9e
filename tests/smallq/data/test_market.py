"""The data stages of the use cases: market data, long stress histories, benchmark notes."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from smallq.data.market import (
    STRESS_HISTORY_START,
    benchmark_notes,
    data_end,
    history_start,
    load_index_history,
    load_market_data,
    load_stress_history,
)
from smallq.data.memory import FrameSource
from smallq.errors import DataUnavailableError
from tests.smallq.data.fakes import CountingSource


def _source(n_days: int = 400) -> FrameSource:
    rng = np.random.default_rng(7)
    dates = pd.bdate_range("2020-01-01", periods=n_days)
    tickers = ["AAA", "BBB", "CCC"]
    prices = pd.DataFrame(
        100 * np.cumprod(1 + rng.normal(0.0003, 0.01, (n_days, 3)), axis=0),
        index=dates,
        columns=tickers,
    )
    index = pd.Series(np.linspace(1000, 1200, n_days), index=dates, name="SP500")
    companies = pd.DataFrame({"ticker": tickers, "name": tickers, "sector": "Energy"})
    return FrameSource(prices, index, companies)


def test_market_data_is_aligned_with_the_benchmark() -> None:
    source = _source()
    end = data_end(source, date(2030, 1, 1))
    market = load_market_data(
        source,
        ("AAA", "BBB", "CCC"),
        source.fetch_companies(),
        start=history_start(end, 300),
        end=end,
    )
    assert end == source.last_date()
    assert market.prices.index.equals(market.benchmark.index)
    assert list(market.prices.columns) == ["AAA", "BBB", "CCC"]


def test_stress_history_falls_back_to_the_window_when_the_source_fails() -> None:
    source = CountingSource(_source())
    window = source.fetch_prices(["AAA", "BBB"], date(2020, 1, 1), date(2021, 1, 1)).close
    source.failure = DataUnavailableError(["AAA"], "offline")
    history, notes = load_stress_history(source, ["AAA"], window, date(2021, 1, 1))
    assert history.equals(window[["AAA"]])
    assert notes == []
    assert source.calls[-1][2] == STRESS_HISTORY_START


def test_index_history_prefers_the_given_series_then_the_source_then_the_benchmark() -> None:
    source = CountingSource(_source())
    given = pd.Series([1.0, 2.0], index=pd.bdate_range("1999-06-01", periods=2))
    short = pd.Series([3.0], index=pd.bdate_range("2021-01-01", periods=1))
    pd.testing.assert_series_equal(
        load_index_history(source, given, short, date(2021, 1, 1)), given
    )
    # a given history is read only up to the decision date
    assert list(load_index_history(source, given, short, date(1999, 6, 1))) == [1.0]
    assert source.count("benchmark") == 0
    assert len(load_index_history(source, None, short, date(2021, 1, 1))) > 1
    source.failure = DataUnavailableError(["benchmark"], "offline")
    assert load_index_history(source, None, short, date(2021, 1, 1)) is short


@pytest.mark.parametrize(("name", "expected"), [("SP500", 1), ("^GSPC", 1), ("SPY", 0)])
def test_only_a_price_index_benchmark_gets_the_dividend_note(name: str, expected: int) -> None:
    assert len(benchmark_notes(pd.Series([1.0], name=name))) == expected
