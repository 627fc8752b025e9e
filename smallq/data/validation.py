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
    index, columns = close.index, close.columns
    fields = {
        name: tidy_frame(frame).reindex(index=index, columns=columns).to_numpy(dtype="float64")
        for name in _OHLCV
        if (frame := getattr(data, name)) is not None
    }
    notes: list[str] = []
    duplicates = int(normalise_index(data.close.index).duplicated().sum())
    if duplicates:
        notes.append(f"{duplicates} duplicate date(s) in the prices; the last row of each kept")
    values = close.to_numpy(dtype="float64", copy=True)
    with np.errstate(invalid="ignore"):
        nonpositive = (values <= 0) | np.isinf(values)
        notes += _notes(nonpositive, values, index, columns, "non-positive close", _REPLACED)
        for name in ("open", "high", "low"):
            if name in fields:
                field = fields[name]
                fields[name] = np.where((field <= 0) | np.isinf(field), np.nan, field)
        if "volume" in fields:
            fields["volume"] = np.where(fields["volume"] < 0, np.nan, fields["volume"])
        bad_ohlc, repaired = _check_ohlc(values, fields, ohlc_tolerance, (index, columns), notes)
    values = np.where(np.isnan(repaired), values, repaired)
    spikes = _spike_cells(np.where(nonpositive | bad_ohlc, np.nan, values), params.spike_threshold)
    if market is not None:
        spikes &= ~_market_cells(values, index, market, params.crash_day_market_move)
    notes += _notes(
        spikes, values, index, columns, "one-day spike that reversed the next day", _REPLACED
    )
    bad = nonpositive | bad_ohlc | spikes
    masked = np.where(bad, np.nan, values)
    values = np.where(bad, _filled_shift(masked, 0), masked)
    for name in ("open", "high", "low"):
        if name in fields:
            fields[name] = np.where(bad, np.nan, fields[name])
    kept = ~np.isnan(values).all(axis=0)
    notes += [f"{ticker}: no valid prices; dropped" for ticker in map(str, columns[~kept])]
    columns = columns[kept]
    frames = {
        name: pd.DataFrame(field[:, kept], index=index, columns=columns)
        for name, field in fields.items()
    }
    cleaned = pd.DataFrame(values[:, kept], index=index, columns=columns)
    return dataclasses.replace(data, close=cleaned, notes=data.notes + tuple(notes), **frames)


_REPLACED = "replaced by the previous close"


def _check_ohlc(
    close: np.ndarray,
    fields: dict[str, np.ndarray],
    tolerance: float,
    labels: tuple[pd.Index, pd.Index],
    notes: list[str],
) -> tuple[np.ndarray, np.ndarray]:
    """Fix open/high/low contradictions in ``fields`` in place (arrays of ``close``'s shape).

    Returns the bad-close mask (rows with a next close) and the closes repaired into the
    day's range on the last row (NaN elsewhere).
    """
    none = np.zeros(close.shape, dtype=bool)
    if "high" not in fields or "low" not in fields:
        return none, np.full(close.shape, np.nan)
    high, low = fields["high"], fields["low"]
    upper, lower = high * (1 + tolerance), low * (1 - tolerance)
    inverted = high < low
    outside = ((close > upper) | (close < lower)) & ~inverted
    last = none.copy()
    last[-1:] = True
    next_close = np.full(close.shape, np.nan)
    next_close[:-1] = close[1:]
    bad_close = outside & ~last & (next_close <= upper) & (next_close >= lower)
    # DataFrame.clip: a missing bound is no bound
    clipped = np.where(close < low, low, close)
    clipped = np.where(clipped > high, high, clipped)
    repaired = np.where(outside & last, clipped, np.nan)
    index, columns = labels

    def note(mask: np.ndarray, reason: str, action: str) -> list[str]:
        return _notes(mask, close, index, columns, reason, action)

    notes += note(inverted, "high below low", "high and low ignored")
    notes += note(
        outside & ~last & ~bad_close, "close outside the day's low-high range", "range ignored"
    )
    notes += note(
        bad_close,
        "close outside the day's low-high range and back inside it the next day",
        _REPLACED,
    )
    notes += note(
        outside & last,
        "close outside the day's low-high range on the last day (no next close to check)",
        "moved to the nearer end of the range",
    )
    if "open" in fields:
        bad_open = ((fields["open"] > upper) | (fields["open"] < lower)) & ~inverted
        notes += note(bad_open, "open outside the day's low-high range", "open ignored")
        fields["open"] = np.where(bad_open, np.nan, fields["open"])
    fields["high"] = np.where(inverted | (outside & ~last), np.nan, high)
    fields["low"] = np.where(inverted | (outside & ~last), np.nan, low)
    return bad_close, repaired


