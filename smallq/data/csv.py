"""Prices, benchmark and company table from CSV files in one directory.

Layout (each file may also be gzip-compressed as ``<name>.csv.gz``; column names are
case-insensitive, spaces and punctuation count as ``_``):

``prices.csv`` (required), in one of two forms:
    * long: ``date,ticker,close`` optionally followed by ``open,high,low,volume,adj_close``
      (``Name`` or ``symbol`` may stand for ``ticker``). When ``adj_close`` is present it is
      the close used for returns, and open/high/low are scaled by ``adj_close / close`` so that
      they stay consistent with it (as yfinance's ``auto_adjust`` does); volume is kept as is.
    * wide: a ``date`` column plus one close column per ticker.
``companies.csv`` (optional): ``ticker,name,sector`` optionally ``market_cap,pe,pb,
    dividend_yield`` (a fraction: 0.0233 is 2.33%) and ``date``, the day those figures were
    taken (a snapshot; without ``date`` they are undated and never ranked on). Sectors are
    resolved with
    :meth:`Sector.parse`, so the pre-2018 "Telecommunication Services" becomes Communication
    Services. Without this file every ticker gets ``name`` = ticker and ``sector`` NaN, and a
    sector filter then finds no candidates: add companies.csv to use sectors.
``fundamentals.csv`` (optional): a dated history, ``date,ticker,pe,pb,dividend_yield``
    optionally ``market_cap``; one row per (date, ticker). When present it is the source of
    :meth:`CsvSource.fetch_fundamentals` and companies.csv's figures are not used for ranking.
``benchmark.csv`` (optional): ``date,close`` (or ``adj_close``, or one value column whose name
    becomes the series name). Without it :meth:`CsvSource.fetch_benchmark` raises
    ``DataUnavailableError(["benchmark"])``.

Tickers are normalised to Yahoo style (BRK.B -> BRK-B). Files are read on first use and the
parsed frames kept on the instance; the constructor touches no file.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from smallq.data.validation import (
    company_table,
    normalise_ticker,
    normalise_tickers,
    slice_dates,
    tidy_frame,
)
from smallq.errors import DataError, DataFormatError, DataUnavailableError, UnknownSectorError
from smallq.fundamentals import Fundamentals
from smallq.models import PriceData
from smallq.types import Sector

#: said with every price fetched from a long-form prices.csv without ``adj_close``
UNADJUSTED_NOTE = (
    "{name} has a close but no adj_close column: its closes are used as they are, so if they "
    "are not adjusted for dividends every return here leaves dividends out, and the portfolio "
    "trails a dividend-including benchmark (such as SPY's adjusted close) by about its "
    "dividend yield."
)

_TICKER_ALIASES = {"name": "ticker", "symbol": "ticker"}
_COMPANY_ALIASES = {
    "symbol": "ticker",
    "price_earnings": "pe",
    "p_e": "pe",
    "price_book": "pb",
    "p_b": "pb",
    "marketcap": "market_cap",
}
_FIELDS = ("close", "open", "high", "low", "volume", "adj_close")
#: column names that are normalised; any other column (a ticker in the wide form) is kept as is
_KNOWN_COLUMNS = frozenset(
    {"date", "ticker", "name", "sector", "market_cap", "pe", "pb", "dividend_yield"}
    | set(_FIELDS)
    | set(_COMPANY_ALIASES)
)
_GENERIC_VALUE = ("close", "adj_close")


class CsvSource:
    """:class:`~smallq.data.base.PriceSource` over a directory of CSV files (see module doc)."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory).expanduser()
        self.name = f"csv:{directory}"
        self._prices: PriceData | None = None
        self._benchmark: pd.Series | None = None
        self._companies: pd.DataFrame | None = None
        self._fundamentals: Fundamentals | None = None

    @property
    def benchmark_name(self) -> str:
        """Name of the benchmark series ("benchmark" when benchmark.csv is absent or bad)."""
        try:
            return str(self._load_benchmark().name)
        except DataError:
            return "benchmark"

    # ------------------------------------------------------------------ PriceSource
    def last_date(self) -> date | None:
        """The last date in prices.csv (parses the file on first use).

        Raises
        ------
        DataFormatError
            When prices.csv is missing or malformed.
        """
        last = pd.Timestamp(self._load_prices().close.index[-1])
        return date(last.year, last.month, last.day)

    def fetch_prices(self, tickers: Sequence[str], start: date, end: date) -> PriceData:
        """Prices for ``tickers`` between ``start`` and ``end`` inclusive.

        Returns
        -------
        PriceData
            ``close`` of shape (n_days, n_kept) and, for the long form, open/high/low/volume.
            Tickers without any price in the window are dropped with a note.

        Raises
        ------
        DataUnavailableError
            Naming tickers absent from prices.csv, or every ticker when none has a price in
            the window.
        DataFormatError
            When prices.csv is missing or malformed.
        """
        data = self._load_prices()
        wanted = normalise_tickers(tickers)
        if not wanted:
            raise DataUnavailableError([], "no tickers requested")
        unknown = [t for t in wanted if t not in data.close.columns]
        if unknown:
            raise DataUnavailableError(unknown, f"not in {self._path('prices')}")
        close = slice_dates(data.close, start, end)[wanted].dropna(how="all")
        empty = [t for t in wanted if not close[t].notna().any()] if len(close) else wanted
        if len(empty) == len(wanted):
            raise DataUnavailableError(wanted, f"no prices between {start} and {end}")
        kept = [t for t in wanted if t not in empty]
        notes = [f"{t}: no prices between {start} and {end}; dropped" for t in empty]
        frames = {
            field: frame.loc[close.index, kept]
            for field in ("open", "high", "low", "volume")
            if (frame := getattr(data, field)) is not None
        }
        return PriceData(close=close[kept], notes=data.notes + tuple(notes), **frames)

    def fetch_benchmark(self, start: date, end: date) -> pd.Series:
        """Benchmark levels between ``start`` and ``end`` from benchmark.csv.

        Raises
        ------
        DataUnavailableError
            ``["benchmark"]`` when benchmark.csv is absent or has no date in the window.
        DataFormatError
            When benchmark.csv is malformed.
        """
        series = self._load_benchmark()
        window = series.loc[pd.Timestamp(start) : pd.Timestamp(end)]
        if window.empty:
            raise DataUnavailableError(
                ["benchmark"], f"no benchmark level between {start} and {end}"
            )
        return window.copy()

    def fetch_companies(self) -> pd.DataFrame:
        """Company table of the tickers in prices.csv (sector NaN without companies.csv).

        Raises
        ------
        DataFormatError
            When companies.csv is malformed, names an unknown sector, repeats a ticker or
            has a dividend yield above 1 (percent instead of a fraction).
        """
        if self._companies is None:
            self._companies = self._read_companies()
        return self._companies.copy()

    def fetch_fundamentals(self) -> Fundamentals:
        """Dated fundamentals: fundamentals.csv when present, else companies.csv's snapshot.

        companies.csv's figures are dated by its ``date`` column; without one they are an
        undated snapshot, which the engine never ranks on. Without either file: none.

        Raises
        ------
        DataFormatError
            When either file is malformed (a bad date, a repeated (date, ticker), a dividend
            yield above 1).
        """
        if self._fundamentals is None:
            self._fundamentals = self._read_fundamentals()
        return self._fundamentals

    # ------------------------------------------------------------------ files
    def _path(self, stem: str) -> Path:
        for name in (f"{stem}.csv", f"{stem}.csv.gz"):
            if (self.directory / name).is_file():
                return self.directory / name
        return self.directory / f"{stem}.csv"

    def _load_prices(self) -> PriceData:
        if self._prices is None:
            path = self._path("prices")
            if not path.is_file():
                raise DataFormatError(str(path), "file not found (prices.csv or prices.csv.gz)")
            raw = _read_csv(path)
            self._prices = _parse_long(raw, path) if "ticker" in raw else _parse_wide(raw, path)
        return self._prices

    def _load_benchmark(self) -> pd.Series:
        if self._benchmark is None:
            path = self._path("benchmark")
            if not path.is_file():
                raise DataUnavailableError(["benchmark"], f"no benchmark.csv in {self.directory}")
            self._benchmark = _parse_benchmark(_read_csv(path), path)
        return self._benchmark

    def _read_fundamentals(self) -> Fundamentals:
        history = self._path("fundamentals")
        if history.is_file():
            raw = _read_csv(history, aliases=_COMPANY_ALIASES)
            for column in ("date", "ticker"):
                if column not in raw:
                    raise DataFormatError(str(history), f"no {column!r} column")
            return Fundamentals.from_rows(_dated_rows(raw, history), history.name)
        path = self._path("companies")
        if not path.is_file():
            return Fundamentals.empty(f"{self.directory.name}: no companies.csv")
        raw = _read_csv(path, aliases=_COMPANY_ALIASES)
        if "ticker" not in raw:
            raise DataFormatError(str(path), "no 'ticker' column")
        return Fundamentals.from_rows(_dated_rows(raw, path), path.name)

    def _read_companies(self) -> pd.DataFrame:
        tickers = self._load_prices().close.columns
        path = self._path("companies")
        if not path.is_file():
            return company_table(pd.DataFrame(index=tickers))
        raw = _read_csv(path, aliases=_COMPANY_ALIASES)
        for column in ("ticker", "sector"):
            if column not in raw:
                raise DataFormatError(str(path), f"no {column!r} column")
        raw["ticker"] = [normalise_ticker(t) for t in raw["ticker"]]
        repeated = raw["ticker"][raw["ticker"].duplicated()].tolist()
        if repeated:
            raise DataFormatError(str(path), f"repeated tickers: {', '.join(repeated[:5])}")
        raw["sector"] = _parse_sectors(raw["sector"], path)
        table = company_table(raw.set_index("ticker"))
        if table["dividend_yield"].gt(1).any():
            worst = table["dividend_yield"].max()
            raise DataFormatError(
                str(path), f"dividend_yield must be a fraction (0.0233 for 2.33%), found {worst}"
            )
        return table.reindex(pd.Index(tickers, name="ticker")).pipe(_fill_names)


