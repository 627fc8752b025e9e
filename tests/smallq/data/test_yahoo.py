"""YahooSource against yfinance-shaped frames; nothing here touches the network."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pytest
from yfinance.exceptions import YFRateLimitError

from smallq.data.base import PriceSource
from smallq.data.yahoo import (
    YahooSource,
    fundamentals_from_info,
    sector_from_industries,
    yahoo_panels,
)
from smallq.errors import DataFormatError, DataUnavailableError
from smallq.types import Sector

DATES = pd.DatetimeIndex(["2024-03-01", "2024-03-04", "2024-03-05"], name="Date")
START, END = date(2024, 3, 1), date(2024, 3, 5)
FIELDS = ["Open", "High", "Low", "Close", "Volume"]


def ticker_frame(base: float, dates: pd.DatetimeIndex = DATES) -> pd.DataFrame:
    """One ticker's history as ``Ticker.history(auto_adjust=True)`` returns it."""
    close = base + np.arange(len(dates), dtype=float)
    return pd.DataFrame(
        {"Open": close - 0.5, "High": close + 1, "Low": close - 1, "Close": close, "Volume": 1e6},
        index=dates,
    )


def failed_frame() -> pd.DataFrame:
    """yfinance's placeholder for a ticker whose download failed (utils.empty_df)."""
    return pd.DataFrame(
        {f: pd.Series(dtype=float) for f in [*FIELDS[:4], "Adj Close", "Volume"]},
        index=pd.DatetimeIndex([], name="Date"),
    )


def yf_frame(frames: Mapping[str, pd.DataFrame], group_by: str = "column") -> pd.DataFrame:
    """Join per-ticker frames the way ``yf.download`` does (reindex, concat, swap levels)."""
    index = pd.DatetimeIndex([])
    for frame in frames.values():
        index = index.union(frame.index) if len(frame) else index
    joined = pd.concat(
        [f.reindex(index) for f in frames.values()],
        axis=1,
        keys=list(frames),
        names=["Ticker", "Price"],
    )
    if group_by == "column":
        joined.columns = joined.columns.swaplevel(0, 1)
        joined = joined.sort_index(level=0, axis=1)
    return joined


class FakeDownload:
    """Stand-in for ``yf.download``: returns (or raises) queued answers, records calls."""

    def __init__(self, *answers: object) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[list[str], dict[str, Any]]] = []

    def __call__(self, tickers: list[str], **kwargs: Any) -> pd.DataFrame | None:
        self.calls.append((list(tickers), kwargs))
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, BaseException):
            raise answer
        if callable(answer):
            return answer(tickers)  # type: ignore[no-any-return]
        return answer  # type: ignore[return-value]


def make_source(download: FakeDownload, **kwargs: Any) -> tuple[YahooSource, list[float]]:
    sleeps: list[float] = []
    return YahooSource(download=download, sleep=sleeps.append, **kwargs), sleeps


# --------------------------------------------------------------------------- layouts
@pytest.mark.parametrize("group_by", ["column", "ticker"])
def test_multiindex_layouts(group_by: str) -> None:
    raw = yf_frame({"AAPL": ticker_frame(100), "MSFT": ticker_frame(400)}, group_by)
    download = FakeDownload(raw)
    source, sleeps = make_source(download)
    assert isinstance(source, PriceSource)
    data = source.fetch_prices(["msft", "AAPL"], START, END)
    assert list(data.close.columns) == ["MSFT", "AAPL"]
    assert data.close["AAPL"].tolist() == [100.0, 101.0, 102.0]
    assert data.high is not None and data.high["MSFT"].tolist() == [401.0, 402.0, 403.0]
    assert data.volume is not None and (data.volume == 1e6).all().all()
    assert data.notes == () and sleeps == []
    assert data.close.index.equals(pd.DatetimeIndex(DATES, name="date"))


