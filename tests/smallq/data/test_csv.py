from __future__ import annotations

import gzip
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import smallq.data.csv as csv_module
from smallq.data.base import PriceSource
from smallq.data.csv import CsvSource
from smallq.errors import DataFormatError, DataUnavailableError
from smallq.types import Sector

START, END = date(2024, 1, 1), date(2024, 12, 31)

LONG = """Date,Name,Close,Open,High,Low,Volume,Adj Close
2024-01-02,AAA,10.0,9.5,10.5,9.0,1000,5.0
2024-01-03,AAA,11.0,10.0,11.5,10.0,1100,5.5
2024-01-02,BRK.B,300,299,301,298,50,300
2024-01-03,BRK.B,303,300,304,299,60,303
"""


def write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    if name.endswith(".gz"):
        with gzip.open(path, "wt") as handle:
            handle.write(text)
    else:
        path.write_text(text)
    return path


# --------------------------------------------------------------------------- prices
def test_long_form_uses_adj_close_and_scales_ohl(tmp_path: Path) -> None:
    write(tmp_path, "prices.csv", LONG)
    source = CsvSource(tmp_path)
    assert isinstance(source, PriceSource) and source.name == f"csv:{tmp_path}"
    data = source.fetch_prices(["AAA", "BRK.B"], START, END)
    assert list(data.close.columns) == ["AAA", "BRK-B"]
    assert data.close["AAA"].tolist() == [5.0, 5.5]
    # factor adj/close = 0.5 on both days: open/high/low are halved, volume is not
    assert data.open is not None and data.high is not None and data.low is not None
    assert data.open["AAA"].tolist() == [4.75, 5.0]
    assert data.high["AAA"].tolist() == [5.25, 5.75]
    assert data.low["AAA"].tolist() == [4.5, 5.0]
    assert data.volume is not None and data.volume["AAA"].tolist() == [1000.0, 1100.0]
    assert data.close.index.equals(pd.DatetimeIndex(["2024-01-02", "2024-01-03"], name="date"))


def test_long_form_without_adj_close_keeps_raw_close(tmp_path: Path) -> None:
    write(tmp_path, "prices.csv", "date,ticker,close\n2024-01-02,X,1.5\n2024-01-03,X,1.6\n")
    data = CsvSource(tmp_path).fetch_prices(["x"], START, END)
    assert data.close["X"].tolist() == [1.5, 1.6]
    assert data.open is None and data.volume is None


def test_wide_form_with_dotted_ticker(tmp_path: Path) -> None:
    write(tmp_path, "prices.csv", "Date,AAPL,BRK.B\n2024-01-02,100,300\n2024-01-03,,303\n")
    data = CsvSource(tmp_path).fetch_prices(["BRK-B", "AAPL"], START, END)
    assert data.close["BRK-B"].tolist() == [300.0, 303.0]
    assert data.close["AAPL"].iloc[0] == 100.0 and np.isnan(data.close["AAPL"].iloc[1])


def test_gzip_files_are_accepted(tmp_path: Path) -> None:
    write(tmp_path, "prices.csv.gz", LONG)
    write(tmp_path, "companies.csv.gz", "ticker,name,sector\nAAA,Triple A,tech\n")
    write(tmp_path, "benchmark.csv.gz", "date,close\n2024-01-02,4700\n2024-01-03,4710\n")
    source = CsvSource(tmp_path)
    assert source.fetch_prices(["AAA"], START, END).close["AAA"].tolist() == [5.0, 5.5]
    assert source.fetch_companies().loc["AAA", "sector"] == "Information Technology"
    assert source.fetch_benchmark(START, END).tolist() == [4700.0, 4710.0]


def test_window_and_missing_tickers(tmp_path: Path) -> None:
    write(tmp_path, "prices.csv", "date,ticker,close\n2023-06-01,OLD,1\n2024-01-02,NEW,2\n")
    source = CsvSource(tmp_path)
    data = source.fetch_prices(["OLD", "NEW"], START, END)
    assert list(data.close.columns) == ["NEW"]
    assert any(n.startswith("OLD: no prices between") for n in data.notes)
    with pytest.raises(DataUnavailableError) as info:
        source.fetch_prices(["OLD"], START, END)
    assert info.value.tickers == ("OLD",)
    with pytest.raises(DataUnavailableError) as unknown:
        source.fetch_prices(["NEW", "NOPE"], START, END)
    assert unknown.value.tickers == ("NOPE",)


