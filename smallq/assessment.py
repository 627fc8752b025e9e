"""The lean account check: alerts, value and a rebalance plan, in numpy, for many accounts.

A scheduled check asks three things of each paper account: which risk alerts fire
(:func:`smallq.alerts.check_alerts`), what the account is worth, and which whole-share orders
would bring it back to its target (:func:`smallq.rebalance.plan_rebalance`, with the rule
:func:`smallq.rebalance.needs_rebalance`). Those functions are written for one account in
pandas and cost milliseconds each; a weekly sweep asks it of thousands of accounts.

Here the market side is computed once per sweep and shared by every account:

* :class:`MarketSnapshot` holds the closes of the union of held tickers, forward-filled,
  with each ticker's first and last priced row, last close and stale age;
* :class:`Target` holds a rebuilt target (weights and prices), one per universe key
  (the profile without its capital, and the as-of date), see :func:`smallq.pipeline.rebuild_target`.

and :func:`assess_account` does the per-account arithmetic in numpy, in the same order of
operations as the pandas path, and words alerts with the same functions
(:func:`smallq.alerts.var_alert` and friends). ``tests/smallq/test_assessment.py`` checks both
paths give the same alerts, value and plan on random accounts.

Everything here is pure and picklable (frozen dataclasses of numpy/pandas), so a sweep may
ship it to worker processes or a Dask cluster.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd

from smallq.alerts import (
    MIN_RETURNS,
    Alert,
    AlertThresholds,
    concentration_alert,
    data_alerts,
    drawdown_alert,
    var_alert,
    vol_alert,
)
from smallq.errors import AllocationError, DataUnavailableError, InputError, SmallQError
from smallq.measures import drift
from smallq.models import Order, RebalancePlan
from smallq.rebalance import needs_rebalance
from smallq.risk import historical_var_cvar
from smallq.types import Side

_TOL = 1e-9


@dataclass(frozen=True, slots=True)
class Assessment:
    """A check of one account: alerts, the rebalance plan and whether to signal it."""

    as_of: date
    value: float
    alerts: tuple[Alert, ...]
    plan: RebalancePlan | None
    signal: bool
    threshold: float
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MarketSnapshot:
    """Closes of every held ticker of a sweep, prepared once.

    Attributes
    ----------
    as_of : date
        The market date of the check.
    columns : dict of str to int
        Ticker → column of ``filled`` (tickers with at least one price).
    filled : ndarray of shape (n_tickers, n_days)
        Closes forward-filled along time, one row per ticker (NaN before its first price).
    first_row : ndarray of shape (n_tickers,)
        First day with a price.
    last_price : ndarray of shape (n_tickers,)
        Last close.
    last_date : tuple of date
        Day of the last close.
    """

    as_of: date
    columns: dict[str, int]
    filled: np.ndarray
    first_row: np.ndarray
    last_price: np.ndarray
    last_date: tuple[date, ...]

    @classmethod
    def from_closes(cls, closes: pd.DataFrame, as_of: date) -> MarketSnapshot:
        """Prepare closes of shape (n_days, n_tickers), dates up to ``as_of`` kept."""
        if closes.empty:
            empty = np.empty(0)
            return cls(as_of, {}, np.empty((0, 0)), empty.astype(int), empty, ())
        closes = closes.loc[closes.index <= pd.Timestamp(as_of)]
        closes = closes.loc[:, closes.notna().any().to_numpy()] if len(closes) else closes
        raw = closes.to_numpy(dtype=float).T.copy() if len(closes) else np.empty((0, 0))
        present = ~np.isnan(raw)
        n_days = raw.shape[1]
        first = np.where(present.any(axis=1), present.argmax(axis=1), n_days)
        last = n_days - 1 - present[:, ::-1].argmax(axis=1) if n_days else first
        filled = closes.ffill().to_numpy(dtype=float).T.copy() if n_days else raw
        days = closes.index
        return cls(
            as_of=as_of,
            columns={str(t): i for i, t in enumerate(closes.columns)},
            filled=filled,
            first_row=first,
            last_price=raw[np.arange(len(last)), last] if n_days else np.empty(0),
            last_date=tuple(days[i].date() for i in last) if n_days else (),
        )

    def last_prices(self) -> pd.Series:
        """Last close by ticker."""
        return pd.Series(self.last_price, index=list(self.columns), dtype=float)


@dataclass(frozen=True, slots=True)
class Target:
    """A rebuilt target shared by the accounts of one universe key.

    ``weights`` and ``prices`` (Series by ticker) are the optimizer's weights and the latest
    cleaned closes of the candidates; ``error`` is the user message when the rebuild failed.
    """

    weights: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))
    prices: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))
    fractional: bool = False
    error: str | None = None
    #: prepared once for every account: non-zero weights (names, values), usable prices
    names: tuple[str, ...] = field(init=False)
    nonzero: np.ndarray = field(init=False)
    price_map: dict[str, float] = field(init=False)
    cheapest: float = field(init=False)

    def __post_init__(self) -> None:
        target = self.weights[self.weights != 0].astype(float)
        positive = self.weights[self.weights > 0]
        cheapest = float(self.prices.reindex(positive.index).min()) if len(positive) else 0.0
        prices = {str(t): float(p) for t, p in self.prices.items() if not math.isnan(p)}
        object.__setattr__(self, "names", tuple(str(t) for t in target.index))
        object.__setattr__(self, "nonzero", target.to_numpy(dtype=float))
        object.__setattr__(self, "price_map", prices)
        object.__setattr__(self, "cheapest", cheapest)


@dataclass(frozen=True, slots=True)
class AccountCheck:
    """One account to check: holdings (ticker, shares) in account order, cash and rules."""

    shares: tuple[tuple[str, int], ...]
    cash: float
    thresholds: AlertThresholds
    drift_threshold: float
    calendar_due: bool


def assess_account(
    check: AccountCheck,
    market: MarketSnapshot,
    target: Target | None,
    *,
    costs_bps: float,
    min_trade_value: float = 0.0,
) -> Assessment:
    """Alerts, value and (with a target) the rebalance plan of one account.

    Equals the pandas path: :func:`smallq.alerts.check_alerts` on the account's closes, its
    value at the last closes, and :func:`smallq.rebalance.plan_rebalance` toward the target at
    the target's prices (the last closes where the target has none).

    Raises
    ------
    InputError
        When the drift threshold is outside (0, 1] and the plan has orders.
    """
    tickers = [t for t, _ in check.shares]
    counts = np.array([n for _, n in check.shares], dtype=float)
    cols = [market.columns.get(t, -1) for t in tickers]
    last = np.array([market.last_price[c] if c >= 0 else np.nan for c in cols])
    value = float(check.cash) + float(_finite(counts * last).sum())
    alerts = _alerts(check, tickers, counts, cols, market)
    base = Assessment(market.as_of, value, alerts, None, False, check.drift_threshold)
    if target is None:
        return base
    try:
        plan = _plan_to_target(check, tickers, last, value, target, costs_bps, min_trade_value)
    except SmallQError as exc:
        note = f"I couldn't rebuild the target: {exc.user_message()}"
        return Assessment(base.as_of, value, alerts, None, False, base.threshold, (note,))
    signal = bool(plan.orders) and needs_rebalance(
        plan.drift, check.drift_threshold, check.calendar_due
    )
    return Assessment(base.as_of, value, alerts, plan, signal, base.threshold)


@dataclass(frozen=True, slots=True)
class CheckFailure:
    """An account whose check raised a :class:`SmallQError`: what users and logs are told.

    A plain value (not the exception) so it crosses process and machine boundaries.
    """

    user_message: str
    detail: str
    retryable: bool = False


def assess_accounts(
    checks: Sequence[tuple[AccountCheck, Target | None]],
    market: MarketSnapshot,
    *,
    costs_bps: float,
    min_trade_value: float = 0.0,
) -> list[Assessment | CheckFailure]:
    """:func:`assess_account` for a batch, in order; a failed account gets a CheckFailure."""
    out: list[Assessment | CheckFailure] = []
    for check, target in checks:
        try:
            out.append(
                assess_account(
                    check, market, target, costs_bps=costs_bps, min_trade_value=min_trade_value
                )
            )
        except SmallQError as exc:
            out.append(CheckFailure(exc.user_message(), str(exc), exc.retryable))
    return out


# --------------------------------------------------------------------------- alerts
def _alerts(
    check: AccountCheck,
    tickers: list[str],
    counts: np.ndarray,
    cols: list[int],
    market: MarketSnapshot,
) -> tuple[Alert, ...]:
    th = check.thresholds
    nonzero = [i for i, n in enumerate(counts) if n != 0]
    if not nonzero:
        return ()
    missing = [tickers[i] for i in nonzero if cols[i] < 0]
    stale, worst = [], 0
    for i in nonzero:
        if cols[i] < 0:
            continue
        last_day = market.last_date[cols[i]]
        age = int(np.busday_count(last_day + timedelta(days=1), market.as_of + timedelta(days=1)))
        if age > th.stale_days:
            stale.append(f"{tickers[i]} ({last_day:%Y-%m-%d})")
            worst = max(worst, age)
    alerts: list[Alert | None] = [*data_alerts(missing, stale, worst, th)]
    held = [i for i in nonzero if cols[i] >= 0]
    values = _account_values(counts, cols, held, market, check.cash)
    values = values[-(th.lookback_days + 1) :]
    returns = values[1:] / values[:-1] - 1.0 if len(values) > 1 else np.empty(0)
    returns = returns[~np.isnan(returns)]
    if len(returns) >= MIN_RETURNS:
        series = pd.Series(returns)
        var, tail = historical_var_cvar(returns, th.confidence)
        alerts.append(var_alert(var, tail, th, float(values[-1])))
        # pandas' std (bottleneck's when installed): the same numbers as check_alerts
        short = float(series.iloc[-th.short_vol_days :].std(ddof=1))
        alerts.append(vol_alert(short, float(series.iloc[-th.long_vol_days :].std(ddof=1)), th))
    if len(values) >= 2:
        peak = float(values.max())
        depth = _last_drawdown(returns) if peak > 0 and len(returns) else 0.0
        alerts.append(drawdown_alert(depth, peak, len(values) - 1, th))
    alerts.append(_concentration(counts, cols, held, tickers, market, check.cash, th))
    return tuple(a for a in alerts if a is not None)


def _account_values(
    counts: np.ndarray, cols: list[int], held: list[int], market: MarketSnapshot, cash: float
) -> np.ndarray:
    """``smallq.measures.account_values``, summed along each day's row as pandas does."""
    if not held:
        return np.empty(0)
    start = max(int(market.first_row[cols[i]]) for i in held)
    block = np.ascontiguousarray(market.filled[[cols[i] for i in held], start:].T)
    return np.asarray((block * counts[held]).sum(axis=1) + float(cash))


