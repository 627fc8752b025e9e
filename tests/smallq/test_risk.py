"""Risk measures checked against hand computations, closed forms and independent libraries."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import integrate
from scipy.stats import norm

from smallq import risk
from smallq.errors import DataUnavailableError, InputError, InsufficientHistoryError
from smallq.types import VarMethod

# 20 daily returns; sorted losses (ascending) end ... 0.03, 0.04, 0.05, 0.08
HAND = pd.Series(
    [0.01, -0.02, 0.015, -0.05, 0.003, 0.02, -0.01, -0.08, 0.012, 0.005,
     -0.04, 0.007, 0.0, -0.015, 0.022, -0.03, 0.009, 0.004, -0.005, 0.018]
)  # fmt: skip


def _dates(n: int) -> pd.DatetimeIndex:
    return pd.bdate_range("2020-01-01", periods=n)


# --------------------------------------------------------------------------- historical
def test_historical_var_cvar_match_hand_computation() -> None:
    # n=20, c=0.90: k = ceil(18) = 18th smallest loss = 3rd largest = 0.04;
    # CVaR = mean of losses >= 0.04 = (0.04 + 0.05 + 0.08) / 3
    assert risk.value_at_risk(HAND, 0.90) == pytest.approx(0.04, abs=1e-15)
    assert risk.cvar(HAND, 0.90) == pytest.approx((0.04 + 0.05 + 0.08) / 3, abs=1e-15)
    # c=0.95: k = 19 -> 0.05; CVaR = (0.05 + 0.08) / 2
    assert risk.value_at_risk(HAND, 0.95) == pytest.approx(0.05, abs=1e-15)
    assert risk.cvar(HAND, 0.95) == pytest.approx(0.065, abs=1e-15)
    # c=0.92: k = ceil(18.4) = 19 -> 0.05 (no interpolation)
    assert risk.value_at_risk(HAND, 0.92) == pytest.approx(0.05, abs=1e-15)


def test_historical_matches_numpy_inverted_cdf() -> None:
    values = np.random.default_rng(3).normal(0.0, 0.01, 997)
    series = pd.Series(values)
    for confidence in (0.9, 0.95, 0.975, 0.99):
        expected = np.quantile(-values, confidence, method="inverted_cdf")
        assert risk.value_at_risk(series, confidence) == pytest.approx(expected, abs=1e-15)


def test_historical_horizon_uses_overlapping_compounded_returns() -> None:
    values = np.random.default_rng(4).normal(0.0005, 0.01, 600)  # 600 >= 50 * 10
    h = 10
    compounded = np.array([np.prod(1 + values[i : i + h]) - 1 for i in range(600 - h + 1)])
    expected = np.quantile(-compounded, 0.95, method="inverted_cdf")
    got = risk.value_at_risk(pd.Series(values), 0.95, horizon_days=h)
    assert got == pytest.approx(expected, abs=1e-14)


def test_historical_short_history_scales_by_sqrt_h() -> None:
    one_day = risk.value_at_risk(HAND, 0.9)
    assert risk.value_at_risk(HAND, 0.9, horizon_days=4) == pytest.approx(2 * one_day, abs=1e-15)
    assert risk.cvar(HAND, 0.9, horizon_days=4) == pytest.approx(
        2 * risk.cvar(HAND, 0.9), abs=1e-15
    )


# --------------------------------------------------------------------------- parametric
@pytest.mark.parametrize(("confidence", "horizon"), [(0.95, 1), (0.99, 1), (0.99, 10)])
def test_parametric_matches_normal_closed_form(confidence: float, horizon: int) -> None:
    values = np.random.default_rng(5).normal(0.0004, 0.012, 500)
    mu, sigma = values.mean() * horizon, values.std(ddof=1) * math.sqrt(horizon)
    expected_var = -norm.ppf(1 - confidence, loc=mu, scale=sigma)
    # ES of a normal loss: -mu + sigma * phi(z_c) / (1 - c)
    expected_cvar = -mu + sigma * norm.pdf(norm.ppf(confidence)) / (1 - confidence)
    kwargs = {"method": VarMethod.PARAMETRIC, "horizon_days": horizon}
    assert risk.value_at_risk(pd.Series(values), confidence, **kwargs) == pytest.approx(
        expected_var, rel=1e-12
    )
    assert risk.cvar(pd.Series(values), confidence, **kwargs) == pytest.approx(
        expected_cvar, rel=1e-12
    )
    # ES of the normal by numerical integration of the quantile function
    tail = 1 - confidence
    numeric = -integrate.quad(lambda p: norm.ppf(p, mu, sigma), 0, tail)[0] / tail
    assert risk.cvar(pd.Series(values), confidence, **kwargs) == pytest.approx(numeric, rel=1e-6)


# --------------------------------------------------------------------------- Cornish-Fisher
def test_cornish_fisher_reduces_to_normal_without_skew_or_kurtosis() -> None:
    for p in (0.01, 0.05, 0.2):
        assert risk.cornish_fisher_z(p, 0.0, 0.0) == pytest.approx(norm.ppf(p), abs=1e-14)
        expected = -norm.pdf(norm.ppf(p)) / p
        assert risk.cornish_fisher_tail_mean(p, 0.0, 0.0) == pytest.approx(expected, abs=1e-13)


def test_cornish_fisher_known_formula_and_tail_integral() -> None:
    s, k, p = -0.6, 2.5, 0.05
    z = norm.ppf(p)
    by_hand = z + (z**2 - 1) * s / 6 + (z**3 - 3 * z) * k / 24 - (2 * z**3 - 5 * z) * s**2 / 36
    assert risk.cornish_fisher_z(p, s, k) == pytest.approx(by_hand, abs=1e-13)
    numeric = integrate.quad(lambda q: risk.cornish_fisher_z(q, s, k), 0, p, limit=200)[0] / p
    assert risk.cornish_fisher_tail_mean(p, s, k) == pytest.approx(numeric, rel=1e-8)


def test_cornish_fisher_var_uses_sample_moments() -> None:
    values = np.random.default_rng(6).standard_t(4, 1500) * 0.01
    series = pd.Series(values)
    mu, sd = values.mean(), values.std(ddof=1)
    s, k = series.skew(), series.kurt()
    expected = -(mu + sd * risk.cornish_fisher_z(0.01, s, k))
    got = risk.value_at_risk(series, 0.99, method=VarMethod.CORNISH_FISHER)
    assert got == pytest.approx(expected, rel=1e-12)
    # fat tails: the CF 99% VaR exceeds the normal one
    assert got > risk.value_at_risk(series, 0.99, method=VarMethod.PARAMETRIC)


def test_cvar_never_below_var_on_random_series() -> None:
    rng = np.random.default_rng(7)
    for trial in range(60):
        n = int(rng.integers(5, 400))
        kind = trial % 3
        if kind == 0:
            values = rng.normal(rng.normal(0, 0.01), 0.02, n)
        elif kind == 1:
            values = rng.standard_t(3, n) * 0.01
        else:
            values = np.exp(rng.normal(0, 0.5, n)) * 0.01 - 0.01  # strongly skewed
        for method in VarMethod:
            for confidence in (0.9, 0.95, 0.99):
                for horizon in (1, 10):
                    var = risk.value_at_risk(
                        pd.Series(values), confidence, method=method, horizon_days=horizon
                    )
                    tail = risk.cvar(
                        pd.Series(values), confidence, method=method, horizon_days=horizon
                    )
                    assert tail >= var - 1e-15, (trial, method, confidence, horizon)


def test_var_table_covers_every_combination() -> None:
    table = risk.var_table(pd.Series(np.random.default_rng(8).normal(0, 0.01, 300)))
    assert len(table) == 3 * 2 * 2
    keys = {(e.method, e.confidence, e.horizon_days) for e in table}
    assert len(keys) == 12
    assert all(e.cvar >= e.var for e in table)



@pytest.mark.parametrize("n_days", [300, 1200, 3])
def test_var_table_equals_each_figure_computed_alone(n_days: int) -> None:
    """The table shares the clean returns and the daily moments: the same numbers exactly."""
    returns = pd.Series(np.random.default_rng(n_days).standard_t(4, n_days) * 0.01)
    returns.iloc[1] = np.nan
    methods = (VarMethod.HISTORICAL, VarMethod.PARAMETRIC)
    if n_days < 4:  # too short for the skew-adjusted curve: the same error as alone
        with pytest.raises(InsufficientHistoryError):
            risk.value_at_risk(returns, method=VarMethod.CORNISH_FISHER)
        with pytest.raises(InsufficientHistoryError):
            risk.var_table(returns)
    else:
        methods = tuple(VarMethod)
    for row in risk.var_table(returns, methods=methods, horizons=(1, 5, 10)):
        alone = {"method": row.method, "horizon_days": row.horizon_days}
        assert row.var == risk.value_at_risk(returns, row.confidence, **alone)
        assert row.cvar == risk.cvar(returns, row.confidence, **alone)

def test_var_validation() -> None:
    with pytest.raises(InsufficientHistoryError):
        risk.value_at_risk(pd.Series([0.01, np.nan]))
    with pytest.raises(InsufficientHistoryError):
        risk.value_at_risk(pd.Series([0.01, 0.02, 0.0]), method=VarMethod.CORNISH_FISHER)
    with pytest.raises(InputError):
        risk.value_at_risk(HAND, 1.0)
    with pytest.raises(InputError):
        risk.cvar(HAND, 0.95, horizon_days=0)


# --------------------------------------------------------------------------- other measures
def test_portfolio_returns_are_weighted_sum() -> None:
    returns = pd.DataFrame(
        {"A": [0.01, np.nan, 0.03], "B": [0.02, 0.0, -0.01], "C": [9.0, 9.0, 9.0]},
        index=_dates(3),
    )
    weights = pd.Series({"A": 0.25, "B": 0.75})
    got = risk.portfolio_returns(returns, weights)
    assert list(got.index) == [_dates(3)[0], _dates(3)[2]]
    np.testing.assert_allclose(got.to_numpy(), [0.0175, 0.0], atol=1e-15)
    with pytest.raises(DataUnavailableError):
        risk.portfolio_returns(returns, pd.Series({"A": 0.5, "Z": 0.5}))


def test_beta_matches_ols_regression() -> None:
    rng = np.random.default_rng(9)
    bench = pd.Series(rng.normal(0, 0.01, 400), index=_dates(400))
    port = 1.3 * bench + rng.normal(0, 0.005, 400)
    port.iloc[5] = np.nan
    slope = np.polyfit(bench.drop(port.index[5]), port.dropna(), 1)[0]
    assert risk.beta(port, bench) == pytest.approx(slope, abs=1e-10)
    # only common dates count
    shifted = risk.beta(port.iloc[100:], bench)
    slope2 = np.polyfit(bench.iloc[100:], port.iloc[100:], 1)[0]
    assert shifted == pytest.approx(slope2, abs=1e-10)



def _beta_through_a_join(port: pd.Series, bench: pd.Series) -> float:
    """Beta as first written: pandas' inner join, NaN rows dropped, OLS."""
    joined = pd.concat([port, bench], axis=1, join="inner").dropna()
    return risk.ols_beta(joined.iloc[:, 0].to_numpy(float), joined.iloc[:, 1].to_numpy(float))


