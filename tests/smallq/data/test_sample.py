from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from skfolio.datasets import load_sp500_dataset, load_sp500_index

from smallq.data.base import PriceSource
from smallq.data.sample import SampleSource
from smallq.errors import DataUnavailableError
from smallq.models import COMPANY_COLUMNS
from smallq.types import Sector

SECTORS = {
    "Information Technology": ["AAPL", "AMD", "MSFT"],
    "Financials": ["BAC", "JPM"],
    "Consumer Discretionary": ["BBY", "HD"],
    "Energy": ["CVX", "RRC", "XOM"],
    "Industrials": ["GE"],
    "Health Care": ["JNJ", "LLY", "MRK", "PFE", "UNH"],
    "Consumer Staples": ["KO", "PEP", "PG", "WMT"],
}


@pytest.fixture(scope="module")
def source() -> SampleSource:
    return SampleSource()


def test_sample_is_a_price_source(source: SampleSource) -> None:
    assert isinstance(source, PriceSource)
    assert source.name == "sample"


def test_prices_equal_skfolio_dataset_on_the_window(source: SampleSource) -> None:
    data = source.fetch_prices(["msft", "AAPL"], date(2020, 1, 1), date(2020, 12, 31))
    expected = load_sp500_dataset().loc["2020-01-01":"2020-12-31", ["MSFT", "AAPL"]]
    assert list(data.close.columns) == ["MSFT", "AAPL"]
    assert len(data.close) == len(expected) == 253  # NYSE trading days in 2020
    np.testing.assert_array_equal(data.close.to_numpy(), expected.to_numpy())
    assert data.close.index[0] == pd.Timestamp("2020-01-02")
    assert data.close.index.tz is None
    assert data.volume is None and data.open is None


def test_window_bounds_are_inclusive(source: SampleSource) -> None:
    data = source.fetch_prices(["KO"], date(2022, 12, 23), date(2022, 12, 28))
    assert [d.strftime("%m-%d") for d in data.close.index] == ["12-23", "12-27", "12-28"]


def test_unknown_tickers_are_named(source: SampleSource) -> None:
    with pytest.raises(DataUnavailableError) as info:
        source.fetch_prices(["AAPL", "ZZZZ", "TSLA"], date(2020, 1, 1), date(2020, 2, 1))
    assert info.value.tickers == ("ZZZZ", "TSLA")
    assert "ZZZZ" in info.value.user_message()


def test_window_outside_the_sample_raises(source: SampleSource) -> None:
    with pytest.raises(DataUnavailableError, match="1990-01-02 to 2022-12-28"):
        source.fetch_prices(["AAPL"], date(2023, 1, 1), date(2023, 6, 1))
    with pytest.raises(DataUnavailableError):
        source.fetch_benchmark(date(1980, 1, 1), date(1985, 1, 1))


def test_benchmark_is_the_sp500_index(source: SampleSource) -> None:
    bench = source.fetch_benchmark(date(2008, 1, 1), date(2008, 12, 31))
    expected = load_sp500_index()["SP500"].loc["2008-01-01":"2008-12-31"]
    assert bench.name == "SP500"
    np.testing.assert_array_equal(bench.to_numpy(), expected.to_numpy())
    # independent fact: the S&P 500 price index lost 38.5% in 2008 (1468.36 -> 903.25)
    assert bench.iloc[-1] / 1468.36 - 1 == pytest.approx(-0.385, abs=0.002)


def test_company_table_covers_the_20_tickers(source: SampleSource) -> None:
    companies = source.fetch_companies()
    assert list(companies.columns) == list(COMPANY_COLUMNS)
    assert companies.index.name == "ticker"
    assert sorted(companies.index) == sorted(load_sp500_dataset().columns)
    for sector, tickers in SECTORS.items():
        assert sorted(companies.index[companies["sector"] == sector]) == tickers
    assert all(Sector.parse(s).value == s for s in companies["sector"])


def test_company_figures_are_plausible_end_2022_values(source: SampleSource) -> None:
    companies = source.fetch_companies()
    last = load_sp500_dataset().iloc[-1]
    assert companies["dividend_yield"].between(0, 0.06).all()  # fractions, not percent
    assert companies["market_cap"].between(5e9, 2.5e12).all()
    # yield x price = annual dividend per share, end-2022 (independent public figures)
    for ticker, dividend in {
        "KO": 1.76,
        "XOM": 3.64,
        "JPM": 4.00,
        "PG": 3.65,
        "MSFT": 2.72,
    }.items():
        implied = companies.loc[ticker, "dividend_yield"] * last[ticker]
        assert implied == pytest.approx(dividend, rel=0.06), ticker
    # market cap / price = shares outstanding (AAPL ~15.9bn, MSFT ~7.45bn)
    assert companies.loc["AAPL", "market_cap"] / last["AAPL"] == pytest.approx(15.9e9, rel=0.06)
    assert companies.loc["MSFT", "market_cap"] / last["MSFT"] == pytest.approx(7.45e9, rel=0.06)
    assert np.isnan(companies.loc["GE", "pe"])  # trailing earnings were negative
    assert companies["pe"].drop("GE").between(3, 80).all()


def test_company_table_is_a_copy(source: SampleSource) -> None:
    first = source.fetch_companies()
    first.loc["AAPL", "sector"] = "Energy"
    assert source.fetch_companies().loc["AAPL", "sector"] == "Information Technology"
