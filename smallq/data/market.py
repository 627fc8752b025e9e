"""The data stage of the use cases: prices from a source, cleaned, aligned, with notes.

:func:`load_universe` reads the company table as known on the decision day and applies the
filters that need no prices; :func:`drop_unconfirmed_moves` leaves out a ticker whose
decision-day close moved by a spike's size;
:func:`load_market_data` turns a :class:`~smallq.data.base.PriceSource` into the
:class:`~smallq.models.MarketData` every later stage reads; :func:`load_stress_history` and
:func:`load_index_history` fetch the long histories that historical stress windows replay.
Each dropped or repaired value is a note; a source that cannot serve the long history is not
an error (the stress tests then estimate through beta, and say so).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta

import pandas as pd

from smallq.data.base import PriceSource
from smallq.data.validation import (
    align_calendar,
    clean_prices,
    require_history,
    tidy_frame,
    unconfirmed_moves,
)
from smallq.errors import DataError, DataUnavailableError
from smallq.filters import FilterCriteria, FilterResult, apply_filters
from smallq.fundamentals import Fundamentals
from smallq.models import MarketData, Profile
from smallq.params import DEFAULT_PARAMS, EngineParams
from smallq.universe import companies_as_of, normalise_companies

__all__ = [
    "PRICE_INDEX_NAMES",
    "STRESS_HISTORY_START",
    "Universe",
    "benchmark_notes",
    "data_end",
    "decision_end",
    "drop_unconfirmed_moves",
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


@dataclass(frozen=True, slots=True)
class Universe:
    """The source's company table (raw, and as known on the decision day) and its filters.

    Attributes
    ----------
    raw_companies : DataFrame indexed by ticker
        As the source gives it (its ``attrs["notes"]`` kept).
    companies : DataFrame indexed by ticker
        Normalised, with fundamentals as known on the decision day.
    fundamentals : Fundamentals
        The source's dated fundamentals, for point-in-time rankings.
    criteria : FilterCriteria
        The profile's filters; later passes add history and volume limits.
    first_pass : FilterResult
        The tickers that pass the filters needing no prices, with notes.
    """

    raw_companies: pd.DataFrame
    companies: pd.DataFrame
    fundamentals: Fundamentals
    criteria: FilterCriteria
    first_pass: FilterResult


def load_universe(profile: Profile, source: PriceSource, as_of: date) -> Universe:
    """The company table as known on ``as_of`` and the filters that need no prices.

    Fundamentals (and so the market-cap band) are those dated on or before ``as_of``; a
    market cap not known by then stands in from the company table, with a note.
    """
    raw_companies = source.fetch_companies()
    fundamentals = source.fetch_fundamentals()
    companies, cap_note = companies_as_of(normalise_companies(raw_companies), fundamentals, as_of)
    criteria = FilterCriteria(
        sectors=profile.sectors,
        min_market_cap=profile.min_market_cap,
        max_market_cap=profile.max_market_cap,
        include=profile.include,
        exclude=profile.exclude,
    )
    first_pass = apply_filters(companies, criteria)
    if cap_note and (profile.min_market_cap is not None or profile.max_market_cap is not None):
        first_pass = replace(first_pass, notes=(*first_pass.notes, cap_note))
    return Universe(raw_companies, companies, fundamentals, criteria, first_pass)


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
    notes: list[str] = []
    try:
        benchmark: pd.Series | None = source.fetch_benchmark(start, end)
    except DataError as exc:
        if require_benchmark:
            raise
        benchmark = None
        notes.append(f"No benchmark: {exc.user_message()}")
    # the benchmark tells a market-wide crash day from a bad print (validation rule 3)
    cleaned = clean_prices(raw, params, market=benchmark)
    notes = [*cleaned.notes, *notes]
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
        raw_high=_raw_field(raw.high, prices),
        raw_low=_raw_field(raw.low, prices),
    )


def _raw_field(frame: pd.DataFrame | None, prices: pd.DataFrame) -> pd.DataFrame | None:
    """A fetched OHLC field on the cleaned prices' dates and columns (None when absent)."""
    if frame is None:
        return None
    return tidy_frame(frame).reindex(index=prices.index, columns=prices.columns)


def drop_unconfirmed_moves(market: MarketData, params: EngineParams) -> MarketData:
    """Leave out tickers whose decision-day close moved by a spike's size, with a note.

    Raises
    ------
    DataUnavailableError
        When every ticker moved so (the notes say which and by how much).
    """
    excluded, notes = unconfirmed_moves(market.prices, params)
    if not excluded:
        return market
    if len(excluded) == market.prices.shape[1]:
        raise DataUnavailableError(list(excluded), "; ".join(notes))
    kept = [t for t in market.prices.columns if t not in excluded]

    def cut(frame: pd.DataFrame | None) -> pd.DataFrame | None:
        return None if frame is None else frame.reindex(columns=kept)

    return replace(
        market,
        prices=market.prices[kept],
        volume=cut(market.volume),
        raw_prices=cut(market.raw_prices),
        raw_high=cut(market.raw_high),
        raw_low=cut(market.raw_low),
        notes=(*market.notes, *notes),
    )


def load_stress_history(
    source: PriceSource,
    held: list[str],
    window: pd.DataFrame,
    as_of: date,
    params: EngineParams = DEFAULT_PARAMS,
    market: pd.Series | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """Long, cleaned price history of the holdings for replaying historical windows.

    Parameters
    ----------
    held : list of str
        The tickers to fetch.
    window : DataFrame of shape (n_days, n_assets)
        The estimation window; returned (cut to ``held``) when the source has no longer
        history.
    market : Series, optional
        Index level over the same years, so that a market-wide crash day is not taken for a
        bad print (:func:`~smallq.data.validation.clean_prices`).

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
    cleaned = clean_prices(raw, params, market=market)
    longer = cleaned.close.reindex(columns=held).loc[: pd.Timestamp(as_of)]
    return longer, [f"Stress history: {note}" for note in cleaned.notes]


def load_index_history(
    source: PriceSource, given: pd.Series | None, benchmark: pd.Series, as_of: date
) -> pd.Series:
    """The index level for stress windows up to ``as_of``: ``given``, else the source's from 1999.

    Falls back to ``benchmark`` (the build's own, short) when the source has no long one.
    A ``given`` history is cut at ``as_of``: a decision on D replays no crisis after D.
    """
    if given is not None:
        return given.loc[: pd.Timestamp(as_of)]
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