def test_download_arguments() -> None:
    download = FakeDownload(yf_frame({"AAPL": ticker_frame(100)}))
    make_source(download)[0].fetch_prices(["AAPL"], START, END)
    tickers, kwargs = download.calls[0]
    assert tickers == ["AAPL"]
    assert kwargs["start"] == "2024-03-01"
    assert kwargs["end"] == "2024-03-06"  # yfinance's end is exclusive
    assert kwargs["auto_adjust"] is True and kwargs["group_by"] == "column"
    assert kwargs["progress"] is False and kwargs["threads"] is True


def test_single_ticker_flat_frame() -> None:
    download = FakeDownload(ticker_frame(50))
    data = make_source(download)[0].fetch_prices(["KO"], START, END)
    assert data.close["KO"].tolist() == [50.0, 51.0, 52.0]
    assert data.low is not None and data.low["KO"].tolist() == [49.0, 50.0, 51.0]


def test_flat_frame_for_several_tickers_is_a_format_error() -> None:
    with pytest.raises(DataFormatError):
        yahoo_panels(ticker_frame(50), ["A", "B"])


def test_tz_aware_index_keeps_the_exchange_date() -> None:
    frame = ticker_frame(10, DATES.tz_localize("America/New_York"))
    data = make_source(FakeDownload(yf_frame({"X": frame})))[0].fetch_prices(["X"], START, END)
    assert data.close.index.tz is None
    assert data.close.index[0] == pd.Timestamp("2024-03-01")


def test_rows_after_end_are_cut() -> None:
    longer = DATES.append(pd.DatetimeIndex(["2024-03-06"]))
    download = FakeDownload(yf_frame({"X": ticker_frame(10, longer)}))
    data = make_source(download)[0].fetch_prices(["X"], START, END)
    assert data.close.index[-1] == pd.Timestamp("2024-03-05")


# --------------------------------------------------------------------------- partial/empty
def test_partial_frame_returns_the_good_tickers_with_a_note() -> None:
    # a failed ticker arrives as an all-NaN block that even carries an "Adj Close" column
    raw = yf_frame({"AAPL": ticker_frame(100), "DELISTED": failed_frame()})
    download = FakeDownload(raw)
    source, sleeps = make_source(download)
    data = source.fetch_prices(["AAPL", "DELISTED"], START, END)
    assert list(data.close.columns) == ["AAPL"]
    assert data.close["AAPL"].tolist() == [100.0, 101.0, 102.0]
    assert data.notes == ("Yahoo Finance returned no prices for DELISTED; left out",)
    assert len(download.calls) == 1 and sleeps == []


def test_all_nan_columns_count_as_missing() -> None:
    nan = ticker_frame(1).assign(Close=np.nan)
    raw = yf_frame({"AAPL": ticker_frame(100), "GHOST": nan})
    data = make_source(FakeDownload(raw))[0].fetch_prices(["AAPL", "GHOST"], START, END)
    assert list(data.close.columns) == ["AAPL"]


@pytest.mark.parametrize("empty", [pd.DataFrame(), None, "failed"])
def test_empty_answers_are_retried_then_raise(empty: object) -> None:
    if isinstance(empty, str):
        empty = yf_frame({"A": failed_frame(), "B": failed_frame()})
    download = FakeDownload(empty)
    source, sleeps = make_source(download)
    with pytest.raises(DataUnavailableError) as info:
        source.fetch_prices(["A", "B"], START, END)
    assert info.value.tickers == ("A", "B")
    assert "empty" in str(info.value)
    assert len(download.calls) == 5  # 1 + max_retries
    assert sleeps == [2.0, 4.0, 8.0, 16.0]


