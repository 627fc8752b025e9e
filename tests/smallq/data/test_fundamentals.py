"""Every source dates its fundamentals: the sample, CSV files, Yahoo and the company caches."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from smallq.data.cached import CachedPriceSource
from smallq.data.csv import CsvSource
from smallq.data.sample import SampleSource
from smallq.data.yahoo import YahooSource
from smallq.errors import DataFormatError, DataUnavailableError
from smallq.fundamentals import Fundamentals
from smallq.universe import companies_as_of, normalise_companies
from storage.company_cache import SqliteCompanyCache
from storage.db import connect
from storage.price_cache import SqlitePriceCache
from tests.smallq.data.fakes import CountingSource

PRICES = "date,ticker,close\n2024-01-02,AAA,10\n2024-01-02,BRK.B,300\n2024-01-03,AAA,11\n"
T0 = datetime(2026, 11, 24, 18, 0, tzinfo=UTC)


def _csv(tmp_path: Path, **files: str) -> CsvSource:
    (tmp_path / "prices.csv").write_text(PRICES)
    for stem, text in files.items():
        (tmp_path / f"{stem}.csv").write_text(text)
    return CsvSource(tmp_path)


# --------------------------------------------------------------------------- sample
def test_the_sample_snapshot_is_dated_after_its_last_price() -> None:
    source = SampleSource()
    fundamentals = source.fetch_fundamentals()
    assert fundamentals.describe() == "a snapshot dated 2022-12-30 (sample_companies.csv)"
    assert fundamentals.first_date == date(2022, 12, 30) > source.last_date()  # type: ignore[operator]
    assert fundamentals.as_of(date(2022, 12, 29)).empty
    known = fundamentals.as_of(date(2022, 12, 30))
    companies = source.fetch_companies()
    assert len(known) == 20
    pd.testing.assert_series_equal(known["pe"], companies["pe"].rename_axis("ticker"))


# --------------------------------------------------------------------------- csv
def test_csv_fundamentals_history_is_dated_row_by_row(tmp_path: Path) -> None:
    source = _csv(
        tmp_path,
        fundamentals=(
            "date,ticker,pe,pb,dividend_yield,market_cap\n"
            "2023-12-29,AAA,10,1,0.02,1e9\n"
            "2024-01-03,AAA,20,2,0.01,2e9\n"
            "2023-06-30,BRK.B,15,1.5,0,8e11\n"
        ),
    )
    fundamentals = source.fetch_fundamentals()
    assert fundamentals.describe() == "a history from 2023-06-30 to 2024-01-03 (fundamentals.csv)"
    on_2nd = fundamentals.as_of(date(2024, 1, 2))
    assert on_2nd.loc["AAA", "pe"] == 10.0 and on_2nd.loc["BRK-B", "pe"] == 15.0
    assert fundamentals.as_of(date(2024, 1, 3)).loc["AAA", "market_cap"] == 2e9
    assert list(fundamentals.as_of(date(2023, 7, 1)).index) == ["BRK-B"]


def test_csv_companies_snapshot_is_dated_by_its_date_column(tmp_path: Path) -> None:
    source = _csv(
        tmp_path,
        companies="ticker,name,sector,pe,date\nAAA,A,Energy,12,2024-01-03\nBRK.B,B,Financials,9,2024-01-03\n",
    )
    fundamentals = source.fetch_fundamentals()
    assert fundamentals.describe() == "a snapshot dated 2024-01-03 (companies.csv)"
    assert fundamentals.as_of(date(2024, 1, 2)).empty
    assert source.fetch_companies().loc["AAA", "sector"] == "Energy"


def test_csv_companies_without_a_date_are_an_undated_snapshot(tmp_path: Path) -> None:
    source = _csv(tmp_path, companies="ticker,name,sector,pe\nAAA,A,Energy,12\n")
    fundamentals = source.fetch_fundamentals()
    assert fundamentals.describe() == "an undated snapshot (companies.csv)"
    assert fundamentals.first_date is None
    assert fundamentals.as_of(date(2100, 1, 1)).empty  # never known, whatever the date


def test_csv_without_fundamentals(tmp_path: Path) -> None:
    fundamentals = _csv(tmp_path).fetch_fundamentals()
    assert fundamentals.is_empty and fundamentals.describe().startswith("no fundamentals")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("date,ticker,pe\n2024-01-02,AAA,1\n2024-01-02,AAA,2\n", "repeated row"),
        ("date,ticker,dividend_yield\n2024-01-02,AAA,2.5\n", "must be a fraction"),
        ("date,ticker,pe\nsoon,AAA,1\n", "unparsable date"),
        ("ticker,pe\nAAA,1\n", "'date'"),
    ],
)
def test_malformed_fundamentals_raise(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(DataFormatError, match=message):
        _csv(tmp_path, fundamentals=text).fetch_fundamentals()


# --------------------------------------------------------------------------- yahoo
def test_yahoo_fundamentals_are_dated_the_day_they_were_fetched() -> None:
    calls: list[str] = []

    def info(ticker: str) -> dict[str, Any]:
        calls.append(ticker)
        return {"marketCap": 1e12, "trailingPE": 20.0, "priceToBook": 5.0, "dividendYield": 1.0}

    today = [date(2026, 11, 24)]
    source = YahooSource(
        sleep=lambda _: None,
        info_fetcher=info,
        constituents=lambda: [{"symbol": "AAPL", "name": "Apple", "industries": ["Technology"]}],
        today=lambda: today[0],
    )
    source.fetch_companies()
    fundamentals = source.fetch_fundamentals()  # the table fetched today is reused
    assert calls == ["AAPL"]
    assert fundamentals.describe() == "a snapshot dated 2026-11-24 (Yahoo Finance)"
    assert fundamentals.as_of(date(2026, 11, 23)).empty
    today[0] = date(2026, 11, 25)
    assert source.fetch_fundamentals().first_date == date(2026, 11, 25)
    assert calls == ["AAPL", "AAPL"]


# --------------------------------------------------------------------------- caches
class LiveSource(CountingSource):
    """A live provider (no last date), like Yahoo, over the sample's tables."""

    def last_date(self) -> date | None:
        return None


