"""A price source behind a persistent cache, with freshness and stale-data notes.

:class:`CachedPriceSource` wraps any :class:`~smallq.data.base.PriceSource`:

* A series fetched less than ``max_age`` ago whose cached range covers the request is served
  from the cache: a repeated request makes no provider call. Only the other tickers are
  fetched, then saved (the saved frame spans the requested dates, so a weekend ``end`` or a
  late listing still counts as covered next time).
* ``PriceData.fetched_at`` is the oldest fetch time among the series served, and a note says
  when cached prices were fetched.
* When the provider raises a :class:`~smallq.errors.DataError`, cached series (even stale
  ones) still serve, with a note saying that they are stale and since when; with nothing
  cached the error is re-raised.
* Fundamentals: a live source (``last_date()`` is None, e.g. Yahoo) reports current figures,
  so its fundamentals are the company table served (fresh, cached in memory or in the SQLite
  company cache) dated the day that table was fetched; a local source (sample, CSV) dates its
  own and is asked directly.
* The benchmark is cached the same way under the ticker ``^BENCH``; its notes and fetch time
  are in ``series.attrs["notes"]`` and ``series.attrs["fetched_at"]``. Companies are kept in
  memory for ``max_age`` (same stale rule, notes in ``attrs["notes"]``).

A failed cache write (a locked database) never fails the request; it is logged.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta

import pandas as pd

from smallq.data.base import CompanyCache, PriceCache, PriceSource
from smallq.data.validation import normalise_tickers
from smallq.errors import DataError, DataUnavailableError, StorageError
from smallq.fundamentals import Fundamentals
from smallq.models import PriceData
from smallq.types import ProgressCallback

BENCHMARK_KEY = "^BENCH"
_FIELDS = ("open", "high", "low", "volume")

logger = logging.getLogger(__name__)
Fetcher = Callable[[list[str], date, date], PriceData]


class CachedPriceSource:
    """:class:`PriceSource` that reads through a :class:`PriceCache` (see module doc).

    Parameters
    ----------
    source : PriceSource
        The provider.
    cache : PriceCache
        Persistent series store.
    now : callable
        Returns the current time (UTC; a naive value is read as UTC).
    max_age : timedelta, default=20 hours
        How old a cached series may be and still be served without asking the provider.
    """

    def __init__(
        self,
        source: PriceSource,
        cache: PriceCache,
        *,
        now: Callable[[], datetime],
        max_age: timedelta = timedelta(hours=20),
        company_cache: CompanyCache | None = None,
        companies_max_age: timedelta = timedelta(days=7),
    ) -> None:
        self.name = source.name
        self._source = source
        self._cache = cache
        self._now = now
        self._max_age = max_age
        self._benchmark_label: str | None = None
        self._companies: tuple[pd.DataFrame, datetime] | None = None
        self._company_cache = company_cache
        self._companies_max_age = companies_max_age

    @property
    def benchmark_name(self) -> str:
        """Name of the benchmark series (learned from the provider, else its attribute)."""
        return self._benchmark_label or str(getattr(self._source, "benchmark_name", "benchmark"))

    # ------------------------------------------------------------------ PriceSource
    def last_date(self) -> date | None:
        """The wrapped source's last date (None for a live source)."""
        return self._source.last_date()

    def fetch_prices(self, tickers: Sequence[str], start: date, end: date) -> PriceData:
        """Prices for ``tickers``, fresh cached series first, the rest from the provider.

        Raises
        ------
        DataError
            The provider's error when it fails and nothing usable is cached.
        DataUnavailableError
            When no requested ticker has prices in the window.
        """
        return self._read_through(normalise_tickers(tickers), start, end, self._source.fetch_prices)

    def fetch_benchmark(self, start: date, end: date) -> pd.Series:
        """Benchmark levels through the cache; ``attrs`` holds ``notes`` and ``fetched_at``.

        Raises
        ------
        DataError
            The provider's error when it fails and nothing usable is cached.
        """
        data = self._read_through(
            [BENCHMARK_KEY], start, end, self._fetch_benchmark_frame, "Benchmark levels"
        )
        series = data.close[BENCHMARK_KEY].dropna().rename(self.benchmark_name)
        series.attrs["notes"] = data.notes
        series.attrs["fetched_at"] = data.fetched_at
        return series

    def fetch_companies(self) -> pd.DataFrame:
        """The provider's company table, cached in memory and (optionally) in SQLite.

        Raises
        ------
        DataError
            The provider's error when it fails and no table was fetched before.
        """
        return self._companies_fetched()[0].copy()

    def fetch_fundamentals(self) -> Fundamentals:
        """Dated fundamentals (see the module doc for live and local sources).

        Raises
        ------
        DataError
            The provider's error when it fails and nothing usable is cached.
        """
        if self._source.last_date() is not None:
            return self._source.fetch_fundamentals()
        table, fetched_at = self._companies_fetched()
        return Fundamentals.from_snapshot(
            table, _utc(fetched_at).date(), f"{self.name} company table of {_when(fetched_at)}"
        )

    def _companies_fetched(self) -> tuple[pd.DataFrame, datetime]:
        """The company table to serve and when it was fetched (stale rule in the module doc)."""
        now = _utc(self._now())
        if self._companies is None and self._company_cache is not None:
            self._companies = self._company_cache.load(self.name)
        if (
            self._companies is not None
            and now - _utc(self._companies[1]) <= self._companies_max_age
        ):
            return self._companies
        try:
            return self.refresh_companies(), now
        except DataError:
            if self._companies is None:
                raise
            stale, fetched_at = self._companies
            stale = stale.copy()
            stale.attrs["notes"] = (
                *stale.attrs.get("notes", ()),
                f"Company data could not be refreshed; using the copy from {_when(fetched_at)}",
            )
            return stale, fetched_at

    def refresh_companies(self, *, on_progress: ProgressCallback | None = None) -> pd.DataFrame:
        """Download the company table now and store it (memory and the company cache).

        ``on_progress(done, total)`` is passed to a wrapped source whose ``fetch_companies``
        takes it (Yahoo); other sources answer at once and ignore it.

        Raises
        ------
        DataError
            The provider's error; the cached table is left as it was.
        """
        now = _utc(self._now())
        fetch: Callable[..., pd.DataFrame] = self._source.fetch_companies
        takes_progress = "on_progress" in inspect.signature(fetch).parameters
        table = fetch(on_progress=on_progress) if on_progress and takes_progress else fetch()
        self._companies = (table, now)
        if self._company_cache is not None:
            try:
                self._company_cache.save(self.name, table, now)
            except StorageError as exc:
                logger.warning("company cache write failed: %s", exc)
        return table.copy()

    # ------------------------------------------------------------------ internals
    def _fetch_benchmark_frame(self, keys: list[str], start: date, end: date) -> PriceData:
        series = self._source.fetch_benchmark(start, end)
        self._benchmark_label = str(series.name) if series.name is not None else None
        return PriceData(close=series.to_frame(BENCHMARK_KEY))

    def _read_through(
        self, keys: list[str], start: date, end: date, fetch: Fetcher, what: str = "Prices"
    ) -> PriceData:
        if not keys:
            raise DataUnavailableError([], "no tickers requested")
        now = _utc(self._now())
        cached, fetched = self._cache.load(self.name, keys, start, end)
        fresh = {k: t for k, t in fetched.items() if now - t <= self._max_age}
        todo = [k for k in keys if k not in fresh]
        if not todo:
            return _assemble(keys, cached, fresh, None, (start, end), what)
        try:
            new = fetch(todo, start, end)
        except DataError as exc:
            if not fetched:
                raise
            stale = f"Could not refresh {what.lower()} from {self.name} ({exc})"
            try:
                return _assemble(keys, cached, fetched, None, (start, end), what, stale)
            except DataUnavailableError:
                raise exc from None
        self._save(new, start, end, now)
        return _assemble(keys, cached, fresh, (new, now), (start, end), what)

    def _save(self, data: PriceData, start: date, end: date, now: datetime) -> None:
        """Store freshly fetched series, spanning ``[start, end]``; log a failed write."""
        bounds = pd.DatetimeIndex([pd.Timestamp(start), pd.Timestamp(end)]).as_unit("us")
        index = pd.DatetimeIndex(data.close.index).union(bounds)
        widened = PriceData(
            close=data.close.reindex(index),
            **{f: getattr(data, f).reindex(index) for f in _FIELDS if getattr(data, f) is not None},
        )
        try:
            self._cache.save(self.name, widened, now)
        except StorageError as exc:
            logger.warning("price cache write failed for %s: %s", self.name, exc)


