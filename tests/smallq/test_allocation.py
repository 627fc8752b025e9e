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
    InvalidCapitalError,
    UnknownOptionError,
)

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
