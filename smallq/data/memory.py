"""An in-memory :class:`~smallq.data.base.PriceSource` over DataFrames.

The fake price source of the tests and the benchmarks: it behaves like the real adapters
(unknown tickers and empty windows raise :class:`DataUnavailableError`) and counts calls,
so a test can assert how often the provider was asked.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import pandas as pd

from smallq.data.validation import (
    company_table,
    normalise_index,
    normalise_tickers,
    slice_dates,
    tidy_frame,
)
from smallq.errors import DataUnavailableError
from smallq.fundamentals import Fundamentals
from smallq.models import PriceData


class FrameSource:
    """Serve prices, a benchmark and a company table held in memory.

    Parameters
    ----------
    prices : DataFrame of shape (n_days, n_assets)
        Adjusted closes.
    benchmark : Series of shape (n_days,)
        Benchmark level.
    companies : DataFrame
        Company table (``ticker`` column or index, name, sector, ...).
    volume : DataFrame of shape (n_days, n_assets), optional
    fundamentals : Fundamentals, optional
        Dated fundamentals. By default the company table's figures, undated (never ranked on:
        a test that ranks on value passes them dated).
    """

    def __init__(
        self,
        prices: pd.DataFrame,
        benchmark: pd.Series,
        companies: pd.DataFrame,
        *,
        volume: pd.DataFrame | None = None,
        name: str = "memory",
        fundamentals: Fundamentals | None = None,
    ) -> None:
        self.name = name
        self.benchmark_name = str(benchmark.name) if benchmark.name is not None else "benchmark"
        self._prices = tidy_frame(prices)
        self._benchmark = benchmark.astype("float64").copy()
        self._benchmark.index = normalise_index(benchmark.index)
        self._companies = company_table(
            companies.set_index("ticker") if "ticker" in companies.columns else companies
        )
        self._volume = tidy_frame(volume) if volume is not None else None
        self._fundamentals = fundamentals or Fundamentals.from_snapshot(
            self._companies, None, f"{name} company table"
        )
        self.calls: dict[str, int] = {
            "prices": 0,
            "benchmark": 0,
            "companies": 0,
            "fundamentals": 0,
        }

    def last_date(self) -> date | None:
        """The last date with prices."""
        last: date = pd.Timestamp(self._prices.index[-1]).date()
        return last

    def fetch_prices(self, tickers: Sequence[str], start: date, end: date) -> PriceData:
        """Prices for ``tickers`` in ``[start, end]``; unknown tickers raise."""
        self.calls["prices"] += 1
        wanted = normalise_tickers(tickers)
        unknown = [t for t in wanted if t not in self._prices.columns]
        if unknown or not wanted:
            raise DataUnavailableError(unknown or ["(none)"], "not in this data set")
        close = slice_dates(self._prices, start, end)[wanted]
        if close.empty:
            raise DataUnavailableError(wanted, f"no prices between {start} and {end}")
        volume = None
        if self._volume is not None:
            volume = slice_dates(self._volume, start, end).reindex(columns=wanted)
        return PriceData(close=close.copy(), volume=volume)

    def fetch_benchmark(self, start: date, end: date) -> pd.Series:
        """The benchmark in ``[start, end]``."""
        self.calls["benchmark"] += 1
        window = self._benchmark.loc[pd.Timestamp(start) : pd.Timestamp(end)]
        if window.empty:
            raise DataUnavailableError(["benchmark"], f"no benchmark between {start} and {end}")
        return window.copy()

    def fetch_companies(self) -> pd.DataFrame:
        """The company table."""
        self.calls["companies"] += 1
        return self._companies.copy()

    def fetch_fundamentals(self) -> Fundamentals:
        """The dated fundamentals given (by default the company table's, undated)."""
        self.calls["fundamentals"] += 1
        return self._fundamentals
