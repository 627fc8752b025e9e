"""The embedded offline sample: 20 S&P 500 stocks and the index, from skfolio's data sets.

``load_sp500_dataset()`` holds adjusted daily closes (no OHLC, no volume) of AAPL AMD BAC BBY
CVX GE HD JNJ JPM KO LLY MRK MSFT PEP PFE PG RRC UNH WMT XOM from 1990-01-02 to 2022-12-28;
``load_sp500_index()`` holds the S&P 500 price index on the same dates. Both ship inside the
skfolio wheel, so the demo and the tests run without a network. The company table comes from
``sample_companies.csv`` next to this module (approximate end-2022 public figures). Its
``date`` column dates the snapshot (2022-12-30, after the last price of 2022-12-28), so value
and composite rankings are refused on every date of the sample: there are no fundamentals
known by then.
"""

from __future__ import annotations

import gzip
import importlib.util
from collections.abc import Sequence
from datetime import date
from importlib import resources
from pathlib import Path

import pandas as pd

from smallq.data.validation import (
    company_table,
    normalise_tickers,
    slice_dates,
    tidy_frame,
)
from smallq.errors import DataFormatError, DataUnavailableError, UnknownSectorError
from smallq.fundamentals import Fundamentals
from smallq.models import PriceData
from smallq.types import Sector

COMPANIES_FILE = "sample_companies.csv"


class SampleSource:
    """:class:`~smallq.data.base.PriceSource` over skfolio's embedded S&P 500 sample.

    The data sets are loaded on first use and kept on the instance.
    """

    name = "sample"
    benchmark_name = "SP500"

    def __init__(self) -> None:
        self._prices: pd.DataFrame | None = None
        self._index: pd.Series | None = None
        self._companies: pd.DataFrame | None = None
        self._fundamentals: Fundamentals | None = None

    # ------------------------------------------------------------------ PriceSource
    def fetch_prices(self, tickers: Sequence[str], start: date, end: date) -> PriceData:
        """Adjusted closes for ``tickers`` between ``start`` and ``end`` inclusive.

        Returns
        -------
        PriceData
            ``close`` of shape (n_days, n_tickers), columns in request order; no OHLCV.

        Raises
        ------
        DataUnavailableError
            Naming tickers that are not in the sample, or every ticker when the sample has
            no date in ``[start, end]`` (it covers 1990-01-02 to 2022-12-28).
        """
        wanted = normalise_tickers(tickers)
        prices = self._load_prices()
        if not wanted:
            raise DataUnavailableError([], "no tickers requested")
        unknown = [t for t in wanted if t not in prices.columns]
        if unknown:
            known = ", ".join(prices.columns)
            raise DataUnavailableError(unknown, f"not in the sample data set ({known})")
        window = slice_dates(prices, start, end)[wanted]
        if window.empty:
            raise DataUnavailableError(wanted, self._coverage(start, end))
        return PriceData(close=window.copy())

    def fetch_benchmark(self, start: date, end: date) -> pd.Series:
        """The S&P 500 price index between ``start`` and ``end``, a Series named "SP500".

        Raises
        ------
        DataUnavailableError
            When the sample has no date in ``[start, end]``.
        """
        index = self._load_index()
        window = index.loc[pd.Timestamp(start) : pd.Timestamp(end)]
        if window.empty:
            raise DataUnavailableError([self.benchmark_name], self._coverage(start, end))
        return window.copy()

    def last_date(self) -> date | None:
        """The sample's last trading day (2022-12-28)."""
        last = pd.Timestamp(self._load_prices().index[-1])
        return date(last.year, last.month, last.day)

    def fetch_companies(self) -> pd.DataFrame:
        """The 20-stock company table (see ``sample_companies.csv``)."""
        if self._companies is None:
            self._companies, self._fundamentals = _read_companies()
        return self._companies.copy()

    def fetch_fundamentals(self) -> Fundamentals:
        """The company table's figures, dated by its ``date`` column (2022-12-30)."""
        if self._fundamentals is None:
            self._companies, self._fundamentals = _read_companies()
        return self._fundamentals

    # ------------------------------------------------------------------ loading
    def _load_prices(self) -> pd.DataFrame:
        if self._prices is None:
            prices = tidy_frame(_read_skfolio_data("sp500_dataset.csv.gz"))
            prices.columns = pd.Index([str(c) for c in prices.columns], name=None)
            self._prices = prices
        return self._prices

    def _load_index(self) -> pd.Series:
        if self._index is None:
            frame = tidy_frame(_read_skfolio_data("sp500_index.csv.gz"))
            self._index = frame.iloc[:, 0].rename(self.benchmark_name)
        return self._index

    def _coverage(self, start: date, end: date) -> str:
        dates = self._load_prices().index
        return (
            f"no prices between {start} and {end}; the sample covers "
            f"{dates[0]:%Y-%m-%d} to {dates[-1]:%Y-%m-%d}"
        )


def _read_skfolio_data(filename: str) -> pd.DataFrame:
    """One of the CSV files inside the skfolio wheel, read as ``skfolio.datasets`` reads it.

    The file is found without importing skfolio, whose package import pulls in scikit-learn
    (about a second of start-up that the sample data does not need).

    Raises
    ------
    DataUnavailableError
        When skfolio is not installed.
    """
    spec = importlib.util.find_spec("skfolio")
    if spec is None or not spec.submodule_search_locations:
        raise DataUnavailableError(["sample"], "the skfolio package is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / filename
    with gzip.open(path, mode="rt", encoding="utf-8") as file:
        frame = pd.read_csv(file, sep=",", index_col=0)
    frame.index = pd.to_datetime(frame.index, format="%Y-%m-%d")
    return frame


def _read_companies() -> tuple[pd.DataFrame, Fundamentals]:
    """Parse the packaged company table and its dated fundamentals.

    Raises
    ------
    DataFormatError
        On a sector that :class:`Sector` does not know, or a missing ``date`` column.
    """
    path = resources.files("smallq.data").joinpath(COMPANIES_FILE)
    with resources.as_file(path) as file:
        rows = pd.read_csv(file, comment="#", index_col="ticker")
    try:
        rows["sector"] = [Sector.parse(s).value for s in rows["sector"]]
    except (UnknownSectorError, KeyError) as exc:
        raise DataFormatError(COMPANIES_FILE, f"bad sector column: {exc}") from exc
    table = company_table(rows)
    if "date" not in rows.columns:
        raise DataFormatError(COMPANIES_FILE, "no 'date' column dating the snapshot")
    dated = table.assign(date=rows["date"].to_numpy()).reset_index()
    return table, Fundamentals.from_rows(dated, COMPANIES_FILE)
