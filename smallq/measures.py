"""One definition of each portfolio measure that more than one module needs.

Pure functions on pandas objects (numpy only). Every other module imports these rather than
computing them again. Conventions:

* ``returns`` are simple periodic returns (daily by default, ``periods_per_year=252``); NaNs
  are dropped. Wealth starts at 1.0 **before** the first return, and that start is a peak.
* Losses are **positive** fractions: a drawdown of 0.2 is a 20% fall from the peak.
* ``weights`` are fractions of the whole account; cash is the remainder ``1 - sum(weights)``.
* The account value is ``cash + sum_i shares_i * price_i``.

The definitions follow empyrical-reloaded, which ``tests/smallq/test_measures.py`` uses as the
reference (smallQ keeps its own code: it is short, typed and NaN-explicit; empyrical is a
test oracle, not a run-time dependency of these functions):

* **CAGR**: ``prod(1 + r) ** (periods_per_year / n) - 1``;
* **annual volatility**: ``std(r, ddof=1) * sqrt(periods_per_year)``;
* **Sharpe ratio**: ``(annual_return - risk_free_rate) / annual_volatility`` with the
  arithmetic annual return: ex ante ``w' mu`` and ``sqrt(w' cov w)``; realised
  ``mean(r) * periods_per_year`` and the annual volatility (empyrical's ``sharpe_ratio``);
* **drawdown**: ``1 - wealth / running peak``; the **max drawdown** is its largest value, with
  its period (:class:`DrawdownPeriod`);
* **drift**: ``(sum_i |w_i - t_i| + |cash_w - cash_t|) / 2``, the share of the account in the
  wrong place (0 on target, 1 nothing in common);
* **effective holdings**: ``1 / sum(w ** 2)`` (the inverse Herfindahl index);
* **whole shares**: ``floor(w_i * budget / p_i + tolerance)``, optionally topped up one share
  at a time (:func:`whole_shares`).

Weights, shares and prices are Series by ticker, aligned by label. :func:`drift`,
:func:`account_value` and :func:`whole_shares` also take numpy arrays aligned by position (the
backtest's inner loop); :func:`whole_shares` returns the kind it was given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from smallq.errors import DataUnavailableError, InsufficientHistoryError

__all__ = [
    "DrawdownPeriod",
    "account_value",
    "account_values",
    "account_weights",
    "annual_volatility",
    "cagr",
    "drawdown",
    "drift",
    "effective_holdings",
    "max_drawdown",
    "sharpe_ratio",
    "whole_shares",
]

#: volatilities at or below this are treated as zero (the Sharpe ratio is then undefined)
ZERO_VOLATILITY: float = 1e-15


# --------------------------------------------------------------------------- return series
def cagr(returns: pd.Series, periods_per_year: int = 252) -> float:
    """Compound annual growth rate ``prod(1 + r) ** (periods_per_year / n) - 1``.

    Parameters
    ----------
    returns : Series of shape (n_periods,)
        Simple periodic returns; NaNs are dropped.
    periods_per_year : int, default=252

    Returns
    -------
    float
        Annual growth as a fraction.

    Raises
    ------
    InsufficientHistoryError
        When no return is left after dropping NaNs.
    """
    values = _values(returns, 1)
    return float(np.prod(1.0 + values) ** (periods_per_year / values.size) - 1.0)


def annual_volatility(returns: pd.Series, periods_per_year: int = 252) -> float:
    """Sample standard deviation (``ddof=1``) times ``sqrt(periods_per_year)``.

    Parameters
    ----------
    returns : Series of shape (n_periods,)
        Simple periodic returns; NaNs are dropped.
    periods_per_year : int, default=252

    Raises
    ------
    InsufficientHistoryError
        Fewer than two returns.
    """
    return float(np.std(_values(returns, 2), ddof=1) * math.sqrt(periods_per_year))


def sharpe_ratio(annual_return: float, annual_volatility: float, risk_free_rate: float) -> float:
    """Sharpe ratio ``(annual_return - risk_free_rate) / annual_volatility``.

    Parameters
    ----------
    annual_return : float
        Arithmetic annual return: ``w' mu`` ex ante, or ``mean(r) * periods_per_year`` for
        realised returns (not the CAGR).
    annual_volatility : float
        Annual standard deviation: ``sqrt(w' cov w)``, or :func:`annual_volatility`.
    risk_free_rate : float
        Annual, a fraction.

    Returns
    -------
    float
        NaN when the volatility is not finite or at most ``ZERO_VOLATILITY`` (undefined, not
        infinite).
    """
    if not math.isfinite(annual_volatility) or annual_volatility <= ZERO_VOLATILITY:
        return math.nan
    return float((annual_return - risk_free_rate) / annual_volatility)


def drawdown(returns: pd.Series) -> pd.Series:
    """Fall from the running peak of wealth after each period, as positive fractions.

    Parameters
    ----------
    returns : Series of shape (n_periods,)
        Simple periodic returns; NaNs are dropped.

    Returns
    -------
    Series of shape (n_valid_periods,)
        ``1 - wealth / max(1, running max of wealth)``; zero at a new high.
    """
    wealth = (1.0 + returns.dropna().astype(float)).cumprod()
    peak = np.maximum(wealth.cummax(), 1.0)
    return (1.0 - wealth / peak).rename("drawdown")


@dataclass(frozen=True, slots=True)
class DrawdownPeriod:
    """The deepest drawdown of a return series and when it happened.

    Positions count points of the wealth path ``1, w_1, ..., w_n``: 0 is the start before the
    first return, ``k`` is the value after the ``k``-th return (``returns.index[k - 1]``).

    Attributes
    ----------
    depth : float
        Positive fraction (0 when wealth never fell).
    peak, trough : int
        Positions of the peak the fall started from and of the lowest point.
    recovery : int or None
        First position back at the peak, or None when not recovered.
    duration : int
        Periods from the peak to the recovery, or to the last period when not recovered.
    """

    depth: float
    peak: int
    trough: int
    recovery: int | None
    duration: int

    @property
    def recovered(self) -> bool:
        """Whether wealth got back to the peak."""
        return self.recovery is not None


def max_drawdown(returns: pd.Series) -> DrawdownPeriod:
    """The deepest fall of wealth from its running peak, with its period.

    Parameters
    ----------
    returns : Series of shape (n_periods,)
        Simple periodic returns; NaNs are dropped. Empty returns have no drawdown.

    Returns
    -------
    DrawdownPeriod
        Depth 0, duration 0 and ``recovery == peak == trough == 0`` when wealth never fell.
    """
    wealth = np.r_[1.0, np.cumprod(1.0 + returns.dropna().to_numpy(dtype=float))]
    peaks = np.maximum.accumulate(wealth)
    depths = 1.0 - wealth / peaks
    trough = int(np.argmax(depths))
    if depths[trough] <= 0:
        return DrawdownPeriod(0.0, 0, 0, 0, 0)
    peak = int(np.flatnonzero(wealth[: trough + 1] == peaks[trough])[-1])
    after = np.flatnonzero(wealth[trough:] >= peaks[trough])
    recovery = trough + int(after[0]) if after.size else None
    last = len(wealth) - 1 if recovery is None else recovery
    return DrawdownPeriod(float(depths[trough]), peak, trough, recovery, last - peak)


# --------------------------------------------------------------------------- weights
def effective_holdings(weights: pd.Series) -> float:
    """Effective number of holdings ``1 / sum(w ** 2)`` (inverse Herfindahl index).

    Parameters
    ----------
    weights : Series of shape (n_holdings,)
        Weights, normally summing to 1 (they are not renormalised).
    """
    return float(1.0 / np.sum(np.square(weights.to_numpy(dtype=float))))


def drift(current_weights: pd.Series | np.ndarray, target_weights: pd.Series | np.ndarray) -> float:
    """Half the total absolute gap between two weight vectors, their cash lines included.

    Parameters
    ----------
    current_weights, target_weights : Series by ticker, or arrays of shape (n_assets,)
        Fractions of the account; cash is ``1 - sum``. Series are aligned by ticker (a missing
        ticker weighs 0); arrays by position.

    Returns
    -------
    float
        ``(sum_i |c_i - t_i| + |(1 - sum c) - (1 - sum t)|) / 2``, in [0, 1] for long-only
        weights.
    """
    if isinstance(current_weights, pd.Series) and isinstance(target_weights, pd.Series):
        index = current_weights.index.union(target_weights.index)
        current = current_weights.reindex(index, fill_value=0.0).to_numpy(dtype=float)
        target = target_weights.reindex(index, fill_value=0.0).to_numpy(dtype=float)
    else:
        current = np.asarray(current_weights, dtype=float)
        target = np.asarray(target_weights, dtype=float)
    cash_gap = abs((1.0 - current.sum()) - (1.0 - target.sum()))
    return float((np.abs(current - target).sum() + cash_gap) / 2.0)


# --------------------------------------------------------------------------- account
def account_value(
    shares: pd.Series | np.ndarray, prices: pd.Series | np.ndarray, cash: float = 0.0
) -> float:
    """Account value ``cash + sum_i shares_i * price_i`` at one point in time.

    Parameters
    ----------
    shares : Series by ticker, or array of shape (n_assets,)
        Share counts.
    prices : Series by ticker, or array of shape (n_assets,)
        Prices; Series are aligned on ``shares``' tickers. A position without a finite price
        counts 0 (check prices first where that is an error, as :func:`account_weights` does).
    cash : float, default=0

    Returns
    -------
    float
    """
    return float(cash) + float(_position_values(shares, prices).sum())


def account_values(shares: pd.Series, prices: pd.DataFrame, cash: float = 0.0) -> pd.Series:
    """Account value ``cash + sum_i shares_i * price_i,t`` on each date.

    Parameters
    ----------
    shares : Series by ticker
        Share counts; zero counts and tickers absent from ``prices`` are left out.
    prices : DataFrame of shape (n_days, n_assets)
        Prices, forward-filled here; dates before every held ticker has a price are dropped.
    cash : float, default=0

    Returns
    -------
    Series of shape (n_valued_days,)
    """
    held = shares[(shares != 0) & shares.index.isin(prices.columns)]
    filled = prices[held.index].ffill().dropna(how="any")
    return (filled * held.astype(float)).sum(axis=1) + float(cash)


def account_weights(
    shares: pd.Series, prices: pd.Series, cash: float = 0.0
) -> tuple[pd.Series, float]:
    """Weight of each position in the whole account (cash included in the total).

    Parameters
    ----------
    shares : Series by ticker
        Share counts; zero rows are dropped.
    prices : Series by ticker
        Must cover every ticker with shares.
    cash : float, default=0

    Returns
    -------
    tuple of (Series by ticker, float)
        Weights (all 0 when the account value is not positive) and the account value.

    Raises
    ------
    DataUnavailableError
        When a held ticker has no finite positive price.
    """
    held = shares[shares != 0]
    quote = prices.reindex(held.index).astype(float)
    bad = [str(t) for t, p in quote.items() if not (math.isfinite(p) and p > 0)]
    if bad:
        raise DataUnavailableError(bad, "no finite positive latest price")
    values = held.astype(float) * quote
    total = account_value(held, quote, cash)
    if total <= 0:
        return values * 0.0, total
    return values / total, total


# --------------------------------------------------------------------------- whole shares
def whole_shares(
    target_weights: pd.Series | np.ndarray,
    prices: pd.Series | np.ndarray,
    budget: float,
    *,
    tolerance: float = 0.0,
    top_up: bool = False,
) -> pd.Series | np.ndarray:
    """Whole shares that spend ``budget`` in proportion to target weights.

    Each count is ``floor(w_i * budget / p_i + tolerance)``. With ``top_up`` the money left
    (``budget`` minus the cost) then buys one share at a time of the ticker with the largest
    shortfall ``w_i * budget - shares_i * p_i`` whose price still fits, until no ticker with a
    positive shortfall fits (a further share would overshoot every target).

    Parameters
    ----------
    target_weights : Series by ticker, or array of shape (n_assets,)
        Non-negative fractions of ``budget``.
    prices : Series by ticker, or array of shape (n_assets,)
        Price per share; Series are aligned on the weights' tickers. A ticker without a finite
        positive price gets 0 shares.
    budget : float
        Money to size against (capital, account value, or a shrunken budget).
    tolerance : float, default=0
        Added before rounding down, in shares (``1e-9`` absorbs ``2.9999999999`` float error).
    top_up : bool, default=False
        Spend the money left as described above.

    Returns
    -------
    Series of int (by ticker) or array of float whole numbers, shape (n_assets,)
        The same kind as ``target_weights``.
    """
    weights = np.asarray(target_weights, dtype=float)
    if isinstance(target_weights, pd.Series):
        price = pd.Series(prices).reindex(target_weights.index).to_numpy(dtype=float)
    else:
        price = np.asarray(prices, dtype=float)
    usable = np.isfinite(price) & (price > 0)
    safe = np.where(usable, price, np.inf)
    goal = weights * budget
    shares = np.floor(goal / safe + tolerance)
    if top_up:
        shares = _top_up(shares, np.where(usable, price, 0.0), goal, budget, usable)
    if isinstance(target_weights, pd.Series):
        return pd.Series(shares.astype(np.int64), index=target_weights.index)
    return shares


def _top_up(
    shares: np.ndarray, price: np.ndarray, goal: np.ndarray, budget: float, usable: np.ndarray
) -> np.ndarray:
    shares = shares.copy()
    left = budget - float(shares @ price)
    while True:
        shortfall = goal - shares * price
        candidates = usable & (price <= left) & (shortfall > 0)
        if not candidates.any():
            return shares
        pick = int(np.argmax(np.where(candidates, shortfall, -np.inf)))
        shares[pick] += 1
        left -= price[pick]


# --------------------------------------------------------------------------- helpers
def _values(returns: pd.Series, required: int) -> np.ndarray:
    values: np.ndarray = returns.dropna().to_numpy(dtype=float)
    if values.size < required:
        raise InsufficientHistoryError(values.size, required, "return periods")
    return values


def _position_values(shares: pd.Series | np.ndarray, prices: pd.Series | np.ndarray) -> np.ndarray:
    if isinstance(shares, pd.Series):
        price = pd.Series(prices).reindex(shares.index).to_numpy(dtype=float)
    else:
        price = np.asarray(prices, dtype=float)
    values = np.asarray(shares, dtype=float) * price
    return np.where(np.isfinite(values), values, 0.0)
