"""Yahoo Finance adapter: the only module that imports yfinance.

``yf.download`` swallows per-ticker errors (a rate limit, an unknown ticker, no network): it
logs them and returns an empty frame or all-NaN columns. This adapter therefore checks every
frame: an entirely empty batch is retried with exponential backoff (as is a raised
``YFRateLimitError`` or network error); tickers still without prices are left out with a note,
and :class:`~smallq.errors.DataUnavailableError` is raised when none has prices. It never
returns silently empty data.

The company table is the S&P 500 list of ``pytickersymbols`` (its industry tags mapped to the
11 GICS sectors) with market cap, trailing P/E, P/B and dividend yield from ``Ticker.info``.
Per-ticker failures leave NaN; they are listed in ``companies.attrs["notes"]``. Those figures
are current: :meth:`YahooSource.fetch_fundamentals` dates them the day they were fetched, so
value and composite rankings work for today and are refused for earlier dates.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
import yfinance as yf
from yfinance.exceptions import YFException, YFRateLimitError

from smallq.data.validation import company_table, normalise_ticker, normalise_tickers, tidy_frame
from smallq.errors import DataFormatError, DataUnavailableError, UnknownSectorError
from smallq.fundamentals import Fundamentals
from smallq.models import PriceData
from smallq.types import ProgressCallback, Sector

DownloadFn = Callable[..., pd.DataFrame | None]
InfoFetcher = Callable[[str], Mapping[str, Any]]
ConstituentsFn = Callable[[], Iterable[Mapping[str, Any]]]

BENCHMARK_TICKER = "^GSPC"
#: yfinance field names by PriceData field. With ``auto_adjust=True`` "Close" is adjusted;
#: "Adj Close" then appears only as the all-NaN placeholder of a failed ticker, so it is used
#: only when there is no "Close" at all.
_FIELDS: dict[str, tuple[str, ...]] = {
    "close": ("Close", "Adj Close"),
    "open": ("Open",),
    "high": ("High",),
    "low": ("Low",),
    "volume": ("Volume",),
}
#: when a stock carries several GICS sector tags, the first in this order wins
_SECTOR_PRIORITY = (
    Sector.HEALTH_CARE,
    Sector.REAL_ESTATE,
    Sector.UTILITIES,
    Sector.CONSUMER_DISCRETIONARY,
    Sector.FINANCIALS,
    Sector.INDUSTRIALS,
    Sector.COMMUNICATION_SERVICES,
    Sector.INFORMATION_TECHNOLOGY,
    Sector.CONSUMER_STAPLES,
    Sector.MATERIALS,
    Sector.ENERGY,
)


class YahooSource:
    """:class:`~smallq.data.base.PriceSource` over Yahoo Finance (network).

    Parameters
    ----------
    download : callable, optional
        Stand-in for ``yf.download`` (tests pass yfinance-shaped frames through it).
    sleep : callable
        Called with the backoff in seconds between retries.
    max_retries : int
        Retries after the first attempt (so up to ``max_retries + 1`` calls per batch).
    backoff_s : float
        First backoff; it doubles on every retry.
    batch_size : int
        Tickers per ``yf.download`` call.
    info_fetcher : callable, optional
        ``ticker -> info mapping``; defaults to ``yf.Ticker(ticker).info``.
    constituents : callable, optional
        Returns the S&P 500 stock records; defaults to pytickersymbols.
    info_workers : int
        Threads fetching ``Ticker.info``.
    today : callable
        Returns today's date (the date of the fundamentals fetched now).
    """

    name = "yahoo"
    benchmark_name = "SP500"

    def __init__(
        self,
        *,
        download: DownloadFn | None = None,
        sleep: Callable[[float], None] = time.sleep,
        max_retries: int = 4,
        backoff_s: float = 2.0,
        batch_size: int = 50,
        info_fetcher: InfoFetcher | None = None,
        constituents: ConstituentsFn | None = None,
        info_workers: int = 8,
        today: Callable[[], date] = date.today,
    ) -> None:
        self._download = download or yf.download
        self._sleep = sleep
        self._max_retries = max_retries
        self._backoff_s = backoff_s
        self._batch_size = max(1, batch_size)
        self._info_fetcher = info_fetcher or _yahoo_info
        self._constituents = constituents or _sp500_constituents
        self._info_workers = max(1, info_workers)
        self._today = today
        self._last_companies: tuple[pd.DataFrame, date] | None = None

    # ------------------------------------------------------------------ PriceSource
    def last_date(self) -> date | None:
        """None: a live source has data up to today."""
        return None

    def fetch_prices(self, tickers: Sequence[str], start: date, end: date) -> PriceData:
        """Adjusted daily prices from Yahoo between ``start`` and ``end`` inclusive.

        Returns
        -------
        PriceData
            ``close`` (adjusted) and adjusted open/high/low plus volume, shape
            (n_days, n_found); tickers Yahoo returned nothing for are named in ``notes``.

        Raises
        ------
        DataUnavailableError
            When no requested ticker has prices (Yahoo unreachable, rate limited, unknown).
        DataFormatError
            When Yahoo's frame has an unexpected column layout.
        """
        wanted = normalise_tickers(tickers)
        if not wanted:
            raise DataUnavailableError([], "no tickers requested")
        panels: dict[str, list[pd.DataFrame]] = {field: [] for field in _FIELDS}
        problems: list[str] = []
        for offset in range(0, len(wanted), self._batch_size):
            batch_panels, problem = self._download_batch(
                wanted[offset : offset + self._batch_size], start, end
            )
            for field, frame in batch_panels.items():
                panels[field].append(frame)
            problems += [problem] if problem else []
            if offset == 0 and not batch_panels:
                break  # the first batch got nothing after every retry: Yahoo is unreachable
        close = _combine(panels["close"], start, end)
        missing = [t for t in wanted if t not in close or not close[t].notna().any()]
        if len(missing) == len(wanted):
            raise DataUnavailableError(
                wanted,
                "; ".join(dict.fromkeys(problems)) or "Yahoo returned no prices",
                retryable=True,
            )
        found = [t for t in wanted if t not in missing]
        close = close[found].dropna(how="all")
        others = {
            field: _combine(frames, start, end).reindex(index=close.index, columns=found)
            for field, frames in panels.items()
            if field != "close" and frames
        }
        notes = (f"Yahoo Finance returned no prices for {', '.join(missing)}; left out",)
        return PriceData(close=close, notes=notes if missing else (), **others)

    def fetch_benchmark(self, start: date, end: date) -> pd.Series:
        """The S&P 500 price index (^GSPC) between ``start`` and ``end``, named "SP500".

        Raises
        ------
        DataUnavailableError
            When Yahoo returned no level for ^GSPC.
        """
        panels, problem = self._download_batch([BENCHMARK_TICKER], start, end)
        close = _combine([panels["close"]] if "close" in panels else [], start, end)
        if BENCHMARK_TICKER not in close or not close[BENCHMARK_TICKER].notna().any():
            raise DataUnavailableError(
                [BENCHMARK_TICKER], problem or "Yahoo returned no levels", retryable=True
            )
        return close[BENCHMARK_TICKER].dropna().rename(self.benchmark_name)

    def fetch_companies(self, *, on_progress: ProgressCallback | None = None) -> pd.DataFrame:
        """S&P 500 company table with sectors and Yahoo fundamentals.

        Parameters
        ----------
        on_progress : callable ``(done, total) -> None``, optional
            Called as each stock's fundamentals arrive (about 500 requests).

        Returns
        -------
        DataFrame indexed by ticker
            :data:`~smallq.models.COMPANY_COLUMNS`; ``attrs["notes"]`` lists the tickers
            whose fundamentals could not be fetched (their numeric columns are NaN).

        Raises
        ------
        DataUnavailableError
            When the constituent list is empty, or Yahoo answered for none of the stocks
            (offline): a cached table is then kept rather than replaced by an empty one.
        """
        records = [
            {
                "ticker": normalise_ticker(stock["symbol"]),
                "name": stock.get("name") or stock["symbol"],
                "sector": sector_from_industries(stock.get("industries") or ()),
            }
            for stock in self._constituents()
        ]
        if not records:
            raise DataUnavailableError(["S&P 500 constituents"], "empty list", retryable=True)
        rows = pd.DataFrame(records).drop_duplicates("ticker").set_index("ticker")
        with ThreadPoolExecutor(max_workers=self._info_workers) as pool:
            results = []
            for result in pool.map(self._fundamentals, rows.index):
                results.append(result)
                if on_progress is not None:
                    on_progress(len(results), len(rows))
        for column in ("market_cap", "pe", "pb", "dividend_yield"):
            rows[column] = [values.get(column, np.nan) for values, _ in results]
        failed = [t for t, (_, problem) in zip(rows.index, results, strict=True) if problem]
        if len(failed) == len(rows):
            raise DataUnavailableError(
                ["the S&P 500 companies"],
                f"Yahoo Finance answered for none of the {len(rows)} stocks",
                retryable=True,
                what="market caps and fundamentals",
            )
        table = company_table(rows)
        if failed:
            shown = ", ".join(failed[:10]) + (" …" if len(failed) > 10 else "")
            table.attrs["notes"] = (
                f"No fundamentals from Yahoo for {len(failed)} stocks ({shown})",
            )
        self._last_companies = (table, self._today())
        return table

    def fetch_fundamentals(self) -> Fundamentals:
        """Today's Yahoo fundamentals, dated today (the company table fetched today is reused).

        Raises
        ------
        DataUnavailableError
            As :meth:`fetch_companies`.
        """
        last = self._last_companies
        if last is None or last[1] != self._today():
            taken_on = self._today()
            table = self.fetch_companies()
        else:
            table, taken_on = last
        return Fundamentals.from_snapshot(table, taken_on, "Yahoo Finance")

    # ------------------------------------------------------------------ internals
    def _download_batch(
        self, batch: list[str], start: date, end: date
    ) -> tuple[dict[str, pd.DataFrame], str]:
        """Download one batch, retrying empty answers; return panels and the last problem."""
        problem = ""
        for attempt in range(self._max_retries + 1):
            if attempt:
                self._sleep(self._backoff_s * 2 ** (attempt - 1))
            try:
                raw = self._download(
                    batch,
                    start=start.isoformat(),
                    end=(end + timedelta(days=1)).isoformat(),  # yfinance's end is exclusive
                    auto_adjust=True,
                    group_by="column",
                    progress=False,
                    threads=True,
                )
            except YFRateLimitError:
                problem = "rate limited by Yahoo Finance"
                continue
            except (YFException, OSError) as exc:
                problem = f"Yahoo Finance download failed: {exc}"
                continue
            panels = yahoo_panels(raw, batch)
            if "close" in panels and panels["close"].notna().any().any():
                return panels, ""
            problem = "Yahoo Finance returned an empty frame"
        return {}, f"{problem} (after {self._max_retries + 1} attempts)"

    def _fundamentals(self, ticker: str) -> tuple[dict[str, float], str]:
        """Fundamentals of one ticker and a problem description ("" when fine)."""
        problem = ""
        for attempt in range(self._max_retries + 1):
            if attempt:
                self._sleep(self._backoff_s * 2 ** (attempt - 1))
            try:
                info = self._info_fetcher(ticker)
            except YFRateLimitError:
                problem = "rate limited"
                continue
            except Exception as exc:  # any per-ticker failure leaves NaN, reported in notes
                return {}, f"{type(exc).__name__}: {exc}"
            values = fundamentals_from_info(info)
            return values, "" if np.isfinite(values["market_cap"]) else "no market cap"
        return {}, problem


# --------------------------------------------------------------------------- frame shapes
def yahoo_panels(raw: pd.DataFrame | None, batch: Sequence[str]) -> dict[str, pd.DataFrame]:
    """Split a ``yf.download`` frame into one (dates x tickers) frame per PriceData field.

    Handles MultiIndex columns with the field level first (``group_by="column"``) or second
    (``group_by="ticker"``), and the flat columns of a single-ticker download.

    Raises
    ------
    DataFormatError
        For flat columns with several tickers, or no recognisable price field.
    """
    if raw is None or raw.empty:
        return {}
    panels: dict[str, pd.DataFrame] = {}
    columns = raw.columns
    for field, names in _FIELDS.items():
        name = next((n for n in names if _has_field(columns, n)), None)
        if name is None:
            continue
        if isinstance(columns, pd.MultiIndex):
            level = next(i for i in range(columns.nlevels) if name in columns.get_level_values(i))
            frame = raw.xs(name, axis=1, level=level)
        elif len(batch) == 1:
            frame = raw[[name]].set_axis([batch[0]], axis=1)
        else:
            raise DataFormatError("yahoo", f"flat columns {list(columns)[:6]} for {len(batch)}")
        frame = frame.loc[:, ~frame.columns.duplicated()]
        frame.columns = pd.Index([normalise_ticker(c) for c in frame.columns])
        panels[field] = tidy_frame(frame.apply(pd.to_numeric, errors="coerce"))
    if "close" not in panels:
        raise DataFormatError("yahoo", f"no Close column in {list(columns)[:6]}")
    return panels


def _has_field(columns: pd.Index, name: str) -> bool:
    if isinstance(columns, pd.MultiIndex):
        return any(name in columns.get_level_values(i) for i in range(columns.nlevels))
    return name in columns


def _combine(frames: list[pd.DataFrame], start: date, end: date) -> pd.DataFrame:
    if not frames:
        return pd.DataFrame(index=pd.DatetimeIndex([], name="date").as_unit("us"))
    combined = pd.concat(frames, axis=1).sort_index()
    combined = combined.loc[:, ~combined.columns.duplicated()]
    return combined.loc[pd.Timestamp(start) : pd.Timestamp(end)]


# --------------------------------------------------------------------------- companies
def sector_from_industries(industries: Iterable[str]) -> str | float:
    """The GICS sector among pytickersymbols' industry tags (NaN when none resolves).

    Tags that spell a sector exactly win over tags resolved through an alias ("Retail",
    "Technology"); among several, the order of ``_SECTOR_PRIORITY`` decides (a utility also
    tagged Energy is a utility; a REIT also tagged Financials is Real Estate).
    """
    tags = [str(tag) for tag in industries]
    exact = {sector for sector in Sector if sector.value in tags}
    found = exact or {sector for tag in tags if (sector := _parse_sector(tag)) is not None}
    for sector in _SECTOR_PRIORITY:
        if sector in found:
            return sector.value
    return np.nan


def _parse_sector(tag: str) -> Sector | None:
    try:
        return Sector.parse(tag)
    except UnknownSectorError:  # most tags are industries, not sectors
        return None


def fundamentals_from_info(info: Mapping[str, Any]) -> dict[str, float]:
    """Market cap (USD), trailing P/E, P/B and dividend yield (fraction) from ``Ticker.info``.

    The yield is ``dividendRate / price`` when both exist, else ``dividendYield / 100``
    (Yahoo reports that field in percent), else 0 for a stock with a market cap but no
    dividend fields (Yahoo omits them for non-payers), else NaN.
    """
    market_cap = _number(info.get("marketCap"))
    rate = _number(info.get("dividendRate"))
    price = _number(
        info.get("currentPrice") or info.get("regularMarketPrice") or info.get("previousClose")
    )
    if np.isfinite(rate) and np.isfinite(price) and price > 0:
        dividend_yield = rate / price
    elif np.isfinite(_number(info.get("dividendYield"))):
        dividend_yield = _number(info.get("dividendYield")) / 100.0
    else:
        dividend_yield = 0.0 if np.isfinite(market_cap) else np.nan
    return {
        "market_cap": market_cap,
        "pe": _number(info.get("trailingPE")),
        "pb": _number(info.get("priceToBook")),
        "dividend_yield": dividend_yield,
    }


def _number(value: object) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return np.nan
    return number if np.isfinite(number) else np.nan


def _yahoo_info(ticker: str) -> Mapping[str, Any]:
    info: Mapping[str, Any] = yf.Ticker(ticker).info
    return info


def _sp500_constituents() -> list[Mapping[str, Any]]:
    from pytickersymbols import PyTickerSymbols

    return list(PyTickerSymbols().get_stocks_by_index("S&P 500"))