def _spikes(close: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """:func:`_spike_cells` on a frame."""
    cells = _spike_cells(close.to_numpy(dtype="float64"), threshold)
    return pd.DataFrame(cells, index=close.index, columns=close.columns)


def _spike_cells(close: np.ndarray, threshold: float) -> np.ndarray:
    """Cells whose close is a one-day round trip of at least ``threshold`` (rule 3).

    NaN cells are skipped: the neighbours are the nearest valid closes. The last row has no
    next close and is never a spike. NaN compares false, as pandas' ``ge``/``lt`` on NaN.
    """
    limit = float(np.log1p(threshold)) - _EDGE
    low_band, high_band = np.log1p(-threshold / 2) - _EDGE, np.log1p(threshold / 2) + _EDGE
    with np.errstate(invalid="ignore", divide="ignore"):
        log_price = np.log(close)
        before = _filled_shift(log_price, 1)
        after = _filled_shift(log_price[::-1], 1)[::-1]  # shift(-1).bfill()
        move_in, move_out = log_price - before, after - log_price
        net = after - before
        result: np.ndarray = (
            (np.abs(move_in) >= limit)
            & (np.abs(move_out) >= limit)
            & (move_in * move_out < 0)
            & (net >= low_band)
            & (net <= high_band)
        )
    return result


def _filled_shift(values: np.ndarray, periods: int) -> np.ndarray:
    """``DataFrame(values).shift(periods).ffill()`` on a 2-D float array: each cell gets the
    last non-NaN value at least ``periods`` rows above it (NaN when there is none)."""
    if periods:
        shifted = np.full_like(values, np.nan)
        shifted[periods:] = values[:-periods]
    else:
        shifted = values
    rows = np.where(np.isnan(shifted), 0, np.arange(len(shifted))[:, None])
    np.maximum.accumulate(rows, axis=0, out=rows)
    filled: np.ndarray = np.take_along_axis(shifted, rows, axis=0)
    return filled


def _with_the_market(close: pd.DataFrame, market: pd.Series, threshold: float) -> pd.DataFrame:
    """:func:`_market_cells` on a frame."""
    cells = _market_cells(close.to_numpy(dtype="float64"), close.index, market, threshold)
    return pd.DataFrame(cells, index=close.index, columns=close.columns)


def _market_cells(
    close: np.ndarray, index: pd.Index, market: pd.Series, threshold: float
) -> np.ndarray:
    """Cells whose move from the previous valid close goes the same way as a market move of at
    least ``threshold`` on that day (the market's move from the previous price date)."""
    level = tidy_frame(market.to_frame()).iloc[:, 0].reindex(index).to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        level = np.where(level > 0, level, np.nan)
        market_move = np.empty_like(level)
        market_move[:1] = np.nan
        market_move[1:] = np.diff(np.log(level))
        log_price = np.log(np.where(close > 0, close, np.nan))
        move_in = log_price - _filled_shift(log_price, 1)
        big = np.abs(market_move) >= float(np.log1p(threshold)) - _EDGE
        same_way = np.sign(move_in) == np.sign(market_move)[:, None]
    cells: np.ndarray = same_way & big[:, None]
    return cells


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


def _notes(
    mask: np.ndarray,
    close: np.ndarray,
    index: pd.Index,
    columns: pd.Index,
    reason: str,
    action: str,
) -> list[str]:
    """One note per ticker with the flagged dates (and closes) in ``mask``."""
    rows, cols = np.nonzero(mask)
    notes = []
    for col in np.unique(cols):
        hits = rows[cols == col]
        shown = [
            f"{index[r]:%Y-%m-%d} (close {close[r, col]:.4g})" for r in hits[:_MAX_DATES_SHOWN]
        ]
        more = f" and {len(hits) - _MAX_DATES_SHOWN} more" if len(hits) > _MAX_DATES_SHOWN else ""
        notes.append(f"{columns[col]}: {reason} on {', '.join(shown)}{more}; {action}")
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
    values = prices.to_numpy(dtype="float64")
    missing = np.isnan(values)
    listed = np.logical_or.accumulate(~missing, axis=0)  # a close on or before the row
    later = np.logical_or.accumulate(~missing[::-1], axis=0)[::-1]  # on or after it
    interior = listed & later & missing
    rows = prices.index.get_indexer(common)
    for ticker, count in zip(prices.columns, interior[rows].sum(axis=0).tolist(), strict=True):
        if count:
            notes.append(f"{ticker}: {count} missing day(s) filled with the previous close")
    filled = np.where(interior, _filled_shift(values, 0), values)
    index = pd.DataFrame(index=prices.index).loc[common].index  # the dates as .loc gives them
    values = filled[rows]
    stale_notes = _carry_last_close(values, index, prices.columns, max_stale_days)
    return pd.DataFrame(values, index=index, columns=prices.columns), bench, (*notes, *stale_notes)


def _carry_last_close(
    values: np.ndarray, index: pd.Index, columns: pd.Index, max_stale_days: int
) -> list[str]:
    """Forward-fill a trailing gap of at most ``max_stale_days`` rows of ``values`` (shape
    (n_days, n_assets), in place), with a note."""
    if values.size == 0:
        return []
    notes: list[str] = []
    valid = ~np.isnan(values)
    for col in np.flatnonzero(valid.any(axis=0) & ~valid[-1]):
        last = int(np.flatnonzero(valid[:, col])[-1])
        missing = len(values) - 1 - last
        if missing <= max_stale_days:
            values[last + 1 :, col] = values[last, col]
            notes.append(
                f"{columns[col]}: no close on the last {missing} day(s); the close of "
                f"{index[last]:%Y-%m-%d} is carried forward"
            )
    return notes


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
