"""Paper trading: each user's holdings, the trade log and pending rebalance plans.

* ``paper_accounts``: one row per user: cash, currency, the portfolio accepted last and a
  ``version`` that grows with every change (a plan made on an older version is stale).
* ``paper_positions``: whole shares per (user, ticker); zero rows are deleted.
* ``paper_trades``: the log: trade date, ticker, side, shares, price, fee, reference
  (``"accept:<portfolio id>"`` or ``"plan:<plan id>"``).
* ``rebalance_plans``: signals waiting for Apply/Skip, addressed by a random token that the
  button's callback data carries; a plan is applied at most once, by its owner only.

Every change is one ``BEGIN IMMEDIATE`` transaction: trades, positions, cash and the plan
status move together or not at all. Tables: migration ``0200_paper_ledger`` in
:mod:`storage.migrations`. Tables reference ``users(id) ON DELETE CASCADE``.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

import pandas as pd
import sqlite_utils

from smallq.errors import StorageError
from smallq.models import Order, RebalancePlan
from smallq.types import PlanOutcome, Side
from storage.db import Row, query_all, query_one, transaction, utc_now_iso


@dataclass(frozen=True, slots=True)
class PaperAccount:
    """A user's paper holdings."""

    user_id: int
    cash: float
    currency: str
    positions: tuple[tuple[str, int], ...]
    version: int
    portfolio_id: int | None
    updated_at: str

    @property
    def shares(self) -> pd.Series:
        """Share counts by ticker (int)."""
        return pd.Series(dict(self.positions), dtype="int64")


@dataclass(frozen=True, slots=True)
class TradeRecord:
    """One paper trade."""

    id: int
    user_id: int
    trade_date: date
    ticker: str
    side: Side
    shares: int
    price: float
    fee: float
    reference: str
    created_at: str


class PlanStatus(StrEnum):
    """Life of a stored rebalance plan."""

    PENDING = "pending"
    APPLIED = "applied"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class StoredPlan:
    """A plan as stored: its orders and figures."""

    id: str
    user_id: int
    status: PlanStatus
    base_version: int
    orders: tuple[Order, ...]
    drift: float
    drift_after: float
    fees: float
    turnover: float
    cash_after: float
    trade_date: date
    created_at: str
    expires_at: str


