"""A counting, failable PriceSource wrapper shared by the cache tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import pandas as pd

from smallq.data.base import PriceSource
from smallq.errors import DataError
from smallq.fundamentals import Fundamentals
from smallq.models import PriceData


class CountingSource:
    """Forward to ``inner``, record every call, and raise ``failure`` while it is set."""

    def __init__(self, inner: PriceSource, name: str = "fake") -> None:
        self.inner = inner
        self.name = name
        self.benchmark_name = str(getattr(inner, "benchmark_name", "benchmark"))
        self.calls: list[tuple[str, tuple[str, ...], date | None, date | None]] = []
        self.failure: DataError | None = None

    def _record(
        self, method: str, tickers: Sequence[str], start: date | None, end: date | None
    ) -> None:
        self.calls.append((method, tuple(tickers), start, end))
        if self.failure is not None:
            raise self.failure

    def count(self, method: str) -> int:
        return sum(1 for call in self.calls if call[0] == method)

    def last_date(self) -> date | None:
        return self.inner.last_date()

    def fetch_prices(self, tickers: Sequence[str], start: date, end: date) -> PriceData:
        self._record("prices", tickers, start, end)
        return self.inner.fetch_prices(tickers, start, end)

    def fetch_benchmark(self, start: date, end: date) -> pd.Series:
        self._record("benchmark", (), start, end)
        return self.inner.fetch_benchmark(start, end)

    def fetch_companies(self) -> pd.DataFrame:
        self._record("companies", (), None, None)
        return self.inner.fetch_companies()

    def fetch_fundamentals(self) -> Fundamentals:
        self._record("fundamentals", (), None, None)
        return self.inner.fetch_fundamentals()
