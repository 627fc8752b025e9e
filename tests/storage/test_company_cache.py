"""The SQLite company cache, alone and behind CachedPriceSource (refresh, restart, failure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from smallq.data.cached import CachedPriceSource
from smallq.data.sample import SampleSource
from smallq.errors import DataUnavailableError
from storage.company_cache import SqliteCompanyCache
from storage.db import connect
from storage.price_cache import SqlitePriceCache
from tests.smallq.data.fakes import CountingSource

T0 = datetime(2026, 11, 24, 18, 0, tzinfo=UTC)


def test_round_trip_keeps_values_and_nan(tmp_path: Path) -> None:
    cache = SqliteCompanyCache(connect(tmp_path / "c.db"))
    table = SampleSource().fetch_companies()
    cache.save("sample", table, T0)
    loaded = cache.load("sample")
    assert loaded is not None
    frame, fetched_at = loaded
    assert fetched_at == T0
    pd.testing.assert_frame_equal(frame.sort_index(), table.sort_index(), check_names=False)
    assert cache.load("yahoo") is None


def _cached(db_path: Path, clock: list[datetime]) -> tuple[CachedPriceSource, CountingSource]:
    provider = CountingSource(SampleSource(), name="yahoo")
    db = connect(db_path)
    source = CachedPriceSource(
        provider, SqlitePriceCache(db), now=lambda: clock[0], company_cache=SqliteCompanyCache(db)
    )
    return source, provider


def test_company_table_survives_a_restart_and_refresh_forces_a_download(tmp_path: Path) -> None:
    clock = [T0]
    first, provider = _cached(tmp_path / "c.db", clock)
    first.fetch_companies()
    assert provider.count("companies") == 1
    # a new process on the same database: no provider call within 7 days
    clock[0] = T0 + timedelta(days=3)
    second, provider2 = _cached(tmp_path / "c.db", clock)
    assert len(second.fetch_companies()) == 20
    assert provider2.count("companies") == 0
    second.refresh_companies()
    assert provider2.count("companies") == 1


def test_failed_refresh_keeps_the_stored_table(tmp_path: Path) -> None:
    clock = [T0]
    source, provider = _cached(tmp_path / "c.db", clock)
    source.fetch_companies()
    provider.failure = DataUnavailableError(["companies"], "Yahoo is down")
    with pytest.raises(DataUnavailableError):
        source.refresh_companies()
    clock[0] = T0 + timedelta(days=30)
    stale = source.fetch_companies()
    assert len(stale) == 20
    assert "could not be refreshed" in stale.attrs["notes"][-1]
    loaded = SqliteCompanyCache(connect(tmp_path / "c.db")).load("yahoo")
    assert loaded is not None and loaded[1] == T0