# --------------------------------------------------------------------------- parsing
def _dated_rows(raw: pd.DataFrame, path: Path) -> pd.DataFrame:
    """``raw`` with normalised tickers and parsed dates (NaT where ``date`` is absent)."""
    rows = raw.copy()
    rows["ticker"] = [normalise_ticker(t) for t in rows["ticker"]]
    if "date" in rows:
        rows["date"] = _parse_dates(rows["date"], path)
    else:
        rows["date"] = pd.NaT
    return rows


def _column_key(name: object) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(name).strip().lower()).strip("_")


def _read_csv(path: Path, aliases: dict[str, str] | None = None) -> pd.DataFrame:
    """Read a CSV (or .csv.gz) with normalised column names; errors become DataFormatError."""
    try:
        raw = pd.read_csv(path)
    except (ValueError, OSError, EOFError, zlib.error) as exc:
        raise DataFormatError(str(path), f"unreadable CSV: {exc}") from exc
    aliases = _TICKER_ALIASES if aliases is None else aliases
    keys = [_column_key(c) for c in raw.columns]
    raw.columns = pd.Index(
        [
            aliases.get(key, key) if key in _KNOWN_COLUMNS else str(column).strip()
            for key, column in zip(keys, raw.columns, strict=True)
        ]
    )
    if raw.columns.duplicated().any():
        raise DataFormatError(str(path), f"repeated columns: {list(raw.columns)}")
    if raw.empty:
        raise DataFormatError(str(path), "no rows")
    return raw