def test_files_are_parsed_once_and_lazily(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Path] = []
    real = csv_module._read_csv

    def counting(path: Path, aliases: dict[str, str] | None = None) -> pd.DataFrame:
        calls.append(path)
        return real(path, aliases)

    monkeypatch.setattr(csv_module, "_read_csv", counting)
    source = CsvSource(tmp_path)  # nothing exists yet: the constructor reads nothing
    write(tmp_path, "prices.csv", LONG)
    for _ in range(3):
        source.fetch_prices(["AAA"], START, END)
    source.fetch_companies()
    source.fetch_companies()
    assert [p.name for p in calls] == ["prices.csv"]


# --------------------------------------------------------------------------- companies
def test_companies_are_normalised(tmp_path: Path) -> None:
    write(tmp_path, "prices.csv", "date,AAA,BRK.B,T,ZZZ\n2024-01-02,1,2,3,4\n")
    write(
        tmp_path,
        "companies.csv",
        "Symbol,Name,Sector,Market Cap,PE,PB,Dividend Yield\n"
        "AAA,Triple A,Health Care,1e9,10,2,0.01\n"
        "BRK.B,Berkshire,Financials,5e11,,1.5,0\n"
        "T,AT&T,Telecommunication Services,1e11,7,1.2,0.05\n"
        "GONE,Not in prices,Energy,1,1,1,0\n",
    )
    table = CsvSource(tmp_path).fetch_companies()
    assert list(table.index) == ["AAA", "BRK-B", "T", "ZZZ"]
    assert table.loc["T", "sector"] == Sector.COMMUNICATION_SERVICES.value
    assert table.loc["BRK-B", "market_cap"] == 5e11 and np.isnan(table.loc["BRK-B", "pe"])
    assert table.loc["AAA", "dividend_yield"] == 0.01
    assert table.loc["ZZZ", "name"] == "ZZZ" and pd.isna(table.loc["ZZZ", "sector"])


def test_without_companies_every_ticker_has_no_sector(tmp_path: Path) -> None:
    write(tmp_path, "prices.csv", LONG)
    table = CsvSource(tmp_path).fetch_companies()
    assert list(table.index) == ["AAA", "BRK-B"]
    assert table["sector"].isna().all()
    assert table["name"].tolist() == ["AAA", "BRK-B"]


@pytest.mark.parametrize(
    ("companies", "message"),
    [
        ("ticker,name,sector\nAAA,A,Crypto\n", "unknown sector"),
        ("ticker,name\nAAA,A\n", "'sector'"),
        ("ticker,name,sector\nAAA,A,Energy\naaa,B,Energy\n", "repeated tickers"),
        ("ticker,name,sector,dividend_yield\nAAA,A,Energy,2.3\n", "must be a fraction"),
    ],
)
def test_malformed_companies_raise(tmp_path: Path, companies: str, message: str) -> None:
    write(tmp_path, "prices.csv", LONG)
    path = write(tmp_path, "companies.csv", companies)
    with pytest.raises(DataFormatError, match=message) as info:
        CsvSource(tmp_path).fetch_companies()
    assert info.value.path == str(path)


# --------------------------------------------------------------------------- benchmark
def test_missing_benchmark_is_unavailable(tmp_path: Path) -> None:
    write(tmp_path, "prices.csv", LONG)
    with pytest.raises(DataUnavailableError) as info:
        CsvSource(tmp_path).fetch_benchmark(START, END)
    assert info.value.tickers == ("benchmark",)


def test_benchmark_with_named_column(tmp_path: Path) -> None:
    write(tmp_path, "benchmark.csv", "Date,SPY\n2024-01-02,470.1\n2024-01-03,468.2\n")
    source = CsvSource(tmp_path)
    series = source.fetch_benchmark(START, END)
    assert series.name == "SPY" == source.benchmark_name
    assert series.tolist() == [470.1, 468.2]
    with pytest.raises(DataUnavailableError):
        source.fetch_benchmark(date(2030, 1, 1), date(2030, 2, 1))


