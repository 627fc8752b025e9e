"""The backtest's book: share counts, cash, and the trades and rebalances made.

:class:`Book` is the mutable ledger behind :func:`smallq.backtest.simulator.run_backtest`
(internal to the simulator; the frozen :class:`Trade` and :class:`Rebalance` records it writes
are public and re-exported by :mod:`smallq.backtest`). The timing and cost conventions are
described in :mod:`smallq.backtest.simulator`.

Share rounding
    Without ``capital`` the book is fractional: post-cost equity is found by a fixed-point
    iteration and the target is met exactly. With ``capital`` share counts are rounded down to
    whole shares and the budget shrinks until the purchases and costs fit in the cash.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from smallq.errors import DataUnavailableError
from smallq.measures import account_value, drift, whole_shares

__all__ = ["Book", "Rebalance", "Trade"]


@dataclass(frozen=True, slots=True)
class Trade:
    """One executed order (``shares`` > 0 buys, < 0 sells) at the close of ``date``.

    ``shares`` are whole numbers when the backtest had a ``capital``; otherwise they are
    fractional shares per unit of starting capital. ``value`` is ``shares * price``.
    """

    date: pd.Timestamp
    ticker: str
    shares: float
    price: float
    value: float
    cost: float


@dataclass(frozen=True, slots=True, eq=False)
class Rebalance:
    """What happened on one rebalance date.

    The weights are kept as vectors over the backtest's tickers; :attr:`target` and
    :attr:`weights` build the Series by ticker when read (a weekly backtest makes hundreds of
    rebalances, and its text report reads none of them).

    Attributes
    ----------
    date : Timestamp
    turnover : float
        Traded value over pre-trade equity, ``Σ|Δvalue| / equity`` (buys plus sells; the
        first purchase from cash is ``1 / (1 + cost rate)``, the post-cost equity).
    cost : float
        Costs paid, in units of starting capital (same units as ``equity``).
    tickers : Index of shape (n_assets,)
        The backtest's tickers (shared by every rebalance of a run).
    target_vector, weight_vector : ndarray of shape (n_assets,)
        :attr:`target` and :attr:`weights` over ``tickers`` (zeros included).
    """

    date: pd.Timestamp
    turnover: float
    cost: float
    tickers: pd.Index
    target_vector: np.ndarray
    weight_vector: np.ndarray

    @property
    def target(self) -> pd.Series:
        """The policy's weights, by ticker (the tickers with a positive weight)."""
        return _positive(self.target_vector, self.tickers)

    @property
    def weights(self) -> pd.Series:
        """Weights held after trading, by ticker (differ from :attr:`target` only by
        whole-share rounding)."""
        return _positive(self.weight_vector, self.tickers)


def _positive(vector: np.ndarray, tickers: pd.Index) -> pd.Series:
    nonzero = np.flatnonzero(vector > 0)
    values = np.asarray(vector[nonzero], dtype=float)  # a new array (fancy indexing)
    return pd.Series(values, index=tickers.take(nonzero), copy=False)