def _assemble(
    keys: list[str],
    cached: PriceData,
    cached_at: dict[str, datetime],
    new: tuple[PriceData, datetime] | None,
    window: tuple[date, date],
    what: str,
    stale: str = "",
) -> PriceData:
    """Join cached series (``cached_at`` keys) and freshly fetched ones, in ``keys`` order.

    Raises
    ------
    DataUnavailableError
        When no key has a price in the window.
    """
    parts = [(cached, {k: cached_at[k] for k in cached.close.columns if k in cached_at})]
    if new is not None:
        parts.append((new[0], {str(k): new[1] for k in new[0].close.columns}))
    taken: dict[str, datetime] = {}
    panels: dict[str, list[pd.DataFrame]] = {"close": [], **{f: [] for f in _FIELDS}}
    for data, times in parts:
        use = [k for k in times if k not in taken and data.close[k].notna().any()]
        taken |= {k: times[k] for k in use}
        for field, collected in panels.items():
            if (panel := getattr(data, field)) is not None and use:
                collected.append(panel.reindex(columns=use))
    kept = [k for k in keys if k in taken]
    if not kept:
        raise DataUnavailableError(keys, f"no prices between {window[0]} and {window[1]}")
    close = pd.concat(panels["close"], axis=1).sort_index()[kept].dropna(how="all")
    others = {
        f: pd.concat(p, axis=1).reindex(index=close.index, columns=kept)
        for f, p in panels.items()
        if f != "close" and p
    }
    return PriceData(
        close=close,
        fetched_at=min(taken.values()),
        notes=_notes(keys, taken, cached_at, new, window, what, stale),
        **others,
    )


def _notes(
    keys: list[str],
    taken: dict[str, datetime],
    cached_at: dict[str, datetime],
    new: tuple[PriceData, datetime] | None,
    window: tuple[date, date],
    what: str,
    stale: str,
) -> tuple[str, ...]:
    notes = list(new[0].notes) if new is not None else []
    from_cache = [taken[k] for k in taken if new is None or k in cached_at]
    if stale:
        notes.append(f"{stale}; using stale cached {what.lower()} fetched {_when(min(from_cache))}")
    elif from_cache:
        notes.append(f"{what} from the cache, fetched {_when(min(from_cache))}")
    notes += [
        f"{k}: no prices between {window[0]} and {window[1]}; left out"
        for k in keys
        if k not in taken and (new is None or k in cached_at)
    ]
    return tuple(dict.fromkeys(notes))


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _when(moment: datetime) -> str:
    return f"{_utc(moment):%Y-%m-%d %H:%M} UTC"