# --------------------------------------------------------------------------- malformed
@pytest.mark.parametrize(
    ("prices", "message"),
    [
        ("ticker,close\nA,1\n", "date"),
        ("date,ticker,close\n2024-01-02,A,abc\n", "non-numeric value 'abc'"),
        ("date,ticker,close\nnot-a-date,A,1\n", "unparsable date"),
        ("date,close\n2024-01-02,1\n", "without a 'ticker'"),
        ("date,ticker,close\n2024-01-02,,1\n", "empty ticker"),
        ("date,A,a\n2024-01-02,1,2\n", "repeated tickers"),
        ("date,ticker,close\n", "no rows"),
        ("", "unreadable"),
    ],
)
def test_malformed_prices_raise_data_format_error(
    tmp_path: Path, prices: str, message: str
) -> None:
    path = write(tmp_path, "prices.csv", prices)
    with pytest.raises(DataFormatError, match=message) as info:
        CsvSource(tmp_path).fetch_prices(["A"], START, END)
    assert info.value.path == str(path)


def test_missing_prices_file_and_corrupt_gzip(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="file not found"):
        CsvSource(tmp_path / "nowhere").fetch_prices(["A"], START, END)
    (tmp_path / "prices.csv.gz").write_bytes(b"\x1f\x8b\x08garbage")
    with pytest.raises(DataFormatError, match="unreadable"):
        CsvSource(tmp_path).fetch_prices(["A"], START, END)


def test_repeated_rows_keep_the_last_with_a_note(tmp_path: Path) -> None:
    write(tmp_path, "prices.csv", "date,ticker,close\n2024-01-02,A,1\n2024-01-02,A,2\n")
    data = CsvSource(tmp_path).fetch_prices(["A"], START, END)
    assert data.close["A"].tolist() == [2.0]
    assert "repeated (date, ticker) rows" in data.notes[0]


# --------------------------------------------------------------------------- real data
@pytest.mark.shared_data
def test_shared_universe_parses(shared_csv_source: CsvSource, shared_data: Path) -> None:
    companies = shared_csv_source.fetch_companies()
    assert len(companies) == 505
    data = shared_csv_source.fetch_prices(list(companies.index), date(2013, 2, 8), date(2018, 2, 7))
    assert data.close.shape == (1259, 505)
    assert {"BRK-B", "BF-B"} <= set(data.close.columns)
    assert data.close.notna().sum().min() == 44  # APTV
    # independent read of the raw file
    raw = pd.read_csv(shared_data / "sp500_5yr_ohlcv_2013-2018.csv.gz")
    for ticker in ("AAPL", "LNT"):
        rows = raw[raw["Name"] == ticker].set_index("date")
        np.testing.assert_array_equal(data.close[ticker].dropna().to_numpy(), rows["close"])
        assert data.volume is not None
        np.testing.assert_array_equal(data.volume[ticker].dropna().to_numpy(), rows["volume"])
    assert data.close.loc["2016-05-19", "LNT"] == 17.87  # raw: cleaning is validation's job


@pytest.mark.shared_data
def test_shared_companies_and_benchmark(shared_csv_source: CsvSource, shared_data: Path) -> None:
    companies = shared_csv_source.fetch_companies()
    counts = companies["sector"].value_counts()
    assert counts["Consumer Discretionary"] == 84 and counts["Information Technology"] == 70
    assert counts["Communication Services"] == 3  # the 2018 "Telecommunication Services"
    assert companies["sector"].notna().all()
    assert companies.loc["MMM", "dividend_yield"] == pytest.approx(0.023328617)
    assert companies["market_cap"].between(2.6e9, 8.1e11).all()
    bench = shared_csv_source.fetch_benchmark(date(2013, 2, 8), date(2018, 2, 7))
    prices = shared_csv_source.fetch_prices(["AAPL"], date(2013, 2, 8), date(2018, 2, 7))
    assert bench.index.equals(prices.close.index)
    spy = pd.read_csv(shared_data / "pypfopt_spy_prices_1993-2019.csv.gz", index_col="date")
    expected = spy.loc["2013-02-08":"2018-02-07", "SPY"]
    np.testing.assert_array_equal(bench.to_numpy(), expected.to_numpy())
    # README's +96.0% is measured from the 2013-02-07 close, one day before the window
    assert bench.iloc[-1] / bench.iloc[0] - 1 == pytest.approx(0.949, abs=0.001)
    assert shared_csv_source.last_date() == date(2018, 2, 7)