class Book:
    """Share counts and cash through the simulation (internal, mutable).

    ``prices`` are the full price table and ``positions`` the rows of the simulated dates;
    ``capital`` switches to whole shares. Per date ``k``: :meth:`mark`, optionally
    :meth:`trade`, then :meth:`record`.
    """

    def __init__(
        self,
        prices: pd.DataFrame,
        positions: np.ndarray,
        *,
        cost_rate: float,
        capital: float | None,
    ) -> None:
        self.columns = prices.columns
        self.names = [str(c) for c in prices.columns]
        self.dates = prices.index[positions]
        filled = prices.ffill().to_numpy(dtype=float)[positions]
        self.prices = np.nan_to_num(filled, nan=0.0)  # 0 only where never listed (no shares)
        self.cost_rate = cost_rate
        self.capital = capital
        self.initial = 1.0 if capital is None else float(capital)
        n_days, n_assets = self.prices.shape
        self.shares = np.zeros(n_assets)
        self.cash = self.initial
        self.marked = self.initial  # account value at the last mark
        self.equity = np.empty(n_days)
        self.held = np.zeros((n_days, n_assets))
        self.cash_weight = np.empty(n_days)
        self.target = np.zeros(n_assets)
        self.trades: list[Trade] = []
        self.rebalances: list[Rebalance] = []
        self.values = np.zeros(n_assets)
        self._traded = False  # since the last mark

    def mark(self, k: int) -> None:
        """Value the holdings at the close of date ``k``, before its trades."""
        self.values = self.shares * self.prices[k]
        self.marked = account_value(self.shares, self.prices[k], self.cash)
        self.equity[k] = self.marked
        self._traded = False

    def drift(self) -> float:
        """Drift (:func:`smallq.measures.drift`) of the held weights from the target."""
        return drift(self.values / self.marked, self.target)

    def trade(self, k: int, target: np.ndarray) -> None:
        """Trade to ``target`` (weights aligned to the price columns) at the close of ``k``."""
        price = self.prices[k]
        unpriced = (target > 0) & (price <= 0)
        if unpriced.any():
            tickers = [self.names[i] for i in np.flatnonzero(unpriced)]
            raise DataUnavailableError(tickers, f"no price on {self.dates[k]:%Y-%m-%d}")
        equity = self.marked
        if self.capital is None:
            new_shares = _fractional_shares(self.values, price, target, equity, self.cost_rate)
        else:
            new_shares = _whole_shares(self.shares, self.cash, price, target, self.cost_rate)
        delta = new_shares - self.shares
        traded = np.abs(delta) * price
        cost = self.cost_rate * traded.sum()
        self.cash -= float(delta @ price) + cost
        self.shares = new_shares
        self.target = target
        self._traded = True
        date_k = self.dates[k]
        done = np.flatnonzero(traded > 0)
        rows = zip(
            done.tolist(),
            delta[done].tolist(),
            price[done].tolist(),
            (delta[done] * price[done]).tolist(),
            (self.cost_rate * traded[done]).tolist(),
            strict=True,
        )
        self.trades.extend(Trade(date_k, self.names[i], *row) for i, *row in rows)
        post = self.shares * price / (equity - cost)
        self.rebalances.append(
            Rebalance(
                date=date_k,
                turnover=float(traded.sum() / equity),
                cost=cost / self.initial,
                tickers=self.columns,
                target_vector=np.array(target, dtype=float),  # the policy's array is not kept
                weight_vector=post,
            )
        )

    def record(self, k: int) -> None:
        """Store the weights and cash weight held after the trades of date ``k``."""
        if self._traded:
            values = self.shares * self.prices[k]
            equity = account_value(self.shares, self.prices[k], self.cash)
        else:  # nothing changed since the mark: the same values
            values, equity = self.values, self.marked
        self.held[k] = values / equity
        self.cash_weight[k] = self.cash / equity


def _fractional_shares(
    values: np.ndarray, price: np.ndarray, target: np.ndarray, equity: float, cost_rate: float
) -> np.ndarray:
    """Shares meeting ``target`` of post-cost equity exactly.

    Post-cost equity ``E'`` solves ``E' = E − c Σ|w E' − v|``; the map is a contraction
    with factor ``c Σw ≤ c``, so a few fixed-point steps reach machine precision.
    """
    post = equity
    for _ in range(50):
        updated = equity - cost_rate * np.abs(target * post - values).sum()
        if abs(updated - post) <= 1e-15 * equity:
            post = updated
            break
        post = updated
    safe = np.where(price > 0, price, 1.0)
    return np.where(target > 0, target * post / safe, 0.0)


def _whole_shares(
    shares: np.ndarray, cash: float, price: np.ndarray, target: np.ndarray, cost_rate: float
) -> np.ndarray:
    """Whole-share counts near ``target`` whose purchases and costs fit in the cash.

    Counts are :func:`smallq.measures.whole_shares` of a budget that starts at the account
    value; the budget shrinks by any shortfall until the trade is funded; a last greedy pass
    removes one share at a time from the largest position (each removal raises cash).
    """
    budget = account_value(shares, price, cash)

    def cash_after(new: np.ndarray) -> float:
        delta = new - shares
        return cash - float(delta @ price) - cost_rate * float(np.abs(delta) @ price)

    new: np.ndarray = whole_shares(target, price, budget)
    for _ in range(20):
        left = cash_after(new)
        if left >= 0:
            return new
        budget += left
        new = whole_shares(target, price, max(budget, 0.0))
    while cash_after(new) < 0 and new.any():
        i = int(np.argmax(new * price))
        new[i] -= 1
    return new
