"""Every portfolio build a user asked for, with its holdings.

* ``portfolios``: one row per build: the profile and resolved settings (JSON), the data's
  ``as_of`` date, source and fetch time, the objective requested and used, the fallback path
  and solver, the risk metrics (JSON), the presentation and the notes shown to the user.
* ``holdings``: one row per (portfolio, ticker): target and achieved weight, shares, price,
  amount. Tickers with a target weight but no shares bought are kept with ``shares = 0``.

Tables: migration ``0101_portfolios_holdings`` in :mod:`storage.migrations`.
:func:`record_from_report` turns a :class:`~smallq.models.Report` and its presentation (as a
JSON document) into the plain :class:`PortfolioRecord` that is stored and read back.

The ``stress`` column holds the presentation as a JSON document, :class:`ViewDocument`: a
serialised :class:`~smallq.presentation.PortfolioView` (``{"schema": "smallq.view/1", ...}``),
or, in rows written before views existed, only the stress summary. Storage keeps and returns
the document as it is; :mod:`bot.services.records` decodes it into the view (and presents
an older row from its columns), so storage imports nothing of the presentation.
"""

from __future__ import annotations

import math
import sqlite3
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

import sqlite_utils

from smallq.errors import StorageError
from smallq.models import Note, Profile, Report
from storage.codec import (
    dumps,
    loads,
    notes_from_json,
    notes_to_json,
    profile_from_dict,
    profile_to_dict,
)
from storage.db import Row, query_all, query_one, transaction, utc_now_iso


@dataclass(frozen=True, slots=True)
class HoldingRecord:
    """One line of a portfolio; weights are fractions, amounts in the profile's currency."""

    ticker: str
    sector: str | None
    target_weight: float
    weight: float
    shares: float
    price: float
    amount: float


@dataclass(frozen=True, slots=True)
class VarRecord:
    """VaR and CVaR as positive loss fractions for one method, confidence and horizon."""

    method: str
    confidence: float
    horizon_days: int
    var: float
    cvar: float


@dataclass(frozen=True, slots=True)
class ViewDocument:
    """A build's presentation as stored: the JSON object of its ``stress`` column.

    ``data["schema"] == "smallq.view/1"`` for a serialised portfolio view; rows stored before
    views existed hold their stress summary (``{"scenarios": [...], "monte_carlo": [...]}``)
    or nothing (``{}``).
    """

    data: dict[str, Any]

    @property
    def schema(self) -> str | None:
        """The document's ``schema`` value; ``None`` for a row stored before views."""
        schema = self.data.get("schema")
        return None if schema is None else str(schema)


@dataclass(frozen=True, slots=True)
class PortfolioRecord:
    """A stored build; ``id``, ``user_id`` and ``created_at`` are set once saved."""

    as_of: date
    source: str
    fetched_at: str | None
    profile: Profile
    settings: dict[str, Any]
    capital: float
    currency: str
    cash_left: float
    fractional: bool
    objective_requested: str
    objective_used: str
    fallbacks: tuple[tuple[str, str], ...]
    solver: str
    metrics: dict[str, Any]
    var: tuple[VarRecord, ...]
    risk_contributions: tuple[tuple[str, float], ...]
    view_document: ViewDocument
    holdings: tuple[HoldingRecord, ...]
    notes: tuple[Note, ...]
    id: int | None = None
    user_id: int | None = None
    created_at: str | None = None

    def var_at(
        self, confidence: float, horizon_days: int = 1, method: str = "historical"
    ) -> VarRecord | None:
        """The stored estimate for one method, confidence and horizon, or ``None``."""
        for item in self.var:
            if (
                item.method == method
                and abs(item.confidence - confidence) < 1e-9
                and item.horizon_days == horizon_days
            ):
                return item
        return None


#: the RiskMetrics fields kept in the ``metrics`` column
METRIC_FIELDS = (
    "expected_return",
    "volatility",
    "sharpe",
    "beta",
    "realized_return",
    "realized_volatility",
    "max_drawdown",
    "effective_holdings",
)


