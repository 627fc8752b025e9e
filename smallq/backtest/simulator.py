"""Walk-forward backtest: a policy decides, a simulator trades, a result records.

Timing conventions
------------------
* A **policy** is called on a decision date ``t`` with ``prices.loc[:t]`` (rows up to and
  including ``t``, never later) and returns target weights (long-only, summing to at most
  1; the rest is cash earning nothing).
* **Trades execute at the close of** ``t`` at ``t``'s price. Between rebalances the
  holdings (share counts) are kept, so the weights drift with prices.
* ``equity[t]`` is the portfolio marked at the close of ``t`` *before* that close's trades,
  per unit of starting capital; it is exactly 1.0 on the start date and the cost of trades
  made at ``t`` shows in the return from ``t`` to the next date. No trade is made on the
  last date (its effect could not be measured).
* **Costs** are ``costs_bps / 10_000`` times the traded value (buys plus sells), paid in
  cash. Without ``capital`` the book is fractional and the post-cost target is met
  exactly; with ``capital`` share counts are rounded down to whole shares and the cash
  left over (never negative) stays uninvested.
* A missing price is carried forward for valuation (a held stock that stops trading keeps
  its last price until it is sold).

Rebalance rules (:class:`RebalanceRule`): ``weekly`` and ``monthly`` trade on the start
date and then on the **first trading day** of each later calendar week (Monday-based) or
month, known without looking ahead; ``drift:0.05`` trades on the start date and then on
any close where the total drift ``Σ|w − target| / 2`` (cash included) exceeds 0.05. With
whole shares the rounding residue counts as drift, so keep the threshold above it.

Share counts, cash and the :class:`Trade` / :class:`Rebalance` records are kept by
:class:`smallq.backtest.book.Book`; the frozen :class:`BacktestResult` lives in
:mod:`smallq.backtest.result`. All three are re-exported here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

import numpy as np
import pandas as pd

from smallq.backtest.book import Book, Rebalance, Trade
from smallq.backtest.result import BacktestResult
from smallq.errors import (
    DataFormatError,
    DataUnavailableError,
    InputError,
    InsufficientHistoryError,
    UnknownOptionError,
)
from smallq.types import ProgressCallback

__all__ = [
    "BacktestResult",
    "Policy",
    "Rebalance",
    "RebalanceKind",
    "RebalanceRule",
    "Trade",
    "run_backtest",
]

#: prices up to and including the decision date, and that date -> target weights by ticker
#: (a Series; or an array aligned with the price columns, which skips the alignment)
Policy = Callable[[pd.DataFrame, pd.Timestamp], "pd.Series | np.ndarray"]

_WEIGHT_TOL = 1e-9


class RebalanceKind(StrEnum):
    """When a backtest trades back to target."""

    WEEKLY = "weekly"
    MONTHLY = "monthly"
    DRIFT = "drift"


@dataclass(frozen=True, slots=True)
class RebalanceRule:
    """A parsed rebalance rule: ``weekly``, ``monthly`` or ``drift:<threshold>``.

    Attributes
    ----------
    kind : RebalanceKind
    threshold : float
        Drift threshold (fraction, 0 < threshold < 1); 0.0 for calendar rules.
    """

    kind: RebalanceKind
    threshold: float = 0.0

    @classmethod
    def parse(cls, value: str | RebalanceRule) -> RebalanceRule:
        """Parse ``"weekly"``, ``"monthly"`` or ``"drift:0.05"``.

        Raises
        ------
        UnknownOptionError
            For any other text or a threshold outside (0, 1).
        """
        if isinstance(value, RebalanceRule):
            return value
        text = str(value).strip().lower()
        allowed = ["weekly", "monthly", "drift:0.05"]
        kind_text, _, threshold_text = text.partition(":")
        try:
            kind = RebalanceKind(kind_text)
        except ValueError as exc:
            raise UnknownOptionError("rebalance", value, allowed) from exc
        if kind is not RebalanceKind.DRIFT:
            if threshold_text:
                raise UnknownOptionError("rebalance", value, allowed)
            return cls(kind)
        if not re.fullmatch(r"\s*(?:[0-9]+\.?[0-9]*|\.[0-9]+)\s*", threshold_text):
            raise UnknownOptionError("rebalance", value, allowed)  # ASCII digits only: no ², nan
        threshold = float(threshold_text)
        if not 0 < threshold < 1:
            raise UnknownOptionError("rebalance", value, allowed)
        return cls(kind, threshold)

    def __str__(self) -> str:
        return f"drift:{self.threshold:g}" if self.kind is RebalanceKind.DRIFT else str(self.kind)

    def calendar_dates(self, index: pd.DatetimeIndex) -> pd.DatetimeIndex:
        """First trading day of each week or month in ``index`` (empty for drift rules)."""
        if self.kind is RebalanceKind.DRIFT or len(index) == 0:
            return pd.DatetimeIndex([])
        freq = "W-SUN" if self.kind is RebalanceKind.WEEKLY else "M"
        periods = index.to_period(freq)
        first = np.r_[True, periods[1:] != periods[:-1]]
        return index[first]


# --------------------------------------------------------------------------- simulation
def run_backtest(
    prices: pd.DataFrame,
    policy: Policy,
    *,
    start: date | str | pd.Timestamp,
    end: date | str | pd.Timestamp,
    rebalance: str | RebalanceRule,
    costs_bps: float = 10.0,
    capital: float | None = None,
    benchmark: pd.Series | None = None,
    on_progress: ProgressCallback | None = None,
) -> BacktestResult:
    """Simulate ``policy`` over the trading days of ``prices`` in ``[start, end]``.

    Parameters
    ----------
    prices : DataFrame of shape (n_days, n_assets)
        Adjusted closes with a sorted DatetimeIndex; NaN before a listing is allowed.
        Rows before ``start`` are history the policy may use.
    policy : Policy
        ``policy(prices.loc[:t], t) -> weights`` (see module docstring).
    start, end : date-like
        The simulation's first and last dates (snapped to trading days inside the range).
    rebalance : str or RebalanceRule
        ``"weekly"``, ``"monthly"`` or ``"drift:<threshold>"``.
    costs_bps : float, default=10.0
        Cost in basis points of traded value.
    capital : float, optional
        Starting capital; when given, share counts are whole numbers.
    benchmark : Series of shape (n_days,), optional
        Benchmark level; carried forward onto the backtest's dates.
    on_progress : callable ``(done, total) -> None``, optional
        Called after each simulated day with the days done and the days in the window;
        front ends draw a progress bar with it. The simulation does not depend on it.

    Returns
    -------
    BacktestResult

    Raises
    ------
    InsufficientHistoryError
        Fewer than two trading days in ``[start, end]``.
    DataFormatError
        Unsorted or duplicate dates, or non-positive prices.
    DataUnavailableError
        The policy picked a ticker without a price, or the benchmark has no level at start.
    InputError
        Negative costs or capital, or invalid policy weights.
    """
    rule = RebalanceRule.parse(rebalance)
    _validate(prices, costs_bps, capital)
    # one float block: the policy's slices are then cheap views (the input is not touched)
    prices = pd.DataFrame(prices.to_numpy(dtype=float), index=prices.index, columns=prices.columns)
    index = prices.index
    positions = np.flatnonzero((index >= pd.Timestamp(start)) & (index <= pd.Timestamp(end)))
    if len(positions) < 2:
        raise InsufficientHistoryError(len(positions), 2, "trading days in the backtest window")
    dates = index[positions]
    benchmark_equity = _benchmark_equity(benchmark, dates)
    scheduled = np.isin(dates, rule.calendar_dates(index))
    book = Book(prices, positions, cost_rate=costs_bps / 10_000, capital=capital)
    for k in range(len(dates)):
        book.mark(k)
        drifted = rule.kind is RebalanceKind.DRIFT and k > 0 and book.drift() > rule.threshold
        if k < len(dates) - 1 and (k == 0 or scheduled[k] or drifted):
            target = _target(policy, prices.iloc[: positions[k] + 1], dates[k], prices.columns)
            book.trade(k, target)
        book.record(k)
        if on_progress is not None:
            on_progress(k + 1, len(dates))
    return _result(book, rule, costs_bps, benchmark_equity)


def _validate(prices: pd.DataFrame, costs_bps: float, capital: float | None) -> None:
    if not isinstance(prices.index, pd.DatetimeIndex):
        raise DataFormatError("prices", "the index must be a DatetimeIndex")
    if not prices.index.is_monotonic_increasing or prices.index.has_duplicates:
        raise DataFormatError("prices", "dates must be sorted and unique")
    if (prices <= 0).to_numpy().any():
        raise DataFormatError("prices", "prices must be positive")
    if not np.isfinite(costs_bps) or costs_bps < 0:
        raise InputError(f"costs must be a non-negative number of bps, got {costs_bps}")
    if capital is not None and not (np.isfinite(capital) and capital > 0):
        raise InputError(f"capital must be positive, got {capital}", field="capital")


def _target(
    policy: Policy, history: pd.DataFrame, as_of: pd.Timestamp, columns: pd.Index
) -> np.ndarray:
    """Call the policy and check its weights; returns a vector aligned to ``columns``."""
    weights = policy(history, as_of)
    if isinstance(weights, np.ndarray) and weights.shape == (len(columns),):
        vector = weights.astype(float)
    else:
        series = weights if isinstance(weights, pd.Series) else pd.Series(weights, dtype=float)
        vector = _aligned(series, columns, as_of)
    if not np.isfinite(vector).all() or vector.min() < -_WEIGHT_TOL:
        raise InputError(f"the policy returned invalid weights on {as_of:%Y-%m-%d}")
    if vector.sum() > 1 + 1e-6:
        raise InputError(f"the policy's weights sum to {vector.sum():.6f} > 1 on {as_of:%Y-%m-%d}")
    clipped: np.ndarray = np.clip(vector, 0.0, None)
    return clipped


def _aligned(weights: pd.Series, columns: pd.Index, as_of: pd.Timestamp) -> np.ndarray:
    """Weights by ticker as a vector over ``columns`` (zeros elsewhere)."""
    if weights.index.equals(columns):
        same: np.ndarray = weights.to_numpy(dtype=float)
        return same
    where = columns.get_indexer(weights.index)
    if (where < 0).any() or weights.index.has_duplicates:
        tickers = list(map(str, weights.index.difference(columns)))
        if not tickers:
            raise InputError(f"the policy repeated tickers on {as_of:%Y-%m-%d}")
        raise DataUnavailableError(tickers, "the policy chose tickers not in prices")
    vector = np.zeros(len(columns))
    vector[where] = weights.to_numpy(dtype=float)
    return vector


def _benchmark_equity(benchmark: pd.Series | None, dates: pd.DatetimeIndex) -> pd.Series | None:
    if benchmark is None:
        return None
    level = benchmark.dropna().sort_index()
    level = level[~level.index.duplicated(keep="last")]
    aligned = level.reindex(level.index.union(dates)).ffill().reindex(dates)
    if not np.isfinite(aligned.iloc[0]) or aligned.iloc[0] <= 0:
        name = str(benchmark.name or "benchmark")
        raise DataUnavailableError([name], f"no benchmark level on {dates[0]:%Y-%m-%d}")
    return (aligned / aligned.iloc[0]).rename("benchmark")


def _result(
    book: Book, rule: RebalanceRule, costs_bps: float, benchmark_equity: pd.Series | None
) -> BacktestResult:
    """Freeze the book into a result (equity per unit of starting capital)."""
    ever_held = (book.held > 0).any(axis=0)
    weights = pd.DataFrame(
        book.held[:, ever_held], index=book.dates, columns=book.columns[ever_held]
    )
    return BacktestResult(
        equity=pd.Series(book.equity / book.initial, index=book.dates, name="equity"),
        benchmark_equity=benchmark_equity,
        weights=weights,
        cash=pd.Series(book.cash_weight, index=book.dates, name="cash"),
        trades=tuple(book.trades),
        rebalances=tuple(book.rebalances),
        turnover=float(sum(r.turnover for r in book.rebalances)),
        costs=float(sum(r.cost for r in book.rebalances)),
        rule=rule,
        costs_bps=costs_bps,
        capital=book.capital,
    )