def test_beta_on_arrays_equals_the_joined_frame_exactly() -> None:
    rng = np.random.default_rng(12)
    bench = pd.Series(rng.normal(0, 0.01, 300), index=_dates(300))
    port = 0.8 * bench + rng.normal(0, 0.004, 300)
    port.iloc[[3, 40]] = np.nan
    bench.iloc[[7, 41]] = np.nan
    cases = [
        (port, bench),
        (port.iloc[50:], bench),  # fewer days
        (port.iloc[::-1], bench),  # another order
        (port, bench.drop(bench.index[100:120])),  # a gap in the benchmark
    ]
    for mine, theirs in cases:
        assert risk.beta(mine, theirs) == _beta_through_a_join(mine, theirs)
    repeated = pd.concat([port, port.iloc[:2]])  # repeated dates: the join's own error
    with pytest.raises(ValueError, match="duplicate"):
        _beta_through_a_join(repeated, bench)
    with pytest.raises(ValueError, match="duplicate"):
        risk.beta(repeated, bench)

def test_risk_contributions_two_asset_hand_case() -> None:
    cov = pd.DataFrame([[0.04, 0.006], [0.006, 0.01]], index=["A", "B"], columns=["A", "B"])
    weights = pd.Series({"A": 0.6, "B": 0.4})
    # cov w = (0.0264, 0.0076); w' cov w = 0.01888
    got = risk.risk_contributions(weights, cov)
    assert got["A"] == pytest.approx(0.6 * 0.0264 / 0.01888, abs=1e-12)
    assert got["B"] == pytest.approx(0.4 * 0.0076 / 0.01888, abs=1e-12)
    assert got.sum() == pytest.approx(1.0, abs=1e-12)