def record_from_report(report: Report, view_document: ViewDocument) -> PortfolioRecord:
    """Plain, storable record of a report and its presentation (pure; nothing is written)."""
    alloc, opt, metrics = report.allocation, report.optimization, report.metrics
    return PortfolioRecord(
        as_of=report.as_of,
        source=report.source,
        fetched_at=report.fetched_at.isoformat() if report.fetched_at else None,
        profile=report.profile,
        settings={k: _plain(v) for k, v in asdict(report.settings).items()},
        capital=float(alloc.capital),
        currency=report.profile.currency,
        cash_left=float(alloc.cash_left),
        fractional=bool(alloc.fractional),
        objective_requested=str(opt.objective_requested.value),
        objective_used=str(opt.objective_used.value),
        fallbacks=tuple((str(s.objective.value), s.reason) for s in opt.fallbacks),
        solver=opt.solver,
        metrics={name: float(getattr(metrics, name)) for name in METRIC_FIELDS},
        var=tuple(
            VarRecord(
                str(v.method.value),
                float(v.confidence),
                int(v.horizon_days),
                float(v.var),
                float(v.cvar),
            )
            for v in metrics.var
        ),
        risk_contributions=tuple((str(t), float(s)) for t, s in metrics.risk_contributions.items()),
        view_document=view_document,
        holdings=_holdings(report),
        notes=tuple(report.notes),
    )


def _holdings(report: Report) -> tuple[HoldingRecord, ...]:
    alloc = report.allocation
    targets = report.optimization.weights
    rows = []
    for ticker, target in targets.items():
        if not target > 0:
            continue
        shares = float(alloc.shares.get(ticker, 0.0))
        rows.append(
            HoldingRecord(
                ticker=str(ticker),
                sector=_opt_str(report.sectors.get(ticker)),
                target_weight=float(target),
                weight=float(alloc.achieved_weights.get(ticker, 0.0)),
                shares=shares,
                price=float(alloc.prices.get(ticker, math.nan)),
                amount=float(alloc.amounts.get(ticker, 0.0)),
            )
        )
    rows.sort(key=lambda h: (-h.target_weight, h.ticker))
    return tuple(rows)


def _opt_str(value: object) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


def _plain(value: object) -> object:
    if hasattr(value, "value"):
        return value.value  # enums
    return float(value) if isinstance(value, float) else value


_COLUMNS = (
    "id, user_id, created_at, as_of, source, fetched_at, profile, settings, capital, currency, "
    "cash_left, fractional, objective_requested, objective_used, fallbacks, solver, metrics, "
    "var, risk_contributions, stress, notes"
)


