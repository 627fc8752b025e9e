"""Dated fundamentals and the point-in-time rule: a decision at date D sees none dated after D.

:class:`Fundamentals` holds P/E, P/B, dividend yield and market cap as dated rows, one row per
(date, ticker): a history (``fundamentals.csv``) or a snapshot whose rows all carry the day it
was taken (the sample's ``sample_companies.csv``, a CSV ``companies.csv`` with a ``date``
column, Yahoo's figures on the day they were fetched). An undated snapshot has no date (NaT):
it may be later than any decision, so it is never used.

:meth:`Fundamentals.as_of` is the only way the engine reads them: per ticker, the latest row
dated on or before D. A row is taken whole: a blank P/E in the latest row (negative earnings)
means "no meaningful P/E now", not "the P/E of an earlier row".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from smallq.errors import DataFormatError

#: the numeric columns of a fundamentals row (``dividend_yield`` is a fraction; cap in USD)
FUNDAMENTAL_COLUMNS: tuple[str, ...] = ("market_cap", "pe", "pb", "dividend_yield")
_COLUMNS = ("date", "ticker", *FUNDAMENTAL_COLUMNS)


@dataclass(frozen=True, slots=True)
class Fundamentals:
    """Dated fundamentals of a source.

    Attributes
    ----------
    history : DataFrame of shape (n_rows, 6)
        Columns ``date`` (datetime64, NaT for an undated snapshot), ``ticker``,
        :data:`FUNDAMENTAL_COLUMNS` (float, NaN when unknown); sorted by date, then ticker;
        at most one row per (date, ticker). Build with :meth:`from_rows` or
        :meth:`from_snapshot`, which validate.
    origin : str
        Where the rows come from, for messages ("companies.csv", "Yahoo Finance", ...).
    """

    history: pd.DataFrame
    origin: str

    @classmethod
    def from_rows(cls, rows: pd.DataFrame, origin: str) -> Fundamentals:
        """Validate dated rows (``date``, ``ticker`` and any of :data:`FUNDAMENTAL_COLUMNS`).

        Parameters
        ----------
        rows : DataFrame of shape (n_rows, k)
            Dates as anything ``pd.to_datetime`` reads (NaT allowed: undated); tickers already
            normalised by the adapter. Not modified.
        origin : str

        Returns
        -------
        Fundamentals

        Raises
        ------
        DataFormatError
            Without ``date`` or ``ticker`` columns, with a repeated (date, ticker), or with a
            dividend yield above 1 (a percentage instead of a fraction).
        """
        for column in ("date", "ticker"):
            if column not in rows.columns:
                raise DataFormatError(origin, f"fundamentals need a {column!r} column")
        table = pd.DataFrame(
            {
                "date": pd.to_datetime(rows["date"]).dt.normalize().astype("datetime64[us]"),
                "ticker": rows["ticker"].astype(str).to_numpy(),
            }
        )
        for column in FUNDAMENTAL_COLUMNS:
            values = rows[column] if column in rows.columns else np.nan
            table[column] = pd.to_numeric(values, errors="coerce")
        table[list(FUNDAMENTAL_COLUMNS)] = (
            table[list(FUNDAMENTAL_COLUMNS)].astype("float64").replace([np.inf, -np.inf], np.nan)
        )
        repeated = table[table.duplicated(["date", "ticker"])]
        if len(repeated):
            first = repeated.iloc[0]
            raise DataFormatError(origin, f"repeated row for {first['ticker']} on {first['date']}")
        if table["dividend_yield"].gt(1).any():
            worst = table["dividend_yield"].max()
            raise DataFormatError(
                origin, f"dividend_yield must be a fraction (0.0233 for 2.33%), found {worst}"
            )
        table = table.sort_values(["date", "ticker"], kind="mergesort", na_position="last")
        return cls(table.reset_index(drop=True), origin)

    @classmethod
    def from_snapshot(
        cls, companies: pd.DataFrame, taken_on: date | None, origin: str
    ) -> Fundamentals:
        """The fundamentals of a company table taken on one day (``None``: undated).

        Parameters
        ----------
        companies : DataFrame indexed by ticker
            Any of :data:`FUNDAMENTAL_COLUMNS`; other columns are ignored.
        taken_on : date or None
            The day the figures were taken; ``None`` when nobody knows (never used then).
        origin : str
        """
        rows = companies.reindex(columns=list(FUNDAMENTAL_COLUMNS)).copy()
        rows.insert(0, "ticker", [str(t) for t in companies.index])
        rows.insert(0, "date", pd.Timestamp(taken_on) if taken_on is not None else pd.NaT)
        return cls.from_rows(rows.reset_index(drop=True), origin)

    @classmethod
    def empty(cls, origin: str) -> Fundamentals:
        """No fundamentals at all (a source without them)."""
        return cls.from_rows(pd.DataFrame(columns=list(_COLUMNS)), origin)

    # ------------------------------------------------------------------ reading
    def as_of(self, when: date) -> pd.DataFrame:
        """Per ticker, the latest row dated on or before ``when``.

        Returns
        -------
        DataFrame of shape (n_tickers_known, 5)
            Indexed by ``ticker``; columns ``date`` and :data:`FUNDAMENTAL_COLUMNS`. Tickers
            with no row dated on or before ``when`` are absent.
        """
        known = self.history[self.history["date"].le(pd.Timestamp(when))]
        latest = known.drop_duplicates("ticker", keep="last").set_index("ticker")
        return latest.loc[:, ["date", *FUNDAMENTAL_COLUMNS]]

    @property
    def first_date(self) -> date | None:
        """The earliest dated row (None when there is none)."""
        dates = self.history["date"].dropna()
        return None if dates.empty else pd.Timestamp(dates.iloc[0]).date()

    @property
    def is_empty(self) -> bool:
        """True when there is no row with any figure."""
        return bool(self.history[list(FUNDAMENTAL_COLUMNS)].isna().all(axis=None))

    def describe(self) -> str:
        """Say in a few words what these fundamentals are ("a snapshot dated 2018-02-08 ...")."""
        dates = self.history["date"]
        if self.is_empty:
            return f"no fundamentals ({self.origin})"
        if dates.isna().all():
            return f"an undated snapshot ({self.origin})"
        first, last = dates.min(), dates.max()
        if first == last:
            return f"a snapshot dated {first:%Y-%m-%d} ({self.origin})"
        return f"a history from {first:%Y-%m-%d} to {last:%Y-%m-%d} ({self.origin})"