def test_unreachable_yahoo_gives_up_after_the_first_batch() -> None:
    """Offline, every batch would wait through all retries: stop after the first one."""
    download = FakeDownload(pd.DataFrame())
    source, sleeps = make_source(download, batch_size=2)
    with pytest.raises(DataUnavailableError) as info:
        source.fetch_prices(["A", "B", "C", "D", "E"], START, END)
    assert info.value.tickers == ("A", "B", "C", "D", "E") and info.value.retryable
    assert {tuple(tickers) for tickers, _ in download.calls} == {("A", "B")}
    assert len(download.calls) == 5 and len(sleeps) == 4
    assert str(info.value).count("empty frame") == 1  # the reason is not repeated


def test_a_later_empty_batch_does_not_stop_the_others() -> None:
    def answer(tickers: list[str]) -> pd.DataFrame:
        return yf_frame({t: ticker_frame(100) for t in tickers if t != "C"}) if "A" in tickers \
            or "E" in tickers else pd.DataFrame()  # fmt: skip

    download = FakeDownload(answer)
    source, _ = make_source(download, batch_size=2)
    data = source.fetch_prices(["A", "B", "C", "D", "E"], START, END)
    assert list(data.close.columns) == ["A", "B", "E"]
    assert "C, D" in data.notes[0]


def test_rate_limit_is_retried_with_exponential_backoff() -> None:
    good = yf_frame({"AAPL": ticker_frame(100)})
    download = FakeDownload(YFRateLimitError(), YFRateLimitError(), good)
    source, sleeps = make_source(download, backoff_s=1.5)
    data = source.fetch_prices(["AAPL"], START, END)
    assert data.close["AAPL"].iloc[0] == 100.0
    assert len(download.calls) == 3
    assert sleeps == [1.5, 3.0]


def test_persistent_rate_limit_raises_data_unavailable() -> None:
    download = FakeDownload(YFRateLimitError())
    source, sleeps = make_source(download, max_retries=2)
    with pytest.raises(DataUnavailableError, match="rate limited") as info:
        source.fetch_prices(["AAPL"], START, END)
    assert info.value.retryable
    assert len(download.calls) == 3 and sleeps == [2.0, 4.0]


def test_network_error_is_retried() -> None:
    download = FakeDownload(ConnectionError("reset"), yf_frame({"A": ticker_frame(1)}))
    source, sleeps = make_source(download)
    assert source.fetch_prices(["A"], START, END).close["A"].iloc[0] == 1.0
    assert sleeps == [2.0]


def test_batches_and_a_failed_batch() -> None:
    def answer(tickers: list[str]) -> pd.DataFrame:
        if "C" in tickers:  # the whole second batch fails
            return yf_frame({t: failed_frame() for t in tickers})
        return yf_frame({t: ticker_frame(10.0 * (i + 1)) for i, t in enumerate(tickers)})

    download = FakeDownload(answer)
    source, sleeps = make_source(download, batch_size=2, max_retries=1)
    data = source.fetch_prices(["A", "B", "C", "D", "E"], START, END)
    batches = [tickers for tickers, _ in download.calls]
    assert batches == [["A", "B"], ["C", "D"], ["C", "D"], ["E"]]
    assert list(data.close.columns) == ["A", "B", "E"]
    assert data.notes == ("Yahoo Finance returned no prices for C, D; left out",)
    assert sleeps == [2.0]


def test_benchmark_is_gspc_named_sp500() -> None:
    download = FakeDownload(yf_frame({"^GSPC": ticker_frame(5000)}))
    series = make_source(download)[0].fetch_benchmark(START, END)
    assert download.calls[0][0] == ["^GSPC"]
    assert series.name == "SP500" and series.tolist() == [5000.0, 5001.0, 5002.0]


def test_missing_benchmark_raises() -> None:
    source, _ = make_source(FakeDownload(pd.DataFrame()), max_retries=0)
    with pytest.raises(DataUnavailableError) as info:
        source.fetch_benchmark(START, END)
    assert info.value.tickers == ("^GSPC",)


