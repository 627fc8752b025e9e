"""SQLite price cache: the ``storage`` side of :class:`smallq.data.base.PriceCache`.

Tables (migration ``0001_price_cache`` in :mod:`storage.migrations`):

* ``prices(source, ticker, date, close, open, high, low, volume)``, primary key
  (source, ticker, date); ``date`` is ISO ``YYYY-MM-DD``; only rows with a close are stored.
* ``series(source, ticker, fetched_at, first_date, last_date)``, primary key (source, ticker):
  when the series was fetched (ISO 8601, UTC) and which dates the fetch covered.

Saving a ticker replaces its whole cached series (rows and coverage) in one transaction:
adjusted closes change after every dividend, so rows fetched at different times are never
mixed. The covered range is the saved frame's first and last index date, so a caller can pass
a frame reindexed to the requested ``[start, end]`` to record that a weekend or a not-yet-listed
stock was asked for.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime
from itertools import repeat

import numpy as np
import pandas as pd
import sqlite_utils

from smallq.models import PriceData
from storage.db import query_all, transaction

_FIELDS = ("close", "open", "high", "low", "volume")
_CHUNK = 500


class SqlitePriceCache:
    """Price cache over one sqlite-utils ``Database`` (use it from one thread only).

    Parameters
    ----------
    db : sqlite_utils.Database
        A connection from :func:`storage.db.connect` (migrations applied).
    """

    def __init__(self, db: sqlite_utils.Database) -> None:
        self._db = db

    def load(
        self, source: str, tickers: Sequence[str], start: date, end: date
    ) -> tuple[PriceData, dict[str, datetime]]:
        """Cached series of ``tickers`` whose recorded coverage includes ``[start, end]``.

        Returns
        -------
        PriceData
            ``close`` of shape (n_days, n_found) between ``start`` and ``end`` for the covered
            tickers that have rows there; open/high/low/volume when any is stored.
        dict of str to datetime
            For every covered ticker (even one with no row in the window), when it was
            fetched (UTC).

        Raises
        ------
        StorageError
            When the database cannot be read.
        """
        first, last = start.isoformat(), end.isoformat()
        covered: dict[str, datetime] = {}
        for chunk in _chunks(list(dict.fromkeys(tickers))):
            marks = ",".join("?" * len(chunk))
            rows = query_all(
                self._db,
                f"SELECT ticker, fetched_at FROM series WHERE source = ? AND ticker IN ({marks})"
                " AND first_date <= ? AND last_date >= ?",
                [source, *chunk, first, last],
            )
            covered |= {row["ticker"]: _parse_time(row["fetched_at"]) for row in rows}
        frames: list[pd.DataFrame] = []
        for chunk in _chunks(list(covered)):
            marks = ",".join("?" * len(chunk))
            cursor = self._db.execute(
                f"SELECT ticker, date, {', '.join(_FIELDS)} FROM prices WHERE source = ?"
                f" AND ticker IN ({marks}) AND date >= ? AND date <= ?",
                [source, *chunk, first, last],
            )
            # many rows: columns are named from the cursor, not assumed by position
            names = [column[0] for column in cursor.description]
            frames.append(pd.DataFrame.from_records(cursor.fetchall(), columns=names))
        order = [t for t in tickers if t in covered]
        return _to_price_data(frames, order), covered

    def save(self, source: str, data: PriceData, fetched_at: datetime) -> None:
        """Replace the cached series of every ticker in ``data.close``, in one transaction.

        Raises
        ------
        DatabaseLockedError
            When another writer holds the database past the busy timeout; nothing is written.
        StorageError
            For any other database failure.
        """
        close = data.close
        if close.shape[1] == 0 or close.shape[0] == 0:
            return
        dates = pd.DatetimeIndex(close.index)
        first, last = f"{dates.min():%Y-%m-%d}", f"{dates.max():%Y-%m-%d}"
        stamp = _format_time(fetched_at)
        tickers = [str(t) for t in close.columns]
        rows = _to_rows(source, data)
        columns = ", ".join(("source", "ticker", "date", *_FIELDS))
        with transaction(self._db) as db:
            for chunk in _chunks(tickers):
                marks = ",".join("?" * len(chunk))
                db.execute(
                    f"DELETE FROM prices WHERE source = ? AND ticker IN ({marks})", [source, *chunk]
                )
            db.conn.executemany(
                f"INSERT INTO prices ({columns}) VALUES ({','.join('?' * (3 + len(_FIELDS)))})",
                rows,
            )
            db.conn.executemany(
                "INSERT INTO series (source, ticker, fetched_at, first_date, last_date)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (source, ticker) DO UPDATE SET"
                " fetched_at = excluded.fetched_at, first_date = excluded.first_date,"
                " last_date = excluded.last_date",
                [(source, ticker, stamp, first, last) for ticker in tickers],
            )


def _to_rows(source: str, data: PriceData) -> list[tuple[object, ...]]:
    """(source, ticker, date, close, open, high, low, volume) for every non-NaN close.

    Rows come in primary-key order (ticker, then date), which SQLite inserts fastest.
    SQLite stores a bound NaN as NULL, so the float columns go in as they are.
    """
    close = data.close
    names = np.array([str(c) for c in close.columns], dtype=object)
    rows, cols = np.nonzero(close.notna().to_numpy())
    order = np.lexsort((rows, np.argsort(np.argsort(names))[cols]))  # primary-key order
    rows, cols = rows[order], cols[order]
    days = pd.DatetimeIndex(close.index).strftime("%Y-%m-%d").to_numpy()[rows].tolist()
    tickers = names[cols].tolist()
    values = [close.to_numpy(dtype="float64")[rows, cols].tolist()]
    for field in _FIELDS[1:]:
        panel = getattr(data, field)
        if panel is None:
            values.append([None] * len(rows))
            continue
        aligned = panel.reindex(index=close.index, columns=close.columns).to_numpy(dtype="float64")
        values.append(aligned[rows, cols].tolist())
    return list(zip(repeat(source), tickers, days, *values, strict=False))


def _to_price_data(frames: list[pd.DataFrame], order: list[str]) -> PriceData:
    frames = [f for f in frames if len(f)]
    if not frames:
        empty = pd.DataFrame(index=pd.DatetimeIndex([], name="date").as_unit("us"))
        return PriceData(close=empty)
    frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    frame["date"] = pd.to_datetime(frame["date"], format="%Y-%m-%d").astype("datetime64[us]")
    wide = frame.set_index(["date", "ticker"]).astype("float64").unstack("ticker")
    stored = set(frame["ticker"].unique())
    present = [t for t in order if t in stored]
    panels = {f: wide[f].reindex(columns=present).rename_axis(columns=None) for f in _FIELDS}
    kept = {f: (p if p.notna().to_numpy().any() else None) for f, p in panels.items()}
    return PriceData(
        close=panels["close"],
        open=kept["open"],
        high=kept["high"],
        low=kept["low"],
        volume=kept["volume"],
    )


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for offset in range(0, len(items), _CHUNK):
        yield items[offset : offset + _CHUNK]


def _format_time(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
