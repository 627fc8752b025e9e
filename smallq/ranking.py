"""Factor scores and the point-in-time stock ranking.

Each factor is a pure function returning a Series by ticker where **higher is better**:

* :func:`momentum` -- 12-1 momentum, ``close(t - 21) / close(t - 252) - 1`` in trading days;
* :func:`value_score` -- mean z-score of earnings yield, book-to-price and dividend yield;
* :func:`low_volatility` -- minus the annualised volatility of daily returns.

:func:`rank_stocks` slices prices to ``as_of`` **first**, and reads fundamentals only through
:meth:`smallq.fundamentals.Fundamentals.as_of` (per ticker the latest row dated on or before the
decision day), so nothing after the decision date can change a ranking. The company table
gives sectors only: its fundamental columns are undated and never ranked on. When the
candidates' fundamentals are all dated after the decision (or undated), value and composite
are refused with :class:`~smallq.errors.FundamentalsNotKnownYetError` rather than scored
with later figures. Every factor is winsorised at cross-sectional quantiles (:func:`winsorize`)
and z-scored (:func:`zscore`, population ``ddof=0``: the candidates are the whole cross-section,
not a sample of it); the score is the equal-weight mean of the z-scores available per stock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType
from typing import TypeVar

import numpy as np
import pandas as pd

from smallq.errors import (
    DataFormatError,
    FundamentalsMissingError,
    FundamentalsNotKnownYetError,
    InsufficientHistoryError,
    ProfileError,
    TooFewCandidatesError,
)
from smallq.fundamentals import Fundamentals
from smallq.models import Ranking
from smallq.params import DEFAULT_PARAMS, EngineParams
from smallq.types import Strategy

_Frame = TypeVar("_Frame", pd.Series, pd.DataFrame)

MOMENTUM = "momentum"
VALUE = "value"
LOW_VOL = "low_vol"

#: the factors behind each strategy, in table-column order
STRATEGY_FACTORS: Mapping[Strategy, tuple[str, ...]] = MappingProxyType(
    {
        Strategy.MOMENTUM: (MOMENTUM,),
        Strategy.VALUE: (VALUE,),
        Strategy.LOW_VOL: (LOW_VOL,),
        Strategy.COMPOSITE: (MOMENTUM, VALUE, LOW_VOL),
    }
)


# --------------------------------------------------------------------------- factors
def momentum(
    prices: pd.DataFrame, as_of: date, *, lookback_days: int = 252, skip_days: int = 21
) -> pd.Series:
    """12-1 momentum: ``close(t - skip_days) / close(t - lookback_days) - 1``.

    Parameters
    ----------
    prices : DataFrame of shape (n_days, n_assets)
        Daily closes; rows after ``as_of`` are ignored.
    as_of : date
        ``t`` is the last row dated on or before it; offsets count rows (trading days).
    lookback_days, skip_days : int
        Offsets in trading days, ``0 <= skip_days < lookback_days``.

    Returns
    -------
    Series of shape (n_assets,)
        Simple return as a fraction; ``NaN`` where either price is missing or not positive.

    Raises
    ------
    InsufficientHistoryError
        When fewer than ``lookback_days + 1`` rows exist up to ``as_of``.
    """
    if not 0 <= skip_days < lookback_days:
        raise ProfileError("skip_days", skip_days, f"must be in [0, {lookback_days})")
    past = _up_to(prices, as_of)
    _require_rows(past, lookback_days + 1, "price history for momentum")
    end, start = past.iloc[-1 - skip_days], past.iloc[-1 - lookback_days]
    return _finite((end / start.where(start > 0) - 1).rename(MOMENTUM))


def low_volatility(
    prices: pd.DataFrame, as_of: date, *, window_days: int = 252, periods_per_year: int = 252
) -> pd.Series:
    """Minus the annualised volatility of the last ``window_days`` daily simple returns.

    Parameters
    ----------
    prices : DataFrame of shape (n_days, n_assets)
        Daily closes; rows after ``as_of`` are ignored.
    as_of : date
        The window ends on the last row dated on or before it.
    window_days : int
        Number of daily returns (so ``window_days + 1`` prices).
    periods_per_year : int
        Annualisation factor: ``std(ddof=1) * sqrt(periods_per_year)``.

    Returns
    -------
    Series of shape (n_assets,)
        ``-volatility`` (higher is calmer); ``NaN`` for a ticker with fewer than
        ``max(2, window_days // 2)`` valid returns in the window.

    Raises
    ------
    InsufficientHistoryError
        When fewer than ``window_days + 1`` rows exist up to ``as_of``.
    """
    past = _up_to(prices, as_of)
    _require_rows(past, window_days + 1, "price history for low volatility")
    window = past.iloc[-(window_days + 1) :]
    returns = _finite(window / window.shift(1).where(window.shift(1) > 0) - 1).iloc[1:]
    volatility = returns.std(ddof=1) * np.sqrt(periods_per_year)
    enough = returns.notna().sum() >= max(2, window_days // 2)
    return (-volatility.where(enough)).rename(LOW_VOL)


def value_components(companies: pd.DataFrame) -> pd.DataFrame:
    """Raw value ratios from the company table.

    Parameters
    ----------
    companies : DataFrame indexed by ticker
        Columns ``pe``, ``pb``, ``dividend_yield`` (fraction); absent columns count as missing.

    Returns
    -------
    DataFrame of shape (n_companies, 3)
        ``earnings_yield = 1 / pe`` (negative earnings give a negative yield),
        ``book_to_price = 1 / pb`` (negative book value gives a negative ratio) and
        ``dividend_yield``; ``NaN`` where the input is missing or zero.
    """
    table = companies.reindex(columns=["pe", "pb", "dividend_yield"]).astype("float64")
    return pd.DataFrame(
        {
            "earnings_yield": _finite(1.0 / table["pe"]),
            "book_to_price": _finite(1.0 / table["pb"]),
            "dividend_yield": _finite(table["dividend_yield"]),
        },
        index=companies.index,
    )


def value_score(companies: pd.DataFrame, *, lower: float = 0.05, upper: float = 0.95) -> pd.Series:
    """Value composite: mean of the winsorised z-scores of the available value ratios.

    Parameters
    ----------
    companies : DataFrame indexed by ticker
        The candidate set (z-scores are taken across it); see :func:`value_components`.
    lower, upper : float
        Winsorisation quantiles for each ratio.

    Returns
    -------
    Series of shape (n_companies,)
        ``NaN`` for a company with none of the three ratios.

    Raises
    ------
    FundamentalsMissingError
        When no company in the set has any of the three ratios.
    """
    components = value_components(companies)
    if components.isna().all(axis=None):
        raise FundamentalsMissingError(VALUE, [str(t) for t in companies.index])
    scores = components.apply(lambda column: zscore(winsorize(column, lower, upper)))
    return scores.mean(axis=1, skipna=True).rename(VALUE)


def winsorize(scores: pd.Series, lower: float = 0.05, upper: float = 0.95) -> pd.Series:
    """Clip scores at their cross-sectional ``lower`` and ``upper`` quantiles.

    Parameters
    ----------
    scores : Series of shape (n_assets,)
        ``NaN`` is ignored when taking quantiles (linear interpolation) and stays ``NaN``.
    lower, upper : float
        Quantiles with ``0 <= lower <= upper <= 1``.

    Returns
    -------
    Series of shape (n_assets,)

    Raises
    ------
    ProfileError
        When the quantiles are out of order or outside [0, 1].
    """
    if not 0.0 <= lower <= upper <= 1.0:
        raise ProfileError("winsor", (lower, upper), "need 0 <= lower <= upper <= 1")
    values = scores.astype("float64")
    valid = values.dropna()
    if valid.empty:
        return values
    low, high = valid.quantile([lower, upper])
    return values.clip(low, high)


def zscore(scores: pd.Series) -> pd.Series:
    """Cross-sectional z-score ``(x - mean) / std`` with the population std (``ddof=0``).

    Parameters
    ----------
    scores : Series of shape (n_assets,)
        ``NaN`` is ignored and stays ``NaN``.

    Returns
    -------
    Series of shape (n_assets,)
        Zero for every valid entry when the scores do not vary (or only one is valid).
    """
    values = scores.astype("float64")
    std = values.std(ddof=0)
    scale = max(1.0, float(values.abs().max())) if values.notna().any() else 1.0
    if not np.isfinite(std) or std <= 1e-12 * scale:
        return values - values
    return (values - values.mean()) / std


# --------------------------------------------------------------------------- ranking
def rank_stocks(
    prices: pd.DataFrame,
    companies: pd.DataFrame,
    strategy: Strategy,
    as_of: date,
    *,
    top_n: int,
    per_sector: bool = False,
    fundamentals: Fundamentals | None = None,
    params: EngineParams = DEFAULT_PARAMS,
) -> Ranking:
    """Rank the tickers of ``prices`` by a strategy's factors as of a date.

    Parameters
    ----------
    prices : DataFrame of shape (n_days, n_assets)
        Daily closes of the candidates; sliced to rows on or before ``as_of`` before anything
        else. Tickers without any price by then are left out with a note.
    companies : DataFrame indexed by ticker
        Company table; only its ``sector`` is read (tickers missing from it have no sector).
    strategy : Strategy
        Momentum, value, low volatility, or the equal-weight composite of the three (value is
        left out of the composite, with a note, when the source has no fundamentals at all).
    as_of : date
        Decision date; ``Ranking.as_of`` is the last trading day on or before it.
    top_n : int
        Stocks selected overall, or per sector when ``per_sector``.
    per_sector : bool
        Select the best ``top_n`` of each sector (companies without a sector form one group).
    fundamentals : Fundamentals, optional
        Dated fundamentals; value reads ``fundamentals.as_of(Ranking.as_of)`` only. ``None``
        means the source has none.
    params : EngineParams
        Lookbacks, winsorisation quantiles and annualisation.

    Returns
    -------
    Ranking
        ``table`` sorted by score (ties broken by the raw factor for single-factor strategies,
        then by ticker); tickers with a missing price-based factor (or, for the value strategy,
        no fundamentals) are left out of it with a note.

    Raises
    ------
    InsufficientHistoryError
        When fewer than ``lookback + 1`` rows exist up to ``as_of`` for momentum or low volatility.
    FundamentalsMissingError
        For the value strategy when no candidate has fundamentals.
    FundamentalsNotKnownYetError
        For value and composite when the candidates have fundamentals, but none dated on or
        before the decision day.
    TooFewCandidatesError
        When no ticker can be scored.
    """
    if top_n < 1:
        raise ProfileError("top_n", top_n, "must be at least 1")
    strategy = Strategy.parse(strategy)
    past = _up_to(prices, as_of)
    _require_rows(past, 1, "price history")
    known = _known_fundamentals(fundamentals, past.index[-1].date())
    raw, notes = _raw_factors(past, known, strategy, params)
    if raw.empty:
        hint = "Choose other stocks, an earlier start or another strategy."
        raise TooFewCandidatesError(strategy.value, 0, 1, hint)
    sectors = companies["sector"].reindex(raw.index) if "sector" in companies else None
    table = _score_table(raw, sectors, params)
    selected = _select(table, top_n, per_sector)
    return Ranking(table, selected, strategy, past.index[-1].date(), tuple(notes))


def _raw_factors(
    past: pd.DataFrame, known: _Known, strategy: Strategy, params: EngineParams
) -> tuple[pd.DataFrame, list[str]]:
    """Raw factor values of the scorable tickers (rows) and notes on those left out."""
    factors, last = STRATEGY_FACTORS[strategy], past.index[-1]
    traded = past.columns[past.notna().any()]
    notes = _left_out(past.columns.difference(traded, sort=False), "no price by the decision date")
    raw = pd.DataFrame(index=pd.Index(traded, name="ticker"))
    if MOMENTUM in factors:
        lookback, skip = params.momentum_lookback_days, params.momentum_skip_days
        raw[MOMENTUM] = momentum(past[traded], last, lookback_days=lookback, skip_days=skip)
    if LOW_VOL in factors:
        window, periods = params.low_vol_window_days, params.periods_per_year
        raw[LOW_VOL] = low_volatility(
            past[traded], last, window_days=window, periods_per_year=periods
        )
    short = raw.index[raw.isna().any(axis=1)]
    notes += _left_out(short, "not enough price history for the strategy")
    raw = raw.drop(index=short)
    if VALUE in factors:
        raw, value_notes = _with_value(raw, known, strategy, params)
        notes += value_notes
    return raw[[f for f in factors if f in raw.columns]], notes


@dataclass(frozen=True, slots=True)
class _Known:
    """The fundamentals known on the decision day, and what the source holds overall."""

    as_of: date
    table: pd.DataFrame
    source: Fundamentals | None


def _known_fundamentals(fundamentals: Fundamentals | None, as_of: date) -> _Known:
    table = fundamentals.as_of(as_of) if fundamentals is not None else pd.DataFrame()
    return _Known(as_of, table, fundamentals)


def _refuse_future(known: _Known, tickers: pd.Index, strategy: Strategy) -> None:
    """Raise when the candidates have fundamentals, but only dated after the decision."""
    source = known.source
    if source is None:
        return
    history = source.history
    rows = history[history["ticker"].isin(tickers)].drop(columns=["date", "ticker"])
    if rows.notna().any(axis=None):
        raise FundamentalsNotKnownYetError(
            strategy.value,
            [str(t) for t in tickers],
            known.as_of,
            source.describe(),
            source.first_date,
        )


def _with_value(
    raw: pd.DataFrame, known: _Known, strategy: Strategy, params: EngineParams
) -> tuple[pd.DataFrame, list[str]]:
    """Add the value column over ``raw``'s tickers (drops unscorable ones for pure value)."""
    table = known.table.reindex(raw.index)
    try:
        value = value_score(table, lower=params.winsor_lower, upper=params.winsor_upper)
    except FundamentalsMissingError:
        _refuse_future(known, raw.index, strategy)
        if strategy is Strategy.VALUE:
            raise
        return raw, ["Value was left out of the composite: no fundamentals for these stocks."]
    components = value_components(table)
    partial = components.index[components.isna().any(axis=1) & value.notna()]
    notes = []
    if len(partial):
        notes.append(f"Value uses only the fundamentals available for {_listing(partial)}.")
    missing = value.index[value.isna()]
    day = f"{known.as_of:%Y-%m-%d}"
    if strategy is Strategy.VALUE:
        notes += _left_out(missing, f"no fundamentals dated on or before {day}")
        return raw.assign(value=value).drop(index=missing), notes
    if len(missing):
        notes.append(
            f"No fundamentals dated on or before {day} for {_listing(missing)}: "
            "scored without value."
        )
    return raw.assign(value=value), notes


def _score_table(
    raw: pd.DataFrame, sectors: pd.Series | None, params: EngineParams
) -> pd.DataFrame:
    """Sorted table with ``sector``, ``score``, ``rank`` and raw and z columns per factor."""
    lower, upper = params.winsor_lower, params.winsor_upper
    z = raw.apply(lambda column: zscore(winsorize(column, lower, upper)))
    score = z.mean(axis=1, skipna=True)
    tie = raw.iloc[:, 0] if raw.shape[1] == 1 else score
    table = pd.DataFrame(
        {"sector": np.nan if sectors is None else sectors, "score": score}, index=raw.index
    )
    for factor in raw.columns:
        table[factor] = raw[factor]
        table[f"{factor}_z"] = z[factor]
    keys = pd.DataFrame({"score": score, "tie": tie, "name": raw.index.astype(str)})
    keys = keys.reset_index(drop=True)
    order = keys.sort_values(
        ["score", "tie", "name"], ascending=[False, False, True], kind="mergesort"
    ).index
    table = table.iloc[order]
    table.insert(2, "rank", np.arange(1, len(table) + 1))
    return table


def _select(table: pd.DataFrame, top_n: int, per_sector: bool) -> tuple[str, ...]:
    """Best ``top_n`` overall, or per sector, best first."""
    if not per_sector:
        return tuple(str(t) for t in table.index[:top_n])
    groups = table["sector"].astype(object).where(table["sector"].notna(), "")
    chosen = table.groupby(groups, sort=False).head(top_n)
    return tuple(str(t) for t in chosen.index)


# --------------------------------------------------------------------------- helpers
def _up_to(prices: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Rows of ``prices`` dated on or before ``as_of``, in date order."""
    if not isinstance(prices.index, pd.DatetimeIndex):
        raise DataFormatError("prices", "the index must be a DatetimeIndex")
    ordered = prices if prices.index.is_monotonic_increasing else prices.sort_index()
    return ordered.loc[: pd.Timestamp(as_of)]


def _require_rows(past: pd.DataFrame, required: int, what: str) -> None:
    if len(past) < required:
        raise InsufficientHistoryError(len(past), required, what)


def _finite(values: _Frame) -> _Frame:
    return values.astype("float64").replace([np.inf, -np.inf], np.nan)


def _left_out(tickers: Sequence[object], reason: str) -> list[str]:
    return [f"Not ranked ({reason}): {_listing(tickers)}."] if len(tickers) else []


def _listing(tickers: Sequence[object], limit: int = 10) -> str:
    shown = ", ".join(str(t) for t in list(tickers)[:limit])
    return shown + (f" and {len(tickers) - limit} more" if len(tickers) > limit else "")
