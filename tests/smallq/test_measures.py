"""smallq.measures against empyrical-reloaded, PyPortfolioOpt, brute force and hand examples."""

from __future__ import annotations

import math

import empyrical
import numpy as np
import pandas as pd
import pytest
from pypfopt.base_optimizer import portfolio_performance
from skfolio.datasets import load_sp500_dataset

from smallq import measures as m
from smallq.errors import DataUnavailableError, InsufficientHistoryError

TOL = 1e-10
RF = 0.02


@pytest.fixture(scope="module", params=["real", "synthetic"])
def returns(request: pytest.FixtureRequest) -> pd.Series:
    """A real stock's daily returns (JPM, 2015-2022) or a synthetic series."""
    if request.param == "real":
        return load_sp500_dataset()["JPM"].loc["2015":].pct_change().iloc[1:]
    rng = np.random.default_rng(5)
    return pd.Series(rng.normal(4e-4, 0.012, 700), pd.bdate_range("2017-01-02", periods=700))


def _s(**kw: float) -> pd.Series:
    return pd.Series(kw, dtype=float)


# --------------------------------------------------------------------------- return series
def test_cagr_volatility_and_sharpe_match_empyrical(returns: pd.Series) -> None:
    assert m.cagr(returns) == pytest.approx(empyrical.cagr(returns), abs=TOL)
    vol = m.annual_volatility(returns)
    assert vol == pytest.approx(empyrical.annual_volatility(returns), abs=TOL)
    realised = m.sharpe_ratio(float(returns.mean()) * 252, vol, RF)
    assert realised == pytest.approx(empyrical.sharpe_ratio(returns, risk_free=RF / 252), abs=TOL)


def test_cagr_and_volatility_by_hand() -> None:
    returns = pd.Series([0.01, -0.02, 0.03, 0.0])
    growth = 1.01 * 0.98 * 1.03
    assert m.cagr(returns, 252) == pytest.approx(growth**63 - 1, rel=1e-12)
    assert m.annual_volatility(returns, 252) == pytest.approx(
        np.std([0.01, -0.02, 0.03, 0.0], ddof=1) * math.sqrt(252), rel=1e-12
    )
    constant = pd.Series(0.0004, pd.bdate_range("2020-01-01", periods=504))
    assert m.cagr(constant) == pytest.approx(1.0004**252 - 1, abs=1e-12)
    assert m.annual_volatility(constant) == pytest.approx(0.0, abs=1e-15)
    with pytest.raises(InsufficientHistoryError):
        m.annual_volatility(pd.Series([0.01, np.nan]))
    with pytest.raises(InsufficientHistoryError):
        m.cagr(pd.Series([np.nan]))


def test_ex_ante_sharpe_matches_pypfopt() -> None:
    names = ["A", "B", "C"]
    mu = pd.Series([0.12, 0.07, 0.15], index=names)
    a = np.random.default_rng(2).normal(size=(3, 3))
    cov = pd.DataFrame(a @ a.T / 20 + np.eye(3) * 0.01, index=names, columns=names)
    weights = pd.Series([0.5, 0.3, 0.2], index=names)
    ret, vol, reference = portfolio_performance(weights, mu, cov, risk_free_rate=RF)
    expected = float(weights @ mu)
    volatility = math.sqrt(float(weights @ cov @ weights))
    assert (expected, volatility) == (pytest.approx(ret, abs=1e-12), pytest.approx(vol, abs=1e-12))
    assert m.sharpe_ratio(expected, volatility, RF) == pytest.approx(reference, abs=1e-12)


def test_sharpe_by_hand_and_undefined_without_volatility() -> None:
    assert m.sharpe_ratio(0.10, 0.20, 0.02) == pytest.approx(0.4, abs=1e-15)
    assert math.isnan(m.sharpe_ratio(0.10, 0.0, 0.02))  # undefined, not infinite
    assert math.isnan(m.sharpe_ratio(0.10, math.nan, 0.02))
    constant = pd.Series(0.0004, pd.bdate_range("2020-01-01", periods=504))
    vol = m.annual_volatility(constant)
    assert math.isnan(m.sharpe_ratio(float(constant.mean()) * 252, vol, 0.0))


# --------------------------------------------------------------------------- drawdown
def test_drawdown_series_by_hand() -> None:
    returns = pd.Series([0.10, -0.20, 0.05, 0.25, -0.10])
    # wealth: 1.1, 0.88, 0.924, 1.155, 1.0395; peaks 1.1, 1.1, 1.1, 1.155, 1.155
    expected = [0.0, 1 - 0.88 / 1.1, 1 - 0.924 / 1.1, 0.0, 1 - 1.0395 / 1.155]
    np.testing.assert_allclose(m.drawdown(returns).to_numpy(), expected, atol=1e-12)
    assert m.max_drawdown(returns).depth == pytest.approx(0.2, abs=1e-12)
    # a loss on the first day counts from the starting value 1.0
    np.testing.assert_allclose(m.drawdown(pd.Series([-0.1, 0.05])), [0.1, 0.055], atol=1e-12)
    assert m.max_drawdown(pd.Series([0.01, 0.02])) == m.DrawdownPeriod(0.0, 0, 0, 0, 0)
    assert m.max_drawdown(pd.Series(dtype=float)).depth == 0.0


