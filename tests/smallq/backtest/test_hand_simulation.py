"""A 3-asset backtest with two rebalances simulated by hand in plain numpy.

Shares, cash and costs are carried day by day by an independent loop that follows the
simulator's stated conventions (trade at the close of the decision date, equity marked before
that close's trades, costs ``bps / 10_000`` of traded value paid in cash, post-cost target
met exactly when fractional, whole shares rounded down from a budget that shrinks until the
trade is funded). The engine's equity, cash, costs and turnover must equal it to 1e-9.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from smallq.backtest import run_backtest

COSTS_BPS = 25.0
RATE = COSTS_BPS / 10_000
TOL = 1e-9


def _prices() -> pd.DataFrame:
    rng = np.random.default_rng(42)
    dates = pd.bdate_range("2021-01-04", "2021-02-26")
    steps = 1 + rng.normal(0.0005, 0.02, size=(len(dates), 3))
    start = np.array([37.3, 121.9, 8.45])
    return pd.DataFrame(
        start * np.cumprod(steps, axis=0), index=dates, columns=["AAA", "BBB", "CCC"]
    )


#: the policy's targets: the second leaves 10% in cash and drops nothing
TARGETS = {
    pd.Timestamp("2021-01-15"): np.array([0.5, 0.3, 0.2]),
    pd.Timestamp("2021-02-01"): np.array([0.2, 0.45, 0.35]) * 0.9,
}


def _policy(history: pd.DataFrame, as_of: pd.Timestamp) -> pd.Series:
    assert history.index[-1] == as_of  # nothing after the decision date
    return pd.Series(TARGETS[as_of], index=history.columns)


def _post_cost_equity(equity: float, values: np.ndarray, target: np.ndarray) -> float:
    """Solve ``E' = E - c * sum|w E' - v|`` by bisection (the left side minus the right rises)."""
    lo, hi = 0.0, equity
    for _ in range(200):
        mid = (lo + hi) / 2
        if mid - equity + RATE * np.abs(target * mid - values).sum() > 0:
            hi = mid
        else:
            lo = mid
    return (lo + hi) / 2


def _hand(prices: pd.DataFrame, capital: float | None) -> dict[str, object]:
    """Day-by-day shares, cash and costs (the reference)."""
    p = prices.to_numpy()
    shares = np.zeros(3)
    cash = 1.0 if capital is None else capital
    initial = cash
    equity, cash_weight, costs, turnovers = [], [], [], []
    for k, day in enumerate(prices.index):
        value = float(shares @ p[k]) + cash
        equity.append(value / initial)
        if day in TARGETS and k < len(prices) - 1:
            target = TARGETS[day]
            if capital is None:
                post = _post_cost_equity(value, shares * p[k], target)
                new = target * post / p[k]
            else:
                budget = value
                while True:
                    new = np.floor(target * budget / p[k])
                    delta = new - shares
                    left = cash - delta @ p[k] - RATE * np.abs(delta) @ p[k]
                    if left >= 0:
                        break
                    budget += left
            delta = new - shares
            traded = float(np.abs(delta) @ p[k])
            cost = RATE * traded
            cash -= float(delta @ p[k]) + cost
            shares = new
            costs.append(cost / initial)
            turnovers.append(traded / value)
        cash_weight.append(cash / (float(shares @ p[k]) + cash))
    return {
        "equity": np.array(equity),
        "cash": np.array(cash_weight),
        "costs": costs,
        "turnover": turnovers,
        "shares": shares,
        "final_cash": cash,
    }


@pytest.mark.parametrize("capital", [None, 10_000.0], ids=["fractional", "whole-shares"])
def test_two_rebalances_equal_a_hand_simulation(capital: float | None) -> None:
    prices = _prices()
    result = run_backtest(
        prices,
        _policy,
        start="2021-01-15",
        end="2021-02-26",
        rebalance="monthly",
        costs_bps=COSTS_BPS,
        capital=capital,
    )
    window = prices.loc["2021-01-15":]
    hand = _hand(window, capital)
    assert [r.date for r in result.rebalances] == list(TARGETS)
    np.testing.assert_allclose(result.equity.to_numpy(), hand["equity"], rtol=0, atol=TOL)
    np.testing.assert_allclose(result.cash.to_numpy(), hand["cash"], rtol=0, atol=TOL)
    np.testing.assert_allclose([r.cost for r in result.rebalances], hand["costs"], atol=TOL)
    np.testing.assert_allclose([r.turnover for r in result.rebalances], hand["turnover"], atol=TOL)
    assert result.costs == pytest.approx(sum(hand["costs"]), abs=TOL)  # type: ignore[arg-type]
    # the last row: holdings times the last close plus cash is the final equity
    last = window.iloc[-1].to_numpy()
    shares = np.asarray(hand["shares"])
    final = (float(shares @ last) + float(hand["final_cash"])) / (capital or 1.0)  # type: ignore[arg-type]
    assert result.equity.iloc[-1] == pytest.approx(final, abs=TOL)
    held = result.weights.iloc[-1].reindex(window.columns, fill_value=0.0).to_numpy()
    np.testing.assert_allclose(held, shares * last / (final * (capital or 1.0)), atol=TOL)
    assert math.isclose(held.sum() + result.cash.iloc[-1], 1.0, abs_tol=TOL)
    if capital is not None:
        assert float(hand["final_cash"]) >= 0  # type: ignore[arg-type]
        assert all(float(t.shares).is_integer() for t in result.trades)


def test_the_fractional_target_is_met_after_costs() -> None:
    """After a fractional rebalance the held weights are the target (cost already paid)."""
    prices = _prices()
    result = run_backtest(
        prices,
        _policy,
        start="2021-01-15",
        end="2021-02-26",
        rebalance="monthly",
        costs_bps=COSTS_BPS,
    )
    for rebalance in result.rebalances:
        expected = pd.Series(TARGETS[rebalance.date], index=prices.columns)
        pd.testing.assert_series_equal(
            rebalance.weights, expected, check_names=False, atol=TOL, rtol=0
        )
        row = result.weights.loc[rebalance.date].reindex(prices.columns)
        np.testing.assert_allclose(row.to_numpy(), expected.to_numpy(), atol=TOL)