def test_risk_contributions_sum_to_one_random() -> None:
    rng = np.random.default_rng(10)
    names = [f"T{i}" for i in range(8)]
    a = rng.normal(size=(8, 8))
    cov = pd.DataFrame(a @ a.T / 8 + np.eye(8) * 0.01, index=names, columns=names)
    weights = pd.Series(rng.dirichlet(np.ones(8)), index=names)
    assert risk.risk_contributions(weights, cov).sum() == pytest.approx(1.0, abs=1e-12)


def test_compute_risk_metrics_against_independent_pieces() -> None:
    rng = np.random.default_rng(11)
    n = 300
    bench_ret = rng.normal(0.0004, 0.01, n)
    rets = pd.DataFrame(
        {
            "A": 1.2 * bench_ret + rng.normal(0, 0.008, n),
            "B": 0.6 * bench_ret + rng.normal(0, 0.006, n),
        },
        index=_dates(n + 1)[1:],
    )
    dates = _dates(n + 1)
    prices = pd.DataFrame(
        100 * np.vstack([np.ones(2), np.cumprod(1 + rets.to_numpy(), axis=0)]),
        index=dates,
        columns=["A", "B"],
    )
    benchmark = pd.Series(3000 * np.concatenate([[1.0], np.cumprod(1 + bench_ret)]), index=dates)
    weights = pd.Series({"A": 0.7, "B": 0.3})
    mu = pd.Series({"A": 0.12, "B": 0.06})
    cov = pd.DataFrame([[0.09, 0.01], [0.01, 0.04]], index=["A", "B"], columns=["A", "B"])
    metrics = risk.compute_risk_metrics(weights, prices, benchmark, mu, cov, risk_free_rate=0.02)

    daily = rets.to_numpy() @ weights.to_numpy()
    vol = math.sqrt(0.49 * 0.09 + 2 * 0.21 * 0.01 + 0.09 * 0.04)
    assert metrics.expected_return == pytest.approx(0.7 * 0.12 + 0.3 * 0.06, abs=1e-12)
    assert metrics.volatility == pytest.approx(vol, abs=1e-12)
    assert metrics.sharpe == pytest.approx((0.102 - 0.02) / vol, abs=1e-12)
    assert metrics.beta == pytest.approx(np.polyfit(bench_ret, daily, 1)[0], abs=1e-10)
    assert metrics.realized_volatility == pytest.approx(
        np.std(daily, ddof=1) * math.sqrt(252), rel=1e-10
    )
    assert metrics.realized_return == pytest.approx(np.prod(1 + daily) ** (252 / n) - 1, rel=1e-10)
    wealth = np.cumprod(1 + daily)
    peak = np.maximum.accumulate(np.concatenate([[1.0], wealth]))[1:]
    assert metrics.max_drawdown == pytest.approx(-(wealth / peak - 1).min(), abs=1e-12)
    assert metrics.var_at(0.95).var == pytest.approx(
        np.quantile(-daily, 0.95, method="inverted_cdf"), abs=1e-14
    )
    assert metrics.risk_contributions.sum() == pytest.approx(1.0, abs=1e-12)
    assert metrics.effective_holdings == pytest.approx(1 / (0.49 + 0.09))
