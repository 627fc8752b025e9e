"""Ports of the market-data layer: the ``PriceSource`` protocol and the cache port.

Adapters (``sample``, ``csv``, ``yahoo``) implement :class:`PriceSource`; ``storage``
implements :class:`PriceCache`; :class:`smallq.data.cached.CachedPriceSource` joins them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Protocol, runtime_checkable

import pandas as pd

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
        """Company table indexed by ``ticker`` with :data:`smallq.models.COMPANY_COLUMNS`."""
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
