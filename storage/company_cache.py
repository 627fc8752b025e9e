"""SQLite cache of a source's company table (the S&P 500 list with sectors and fundamentals).

Table (migration ``0002_company_cache`` in :mod:`storage.migrations`): ``companies(source,
ticker, name, sector, market_cap, pe, pb, dividend_yield, fetched_at)``, primary key (source,
ticker). Saving replaces a source's whole table in one transaction, so a refresh is
all-or-nothing.
"""

from __future__ import annotations

import math
from datetime import datetime

import pandas as pd
import sqlite_utils

from smallq.models import COMPANY_COLUMNS
from storage.db import transaction


class SqliteCompanyCache:
    """Company tables by source over one connection (use it from one thread only)."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self._db = db

    def load(self, source: str) -> tuple[pd.DataFrame, datetime] | None:
        """The cached table (indexed by ticker) and when it was fetched, or None."""
        rows = list(self._db["companies"].rows_where("source = ?", [source], order_by="ticker"))
        if not rows:
            return None
        table = pd.DataFrame(rows).set_index("ticker")
        fetched_at = min(datetime.fromisoformat(r) for r in table["fetched_at"])
        table = table.loc[:, list(COMPANY_COLUMNS)]
        for column in COMPANY_COLUMNS[2:]:
            table[column] = pd.to_numeric(table[column], errors="coerce").astype("float64")
        return table, fetched_at

    def save(self, source: str, table: pd.DataFrame, fetched_at: datetime) -> None:
        """Replace the cached table of ``source`` in one transaction."""
        stamp = fetched_at.isoformat(timespec="seconds")
        records = [
            {
                "source": source,
                "ticker": str(ticker),
                "fetched_at": stamp,
                **{c: _clean(row.get(c)) for c in COMPANY_COLUMNS},
            }
            for ticker, row in table.iterrows()
        ]
        with transaction(self._db):
            self._db.execute("DELETE FROM companies WHERE source = ?", [source])
            self._db["companies"].insert_all(records)  # type: ignore[union-attr]


def _clean(value: object) -> object:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value