class PortfolioRepository:
    """Portfolio builds on one connection (use it on the thread that opened it)."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    def add(self, user_id: int, record: PortfolioRecord, *, now: str | None = None) -> int:
        """Store a build and its holdings in one transaction; return the portfolio id.

        The user row must exist (see :meth:`storage.users.UserRepository.touch`).
        """
        stamp = now or utc_now_iso()
        r = record
        try:
            with transaction(self.db):
                cursor = self.db.execute(
                    f"INSERT INTO portfolios ({_COLUMNS.removeprefix('id, ')}) "
                    f"VALUES ({', '.join('?' * 20)})",
                    (
                        user_id,
                        stamp,
                        r.as_of.isoformat(),
                        r.source,
                        r.fetched_at,
                        dumps(profile_to_dict(r.profile)),
                        dumps(r.settings),
                        r.capital,
                        r.currency,
                        r.cash_left,
                        int(r.fractional),
                        r.objective_requested,
                        r.objective_used,
                        dumps(r.fallbacks),
                        r.solver,
                        dumps(r.metrics),
                        dumps([asdict(v) for v in r.var]),
                        dumps(r.risk_contributions),
                        dumps(r.view_document.data),
                        dumps(notes_to_json(r.notes)),
                    ),
                )
                portfolio_id = int(cursor.lastrowid or 0)
                self.db.conn.executemany(
                    "INSERT INTO holdings (portfolio_id, ticker, sector, target_weight, weight, "
                    "shares, price, amount) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (
                            portfolio_id,
                            h.ticker,
                            h.sector,
                            h.target_weight,
                            h.weight,
                            h.shares,
                            h.price if math.isfinite(h.price) else None,
                            h.amount,
                        )
                        for h in r.holdings
                    ],
                )
        except sqlite3.IntegrityError as exc:
            raise StorageError(f"cannot store a portfolio of user {user_id}: {exc}") from exc
        return portfolio_id

    def get(self, portfolio_id: int) -> PortfolioRecord | None:
        """One build by id, or ``None``."""
        row = query_one(self.db, f"SELECT {_COLUMNS} FROM portfolios WHERE id = ?", (portfolio_id,))
        return self._record(row) if row else None

    def owned(self, user_id: int, portfolio_id: int) -> PortfolioRecord | None:
        """One build by id if it belongs to ``user_id`` (the query is scoped), else ``None``."""
        row = query_one(
            self.db,
            f"SELECT {_COLUMNS} FROM portfolios WHERE id = ? AND user_id = ?",
            (portfolio_id, user_id),
        )
        return self._record(row) if row else None

    def latest(self, user_id: int) -> PortfolioRecord | None:
        """The user's most recent build, or ``None``."""
        row = query_one(
            self.db,
            f"SELECT {_COLUMNS} FROM portfolios WHERE user_id = ? ORDER BY id DESC LIMIT 1",
            (user_id,),
        )
        return self._record(row) if row else None

    def list_ids(self, user_id: int, limit: int = 20) -> list[int]:
        """Ids of the user's builds, newest first."""
        rows = query_all(
            self.db,
            "SELECT id FROM portfolios WHERE user_id = ? ORDER BY id DESC LIMIT ?",
            (user_id, limit),
        )
        return [int(r["id"]) for r in rows]

    def count(self, user_id: int | None = None) -> int:
        """Number of stored builds (of one user, or of everyone)."""
        if user_id is None:
            row = query_one(self.db, "SELECT count(*) AS n FROM portfolios")
        else:
            row = query_one(
                self.db, "SELECT count(*) AS n FROM portfolios WHERE user_id = ?", (user_id,)
            )
        return int(row["n"]) if row else 0

    def _record(self, row: Row) -> PortfolioRecord:
        holdings = query_all(
            self.db,
            "SELECT ticker, sector, target_weight, weight, shares, price, amount "
            "FROM holdings WHERE portfolio_id = ? ORDER BY target_weight DESC, ticker",
            (row["id"],),
        )
        parts: dict[str, Any] = dict(
            as_of=date.fromisoformat(row["as_of"]),
            source=row["source"],
            fetched_at=row["fetched_at"],
            profile=profile_from_dict(loads(row["profile"])),
            settings=loads(row["settings"], {}),
            capital=float(row["capital"]),
            currency=row["currency"],
            cash_left=float(row["cash_left"]),
            fractional=bool(row["fractional"]),
            objective_requested=row["objective_requested"],
            objective_used=row["objective_used"],
            fallbacks=tuple((str(a), str(b)) for a, b in loads(row["fallbacks"], [])),
            solver=row["solver"],
            metrics={k: _nan_if_none(v) for k, v in loads(row["metrics"], {}).items()},
            var=tuple(
                VarRecord(**{k: _nan_if_none(v) for k, v in item.items()})
                for item in loads(row["var"], [])
            ),
            risk_contributions=tuple(
                (str(t), _nan_if_none(s)) for t, s in loads(row["risk_contributions"], [])
            ),
            holdings=tuple(
                HoldingRecord(**(h | {"price": _nan_if_none(h["price"])})) for h in holdings
            ),
            notes=notes_from_json(loads(row["notes"], [])),
        )
        stored = loads(row["stress"], {})
        return PortfolioRecord(
            **parts,
            view_document=ViewDocument(stored if isinstance(stored, dict) else {}),
            id=int(row["id"]),
            user_id=int(row["user_id"]),
            created_at=row["created_at"],
        )


def _nan_if_none(value: Any) -> Any:
    return math.nan if value is None else value
