"""SqlitePriceCache on a temporary database with migrations applied."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlite_utils

from smallq.data.cached import CachedPriceSource
from smallq.data.sample import SampleSource
from smallq.errors import DatabaseLockedError, DataUnavailableError
from smallq.models import PriceData
from storage.db import connect
from storage.price_cache import SqlitePriceCache
from tests.shared_csv import shared_csv_dir  # noqa: F401  (fixture)
from tests.smallq.data.fakes import CountingSource

T0 = datetime(2026, 11, 24, 18, 0, tzinfo=UTC)
DATES = pd.DatetimeIndex(["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"])
JAN = (date(2024, 1, 1), date(2024, 1, 31))


def frame(values: dict[str, list[float]]) -> pd.DataFrame:
    return pd.DataFrame(values, index=DATES, dtype="float64")


@pytest.fixture
def db(tmp_path: Path) -> sqlite_utils.Database:
    return connect(tmp_path / "x.db")


@pytest.fixture
def cache(db: sqlite_utils.Database) -> SqlitePriceCache:
    return SqlitePriceCache(db)


def sample_data() -> PriceData:
    close = frame({"AAA": [1.0, 2.0, np.nan, 4.0], "BBB": [10.0, 11.0, 12.0, 13.0]})
    return PriceData(
        close=close,
        high=close * 1.1,
        low=close * 0.9,
        volume=frame({"AAA": [100.0, np.nan, 300.0, 400.0], "BBB": [1.0, 2.0, 3.0, 4.0]}),
    )


def test_round_trip(cache: SqlitePriceCache, db: sqlite_utils.Database) -> None:
    data = sample_data()
    cache.save("yahoo", data, T0)
    loaded, fetched = cache.load("yahoo", ["BBB", "AAA", "ZZZ"], date(2024, 1, 3), date(2024, 1, 5))
    assert fetched == {"BBB": T0, "AAA": T0}
    assert list(loaded.close.columns) == ["BBB", "AAA"]
    expected = data.close.loc["2024-01-03":, ["BBB", "AAA"]].dropna(how="all")
    np.testing.assert_array_equal(loaded.close.to_numpy(), expected.to_numpy())
    assert loaded.close.index.equals(pd.DatetimeIndex(["2024-01-03", "2024-01-04", "2024-01-05"]))
    assert loaded.high is not None and loaded.high.loc["2024-01-05", "AAA"] == pytest.approx(4.4)
    assert loaded.open is None  # nothing stored for open
    assert loaded.volume is not None and np.isnan(loaded.volume.loc["2024-01-03", "AAA"])
    # only rows with a close are stored: AAA has no row on 2024-01-04
    assert db.execute("SELECT COUNT(*) FROM prices").fetchone()[0] == 7


def test_only_covered_series_are_returned(cache: SqlitePriceCache) -> None:
    cache.save("yahoo", sample_data(), T0)  # covers 2024-01-02..2024-01-05
    loaded, fetched = cache.load("yahoo", ["AAA"], *JAN)
    assert fetched == {} and loaded.close.empty
    loaded, fetched = cache.load("other", ["AAA"], date(2024, 1, 2), date(2024, 1, 5))
    assert fetched == {}  # sources are separate


def test_saving_again_replaces_the_series(
    cache: SqlitePriceCache, db: sqlite_utils.Database
) -> None:
    cache.save("yahoo", sample_data(), T0)
    later = T0 + timedelta(days=1)
    newer = PriceData(close=pd.DataFrame({"AAA": [5.0, 6.0]}, index=DATES[2:]))
    cache.save("yahoo", newer, later)
    loaded, fetched = cache.load("yahoo", ["AAA", "BBB"], date(2024, 1, 4), date(2024, 1, 5))
    assert fetched == {"AAA": later, "BBB": T0}
    assert loaded.close["AAA"].tolist() == [5.0, 6.0]
    rows = db.execute("SELECT date FROM prices WHERE ticker = 'AAA' ORDER BY date").fetchall()
    assert rows == [("2024-01-04",), ("2024-01-05",)]  # no rows from the older fetch remain
    series = db.execute("SELECT first_date, last_date FROM series WHERE ticker = 'AAA'").fetchone()
    assert series == ("2024-01-04", "2024-01-05")


def test_a_naive_fetch_time_is_read_as_utc(cache: SqlitePriceCache) -> None:
    cache.save("s", sample_data(), datetime(2026, 1, 1, 12, 0))
    _, fetched = cache.load("s", ["AAA"], date(2024, 1, 2), date(2024, 1, 5))
    assert fetched["AAA"] == datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def test_locked_database_raises_and_keeps_existing_data(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    cache = SqlitePriceCache(connect(path, busy_timeout_s=0.1))
    cache.save("yahoo", sample_data(), T0)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        newer = PriceData(close=frame({"AAA": [9.0] * 4, "BBB": [9.0] * 4}))
        with pytest.raises(DatabaseLockedError) as info:
            cache.save("yahoo", newer, T0 + timedelta(hours=1))
        assert info.value.retryable
    finally:
        other.rollback()
        other.close()
    loaded, fetched = cache.load("yahoo", ["AAA", "BBB"], date(2024, 1, 2), date(2024, 1, 5))
    assert fetched == {"AAA": T0, "BBB": T0}
    np.testing.assert_array_equal(loaded.close["BBB"].to_numpy(), [10.0, 11.0, 12.0, 13.0])


# --------------------------------------------------------------------------- with the source
def test_cached_source_persists_across_connections(tmp_path: Path) -> None:
    provider = CountingSource(SampleSource(), name="sample")
    window = (date(2021, 1, 1), date(2021, 12, 31))
    first = CachedPriceSource(
        provider, SqlitePriceCache(connect(tmp_path / "x.db")), now=lambda: T0
    )
    data = first.fetch_prices(["AAPL", "JPM"], *window)
    first.fetch_benchmark(*window)
    reopened = SqlitePriceCache(connect(tmp_path / "x.db"))
    later = lambda: T0 + timedelta(hours=5)  # noqa: E731
    second = CachedPriceSource(provider, reopened, now=later)
    again = second.fetch_prices(["AAPL", "JPM"], *window)
    bench = second.fetch_benchmark(*window)
    assert provider.count("prices") == 1 and provider.count("benchmark") == 1
    pd.testing.assert_frame_equal(again.close, data.close, check_freq=False)
    assert bench.name == "SP500" and len(bench) == len(data.close)


def test_cached_source_serves_stale_data_when_the_provider_fails(tmp_path: Path) -> None:
    provider = CountingSource(SampleSource(), name="sample")
    cache = SqlitePriceCache(connect(tmp_path / "x.db"))
    window = (date(2021, 1, 1), date(2021, 3, 31))
    CachedPriceSource(provider, cache, now=lambda: T0).fetch_prices(["KO"], *window)
    provider.failure = DataUnavailableError(["KO"], "rate limited")
    week_later = CachedPriceSource(provider, cache, now=lambda: T0 + timedelta(days=7))
    data = week_later.fetch_prices(["KO"], *window)
    assert provider.count("prices") == 2  # it asked, the provider failed
    assert data.fetched_at == T0 and len(data.close) == 61
    assert "stale" in data.notes[-1] and "2026-11-24 18:00 UTC" in data.notes[-1]


@pytest.mark.shared_data
def test_shared_universe_round_trips(
    tmp_path: Path,
    shared_csv_dir: Path,  # noqa: F811
) -> None:
    from smallq.data.csv import CsvSource

    source = CsvSource(shared_csv_dir)
    tickers = ["BRK-B", *list(source.fetch_companies().index)[::4]]  # 128 stocks, fast
    data = source.fetch_prices(tickers, date(2013, 2, 8), date(2018, 2, 7))
    cache = SqlitePriceCache(connect(tmp_path / "x.db"))
    cache.save(source.name, data, T0)
    loaded, fetched = cache.load(source.name, tickers, date(2013, 2, 8), date(2018, 2, 7))
    assert len(fetched) == len(tickers)
    pd.testing.assert_frame_equal(loaded.close, data.close, check_freq=False, check_names=False)
    assert loaded.volume is not None and data.volume is not None
    np.testing.assert_array_equal(loaded.volume.to_numpy(), data.volume.to_numpy())
