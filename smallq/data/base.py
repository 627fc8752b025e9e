"""Ports of the market-data layer: the ``PriceSource`` protocol and the cache port.

Adapters (``sample``, ``csv``, ``yahoo``) implement :class:`PriceSource`; ``storage``
implements :class:`PriceCache`; :class:`smallq.data.cached.CachedPriceSource` joins them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Protocol, runtime_checkable

import pandas as pd

from smallq.fundamentals import Fundamentals
from smallq.models import PriceData


@runtime_checkable
class PriceSource(Protocol):
    """Daily prices, a benchmark and a company table.

    Every method raises :class:`~smallq.errors.DataError` subclasses, never a
    third-party exception, and never returns silently empty data.
    """

    #: short name shown to users ("sample", "yahoo", "csv:/data")
    name: str

    @property
    def benchmark_name(self) -> str:
        """Name of the benchmark series ("SP500", "^GSPC", "SPY", ...)."""
        ...

    def last_date(self) -> date | None:
        """The last date the source holds data for; None for a live source (use today)."""
        ...

    def fetch_prices(self, tickers: Sequence[str], start: date, end: date) -> PriceData:
        """Daily prices for ``tickers`` between ``start`` and ``end`` inclusive.

        Raises
        ------
        DataUnavailableError
            Naming every requested ticker with no usable prices.
        """
        ...

    def fetch_benchmark(self, start: date, end: date) -> pd.Series:
        """Benchmark level (S&P 500 index or SPY), a Series named after it."""
        ...

    def fetch_companies(self) -> pd.DataFrame:
        """Company table indexed by ``ticker`` with :data:`smallq.models.COMPANY_COLUMNS`.

        Its fundamental columns are a convenience for display; the engine ranks and filters on
        :meth:`fetch_fundamentals`, which are dated.
        """
        ...

    def fetch_fundamentals(self) -> Fundamentals:
        """The source's dated fundamentals (a history, or a snapshot dated the day it was taken).

        Callers read them with :meth:`Fundamentals.as_of`: per ticker, the latest row dated
        on or before the decision day. An undated snapshot carries NaT and is never used.
        """
        ...


class PriceCache(Protocol):
    """Persistent store of daily price series (implemented in ``storage``)."""

    def load(
        self, source: str, tickers: Sequence[str], start: date, end: date
    ) -> tuple[PriceData, dict[str, datetime]]:
        """Cached prices and, per ticker, when that series was fetched."""
        ...

    def save(self, source: str, data: PriceData, fetched_at: datetime) -> None:
        """Store (upsert) the series in ``data`` as fetched at ``fetched_at``."""
        ...


class CompanyCache(Protocol):
    """Persistent store of a source's company table (implemented in ``storage``)."""

    def load(self, source: str) -> tuple[pd.DataFrame, datetime] | None:
        """The cached table and when it was fetched, or None."""
        ...

    def save(self, source: str, table: pd.DataFrame, fetched_at: datetime) -> None:
        """Replace the cached table of ``source``."""
        ...