# --------------------------------------------------------------------------- companies
def test_sector_tags_resolve_with_priorities() -> None:
    assert sector_from_industries(["Energy", "Utilities"]) == "Utilities"
    assert sector_from_industries(["Financials", "Real Estate", "REITs"]) == "Real Estate"
    assert sector_from_industries(["Retail", "Consumer Staples"]) == "Consumer Staples"
    assert sector_from_industries(["Software", "Technology"]) == "Information Technology"
    assert np.isnan(sector_from_industries(["Conglomerate"]))  # type: ignore[arg-type]


def test_fundamentals_units() -> None:
    info = {"marketCap": 3e12, "trailingPE": "Infinity", "priceToBook": 50.0}
    paid = fundamentals_from_info(info | {"dividendRate": 1.0, "currentPrice": 200.0})
    assert paid == {
        "market_cap": 3e12,
        "pe": pytest.approx(np.nan, nan_ok=True),
        "pb": 50.0,
        "dividend_yield": 0.005,
    }
    # Yahoo's dividendYield is in percent: 0.35 means 0.35%
    assert fundamentals_from_info(info | {"dividendYield": 0.35})[
        "dividend_yield"
    ] == pytest.approx(0.0035)
    assert fundamentals_from_info(info)["dividend_yield"] == 0.0  # non-payer
    assert np.isnan(fundamentals_from_info({})["dividend_yield"])


def test_company_table_with_injected_constituents_and_info() -> None:
    constituents = [
        {"symbol": "BRK.B", "name": "Berkshire", "industries": ["Financials", "Insurance"]},
        {"symbol": "AAPL", "name": "Apple", "industries": ["Information Technology"]},
        {"symbol": "NEE", "name": "NextEra", "industries": ["Energy", "Utilities"]},
    ]
    attempts: dict[str, int] = {}

    def info(ticker: str) -> dict[str, Any]:
        attempts[ticker] = attempts.get(ticker, 0) + 1
        if ticker == "NEE":
            raise RuntimeError("404 Not Found")
        if ticker == "AAPL" and attempts[ticker] == 1:
            raise YFRateLimitError()
        return {"marketCap": 1e12, "trailingPE": 20.0, "priceToBook": 5.0, "dividendYield": 1.0}

    source = YahooSource(
        download=FakeDownload(None),
        sleep=lambda _: None,
        info_fetcher=info,
        constituents=lambda: constituents,
    )
    table = source.fetch_companies()
    assert list(table.index) == ["BRK-B", "AAPL", "NEE"]
    assert table["sector"].tolist() == ["Financials", "Information Technology", "Utilities"]
    assert table.loc["AAPL", "dividend_yield"] == 0.01 and attempts["AAPL"] == 2
    assert np.isnan(table.loc["NEE", "market_cap"])
    assert table.attrs["notes"] == ("No fundamentals from Yahoo for 1 stocks (NEE)",)


def test_default_constituents_map_every_stock_to_a_sector() -> None:
    def info(ticker: str) -> dict[str, Any]:
        return {} if ticker == "JPM" else {"marketCap": 1e11}

    source = YahooSource(download=FakeDownload(None), info_fetcher=info)
    table = source.fetch_companies()
    assert len(table) > 490 and {"AAPL", "BRK-B", "JPM"} <= set(table.index)
    assert table["sector"].notna().all()
    assert {Sector.parse(s) for s in table["sector"]} == set(Sector)
    assert table.attrs["notes"] == ("No fundamentals from Yahoo for 1 stocks (JPM)",)


def test_no_fundamentals_at_all_is_an_error_not_an_empty_table() -> None:
    """Offline every info call fails: refuse, so a cached table is not replaced by NaNs."""
    source = YahooSource(
        download=FakeDownload(None), sleep=lambda _: None,
        info_fetcher=lambda _: (_ for _ in ()).throw(OSError("offline")),
    )  # fmt: skip
    with pytest.raises(DataUnavailableError) as info:
        source.fetch_companies()
    assert info.value.retryable and "none of the" in info.value.user_message()