class LedgerRepository:
    """Paper accounts, trades and plans on one connection."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    # ------------------------------------------------------------------ reads
    def account(self, user_id: int) -> PaperAccount | None:
        """The user's paper account, or ``None`` before the first accepted portfolio."""
        row = query_one(
            self.db,
            "SELECT user_id, cash, currency, version, portfolio_id, updated_at "
            "FROM paper_accounts WHERE user_id = ?",
            (user_id,),
        )
        if row is None:
            return None
        positions = query_all(
            self.db,
            "SELECT ticker, shares FROM paper_positions WHERE user_id = ? ORDER BY ticker",
            (user_id,),
        )
        return account_from_row(row, ((p["ticker"], p["shares"]) for p in positions))

    def trades(self, user_id: int, limit: int = 20) -> list[TradeRecord]:
        """The user's latest trades, newest first."""
        rows = query_all(
            self.db,
            "SELECT id, user_id, trade_date, ticker, side, shares, price, fee, reference, "
            "created_at FROM paper_trades WHERE user_id = ? ORDER BY id DESC LIMIT ?",
            (user_id, limit),
        )
        return [
            TradeRecord(
                **(r | {"trade_date": date.fromisoformat(r["trade_date"]), "side": Side(r["side"])})
            )
            for r in rows
        ]

    # ------------------------------------------------------------------ writes
    def record_trades(
        self,
        user_id: int,
        orders: tuple[Order, ...] | list[Order],
        *,
        trade_date: date,
        reference: str,
        opening_cash: float | None = None,
        currency: str = "USD",
        portfolio_id: int | None = None,
        expected_version: int | None = None,
        once: bool = False,
        now: str | None = None,
    ) -> PaperAccount | None:
        """Record orders as paper trades and update positions and cash in one transaction.

        ``opening_cash`` funds a new account (required when the user has none). Cash moves
        by ``value - fee`` for sells and ``-(value + fee)`` for buys. With ``once``, nothing
        happens (and ``None`` is returned) when trades with ``reference`` already exist.

        Raises
        ------
        StorageError
            No account and no ``opening_cash``; the account changed since
            ``expected_version``; or the orders would sell shares not held or overdraw cash.
        """
        with transaction(self.db):
            if once and self.has_reference(user_id, reference):
                return None
            self._write(
                user_id,
                list(orders),
                trade_date,
                reference,
                opening_cash,
                currency,
                portfolio_id,
                expected_version,
                now or utc_now_iso(),
            )
        return self.account(user_id)

    def has_reference(self, user_id: int, reference: str) -> bool:
        """Whether trades with ``reference`` were recorded for the user."""
        row = query_one(
            self.db,
            "SELECT id FROM paper_trades WHERE user_id = ? AND reference = ? LIMIT 1",
            (user_id, reference),
        )
        return row is not None

    def _write(
        self,
        user_id: int,
        orders: list[Order],
        trade_date: date,
        reference: str,
        opening_cash: float | None,
        currency: str,
        portfolio_id: int | None,
        expected_version: int | None,
        stamp: str,
    ) -> None:
        current = self.account(user_id)
        if current is None and opening_cash is None:
            raise StorageError(f"user {user_id} has no paper account to trade in")
        if current is not None and expected_version not in (None, current.version):
            raise StorageError(f"paper account of {user_id} changed (version {current.version})")
        cash = current.cash if current else float(opening_cash or 0.0)
        shares = dict(current.positions) if current else {}
        for order in orders:
            sign = 1 if order.side is Side.BUY else -1
            shares[order.ticker] = shares.get(order.ticker, 0) + sign * order.shares
            cash += -sign * order.value - order.fee
            if shares[order.ticker] < 0:
                raise StorageError(f"selling {order.shares} {order.ticker} not held")
        if cash < -1e-6:
            raise StorageError(f"trades would overdraw the paper account by {-cash:.2f}")
        self.db.execute(
            "INSERT INTO paper_accounts (user_id, cash, currency, version, portfolio_id, "
            "updated_at) VALUES (?, ?, ?, 1, ?, ?) ON CONFLICT(user_id) DO UPDATE SET "
            "cash = excluded.cash, version = version + 1, updated_at = excluded.updated_at, "
            "portfolio_id = coalesce(excluded.portfolio_id, portfolio_id)",
            (user_id, max(cash, 0.0), currency, portfolio_id, stamp),
        )
        self.db.execute("DELETE FROM paper_positions WHERE user_id = ?", (user_id,))
        self.db.conn.executemany(
            "INSERT INTO paper_positions (user_id, ticker, shares) VALUES (?, ?, ?)",
            [(user_id, t, n) for t, n in shares.items() if n > 0],
        )
        self.db.conn.executemany(
            "INSERT INTO paper_trades (user_id, trade_date, ticker, side, shares, price, fee, "
            "reference, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    user_id,
                    trade_date.isoformat(),
                    o.ticker,
                    o.side.value,
                    o.shares,
                    o.price,
                    o.fee,
                    reference,
                    stamp,
                )
                for o in orders
            ],
        )

    # ------------------------------------------------------------------ plans
    def save_plan(
        self,
        user_id: int,
        plan: RebalancePlan,
        *,
        base_version: int,
        trade_date: date,
        now: datetime,
        ttl: timedelta = timedelta(days=3),
    ) -> str:
        """Store a plan for Apply/Skip; return its random id (for callback data)."""
        plan_id = secrets.token_urlsafe(9)
        body = {
            "orders": [
                [o.ticker, o.side.value, o.shares, o.price, o.value, o.fee] for o in plan.orders
            ],
            "drift": plan.drift,
            "drift_after": plan.drift_after,
            "fees": plan.fees,
            "turnover": plan.turnover,
            "cash_after": plan.cash_after,
        }
        with transaction(self.db):
            self.db.execute(
                "INSERT INTO rebalance_plans (id, user_id, status, base_version, body, "
                "trade_date, created_at, expires_at) VALUES (?, ?, 'pending', ?, ?, ?, ?, ?)",
                (
                    plan_id,
                    user_id,
                    base_version,
                    json.dumps(body),
                    trade_date.isoformat(),
                    _iso(now),
                    _iso(now + ttl),
                ),
            )
        return plan_id

    def plan(self, plan_id: str) -> StoredPlan | None:
        """A stored plan, or ``None``."""
        row = query_one(
            self.db,
            "SELECT id, user_id, status, base_version, body, trade_date, created_at, "
            "expires_at FROM rebalance_plans WHERE id = ?",
            (plan_id,),
        )
        if row is None:
            return None
        body = json.loads(row["body"])
        orders = tuple(
            Order(t, Side(s), int(n), float(p), float(v), float(f))
            for t, s, n, p, v, f in body["orders"]
        )
        return StoredPlan(
            id=row["id"],
            user_id=row["user_id"],
            status=PlanStatus(row["status"]),
            base_version=row["base_version"],
            orders=orders,
            drift=body["drift"],
            drift_after=body["drift_after"],
            fees=body["fees"],
            turnover=body["turnover"],
            cash_after=body["cash_after"],
            trade_date=date.fromisoformat(row["trade_date"]),
            created_at=row["created_at"],
            expires_at=row["expires_at"],
        )

    def decide_plan(
        self, plan_id: str, user_id: int, *, apply: bool, now: datetime
    ) -> tuple[PlanOutcome, PaperAccount | None]:
        """Apply or skip a plan once, for its owner only, in one transaction.

        A plan of another user is reported as ``NOT_FOUND`` (no hint that it exists).
        """
        with transaction(self.db):
            stored = self.plan(plan_id)
            if stored is None or stored.user_id != user_id:
                return PlanOutcome.NOT_FOUND, None
            if stored.status is not PlanStatus.PENDING:
                return PlanOutcome.ALREADY_DONE, self.account(user_id)
            account = self.account(user_id)
            status = PlanStatus.SKIPPED
            if apply and stored.expires_at < _iso(now):
                return PlanOutcome.EXPIRED, account
            if apply and (account is None or account.version != stored.base_version):
                return PlanOutcome.STALE, account
            if apply:
                self._write(
                    user_id,
                    list(stored.orders),
                    stored.trade_date,
                    f"plan:{plan_id}",
                    None,
                    account.currency if account else "USD",
                    None,
                    stored.base_version,
                    _iso(now),
                )
                status = PlanStatus.APPLIED
            self.db.execute(
                "UPDATE rebalance_plans SET status = ?, decided_at = ? WHERE id = ?",
                (status.value, _iso(now), plan_id),
            )
        outcome = PlanOutcome.APPLIED if apply else PlanOutcome.SKIPPED
        return outcome, self.account(user_id)


def account_from_row(row: Row, positions: Iterable[tuple[str, int]]) -> PaperAccount:
    """A :class:`PaperAccount` from a ``paper_accounts`` row (by column name) and positions."""
    return PaperAccount(
        user_id=int(row["user_id"]),
        cash=float(row["cash"]),
        currency=row["currency"],
        positions=tuple((str(t), int(n)) for t, n in positions),
        version=int(row["version"]),
        portfolio_id=row["portfolio_id"],
        updated_at=row["updated_at"],
    )


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")
