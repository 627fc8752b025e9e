"""Price validation, and the shape helpers every data adapter shares.

Pure functions on pandas objects: no I/O, no clock, inputs never mutated. Every repaired or
dropped value is reported in the returned notes, which users see.

Cleaning rules of :func:`clean_prices` (a rule at day ``t`` reads nothing beyond the next
valid close after ``t``; on the last row, which has none, nothing beyond that row):

1. A non-finite or non-positive close is a bad print. Non-positive open/high/low and negative
   volume are set to NaN.
2. OHLC contradictions (when high and low exist). ``high < low``: high and low are set to NaN.
   An open outside ``[low, high]`` by more than ``ohlc_tolerance``: the open is set to NaN.
   A close outside ``[low, high]`` by more than ``ohlc_tolerance``:

   * on a day with a next close, that day's range is unreliable, so high and low are set to
     NaN; the close itself is a bad print only when the *next* close is back inside the range
     (LNT 2016-05-19: close 17.87, range 35.09-35.79, next close 35.91). Otherwise the close
     is kept: on spin-off days (SPG 2014-05-28, WRK 2016-05-13) the close is right and the
     range is stale;
   * on the last row (the decision day: no next close to tell which is wrong) the close is
     repaired into the range: set to the nearer of low and high, a price the stock traded
     at that day.
3. A spike is a close ``c[t]`` that is at least ``1 + params.spike_threshold`` times both
   neighbouring valid closes ``c[t-1]`` and ``c[t+1]`` (a peak), or that both neighbours are
   at least that multiple of (a trough), while the neighbours agree: ``|c[t+1] / c[t-1] - 1|
   <= spike_threshold / 2``. With the default 20% this catches one-day round trips such as
   +26%/-20%, +34.5%/-25% and -20%/+25%. It is a bad print. A jump that does not reverse
   (EBAY 2015-07-20, the PayPal spin-off, -57%; VRTX +62% 2013-04-19; AMD +52% 2016-04-22)
   is a real move and is left alone. A round trip whose first leg goes the same way as a
   move of the ``market`` (the benchmark level) of at least ``params.crash_day_market_move``
   on the same day is a market-wide crash or rally (BAC -29% and JPM -21% on 2009-01-20, when
   the S&P 500 fell 5.3%) and is left alone too. The last row has no next close, so it is
   never a spike here: :func:`unconfirmed_moves` handles it.
4. Every bad close is replaced by the previous valid close (set to NaN, then forward-filled),
   so that day's move is recorded as zero; a bad print with no earlier close stays NaN.
   That day's open, high and low are set to NaN.
5. Duplicate dates keep the last row; tickers left without any valid close are dropped.

The decision day: :func:`unconfirmed_moves` names the tickers whose last close moved by a
spike's size (at least ``1 + spike_threshold`` times, or at most ``1 / (1 + spike_threshold)``
times, the previous valid close). Without a next close such a move cannot be told from a bad
print, so the build and every backtest decision leave those tickers out, with a note.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence
from datetime import date

import numpy as np
import pandas as pd

from smallq.errors import DataUnavailableError, InsufficientHistoryError
from smallq.models import COMPANY_COLUMNS, PriceData
from smallq.params import DEFAULT_PARAMS, EngineParams

_OHLCV = ("open", "high", "low", "volume")
_CLASS_SHARE = re.compile(r"^([A-Z0-9]+)[./]([A-Z])$")
_MAX_DATES_SHOWN = 3
#: slack on the spike limits so that a move of exactly the threshold counts despite rounding
_EDGE = 1e-9


# --------------------------------------------------------------------------- shape helpers
def normalise_ticker(ticker: object) -> str:
    """Return the Yahoo-style ticker: upper case, class shares with a dash ("BRK.B" -> "BRK-B")."""
    text = str(ticker).strip().upper()
    match = _CLASS_SHARE.match(text)
    return f"{match.group(1)}-{match.group(2)}" if match else text


def normalise_tickers(tickers: Iterable[object]) -> list[str]:
    """Normalise tickers with :func:`normalise_ticker`, dropping duplicates but keeping order."""
    return list(dict.fromkeys(normalise_ticker(t) for t in tickers))


def normalise_index(index: pd.Index) -> pd.DatetimeIndex:
    """Return a tz-naive, midnight-normalised ``DatetimeIndex`` in microseconds named "date".

    A tz-aware index keeps its local calendar date (the exchange's trading day).
    """
    if _is_normal(index):
        return index  # an Index is immutable: shared as it is
    dates = pd.DatetimeIndex(pd.to_datetime(index))
    if dates.tz is not None:
        dates = dates.tz_localize(None)
    return dates.normalize().as_unit("us").rename("date")


def tidy_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Return a copy with a normalised, sorted, duplicate-free date index and float columns."""
    index = frame.index
    if (
        _is_normal(index)
        and index.is_monotonic_increasing
        and index.is_unique
        and all(dtype == np.float64 for dtype in frame.dtypes)
    ):
        return frame.copy()  # already tidy (the data stage's frames, cut at a date)
    result = frame.copy()
    result.index = normalise_index(result.index)
    result = result[~result.index.duplicated(keep="last")].sort_index()
    return result.astype("float64")


def _is_normal(index: pd.Index) -> bool:
    """Whether ``index`` is already what :func:`normalise_index` returns."""
    return (
        isinstance(index, pd.DatetimeIndex)
        and index.tz is None
        and index.unit == "us"
        and index.name == "date"
        and index.freq is None
        and index.is_normalized
    )


def slice_dates(frame: pd.DataFrame, start: date, end: date) -> pd.DataFrame:
    """Rows of a date-sorted frame between ``start`` and ``end`` inclusive."""
    return frame.loc[pd.Timestamp(start) : pd.Timestamp(end)]


def company_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Return the company table: indexed by ``ticker``, columns :data:`COMPANY_COLUMNS`.

    Missing columns are added as NaN (``name`` defaults to the ticker); numeric columns are
    coerced to float (unparsable cells become NaN).
    """
    table = rows.copy()
    table.index = pd.Index([normalise_ticker(t) for t in table.index], name="ticker")
    if "name" not in table:
        table["name"] = table.index
    if "sector" not in table:
        table["sector"] = np.nan
    for column in COMPANY_COLUMNS[2:]:
        values = table[column] if column in table else pd.Series(np.nan, index=table.index)
        table[column] = pd.to_numeric(values, errors="coerce").astype("float64")
    table["name"] = table["name"].where(table["name"].notna(), table.index.to_series())
    return table.loc[:, list(COMPANY_COLUMNS)]


# --------------------------------------------------------------------------- cleaning
def clean_prices(
    data: PriceData,
    params: EngineParams = DEFAULT_PARAMS,
    *,
    ohlc_tolerance: float = 0.01,
    market: pd.Series | None = None,
) -> PriceData:
    """Repair bad prints in ``data`` (rules in the module docstring).

    Parameters
    ----------
    data : PriceData
        ``close`` of shape (n_days, n_assets); optional open/high/low/volume of the same shape.
    params : EngineParams
        ``spike_threshold`` (a fraction, 0.35 is 35%) defines a spike.
    ohlc_tolerance : float, default=0.01
        How far (a fraction) a close or open may lie outside the day's low-high range.
    market : Series of shape (n_market_days,), optional
        Benchmark level; a round trip on a day the market moved the same way by at least
        ``params.crash_day_market_move`` is not a spike (rule 3). Only its levels on the
        prices' dates are read (the move on day t is from the previous price date to t).

    Returns
    -------
    PriceData
        New object with repaired frames on the same dates; ``notes`` extend ``data.notes``
        with one entry per ticker and rule that changed something.
    """
    close = tidy_frame(data.close)
    frames = {
        name: tidy_frame(frame).reindex(index=close.index, columns=close.columns)
        for name in _OHLCV
        if (frame := getattr(data, name)) is not None
    }
    notes: list[str] = []
    duplicates = int(normalise_index(data.close.index).duplicated().sum())
    if duplicates:
        notes.append(f"{duplicates} duplicate date(s) in the prices; the last row of each kept")
    nonpositive = close.le(0) | np.isinf(close)
    notes += _notes(nonpositive, close, "non-positive close", "replaced by the previous close")
    for name in ("open", "high", "low"):
        if name in frames:
            frames[name] = frames[name].mask(frames[name].le(0) | np.isinf(frames[name]))
    if "volume" in frames:
        frames["volume"] = frames["volume"].mask(frames["volume"].lt(0))
    bad_ohlc, repaired = _check_ohlc(close, frames, ohlc_tolerance, notes)
    close = close.where(repaired.isna(), repaired)
    spikes = _spikes(close.mask(nonpositive | bad_ohlc), params.spike_threshold)
    if market is not None:
        spikes &= ~_with_the_market(close, market, params.crash_day_market_move)
    notes += _notes(
        spikes, close, "one-day spike that reversed the next day", "replaced by the previous close"
    )
    bad = nonpositive | bad_ohlc | spikes
    masked = close.mask(bad)
    close = masked.where(~bad, masked.ffill())
    for name in ("open", "high", "low"):
        if name in frames:
            frames[name] = frames[name].mask(bad)
    empty = [str(t) for t in close.columns[close.notna().sum() == 0]]
    notes += [f"{ticker}: no valid prices; dropped" for ticker in empty]
    close = close.drop(columns=empty)
    frames = {name: frame.drop(columns=empty) for name, frame in frames.items()}
    return dataclasses.replace(data, close=close, notes=data.notes + tuple(notes), **frames)


def _check_ohlc(
    close: pd.DataFrame, frames: dict[str, pd.DataFrame], tolerance: float, notes: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fix open/high/low contradictions in ``frames`` in place.

    Returns the bad-close mask (rows with a next close) and the closes repaired into the
    day's range on the last row (NaN elsewhere).
    """
    none = pd.DataFrame(False, index=close.index, columns=close.columns)
    if "high" not in frames or "low" not in frames:
        return none, close.where(none)
    high, low = frames["high"], frames["low"]
    upper, lower = high * (1 + tolerance), low * (1 - tolerance)
    inverted = high.lt(low)
    outside = (close.gt(upper) | close.lt(lower)) & ~inverted
    last = none.copy()
    last.iloc[-1:] = True
    next_close = close.shift(-1)
    bad_close = outside & ~last & next_close.le(upper) & next_close.ge(lower)
    repaired = close.clip(lower=low, upper=high).where(outside & last)
    notes += _notes(inverted, close, "high below low", "high and low ignored")
    notes += _notes(
        outside & ~last & ~bad_close,
        close,
        "close outside the day's low-high range",
        "range ignored",
    )
    notes += _notes(
        bad_close,
        close,
        "close outside the day's low-high range and back inside it the next day",
        "replaced by the previous close",
    )
    notes += _notes(
        outside & last,
        close,
        "close outside the day's low-high range on the last day (no next close to check)",
        "moved to the nearer end of the range",
    )
    if "open" in frames:
        bad_open = (frames["open"].gt(upper) | frames["open"].lt(lower)) & ~inverted
        notes += _notes(bad_open, close, "open outside the day's low-high range", "open ignored")
        frames["open"] = frames["open"].mask(bad_open)
    frames["high"] = high.mask(inverted | (outside & ~last))
    frames["low"] = low.mask(inverted | (outside & ~last))
    return bad_close, repaired


def _spikes(close: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Cells whose close is a one-day round trip of at least ``threshold`` (rule 3).

    NaN cells are skipped: the neighbours are the nearest valid closes. The last row has no
    next close and is never a spike. Computed on the array (NaN compares false, as pandas'
    ``ge``/``lt`` on NaN).
    """
    limit = float(np.log1p(threshold)) - _EDGE
    low_band, high_band = np.log1p(-threshold / 2) - _EDGE, np.log1p(threshold / 2) + _EDGE
    log_price = np.log(close.to_numpy(dtype="float64"))
    before = _filled_shift(log_price, 1)
    after = _filled_shift(log_price[::-1], 1)[::-1]  # shift(-1).bfill()
    move_in, move_out = log_price - before, after - log_price
    net = after - before
    with np.errstate(invalid="ignore"):
        result = (
            (np.abs(move_in) >= limit)
            & (np.abs(move_out) >= limit)
            & (move_in * move_out < 0)
            & (net >= low_band)
            & (net <= high_band)
        )
    return pd.DataFrame(result, index=close.index, columns=close.columns)


def _filled_shift(values: np.ndarray, periods: int) -> np.ndarray:
    """``DataFrame(values).shift(periods).ffill()`` on a 2-D float array: each cell gets the
    last non-NaN value at least ``periods`` rows above it (NaN when there is none)."""
    shifted = np.full_like(values, np.nan)
    shifted[periods:] = values[:-periods] if periods else values
    rows = np.where(np.isnan(shifted), 0, np.arange(len(shifted))[:, None])
    np.maximum.accumulate(rows, axis=0, out=rows)
    filled: np.ndarray = np.take_along_axis(shifted, rows, axis=0)
    return filled


def _with_the_market(close: pd.DataFrame, market: pd.Series, threshold: float) -> pd.DataFrame:
    """Cells whose move from the previous valid close goes the same way as a market move of at
    least ``threshold`` on that day (the market's move from the previous price date)."""
    level = tidy_frame(market.to_frame()).iloc[:, 0].reindex(close.index).to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        level = np.where(level > 0, level, np.nan)
        market_move = np.empty_like(level)
        market_move[:1] = np.nan
        market_move[1:] = np.diff(np.log(level))
        values = close.to_numpy(dtype="float64")
        log_price = np.log(np.where(values > 0, values, np.nan))
        move_in = log_price - _filled_shift(log_price, 1)
        big = np.abs(market_move) >= float(np.log1p(threshold)) - _EDGE
        same_way = np.sign(move_in) == np.sign(market_move)[:, None]
    return pd.DataFrame(same_way & big[:, None], index=close.index, columns=close.columns)


def unconfirmed_moves(
    prices: pd.DataFrame, params: EngineParams = DEFAULT_PARAMS
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Tickers whose last close is a one-day move of a spike's size (no next close to check).

    Parameters
    ----------
    prices : DataFrame of shape (n_days, n_assets)
        Cleaned closes up to and including the decision day (the last row).
    params : EngineParams
        ``spike_threshold`` (a fraction): a last close at least ``1 + spike_threshold`` times
        the previous valid close, or at most ``1 / (1 + spike_threshold)`` times it, counts.

    Returns
    -------
    tickers : tuple of str
        The tickers to leave out of the decision, in column order.
    notes : tuple of str
        One note per ticker with the move and the date.
    """
    if len(prices) < 2:
        return (), ()
    last = prices.iloc[-1]
    previous = prices.iloc[:-1].ffill().iloc[-1]
    ratio = (last / previous.where(previous > 0)).astype("float64")
    limit = float(np.log1p(params.spike_threshold)) - _EDGE
    moved = np.abs(np.log(ratio.to_numpy())) >= limit
    tickers = tuple(str(t) for t in prices.columns[np.nan_to_num(moved, nan=0.0).astype(bool)])
    day = f"{prices.index[-1]:%Y-%m-%d}"
    notes = tuple(
        f"{t}: the close on the decision day {day} moved {ratio[t] - 1:+.1%} in one day; "
        "without the next close such a move cannot be told from a bad print, so it was "
        "left out of this decision"
        for t in tickers
    )
    return tickers, notes


def _notes(mask: pd.DataFrame, close: pd.DataFrame, reason: str, action: str) -> list[str]:
    """One note per ticker with the flagged dates (and closes) in ``mask``."""
    rows, cols = np.nonzero(mask.to_numpy(dtype=bool))
    notes = []
    for col in np.unique(cols):
        hits = rows[cols == col]
        shown = [
            f"{close.index[r]:%Y-%m-%d} (close {close.iat[r, col]:.4g})"
            for r in hits[:_MAX_DATES_SHOWN]
        ]
        more = f" and {len(hits) - _MAX_DATES_SHOWN} more" if len(hits) > _MAX_DATES_SHOWN else ""
        notes.append(f"{close.columns[col]}: {reason} on {', '.join(shown)}{more}; {action}")
    return notes


# --------------------------------------------------------------------------- calendar
def align_calendar(
    prices: pd.DataFrame, benchmark: pd.Series | None, *, max_stale_days: int = 5
) -> tuple[pd.DataFrame, pd.Series | None, tuple[str, ...]]:
    """Put prices and benchmark on their common trading days and fill short gaps.

    Parameters
    ----------
    prices : DataFrame of shape (n_days, n_assets)
        Closes; NaN before a listing or after a delisting is kept.
    benchmark : Series of shape (n_bench_days,), optional
        Benchmark level; without one the prices keep their own calendar.
    max_stale_days : int, default=5
        A ticker whose closes stop at most this many trading days before the last date
        (a late print, a trading halt) has its last close carried forward, with a note;
        a longer silence is left as NaN (delisted).

    Returns
    -------
    prices : DataFrame of shape (n_common, n_assets)
        On the dates both have; a gap between a ticker's first and last valid close is
        forward-filled, and so is a short trailing gap.
    benchmark : Series of shape (n_common,), or None
    notes : tuple of str
        Dropped dates and filled gaps.

    Raises
    ------
    DataUnavailableError
        When prices and benchmark share no date.
    """
    prices = tidy_frame(prices)
    notes: list[str] = []
    bench: pd.Series | None = None
    common = prices.index
    if benchmark is not None:
        bench = tidy_frame(benchmark.to_frame()).iloc[:, 0]
        bench = bench[bench.gt(0) & np.isfinite(bench)]
        common = prices.index.intersection(bench.index)
        if common.empty:
            raise DataUnavailableError([str(benchmark.name or "benchmark")], "no date in common")
        dropped = prices.index.difference(common)
        if len(dropped):
            notes.append(
                f"{len(dropped)} price date(s) without a benchmark level dropped "
                f"({_date_list(dropped)})"
            )
        bench = bench.loc[common].rename(benchmark.name)
    interior = prices.ffill().notna() & prices.bfill().notna() & prices.isna()
    prices = prices.where(~interior, prices.ffill()).loc[common]
    for ticker, count in interior.loc[common].sum().items():
        if count:
            notes.append(f"{ticker}: {count} missing day(s) filled with the previous close")
    prices, stale_notes = _carry_last_close(prices, max_stale_days)
    return prices, bench, (*notes, *stale_notes)


def _carry_last_close(prices: pd.DataFrame, max_stale_days: int) -> tuple[pd.DataFrame, list[str]]:
    """Forward-fill a trailing gap of at most ``max_stale_days`` rows, with a note."""
    if prices.empty:
        return prices, []
    notes: list[str] = []
    filled = prices.copy()
    for ticker in prices.columns:
        valid = prices[ticker].notna().to_numpy()
        if not valid.any() or valid[-1]:
            continue
        last = int(np.flatnonzero(valid)[-1])
        missing = len(valid) - 1 - last
        if missing <= max_stale_days:
            filled.iloc[last + 1 :, filled.columns.get_loc(ticker)] = prices[ticker].iloc[last]
            notes.append(
                f"{ticker}: no close on the last {missing} day(s); the close of "
                f"{prices.index[last]:%Y-%m-%d} is carried forward"
            )
    return filled, notes


def require_history(prices: pd.DataFrame, min_days: int) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Drop tickers with fewer than ``min_days`` valid closes.

    Parameters
    ----------
    prices : DataFrame of shape (n_days, n_assets)
    min_days : int
        Fewest valid observations a ticker needs.

    Returns
    -------
    prices : DataFrame of shape (n_days, n_kept)
    notes : tuple of str
        One note per dropped ticker with its count.

    Raises
    ------
    InsufficientHistoryError
        When no ticker has ``min_days`` valid closes (``n_observations`` is the longest).
    """
    counts = prices.notna().sum()
    short = counts[counts < min_days]
    if len(short) == len(counts):
        raise InsufficientHistoryError(int(counts.max()) if len(counts) else 0, min_days)
    notes = tuple(
        f"{ticker}: only {count} days of prices, {min_days} needed; dropped"
        for ticker, count in short.items()
    )
    return prices.drop(columns=short.index), notes


def _date_list(dates: Sequence[pd.Timestamp] | pd.DatetimeIndex) -> str:
    shown = ", ".join(f"{d:%Y-%m-%d}" for d in list(dates)[:_MAX_DATES_SHOWN])
    extra = len(dates) - _MAX_DATES_SHOWN
    return shown + (f" and {extra} more" if extra > 0 else "")