def test_a_cached_live_source_dates_fundamentals_by_the_table_it_serves() -> None:
    now = [T0]
    provider = LiveSource(SampleSource(), name="live")
    db = connect(":memory:")
    cached = CachedPriceSource(
        provider,
        SqlitePriceCache(db),
        now=lambda: now[0],
        company_cache=SqliteCompanyCache(db),
    )
    assert cached.fetch_fundamentals().first_date == date(2026, 11, 24)
    now[0] = T0 + timedelta(days=8)  # past the 7-day company max age, provider down
    provider.failure = DataUnavailableError(["companies"], "down")
    stale = cached.fetch_fundamentals()
    assert stale.first_date == date(2026, 11, 24)  # the stale copy keeps its own date
    assert provider.count("fundamentals") == 0  # no second round of per-stock calls
    # a new process reads the SQLite company cache: the stored fetch time dates it
    again = CachedPriceSource(
        provider, SqlitePriceCache(db), now=lambda: now[0], company_cache=SqliteCompanyCache(db)
    )
    assert again.fetch_fundamentals().describe().startswith("a snapshot dated 2026-11-24")


def test_a_cached_local_source_keeps_the_files_dates() -> None:
    provider = CountingSource(SampleSource(), name="sample")
    cached = CachedPriceSource(provider, SqlitePriceCache(connect(":memory:")), now=lambda: T0)
    assert cached.fetch_fundamentals().first_date == date(2022, 12, 30)
    assert provider.count("fundamentals") == 1


# --------------------------------------------------------------------------- universe
def test_companies_as_of_blanks_unknown_ratios_and_says_which_caps_are_later() -> None:
    companies = normalise_companies(
        pd.DataFrame(
            {
                "ticker": ["A", "B"],
                "sector": "Energy",
                "market_cap": [9e9, 7e9],
                "pe": [99.0, 99.0],
            }
        )
    )
    rows = pd.DataFrame(
        {"date": ["2020-01-31", "2021-01-29"], "ticker": ["A", "B"], "pe": [10.0, 20.0]}
    ).assign(market_cap=[1e9, 2e9])
    table, note = companies_as_of(
        companies, Fundamentals.from_rows(rows, "f.csv"), date(2020, 6, 30)
    )
    assert table.loc["A", "market_cap"] == 1e9 and table.loc["A", "pe"] == 10.0
    assert table.loc["B", "market_cap"] == 7e9 and np.isnan(table.loc["B", "pe"])
    assert "Market caps of 1 stock(s) are not known on 2020-06-30 (B)" in note
    assert companies.loc["A", "pe"] == 99.0  # not mutated
    _, none = companies_as_of(companies, Fundamentals.from_rows(rows, "f.csv"), date(2021, 2, 1))
    assert none == ""