def test_max_drawdown_period_by_hand() -> None:
    dates = pd.bdate_range("2021-01-04", periods=5)
    # wealth: 1 -> 1.1 -> 0.55 -> 0.66 -> 1.32 -> 1.188
    fall = m.max_drawdown(pd.Series([0.10, -0.50, 0.20, 1.00, -0.10], dates))
    assert fall.depth == pytest.approx(0.5, abs=1e-12)  # 1.1 -> 0.55
    assert (fall.peak, fall.trough, fall.recovery, fall.duration) == (1, 2, 4, 3)
    assert fall.recovered
    # not recovered: the duration runs to the end
    fall = m.max_drawdown(pd.Series([0.10, -0.50, 0.20, 0.10], dates[:4]))
    assert (fall.peak, fall.trough, fall.recovery, fall.duration) == (1, 2, None, 3)
    assert not fall.recovered
    # a fall on the first day counts from the starting value 1.0: 0.8 -> 0.88 -> 1.056
    fall = m.max_drawdown(pd.Series([-0.2, 0.1, 0.2], dates[:3]))
    assert fall.depth == pytest.approx(0.2, abs=1e-12)
    assert (fall.peak, fall.trough, fall.recovery, fall.duration) == (0, 1, 3, 3)


def test_max_drawdown_depth_matches_empyrical(returns: pd.Series) -> None:
    assert m.max_drawdown(returns).depth == pytest.approx(-empyrical.max_drawdown(returns), abs=TOL)
    assert float(m.drawdown(returns).max()) == pytest.approx(m.max_drawdown(returns).depth, abs=TOL)


def _brute_force_drawdown(returns: np.ndarray) -> tuple[float, int, int, int | None]:
    """O(n^2) over every pair i <= j of the wealth path: depth 1 - W_j / W_i."""
    wealth = np.r_[1.0, np.cumprod(1.0 + returns)]
    pairs = [(1.0 - wealth[j] / wealth[i], j, i) for j in range(len(wealth)) for i in range(j + 1)]
    best = max(depth for depth, _, _ in pairs)
    trough = min(j for depth, j, _ in pairs if depth == best)
    peak = int(np.argmax(wealth[: trough + 1]))
    back = [k for k in range(trough, len(wealth)) if wealth[k] >= wealth[peak]]
    return best, peak, trough, (back[0] if back else None)


def test_max_drawdown_period_matches_brute_force() -> None:
    rng = np.random.default_rng(17)
    for trial in range(40):
        values = rng.normal(0.002, 0.04, int(rng.integers(3, 40)))
        depth, peak, trough, recovery = _brute_force_drawdown(values)
        fall = m.max_drawdown(pd.Series(values))
        assert fall.depth == pytest.approx(depth, abs=1e-12), trial
        if depth > 0:
            assert (fall.peak, fall.trough, fall.recovery) == (peak, trough, recovery), trial
            end = len(values) if recovery is None else recovery
            assert fall.duration == end - peak


# --------------------------------------------------------------------------- weights
def test_drift_by_hand_series_and_arrays() -> None:
    # cur {A .5, cash .5}, target {A .2, B .8}: (.3 + .8 + .5) / 2 = .8
    assert m.drift(_s(A=0.5), _s(A=0.2, B=0.8)) == pytest.approx(0.8, abs=1e-15)
    assert m.drift(np.array([0.5, 0.0]), np.array([0.2, 0.8])) == pytest.approx(0.8, abs=1e-15)
    # fully invested, disjoint holdings: nothing in common
    assert m.drift(_s(A=1.0), _s(B=1.0)) == pytest.approx(1.0, abs=1e-15)
    assert m.drift(_s(A=0.3, B=0.7), _s(B=0.7, A=0.3)) == 0.0


def test_drift_is_total_variation_distance_including_cash() -> None:
    rng = np.random.default_rng(4)
    for _ in range(50):
        a, b = rng.dirichlet(np.ones(6)), rng.dirichlet(np.ones(6))  # last entry is cash
        expected = 0.5 * np.abs(a - b).sum()
        assert m.drift(a[:-1], b[:-1]) == pytest.approx(expected, abs=1e-12)
        assert m.drift(b[:-1], a[:-1]) == pytest.approx(expected, abs=1e-12)
        assert 0.0 <= m.drift(a[:-1], b[:-1]) <= 1.0