def _last_drawdown(returns: np.ndarray) -> float:
    wealth = np.cumprod(1.0 + returns)
    peak = max(float(np.maximum.accumulate(wealth)[-1]), 1.0)
    return float(1.0 - wealth[-1] / peak)


def _concentration(
    counts: np.ndarray,
    cols: list[int],
    held: list[int],
    tickers: list[str],
    market: MarketSnapshot,
    cash: float,
    th: AlertThresholds,
) -> Alert | None:
    if not held:
        return None
    amounts = counts[held] * market.last_price[[cols[i] for i in held]]
    invested = float(amounts.sum())
    if invested <= 0:
        return None
    effective = float(1.0 / np.sum(np.square(amounts / invested)))
    top = int(np.argmax(amounts))
    top_share = float(amounts[top]) / (invested + float(cash))
    names = [tickers[i] for i in held]
    return concentration_alert(names[top], top_share, effective, names, th)


# --------------------------------------------------------------------------- plan
def _plan_to_target(
    check: AccountCheck,
    tickers: list[str],
    last: np.ndarray,
    value: float,
    target: Target,
    costs_bps: float,
    min_trade_value: float,
) -> RebalancePlan:
    if target.error is not None:
        raise _Unbuilt(target.error)
    capital = max(value, 1.0)
    if not target.fractional and capital < target.cheapest:
        raise AllocationError(capital, target.cheapest)
    prices = dict(zip(tickers, last.tolist(), strict=True))
    prices.update(target.price_map)
    return plan_rebalance_fast(
        check.shares, check.cash, target, prices, costs_bps=costs_bps,
        min_trade_value=min_trade_value,
    )  # fmt: skip


