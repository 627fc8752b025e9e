"""CachedPriceSource over the real SQLite cache (in memory) and a counting fake provider."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from smallq.data.base import PriceSource
from smallq.data.cached import CachedPriceSource
from smallq.data.sample import SampleSource
from smallq.errors import DatabaseLockedError, DataUnavailableError
from smallq.models import PriceData
from storage.db import connect
from storage.price_cache import SqlitePriceCache
from tests.smallq.data.fakes import CountingSource

START, END = date(2022, 6, 1), date(2022, 6, 30)
T0 = datetime(2026, 11, 24, 18, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def provider() -> CountingSource:
    return CountingSource(SampleSource(), name="sample")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cached(provider: CountingSource, clock: Clock) -> CachedPriceSource:
    return CachedPriceSource(provider, SqlitePriceCache(connect(":memory:")), now=clock)


def test_is_a_price_source_named_after_the_provider(cached: CachedPriceSource) -> None:
    assert isinstance(cached, PriceSource)
    assert cached.name == "sample"
    assert cached.last_date() == date(2022, 12, 28)


def test_second_request_makes_no_provider_call(
    cached: CachedPriceSource, provider: CountingSource, clock: Clock
) -> None:
    first = cached.fetch_prices(["AAPL", "MSFT"], START, END)
    assert provider.count("prices") == 1 and first.fetched_at == T0
    clock.now = T0 + timedelta(hours=19)
    second = cached.fetch_prices(["aapl", "MSFT"], START, END)
    assert provider.count("prices") == 1
    pd.testing.assert_frame_equal(second.close, first.close, check_freq=False)
    assert second.fetched_at == T0
    assert second.notes == ("Prices from the cache, fetched 2026-11-24 18:00 UTC",)
    # a shorter window inside the cached one is served too
    cached.fetch_prices(["AAPL"], date(2022, 6, 10), date(2022, 6, 20))
    assert provider.count("prices") == 1


def test_values_match_the_provider(cached: CachedPriceSource) -> None:
    cached.fetch_prices(["KO"], START, END)
    again = cached.fetch_prices(["KO"], START, END)
    direct = SampleSource().fetch_prices(["KO"], START, END)
    np.testing.assert_array_equal(again.close.to_numpy(), direct.close.to_numpy())


def test_old_series_are_refetched(
    cached: CachedPriceSource, provider: CountingSource, clock: Clock
) -> None:
    cached.fetch_prices(["AAPL"], START, END)
    clock.now = T0 + timedelta(hours=21)
    fresh = cached.fetch_prices(["AAPL"], START, END)
    assert provider.count("prices") == 2
    assert fresh.fetched_at == clock.now and fresh.notes == ()


def test_only_missing_tickers_and_uncovered_windows_are_fetched(
    cached: CachedPriceSource, provider: CountingSource, clock: Clock
) -> None:
    cached.fetch_prices(["AAPL"], START, END)
    clock.now = T0 + timedelta(hours=1)
    mixed = cached.fetch_prices(["MSFT", "AAPL"], START, END)
    assert provider.calls[-1][1] == ("MSFT",)
    assert list(mixed.close.columns) == ["MSFT", "AAPL"]
    assert mixed.fetched_at == T0  # the oldest series served
    assert "Prices from the cache, fetched 2026-11-24 18:00 UTC" in mixed.notes
    cached.fetch_prices(["AAPL"], date(2022, 5, 1), END)  # starts before the cached window
    assert provider.calls[-1][1:] == (("AAPL",), date(2022, 5, 1), END)


def test_weekend_bounds_count_as_covered(
    cached: CachedPriceSource, provider: CountingSource
) -> None:
    saturday, sunday = date(2022, 6, 4), date(2022, 6, 12)
    cached.fetch_prices(["PG"], saturday, sunday)
    data = cached.fetch_prices(["PG"], saturday, sunday)
    assert provider.count("prices") == 1
    assert data.close.index[0] == pd.Timestamp("2022-06-06")


def test_provider_failure_serves_stale_cache_with_a_note(
    cached: CachedPriceSource, provider: CountingSource, clock: Clock
) -> None:
    first = cached.fetch_prices(["AAPL", "MSFT"], START, END)
    clock.now = T0 + timedelta(days=3)
    provider.failure = DataUnavailableError(["AAPL", "MSFT"], "Yahoo is down")
    stale = cached.fetch_prices(["AAPL", "MSFT"], START, END)
    pd.testing.assert_frame_equal(stale.close, first.close, check_freq=False)
    assert stale.fetched_at == T0
    assert len(stale.notes) == 1
    assert "stale" in stale.notes[0] and "2026-11-24 18:00 UTC" in stale.notes[0]


def test_provider_failure_without_cache_reraises(
    cached: CachedPriceSource, provider: CountingSource
) -> None:
    error = DataUnavailableError(["AAPL"], "Yahoo is down")
    provider.failure = error
    with pytest.raises(DataUnavailableError) as info:
        cached.fetch_prices(["AAPL"], START, END)
    assert info.value is error


def test_stale_serve_leaves_out_uncached_tickers(
    cached: CachedPriceSource, provider: CountingSource, clock: Clock
) -> None:
    cached.fetch_prices(["AAPL"], START, END)
    clock.now = T0 + timedelta(days=1)
    provider.failure = DataUnavailableError(["AAPL", "KO"], "down")
    data = cached.fetch_prices(["AAPL", "KO"], START, END)
    assert list(data.close.columns) == ["AAPL"]
    assert any(n.startswith("KO: no prices") for n in data.notes)


def test_benchmark_is_cached_with_its_name(
    cached: CachedPriceSource, provider: CountingSource, clock: Clock
) -> None:
    first = cached.fetch_benchmark(START, END)
    clock.now = T0 + timedelta(hours=2)
    second = cached.fetch_benchmark(START, END)
    assert provider.count("benchmark") == 1
    assert first.name == second.name == "SP500"
    pd.testing.assert_series_equal(first, second, check_freq=False)
    assert second.attrs["fetched_at"] == T0
    assert second.attrs["notes"] == (
        "Benchmark levels from the cache, fetched 2026-11-24 18:00 UTC",
    )
    # a new instance over the same cache learns the name from the provider's attribute
    other = CachedPriceSource(provider, cached._cache, now=clock)
    assert other.fetch_benchmark(START, END).name == "SP500"
    assert provider.count("benchmark") == 1


def test_companies_are_kept_in_memory(
    cached: CachedPriceSource, provider: CountingSource, clock: Clock
) -> None:
    first = cached.fetch_companies()
    cached.fetch_companies()
    assert provider.count("companies") == 1
    clock.now = T0 + timedelta(days=8)  # past the 7-day company max age
    provider.failure = DataUnavailableError(["companies"], "down")
    stale = cached.fetch_companies()
    pd.testing.assert_frame_equal(stale, first)
    assert "could not be refreshed" in stale.attrs["notes"][-1]


class LockedCache:
    """A cache whose writes always find the database locked."""

    def load(
        self, source: str, tickers: Sequence[str], start: date, end: date
    ) -> tuple[PriceData, dict[str, datetime]]:
        return PriceData(close=pd.DataFrame(index=pd.DatetimeIndex([]))), {}

    def save(self, source: str, data: PriceData, fetched_at: datetime) -> None:
        raise DatabaseLockedError("database is locked")


def test_a_failed_cache_write_does_not_fail_the_request(provider: CountingSource) -> None:
    source = CachedPriceSource(provider, LockedCache(), now=Clock())
    data = source.fetch_prices(["AAPL"], START, END)
    assert data.close.shape == (21, 1)