def test_effective_holdings() -> None:
    assert m.effective_holdings(pd.Series([0.5, 0.25, 0.25])) == pytest.approx(1 / 0.375)
    assert m.effective_holdings(pd.Series([0.2] * 5)) == pytest.approx(5.0, abs=1e-12)
    assert m.effective_holdings(pd.Series([1.0])) == 1.0


# --------------------------------------------------------------------------- account
def test_account_value_at_a_point_and_over_time() -> None:
    shares, prices = _s(AAA=2, BBB=3), _s(AAA=25.0, BBB=10.0, CCC=7.0)
    assert m.account_value(shares, prices, 50.0) == pytest.approx(2 * 25 + 3 * 10 + 50, abs=1e-12)
    # a position without a price counts 0
    assert m.account_value(_s(AAA=2, ZZZ=5), prices, 1.0) == pytest.approx(51.0, abs=1e-12)
    assert m.account_value(np.array([2.0, 3.0]), np.array([25.0, 10.0])) == pytest.approx(80.0)
    index = pd.bdate_range("2024-01-01", periods=3)
    table = pd.DataFrame({"AAA": [100.0, np.nan, 90.0], "BBB": [1.0, 2.0, 3.0]}, index=index)
    values = m.account_values(_s(AAA=10, BBB=0, ZZZ=4), table, 300.0)
    assert values.tolist() == [1300.0, 1300.0, 1200.0]  # forward-filled; BBB and ZZZ left out


def test_account_weights() -> None:
    weights, value = m.account_weights(_s(AAA=2, BBB=0), _s(AAA=25, BBB=1), 50.0)
    assert value == pytest.approx(100.0)
    assert weights.to_dict() == pytest.approx({"AAA": 0.5})
    assert m.drift(weights, _s(AAA=0.5)) == pytest.approx(0.0, abs=1e-15)
    with pytest.raises(DataUnavailableError):
        m.account_weights(_s(AAA=2), _s(AAA=np.nan), 0.0)


# --------------------------------------------------------------------------- whole shares
def test_whole_shares_rounds_down_by_hand() -> None:
    weights, prices = _s(A=0.5, B=0.3, C=0.2), _s(A=30.0, B=70.0, C=9.0)
    got = m.whole_shares(weights, prices, 1000.0)
    # 500 / 30 = 16.7, 300 / 70 = 4.3, 200 / 9 = 22.2
    assert got.to_dict() == {"A": 16, "B": 4, "C": 22}
    arrays = m.whole_shares(weights.to_numpy(), prices.to_numpy(), 1000.0)
    np.testing.assert_array_equal(arrays, [16.0, 4.0, 22.0])
    # an unpriced ticker gets no shares
    assert m.whole_shares(_s(A=0.5, B=0.5), _s(A=10.0, B=0.0), 100.0).to_dict() == {"A": 5, "B": 0}


def test_whole_shares_tolerance_absorbs_float_error() -> None:
    weights, prices = _s(A=0.7), _s(A=0.1)
    budget = 0.3 / 0.7  # 0.7 * budget / 0.1 is 2.9999999999999996, not 3
    assert 0.7 * budget / 0.1 < 3
    assert m.whole_shares(weights, prices, budget)["A"] == 2
    assert m.whole_shares(weights, prices, budget, tolerance=1e-9)["A"] == 3


def test_whole_shares_top_up_hand_case() -> None:
    # floor: A 16 (480), B 4 (280), C 22 (198) -> 958 spent, 42 left; shortfalls A 20,
    # B 20, C 2 but B (70) does not fit: A takes one (30) -> 12 left; then only C (9, short 2)
    # fits -> 3 left; nothing fits
    weights, prices = _s(A=0.5, B=0.3, C=0.2), _s(A=30.0, B=70.0, C=9.0)
    got = m.whole_shares(weights, prices, 1000.0, top_up=True)
    assert got.to_dict() == {"A": 17, "B": 4, "C": 23}


def test_whole_shares_top_up_invariants() -> None:
    rng = np.random.default_rng(9)
    for _ in range(60):
        n = int(rng.integers(1, 7))
        weights = pd.Series(rng.dirichlet(np.ones(n)), index=[f"T{i}" for i in range(n)])
        prices = pd.Series(rng.uniform(1, 300, n), index=weights.index)
        budget = float(rng.uniform(50, 5000))
        base = m.whole_shares(weights, prices, budget)
        shares = m.whole_shares(weights, prices, budget, top_up=True)
        spent = float((shares * prices).sum())
        assert spent <= budget + 1e-9
        assert (shares >= base).all()
        left = budget - spent
        shortfall = weights * budget - shares * prices
        # stops only when no ticker short of its target still fits
        assert not ((prices <= left) & (shortfall > 0)).any()
