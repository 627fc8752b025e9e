"""Rebalancing: from current holdings to target weights in whole shares, with costs.

Conventions
-----------
* Weights are fractions of the **total account value** ``V = cash + sum(shares * prices)``
  (:func:`smallq.measures.account_weights`); cash is the remainder. A target that sums to 1
  targets zero cash.
* ``drift`` is :func:`smallq.measures.drift`: ``(sum_i |w_current_i - w_target_i| +
  |cash_current - cash_target|) / 2``, the share of the account that sits in the wrong place
  (0 = on target, 1 = nothing in common).
* Target shares are :func:`smallq.measures.whole_shares` of the account value,
  ``floor(w_target * V / price + 1e-9)``.
* ``turnover`` is one-way: ``(sum of buy values + sum of sell values) / (2 V)``; switching
  fully from one set of stocks to another is 1.0.
* Fees are ``value * costs_bps / 10_000`` on every order, paid from cash.
* Orders are whole shares. Sells run first; buys never spend more than
  ``cash + sale proceeds - all fees``; when the wanted buys cost more, every buy is scaled
  down by the same factor (rounded down) and the leftover cash buys back single shares,
  largest remaining shortfall first.

Rebalance rule (:func:`needs_rebalance`): signals go out when the drift reaches the
tolerance band (``drift >= threshold``), whenever a check runs; or, on a calendar
rebalance date (``calendar_due``), whenever there is any drift at all.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from smallq.errors import DataUnavailableError, InputError
from smallq.measures import account_weights, drift, whole_shares
from smallq.models import Order, RebalancePlan
from smallq.types import Side

_TOL = 1e-9


def plan_rebalance(
    current_shares: pd.Series,
    cash: float,
    target_weights: pd.Series,
    prices: pd.Series,
    *,
    costs_bps: float,
    min_trade_value: float = 0.0,
) -> RebalancePlan:
    """Plan whole-share orders from current holdings toward target weights.

    Target shares are :func:`smallq.measures.whole_shares` of the account value ``V`` at
    ``prices``; then :func:`plan_to_shares` turns the gap into orders.

    Parameters
    ----------
    current_shares : Series by ticker
        Held share counts (whole numbers).
    cash : float
        Cash in the account, not negative.
    target_weights : Series by ticker
        Non-negative fractions of the account value, summing to at most 1.
    prices : Series by ticker
        Latest prices; must cover held and targeted tickers.
    costs_bps : float
        Cost per order in basis points of its value (10 = 0.10%).
    min_trade_value : float, default=0
        Orders worth less are skipped, except sells that close a position the target drops.

    Returns
    -------
    RebalancePlan

    Raises
    ------
    InputError
        Negative cash, costs or weights, or weights summing above 1.
    DataUnavailableError
        A held or targeted ticker without a finite positive price.
    """
    _check_money(cash, costs_bps, min_trade_value)
    target = target_weights[target_weights != 0].astype(float)
    if (target < 0).any() or target.sum() > 1.0 + 1e-6:
        raise InputError("Target weights must be non-negative and sum to at most 1.")
    held = current_shares[current_shares != 0]
    _check_prices(prices, list(held.index.union(target.index)))
    _, value = account_weights(held, prices, cash)
    wanted = whole_shares(target, prices, value, tolerance=_TOL)
    return plan_to_shares(
        held,
        cash,
        wanted,
        prices,
        costs_bps=costs_bps,
        min_trade_value=min_trade_value,
        target_weights=target,
    )


def plan_to_shares(
    current_shares: pd.Series,
    cash: float,
    target_shares: pd.Series,
    prices: pd.Series,
    *,
    costs_bps: float,
    min_trade_value: float = 0.0,
    target_weights: pd.Series | None = None,
) -> RebalancePlan:
    """Plan orders from current share counts to target share counts.

    Parameters are as in :func:`plan_rebalance`, with ``target_shares`` (Series by ticker,
    whole numbers) instead of weights. ``target_weights`` (for the drift figure) defaults
    to the target shares' weights in the current account value.

    Raises
    ------
    InputError, DataUnavailableError
        As :func:`plan_rebalance`.
    """
    _check_money(cash, costs_bps, min_trade_value)
    current = _as_int(current_shares)
    target = _as_int(target_shares)
    index = current.index.union(target.index)
    _check_prices(prices, list(index))
    px = prices.reindex(index).astype(float)
    cur = current.reindex(index, fill_value=0)
    tgt = target.reindex(index, fill_value=0)
    rate = costs_bps / 10_000.0
    sells = _sell_orders(cur, tgt, px, rate, min_trade_value)
    available = cash + sum(o.value - o.fee for o in sells)
    buys = _buy_orders((tgt - cur).clip(lower=0), px, rate, min_trade_value, available)
    orders = tuple(sells + buys)
    cur_w, value = account_weights(cur, px, cash)
    if target_weights is None:
        target_weights = tgt.astype(float) * px / value if value > 0 else tgt * 0.0
    after = cur.copy()
    for order in orders:
        after[order.ticker] += order.shares if order.side is Side.BUY else -order.shares
    fees = sum(o.fee for o in orders)
    cash_after = available - sum(o.value + o.fee for o in buys)
    post_w = after.astype(float) * px / (value - fees) if value - fees > 0 else after * 0.0
    traded = sum(o.value for o in orders)
    return RebalancePlan(
        orders=orders,
        current_weights=cur_w[cur_w != 0],
        target_weights=target_weights[target_weights != 0],
        post_weights=post_w[post_w != 0],
        drift=drift(cur_w, target_weights),
        drift_after=drift(post_w, target_weights),
        turnover=traded / (2.0 * value) if value > 0 else 0.0,
        fees=fees,
        cash_before=float(cash),
        cash_after=max(cash_after, 0.0),
        value_before=value,
    )


def needs_rebalance(drift: float, threshold: float, calendar_due: bool) -> bool:
    """Whether a check should send rebalance signals.

    Parameters
    ----------
    drift : float
        Current drift (see the module docstring), in [0, 1].
    threshold : float
        Tolerance band, in (0, 1]: drift at or above it always calls for a rebalance.
    calendar_due : bool
        True on a calendar rebalance date: then any drift above 1e-9 calls for one.

    Raises
    ------
    InputError
        When ``threshold`` is outside (0, 1] or ``drift`` is negative or not finite.
    """
    if not 0.0 < threshold <= 1.0:
        raise InputError(f"The drift threshold must be above 0% and at most 100%, not {threshold}.")
    if not math.isfinite(drift) or drift < 0:
        raise InputError(f"Drift must be a non-negative number, not {drift}.")
    return drift >= threshold - _TOL or (calendar_due and drift > _TOL)


# --------------------------------------------------------------------------- helpers
def _sell_orders(
    cur: pd.Series, tgt: pd.Series, px: pd.Series, rate: float, min_value: float
) -> list[Order]:
    orders = []
    for ticker in cur.index:
        n = int(cur[ticker] - tgt[ticker])
        if n <= 0:
            continue
        value = n * float(px[ticker])
        closing = int(tgt[ticker]) == 0
        if value < min_value and not closing:
            continue
        orders.append(Order(str(ticker), Side.SELL, n, float(px[ticker]), value, value * rate))
    return orders


def _buy_orders(
    wanted: pd.Series, px: pd.Series, rate: float, min_value: float, available: float
) -> list[Order]:
    wanted = wanted[(wanted > 0) & (wanted * px >= min_value)]
    px = px.reindex(wanted.index)
    cost = float((wanted * px).sum()) * (1 + rate)
    if cost > available + _TOL:
        scale = max(available, 0.0) / cost
        scaled = np.floor(wanted * scale + _TOL).astype(int)
        spare = max(available, 0.0) - float((scaled * px).sum()) * (1 + rate)
        shortfall = ((wanted - scaled) * px).sort_values(ascending=False, kind="stable")
        for ticker in shortfall.index:
            unit = float(px[ticker]) * (1 + rate)
            if scaled[ticker] < wanted[ticker] and unit <= spare + _TOL:
                scaled[ticker] += 1
                spare -= unit
        wanted = scaled[(scaled > 0) & (scaled * px >= min_value)]
    return [
        Order(str(t), Side.BUY, int(n), float(px[t]), n * float(px[t]), n * float(px[t]) * rate)
        for t, n in wanted.sort_index().items()
    ]


def _as_int(shares: pd.Series) -> pd.Series:
    values = shares.astype(float).fillna(0.0)
    if (values < 0).any() or not np.allclose(values, np.round(values)):
        raise InputError("Share counts must be whole, non-negative numbers.")
    return values.round().astype(int)


def _check_money(cash: float, costs_bps: float, min_trade_value: float) -> None:
    for name, amount in (("cash", cash), ("costs", costs_bps), ("minimum trade", min_trade_value)):
        if not math.isfinite(amount) or amount < 0:
            raise InputError(f"The {name} must be a non-negative number, not {amount}.")


def _check_prices(prices: pd.Series, tickers: list[str]) -> None:
    px = prices.reindex(tickers).astype(float)
    bad = [str(t) for t, p in px.items() if not (math.isfinite(p) and p > 0)]
    if bad:
        raise DataUnavailableError(bad, "no finite positive latest price")
