"""Turn target weights and capital into whole (or fractional) shares. Pure numpy/pandas/scipy.

Whole-share methods:

* ``"greedy"``: :func:`smallq.measures.whole_shares` with ``top_up``: buy ``floor(w_i C / p_i)``
  shares, then spend the leftover cash one share at a time on the ticker with the largest
  shortfall ``w_i C - amount_i`` whose price still fits; stop when no ticker with a positive
  shortfall fits (buying further would overshoot a target, so that cash is left uninvested).
* ``"lp"``: a mixed-integer program (``scipy.optimize.milp``) minimising
  ``sum_i |shares_i p_i - w_i C| + cash_left``, the L1 distance of the holdings (cash
  included) from the targets. If the solver fails the greedy result is returned and
  ``Allocation.method`` says ``"greedy"``.

With ``fractional=True``, ``shares_i = w_i C / p_i`` rounded down to 1e-6 share.

Fees: with ``costs_bps`` (a fee of ``costs_bps / 10_000`` of each order's value, as the paper
ledger charges, :mod:`smallq.rebalance`) the shares are sized on the budget
``C / (1 + costs_bps / 10_000)``, so that the shares shown can be bought as shown: the amount
plus its fees never exceeds the capital, and the fees are paid from the cash left.

The amount spent never exceeds the capital.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd

from smallq.errors import (
    AllocationError,
    DataFormatError,
    DataUnavailableError,
    InputError,
    InvalidCapitalError,
    UnknownOptionError,
)
from smallq.measures import whole_shares
from smallq.models import Allocation, Note, NoteKind

METHODS: tuple[str, ...] = ("greedy", "lp")
#: fractional shares are rounded down to this step
FRACTIONAL_STEP: float = 1e-6


def allocate_shares(
    weights: pd.Series,
    prices: pd.Series,
    capital: float,
    *,
    fractional: bool = False,
    method: str = "greedy",
    costs_bps: float = 0.0,
) -> Allocation:
    """Shares to buy for ``capital`` so that holdings track ``weights``.

    Parameters
    ----------
    weights : Series of shape (n_assets,)
        Non-negative target weights by ticker; they are renormalised to sum to 1.
    prices : Series by ticker
        Latest price per share, in the capital's currency; must cover every positive weight.
    capital : float
        Amount to invest, finite and positive.
    fractional : bool, default=False
        Allow fractional shares (rounded down to ``FRACTIONAL_STEP``).
    method : {"greedy", "lp"}, default="greedy"
        Whole-share method (ignored when ``fractional``).
    costs_bps : float, default=0
        Fee on each purchase in basis points of its value; the shares leave room for it
        (``amounts.sum() * (1 + costs_bps / 10_000) <= capital``).

    Returns
    -------
    Allocation
        ``shares`` and ``amounts`` only for tickers bought; ``target_weights``, ``prices`` and
        ``achieved_weights`` (amount / capital) for every ticker of ``weights``; ``fees`` of
        buying the shares (paid from ``cash_left``).

    Raises
    ------
    InvalidCapitalError
        When ``capital`` is not finite or not positive.
    InputError
        When ``costs_bps`` is negative or not finite.
    UnknownOptionError
        For an unknown ``method``.
    DataFormatError
        For negative or non-finite weights, or weights summing to zero.
    DataUnavailableError
        When a ticker with a positive weight has no usable price.
    AllocationError
        When whole shares are asked for and ``capital`` does not buy the cheapest share with
        its fee.
    """
    if method not in METHODS:
        raise UnknownOptionError("allocation method", method, METHODS)
    capital = _check_capital(capital)
    if not (math.isfinite(costs_bps) and costs_bps >= 0):
        raise InputError(f"The costs must be a non-negative number of bps, not {costs_bps}.")
    rate = costs_bps / 10_000.0
    budget = capital / (1.0 + rate)  # shares plus their fees fit in the capital
    targets = _targets(weights)
    held = targets[targets > 0]
    quote = prices.reindex(targets.index).astype(float)
    bad = [str(t) for t in held.index if not (np.isfinite(quote[t]) and quote[t] > 0)]
    if bad:
        raise DataUnavailableError(bad, "no usable latest price")
    cost = quote[held.index]
    if fractional:
        shares, used = _fractional(held, cost, budget), "fractional"
    else:
        cheapest = float(cost.min())
        if budget < cheapest:
            raise AllocationError(capital, cheapest * (1.0 + rate))
        shares, used = whole_shares(held, cost, budget, top_up=True), "greedy"
        if method == "lp":
            solved = _lp(held, cost, budget)
            if solved is not None:
                shares, used = solved, "lp"
    allocation = _allocation(shares, cost, quote, targets, capital, fractional, used)
    return replace(allocation, fees=float(allocation.amounts.sum()) * rate)


def fees_note(allocation: Allocation, costs_bps: float, currency: str) -> Note | None:
    """Say what buying the shares costs in fees, paid from the cash left (None without fees).

    Parameters
    ----------
    allocation : Allocation
        From :func:`allocate_shares` with the same ``costs_bps``.
    costs_bps : float
        Fee on each purchase in basis points of its value.
    currency : str
        The capital's currency code.
    """
    if not allocation.fees > 0:
        return None
    text = (
        f"Buying these shares costs about {allocation.fees:,.2f} {currency} in fees "
        f"({costs_bps:g} bp of each order), paid from the cash left: the shares leave room "
        "for them, so they can be bought exactly as shown."
    )
    fields = (("fees", f"{allocation.fees:.2f}"), ("costs_bps", f"{costs_bps:g}"))
    return Note(NoteKind.ALLOCATION, text, fields)


def _check_capital(capital: float) -> float:
    try:
        value = float(capital)
    except (TypeError, ValueError) as exc:
        raise InvalidCapitalError(capital, "not a number") from exc
    if not math.isfinite(value):
        raise InvalidCapitalError(capital, "must be a finite amount")
    if value <= 0:
        raise InvalidCapitalError(capital, "must be positive")
    return value


def _targets(weights: pd.Series) -> pd.Series:
    values = weights.astype(float)
    if not np.isfinite(values.to_numpy()).all() or (values < 0).any():
        raise DataFormatError("weights", "weights must be finite and non-negative")
    total = float(values.sum())
    if total <= 0:
        raise DataFormatError("weights", "weights sum to zero")
    return values / total


def _fractional(held: pd.Series, cost: pd.Series, capital: float) -> pd.Series:
    raw = held * capital / cost
    shares = np.floor(raw / FRACTIONAL_STEP) * FRACTIONAL_STEP
    while float((shares * cost).sum()) > capital:  # guard against float rounding
        worst = (shares * cost).idxmax()
        shares[worst] = max(shares[worst] - FRACTIONAL_STEP, 0.0)
    return shares


def _lp(held: pd.Series, cost: pd.Series, capital: float) -> pd.Series | None:
    """Integer shares minimising the L1 tracking error plus cash left, or None on failure."""
    from scipy.optimize import Bounds, LinearConstraint, milp  # 0.4 s to import: only "lp"

    n = len(held)
    price = cost.to_numpy()
    goal = held.to_numpy() * capital
    # variables: shares x (integer, n) then deviations u (continuous, n)
    objective = np.concatenate([-price, np.ones(n)])  # cash_left = C - p.x; constant dropped
    eye = np.eye(n)
    rows = np.block(
        [
            [np.diag(price), -eye],  # p_i x_i - u_i <= goal_i
            [-np.diag(price), -eye],  # -p_i x_i - u_i <= -goal_i
            [price[None, :], np.zeros((1, n))],  # p.x <= C
        ]
    )
    upper = np.concatenate([goal, -goal, [capital]])
    constraint = LinearConstraint(rows, -np.inf, upper)
    integrality = np.concatenate([np.ones(n), np.zeros(n)])
    bounds = Bounds(
        np.zeros(2 * n), np.concatenate([np.floor(capital / price), np.full(n, np.inf)])
    )
    result = milp(objective, constraints=constraint, integrality=integrality, bounds=bounds)
    if not result.success or result.x is None:
        return None
    shares = np.round(result.x[:n]).astype(np.int64)
    if float(shares @ price) > capital:
        return None
    return pd.Series(shares, index=held.index)


def _allocation(
    shares: pd.Series,
    cost: pd.Series,
    quote: pd.Series,
    targets: pd.Series,
    capital: float,
    fractional: bool,
    method: str,
) -> Allocation:
    bought = shares[shares > 0]
    amounts = bought * cost[bought.index]
    achieved = (amounts / capital).reindex(targets.index, fill_value=0.0)
    return Allocation(
        shares=bought,
        prices=quote,
        amounts=amounts,
        target_weights=targets,
        achieved_weights=achieved,
        cash_left=max(capital - float(amounts.sum()), 0.0),
        capital=capital,
        fractional=fractional,
        method=method,
    )