class _Unbuilt(SmallQError):
    """The shared target could not be rebuilt (its user message was kept)."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)

    def user_message(self) -> str:
        return self.message


def plan_rebalance_fast(
    shares: Sequence[tuple[str, int]],
    cash: float,
    target: Target,
    prices: dict[str, float],
    *,
    costs_bps: float,
    min_trade_value: float = 0.0,
) -> RebalancePlan:
    """:func:`smallq.rebalance.plan_rebalance` toward ``target.weights`` (same orders, figures).

    Parameters
    ----------
    shares : sequence of (ticker, shares)
        Held share counts in account order.
    prices : dict of str to float
        Latest price by ticker; must cover held and targeted tickers.

    Raises
    ------
    InputError, DataUnavailableError
        As :func:`smallq.rebalance.plan_rebalance`.
    """
    for name, amount in (("cash", cash), ("costs", costs_bps), ("minimum trade", min_trade_value)):
        if not math.isfinite(amount) or amount < 0:
            raise InputError(f"The {name} must be a non-negative number, not {amount}.")
    t_names, t_w = list(target.names), target.nonzero
    if (t_w < 0).any() or t_w.sum() > 1.0 + 1e-6:
        raise InputError("Target weights must be non-negative and sum to at most 1.")
    held = [(t, n) for t, n in shares if n != 0]
    index = _union([t for t, _ in held], t_names)
    px = np.array([prices.get(t, math.nan) for t in index], dtype=float)
    bad = [t for t, p in zip(index, px, strict=True) if not (math.isfinite(p) and p > 0)]
    if bad:
        raise DataUnavailableError(bad, "no finite positive latest price")
    h_n = np.array([n for _, n in held], dtype=float)
    h_px = np.array([prices[t] for t, _ in held], dtype=float)
    value = float(cash) + float(_finite(h_n * h_px).sum())
    t_px = np.array([prices[t] for t in t_names], dtype=float)
    wanted = dict(zip(t_names, np.floor(t_w * value / t_px + _TOL).astype(np.int64), strict=True))
    where = {t: i for i, t in enumerate(index)}
    cur = np.zeros(len(index), dtype=np.int64)
    for t, n in held:
        cur[where[t]] = n
    tgt = np.array([wanted.get(t, 0) for t in index], dtype=np.int64)
    tw = np.zeros(len(index))
    tw[[where[t] for t in t_names]] = t_w
    return _plan_to_shares(
        index, cur, tgt, px, float(cash), costs_bps, min_trade_value, tw, t_names
    )


def _plan_to_shares(
    index: list[str],
    cur: np.ndarray,
    tgt: np.ndarray,
    px: np.ndarray,
    cash: float,
    costs_bps: float,
    min_value: float,
    target_w: np.ndarray,
    t_names: list[str],
) -> RebalancePlan:
    rate = costs_bps / 10_000.0
    sells = []
    for i, t in enumerate(index):
        n = int(cur[i] - tgt[i])
        if n <= 0:
            continue
        amount = n * float(px[i])
        if amount < min_value and int(tgt[i]) != 0:
            continue
        sells.append(Order(t, Side.SELL, n, float(px[i]), amount, amount * rate))
    available = cash + sum(o.value - o.fee for o in sells)
    buys = _buys(index, np.clip(tgt - cur, 0, None), px, rate, min_value, available)
    orders = tuple(sells + buys)
    nonzero = cur != 0
    held_values = cur[nonzero].astype(float) * px[nonzero]
    value = cash + float(_finite(held_values).sum())
    cur_w = np.zeros(len(index))
    if value > 0:
        cur_w[nonzero] = held_values / value
    after = cur.copy()
    pos = {t: i for i, t in enumerate(index)}
    for order in orders:
        after[pos[order.ticker]] += order.shares if order.side is Side.BUY else -order.shares
    fees = sum(o.fee for o in orders)
    cash_after = available - sum(o.value + o.fee for o in buys)
    post_w = after.astype(float) * px / (value - fees) if value - fees > 0 else after * 0.0
    traded = sum(o.value for o in orders)
    c_names = [t for t, n in zip(index, cur, strict=True) if n != 0]
    return RebalancePlan(
        orders=orders,
        current_weights=_nonzero(index, cur_w),
        target_weights=_nonzero(index, target_w),
        post_weights=_nonzero(index, post_w),
        drift=_drift(index, cur_w, c_names, target_w, t_names),
        drift_after=_drift(index, post_w, index, target_w, t_names),
        turnover=traded / (2.0 * value) if value > 0 else 0.0,
        fees=fees,
        cash_before=float(cash),
        cash_after=max(cash_after, 0.0),
        value_before=value,
    )


def _buys(
    index: list[str],
    gap: np.ndarray,
    px: np.ndarray,
    rate: float,
    min_value: float,
    available: float,
) -> list[Order]:
    keep = (gap > 0) & (gap * px >= min_value)
    names = [t for t, k in zip(index, keep, strict=True) if k]
    wanted, price = gap[keep], px[keep]
    cost = float((wanted * price).sum()) * (1 + rate)
    if cost > available + _TOL:
        scale = max(available, 0.0) / cost
        scaled = np.floor(wanted * scale + _TOL).astype(int)
        spare = max(available, 0.0) - float((scaled * price).sum()) * (1 + rate)
        shortfall = (wanted - scaled) * price
        for j in np.argsort(-shortfall, kind="stable"):
            unit = float(price[j]) * (1 + rate)
            if scaled[j] < wanted[j] and unit <= spare + _TOL:
                scaled[j] += 1
                spare -= unit
        keep = (scaled > 0) & (scaled * price >= min_value)
        names = [t for t, k in zip(names, keep, strict=True) if k]
        wanted, price = scaled[keep], price[keep]
    return [
        Order(t, Side.BUY, int(n), float(p), int(n) * float(p), int(n) * float(p) * rate)
        for t, n, p in sorted(zip(names, wanted, price, strict=True))
    ]


def _finite(values: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(values), values, 0.0)


def _union(left: list[str], right: list[str]) -> list[str]:
    """Ticker order of ``pd.Index(left).union(pd.Index(right))`` (sums depend on order)."""
    if not right or left == right:
        return list(left)
    if not left:
        return list(right)
    return sorted(set(left) | set(right))


def _drift(
    index: list[str],
    current: np.ndarray,
    current_names: list[str],
    target: np.ndarray,
    target_names: list[str],
) -> float:
    """:func:`smallq.measures.drift` of two Series given as values on ``index``."""
    order = [index.index(t) for t in _union(current_names, target_names)]
    return drift(current[order], target[order])


def _nonzero(index: list[str], values: np.ndarray) -> pd.Series:
    keep = values != 0
    return pd.Series(values[keep], index=[t for t, k in zip(index, keep, strict=True) if k])
