"""The data stage of the use cases: prices from a source, cleaned, aligned, with notes.

:func:`load_universe` reads the company table and applies the filters that need no prices;
:func:`load_market_data` turns a :class:`~smallq.data.base.PriceSource` into the
:class:`~smallq.models.MarketData` every later stage reads; :func:`load_stress_history` and
:func:`load_index_history` fetch the long histories that historical stress windows replay.
Each dropped or repaired value is a note; a source that cannot serve the long history is not
an error (the stress tests then estimate through beta, and say so).
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from smallq.data.base import PriceSource
from smallq.data.validation import align_calendar, clean_prices, require_history, tidy_frame
from smallq.errors import DataError
from smallq.filters import FilterCriteria, FilterResult, apply_filters
from smallq.models import MarketData, Profile
from smallq.params import DEFAULT_PARAMS, EngineParams
from smallq.universe import normalise_companies

__all__ = [
    "PRICE_INDEX_NAMES",
    "STRESS_HISTORY_START",
    "benchmark_notes",
    "data_end",
    "decision_end",
    "history_start",
    "load_index_history",
    "load_market_data",
    "load_stress_history",
    "load_universe",
]

#: earliest date fetched for historical stress windows (the dot-com crash starts in 2000)
STRESS_HISTORY_START = date(1999, 6, 1)

#: benchmark names that are price indices (no dividends): the S&P 500 level itself
PRICE_INDEX_NAMES = frozenset({"SP500", "^GSPC", "S&P 500"})


def history_start(end: date, trading_days: int) -> date:
    """Calendar start that covers ``trading_days`` trading days before ``end`` (with margin)."""
    return end - timedelta(days=int(trading_days * 365 / 252 * 1.08) + 10)


def decision_end(profile: Profile, source: PriceSource, today: date) -> date:
    """The last date to fetch: the profile's as-of date, else today or the source's last date."""
    return data_end(source, profile.as_of or today)


def data_end(source: PriceSource, wanted: date) -> date:
    """``wanted``, or the source's last date when the data ends earlier."""
    last = source.last_date()
    return wanted if last is None else min(wanted, last)


def load_universe(
    profile: Profile, source: PriceSource
) -> tuple[pd.DataFrame, pd.DataFrame, FilterCriteria, FilterResult]:
    """The source's company table (raw and normalised) and the filters that need no prices.

    Returns
    -------
    raw_companies, companies : DataFrame indexed by ticker
        As the source gives it (its ``attrs["notes"]`` kept) and normalised.
    criteria : FilterCriteria
        The profile's filters; later passes add history and volume limits.
    first_pass : FilterResult
        The tickers that pass the filters needing no prices, with notes.
    """
    raw_companies = source.fetch_companies()
    companies = normalise_companies(raw_companies)
    criteria = FilterCriteria(
        sectors=profile.sectors,
        min_market_cap=profile.min_market_cap,
        max_market_cap=profile.max_market_cap,
        include=profile.include,
        exclude=profile.exclude,
    )
    return raw_companies, companies, criteria, apply_filters(companies, criteria)


def load_market_data(
    source: PriceSource,
    tickers: tuple[str, ...],
    companies: pd.DataFrame,
    *,
    start: date,
    end: date,
    params: EngineParams = DEFAULT_PARAMS,
    require_benchmark: bool = True,
) -> MarketData:
    """Fetch, clean and align prices and the benchmark for ``tickers``.

    Parameters
    ----------
    require_benchmark : bool, default=True
        When False (ranking only), a source without a benchmark is fine: the prices keep
        their own calendar and a note says so.

    Raises
    ------
    DataError
        When the source has no usable data (or no benchmark and one is required).
    """
    raw = source.fetch_prices(tickers, start, end)
    cleaned = clean_prices(raw, params)
    notes: list[str] = [*cleaned.notes]
    try:
        benchmark: pd.Series | None = source.fetch_benchmark(start, end)
    except DataError as exc:
        if require_benchmark:
            raise
        benchmark = None
        notes.append(f"No benchmark: {exc.user_message()}")
    if benchmark is not None:
        notes += benchmark.attrs.get("notes", ())
    prices, aligned, align_notes = align_calendar(cleaned.close, benchmark)
    prices, history_notes = require_history(prices, params.min_history_days)
    volume = cleaned.volume
    if volume is not None:
        volume = volume.reindex(index=prices.index, columns=prices.columns)
    return MarketData(
        prices=prices,
        benchmark=aligned if aligned is not None else pd.Series(dtype="float64", name="none"),
        companies=companies,
        volume=volume,
        source=source.name,
        fetched_at=raw.fetched_at,
        notes=(*notes, *align_notes, *history_notes),
        raw_prices=tidy_frame(raw.close).reindex(index=prices.index, columns=prices.columns),
    )


def load_stress_history(
    source: PriceSource,
    held: list[str],
    window: pd.DataFrame,
    as_of: date,
    params: EngineParams = DEFAULT_PARAMS,
) -> tuple[pd.DataFrame, list[str]]:
    """Long, cleaned price history of the holdings for replaying historical windows.

    Parameters
    ----------
    held : list of str
        The tickers to fetch.
    window : DataFrame of shape (n_days, n_assets)
        The estimation window; returned (cut to ``held``) when the source has no longer
        history.

    Returns
    -------
    prices : DataFrame of shape (n_long_days, n_held)
        Closes from :data:`STRESS_HISTORY_START` to ``as_of``.
    notes : list of str
        The cleaning notes, each prefixed ``"Stress history: "``.
    """
    try:
        raw = source.fetch_prices(held, STRESS_HISTORY_START, as_of)
    except DataError:
        return window[held], []
    cleaned = clean_prices(raw, params)
    longer = cleaned.close.reindex(columns=held).loc[: pd.Timestamp(as_of)]
    return longer, [f"Stress history: {note}" for note in cleaned.notes]


def load_index_history(
    source: PriceSource, given: pd.Series | None, benchmark: pd.Series, as_of: date
) -> pd.Series:
    """The index level for stress windows: ``given``, else the source's from 1999.

    Falls back to ``benchmark`` (the build's own, short) when the source has no long one.
    """
    if given is not None:
        return given
    try:
        return source.fetch_benchmark(STRESS_HISTORY_START, as_of)
    except DataError:
        return benchmark


def benchmark_notes(benchmark: pd.Series) -> list[str]:
    """Say when the benchmark leaves out dividends that the stock prices include."""
    if str(benchmark.name) not in PRICE_INDEX_NAMES:
        return []
    return [
        "The benchmark is the S&P 500 price index, without dividends, while the stock prices "
        "are dividend-adjusted: the comparison flatters the portfolio by about the index's "
        "dividend yield (roughly 1.5-2% a year)."
    ]