def _parse_dates(values: pd.Series, path: Path) -> pd.DatetimeIndex:
    dates = pd.to_datetime(values, errors="coerce", format="mixed")
    bad = values[dates.isna()]
    if len(bad):
        raise DataFormatError(str(path), f"{len(bad)} unparsable date(s), e.g. {bad.iloc[0]!r}")
    return pd.DatetimeIndex(dates)


def _parse_numbers(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    numbers = frame.apply(pd.to_numeric, errors="coerce").astype("float64")
    bad = numbers.isna() & frame.notna()
    if bad.to_numpy().any():
        row, col = (int(i[0]) for i in np.nonzero(bad.to_numpy()))
        example = frame.iat[row, col]
        raise DataFormatError(
            str(path), f"non-numeric value {example!r} in column {frame.columns[col]!r}"
        )
    return numbers


def _parse_long(raw: pd.DataFrame, path: Path) -> PriceData:
    if "date" not in raw or not ({"close", "adj_close"} & set(raw.columns)):
        raise DataFormatError(str(path), "long form needs date, ticker and close columns")
    if raw["ticker"].isna().any():
        raise DataFormatError(str(path), "empty ticker cell")
    codes, uniques = pd.factorize(raw["ticker"])
    fields = [f for f in _FIELDS if f in raw]
    frame = _parse_numbers(raw[fields], path)
    frame.index = pd.MultiIndex.from_arrays(
        [_parse_dates(raw["date"], path), np.array([normalise_ticker(u) for u in uniques])[codes]],
        names=["date", "ticker"],
    )
    duplicated = frame.index.duplicated(keep="last")
    notes = (f"{path.name}: {duplicated.sum()} repeated (date, ticker) rows; last kept",)
    wide = frame[~duplicated].unstack("ticker")
    panels = {f: tidy_frame(wide[f]).rename_axis(columns=None) for f in fields}
    close = panels.pop("adj_close", None)
    if close is not None and "close" in panels:
        factor = close / panels.pop("close")
        for field in ("open", "high", "low"):
            if field in panels:
                panels[field] = panels[field] * factor
    kept = list(notes) if duplicated.any() else []
    if close is None:
        kept.append(UNADJUSTED_NOTE.format(name=path.name))
    close = panels.pop("close") if close is None else close
    return PriceData(close=close, notes=tuple(kept), **panels)


def _parse_wide(raw: pd.DataFrame, path: Path) -> PriceData:
    if "date" not in raw:
        raise DataFormatError(str(path), "no 'date' column")
    if "close" in raw or "adj_close" in raw:
        raise DataFormatError(str(path), "a 'close' column without a 'ticker' column")
    values = raw.drop(columns="date")
    if values.shape[1] == 0:
        raise DataFormatError(str(path), "no ticker columns")
    tickers = pd.Index([normalise_ticker(c) for c in values.columns])
    if tickers.duplicated().any():
        raise DataFormatError(str(path), f"repeated tickers: {list(tickers[tickers.duplicated()])}")
    close = _parse_numbers(values, path)
    close.index, close.columns = _parse_dates(raw["date"], path), tickers
    return PriceData(close=tidy_frame(close))


def _parse_benchmark(raw: pd.DataFrame, path: Path) -> pd.Series:
    columns = [c for c in raw.columns if c != "date"]
    generic = [c for c in ("adj_close", "close") if c in columns]
    if "date" not in raw or not (generic or len(columns) == 1):
        raise DataFormatError(str(path), "expected date,close (or one value column)")
    column = generic[0] if generic else columns[0]
    values = _parse_numbers(raw[[column]], path)
    values.index = _parse_dates(raw["date"], path)
    series = tidy_frame(values).iloc[:, 0].dropna()
    return series.rename("benchmark" if generic else str(column))


def _parse_sectors(values: pd.Series, path: Path) -> list[object]:
    sectors: list[object] = []
    unknown: set[str] = set()
    for value in values:
        if pd.isna(value) or not str(value).strip():
            sectors.append(np.nan)
            continue
        try:
            sectors.append(Sector.parse(value).value)
        except UnknownSectorError:
            unknown.add(str(value))
    if unknown:
        known = ", ".join(s.value for s in Sector)
        raise DataFormatError(str(path), f"unknown sector(s) {sorted(unknown)}; known: {known}")
    return sectors


def _fill_names(table: pd.DataFrame) -> pd.DataFrame:
    table = table.copy()
    table["name"] = table["name"].where(table["name"].notna(), table.index.to_series())
    return table
