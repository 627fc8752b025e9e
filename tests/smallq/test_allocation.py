"""Whole-share and fractional allocation: hand cases, invariants, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from smallq.allocation import allocate_shares
from smallq.errors import (
    AllocationError,
    DataFormatError,
    DataUnavailableError,
    InputError,
    InvalidCapitalError,
    UnknownOptionError,
)
from smallq.rebalance import plan_to_shares

WEIGHTS = pd.Series({"A": 0.5, "B": 0.3, "C": 0.2, "D": 0.0})
PRICES = pd.Series({"A": 101.3, "B": 57.2, "C": 420.0, "D": 10.0})


def l1_gap(shares: pd.Series, weights: pd.Series, prices: pd.Series, capital: float) -> float:
    amounts = (shares.reindex(weights.index, fill_value=0) * prices[weights.index]).fillna(0.0)
    return float((amounts - weights * capital).abs().sum() + capital - amounts.sum())


def test_greedy_hand_case() -> None:
    """floor: A 9 (911.7), B 10 (572), C 0; leftover 516.3 buys C (shortfall 400), then B."""
    alloc = allocate_shares(WEIGHTS, PRICES, 2000.0)
    assert alloc.shares.to_dict() == {"A": 9, "B": 11, "C": 1}
    assert alloc.cash_left == pytest.approx(2000 - 9 * 101.3 - 11 * 57.2 - 420, abs=1e-9)
    assert alloc.amounts["B"] == pytest.approx(11 * 57.2)
    assert alloc.achieved_weights["C"] == pytest.approx(420 / 2000)
    assert alloc.achieved_weights["D"] == 0.0
    assert list(alloc.target_weights.index) == ["A", "B", "C", "D"]
    assert "D" not in alloc.shares.index
    assert alloc.method == "greedy"
    assert alloc.shares.dtype.kind == "i"


def test_lp_is_optimal_against_brute_force() -> None:
    """The MILP reaches the smallest L1 gap (cash included) found by exhaustive search."""
    capital = 2000.0
    alloc = allocate_shares(WEIGHTS, PRICES, capital, method="lp")
    assert alloc.method == "lp"
    held = WEIGHTS[WEIGHTS > 0]
    price = PRICES[held.index].to_numpy()
    grids = np.meshgrid(*[np.arange(int(capital // p) + 1) for p in price], indexing="ij")
    combos = np.stack([g.ravel() for g in grids], axis=1)
    amounts = combos * price
    spent = amounts.sum(axis=1)
    gaps = np.abs(amounts - held.to_numpy() * capital).sum(axis=1) + capital - spent
    best = float(gaps[spent <= capital].min())
    assert l1_gap(alloc.shares, WEIGHTS, PRICES, capital) == pytest.approx(best, abs=1e-6)
    greedy = allocate_shares(WEIGHTS, PRICES, capital)
    assert l1_gap(alloc.shares, WEIGHTS, PRICES, capital) <= l1_gap(
        greedy.shares, WEIGHTS, PRICES, capital
    )


def test_fractional_shares() -> None:
    alloc = allocate_shares(WEIGHTS, PRICES, 2000.0, fractional=True)
    expected = (WEIGHTS[:3] * 2000 / PRICES[:3]).to_numpy()
    np.testing.assert_allclose(alloc.shares.to_numpy(), expected, atol=1e-6)
    assert (alloc.shares.to_numpy() <= expected).all()
    assert 0 <= alloc.cash_left < 3 * 1e-6 * PRICES.max()
    assert alloc.fractional
    small = allocate_shares(WEIGHTS, PRICES, 50.0, fractional=True)  # below every price
    assert small.shares["C"] == pytest.approx(10 / 420, abs=1e-6)


def test_never_spends_more_than_capital() -> None:
    """Seeded property loop over random weights, prices, capital and methods."""
    rng = np.random.default_rng(99)
    for trial in range(60):
        n = int(rng.integers(1, 12))
        tickers = [f"T{i}" for i in range(n)]
        raw = rng.uniform(0, 1, n) * (rng.uniform(0, 1, n) > 0.2)
        if raw.sum() == 0:
            raw[0] = 1.0
        weights = pd.Series(raw / raw.sum(), index=tickers)
        prices = pd.Series(np.round(rng.uniform(1, 900, n), 2), index=tickers)
        capital = float(rng.uniform(prices[weights > 0].min(), 50_000))
        method = ("greedy", "lp")[trial % 2]
        alloc = allocate_shares(weights, prices, capital, method=method, fractional=trial % 5 == 0)
        spent = float(alloc.amounts.sum())
        assert spent <= capital * (1 + 1e-12)
        assert alloc.cash_left == pytest.approx(capital - spent, abs=1e-6)
        assert (alloc.shares > 0).all()
        assert set(alloc.shares.index) <= set(weights[weights > 0].index)
        np.testing.assert_allclose(
            alloc.achieved_weights[alloc.amounts.index], alloc.amounts / capital
        )
        if not alloc.fractional:
            # greedy stop rule: no ticker with a positive shortfall still fits
            shortfall = weights * capital - alloc.amounts.reindex(tickers, fill_value=0.0)
            fits = (prices <= alloc.cash_left + 1e-9) & (shortfall > 1e-9)
            assert alloc.method == "lp" or not fits.any()


def test_capital_below_cheapest_share() -> None:
    with pytest.raises(AllocationError) as info:
        allocate_shares(WEIGHTS, PRICES, 50.0)  # D costs 10 but has zero weight
    assert info.value.cheapest == pytest.approx(57.2)
    assert "fractional" in info.value.user_message()


@pytest.mark.parametrize("capital", [0.0, -5.0, float("nan"), float("inf"), "abc"])
def test_invalid_capital(capital: object) -> None:
    with pytest.raises(InvalidCapitalError):
        allocate_shares(WEIGHTS, PRICES, capital)  # type: ignore[arg-type]


def test_bad_inputs() -> None:
    with pytest.raises(UnknownOptionError):
        allocate_shares(WEIGHTS, PRICES, 1000.0, method="magic")
    with pytest.raises(DataUnavailableError):
        allocate_shares(WEIGHTS, PRICES.drop("B"), 1000.0)
    with pytest.raises(DataFormatError):
        allocate_shares(pd.Series({"A": -0.1, "B": 1.1}), PRICES, 1000.0)
    with pytest.raises(DataFormatError):
        allocate_shares(pd.Series({"A": 0.0}), PRICES, 1000.0)


def test_weights_are_renormalised_and_inputs_untouched() -> None:
    weights = WEIGHTS * 2
    before = weights.copy()
    alloc = allocate_shares(weights, PRICES, 2000.0)
    pd.testing.assert_series_equal(alloc.target_weights, WEIGHTS)
    pd.testing.assert_series_equal(weights, before)


def test_shares_leave_room_for_their_fees_so_the_ledger_buys_them_as_shown() -> None:
    """With ``costs_bps`` the shares plus their fees fit the capital; a first paper account
    funded with the capital buys exactly them (``plan_to_shares``, the Accept button's plan)."""
    rng = np.random.default_rng(7)
    rate = 10 / 10_000
    for _ in range(300):
        n = int(rng.integers(1, 9))
        tickers = [f"T{i}" for i in range(n)]
        weights = pd.Series(rng.dirichlet(np.ones(n)), index=tickers)
        prices = pd.Series(rng.uniform(5, 900, n).round(2), index=tickers)
        capital = float(rng.uniform(1_000, 60_000))
        try:
            alloc = allocate_shares(weights, prices, capital, costs_bps=10)
        except AllocationError:
            continue
        spent = float(alloc.amounts.sum())
        assert spent * (1 + rate) <= capital + 1e-9
        assert alloc.fees == pytest.approx(spent * rate, rel=1e-12)
        assert alloc.cash_left == pytest.approx(capital - spent, abs=1e-9)
        plan = plan_to_shares(pd.Series(dtype="int64"), capital, alloc.shares, prices,
                              costs_bps=10)  # fmt: skip
        assert {o.ticker: o.shares for o in plan.orders} == alloc.shares.to_dict()
        assert plan.fees == pytest.approx(alloc.fees, rel=1e-9)


def test_without_costs_the_shares_are_sized_on_the_whole_capital() -> None:
    plain = allocate_shares(WEIGHTS, PRICES, 2000.0)
    assert allocate_shares(WEIGHTS, PRICES, 2000.0, costs_bps=0).shares.equals(plain.shares)
    assert plain.fees == 0.0
    # 10 shares at 100 spend all 1,000 and leave nothing for their 1.00 of fees: 9 with costs
    one = pd.Series({"A": 1.0})
    assert allocate_shares(one, pd.Series({"A": 100.0}), 1000.0).shares.to_dict() == {"A": 10}
    with_fees = allocate_shares(one, pd.Series({"A": 100.0}), 1000.0, costs_bps=10)
    assert with_fees.shares.to_dict() == {"A": 9} and with_fees.fees == pytest.approx(0.9)
    with pytest.raises(InputError):
        allocate_shares(WEIGHTS, PRICES, 2000.0, costs_bps=-1)
    with pytest.raises(AllocationError):  # one share of D (10.00) but not its fee
        allocate_shares(pd.Series({"D": 1.0}), PRICES, 10.0, costs_bps=10)
