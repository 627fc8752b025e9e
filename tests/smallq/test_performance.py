"""Performance metrics against empyrical-reloaded and against closed forms by hand."""

from __future__ import annotations

import math

import empyrical
import numpy as np
import pandas as pd
import pytest
from skfolio.datasets import load_sp500_dataset, load_sp500_index

from smallq import performance as pf
from smallq.errors import InsufficientHistoryError

RF = 0.02
RF_DAILY = RF / 252
TOL = 1e-10


@pytest.fixture(scope="module")
def real() -> tuple[pd.Series, pd.Series]:
    """A real stock's and the S&P 500's daily returns, 2015-2022."""
    stock = load_sp500_dataset()["JPM"].loc["2015":].pct_change().iloc[1:]
    index = load_sp500_index()["SP500"].loc["2015":].pct_change().iloc[1:]
    return stock, index


@pytest.fixture(scope="module")
def synthetic() -> tuple[pd.Series, pd.Series]:
    rng = np.random.default_rng(7)
    dates = pd.bdate_range("2016-01-04", periods=900)
    bench = pd.Series(rng.normal(3e-4, 0.011, 900), dates)
    strat = 1e-4 + 0.8 * bench + pd.Series(rng.normal(0, 0.006, 900), dates)
    return strat, bench


@pytest.fixture(params=["real", "synthetic"])
def pair(
    request: pytest.FixtureRequest,
    real: tuple[pd.Series, pd.Series],
    synthetic: tuple[pd.Series, pd.Series],
) -> tuple[pd.Series, pd.Series]:
    return real if request.param == "real" else synthetic


# --------------------------------------------------------------------------- vs empyrical
def test_metrics_match_empyrical(pair: tuple[pd.Series, pd.Series]) -> None:
    r, b = pair
    m = pf.performance_metrics(r, b, risk_free_rate=RF)
    assert m.cagr == pytest.approx(empyrical.cagr(r), abs=TOL)
    assert m.volatility == pytest.approx(empyrical.annual_volatility(r), abs=TOL)
    assert m.sharpe == pytest.approx(empyrical.sharpe_ratio(r, risk_free=RF_DAILY), abs=TOL)
    assert m.sortino == pytest.approx(empyrical.sortino_ratio(r, required_return=RF_DAILY), abs=TOL)
    assert pf.downside_deviation(r, RF) == pytest.approx(
        empyrical.downside_risk(r, required_return=RF_DAILY), abs=TOL
    )
    assert m.max_drawdown == pytest.approx(-empyrical.max_drawdown(r), abs=TOL)
    assert m.calmar == pytest.approx(empyrical.calmar_ratio(r), abs=TOL)
    alpha, beta = empyrical.alpha_beta(r, b, risk_free=RF_DAILY)
    assert m.alpha == pytest.approx(alpha, abs=TOL)
    assert m.beta == pytest.approx(beta, abs=TOL)
    assert m.information_ratio == pytest.approx(
        empyrical.excess_sharpe(r, b) * math.sqrt(252), abs=TOL
    )
    assert m.total_return == pytest.approx(empyrical.cum_returns_final(r), abs=TOL)


def test_monthly_figures_match_empyrical(pair: tuple[pd.Series, pd.Series]) -> None:
    r, b = pair
    reference = empyrical.aggregate_returns(r, "monthly")  # indexed by (year, month)
    ours = pf.monthly_returns(r)
    assert list(zip(ours.index.year, ours.index.month, strict=True)) == list(reference.index)
    np.testing.assert_allclose(ours.to_numpy(), reference.to_numpy(), rtol=0, atol=TOL)
    m = pf.performance_metrics(r, b, risk_free_rate=RF)
    assert m.best_month == pytest.approx(reference.max(), abs=TOL)
    assert m.worst_month == pytest.approx(reference.min(), abs=TOL)
    assert m.hit_rate == pytest.approx((reference > 0).mean(), abs=TOL)


def test_tracking_error_by_hand(synthetic: tuple[pd.Series, pd.Series]) -> None:
    r, b = synthetic
    active = (r - b).to_numpy()
    by_hand = math.sqrt(((active - active.mean()) ** 2).sum() / (len(active) - 1) * 252)
    assert pf.tracking_error(r, b) == pytest.approx(by_hand, abs=TOL)


def test_rolling_figures_match_empyrical(real: tuple[pd.Series, pd.Series]) -> None:
    r, b = real
    sharpe = pf.rolling_sharpe(r, 126)
    reference = empyrical.roll_sharpe_ratio(r, window=126)
    np.testing.assert_allclose(sharpe.iloc[125:].to_numpy(), np.asarray(reference), atol=1e-8)
    beta = pf.rolling_beta(r, b, 126)
    reference_beta = empyrical.roll_beta(r, b, window=126)
    np.testing.assert_allclose(beta.iloc[125:].to_numpy(), np.asarray(reference_beta), atol=1e-8)


# --------------------------------------------------------------------------- closed forms
def test_sortino_by_hand() -> None:
    r = pd.Series([0.02, -0.01, 0.03, -0.02], pd.bdate_range("2021-01-04", periods=4))
    downside = math.sqrt((0.01**2 + 0.02**2) / 4)  # mean over ALL four periods
    expected = (0.005 * 252) / (downside * math.sqrt(252))
    assert pf.sortino_ratio(r) == pytest.approx(expected, abs=1e-12)


def test_capm_regression_by_hand() -> None:
    rng = np.random.default_rng(3)
    dates = pd.bdate_range("2019-01-01", periods=300)
    b = pd.Series(rng.normal(0.0005, 0.01, 300), dates)
    rf = RF_DAILY
    r = rf + 0.0002 + 1.5 * (b - rf)  # exact CAPM line, no noise
    alpha, beta = pf.alpha_beta(r, b, RF)
    assert beta == pytest.approx(1.5, abs=1e-12)
    assert alpha == pytest.approx(1.0002**252 - 1, abs=1e-10)


def test_information_ratio_of_a_constant_spread() -> None:
    rng = np.random.default_rng(4)
    b = pd.Series(rng.normal(0, 0.01, 100), pd.bdate_range("2019-01-01", periods=100))
    assert pf.tracking_error(b + 0.001, b) == pytest.approx(0.0, abs=1e-15)
    assert math.isnan(pf.information_ratio(b + 0.001, b))


def test_hit_rate_and_months_by_hand() -> None:
    dates = pd.to_datetime(["2021-01-04", "2021-01-05", "2021-02-01", "2021-03-01", "2021-03-02"])
    r = pd.Series([0.10, -0.05, -0.02, 0.01, 0.01], dates)
    months = pf.monthly_returns(r)
    np.testing.assert_allclose(months.to_numpy(), [1.1 * 0.95 - 1, -0.02, 1.01**2 - 1])
    m = pf.performance_metrics(r, r, risk_free_rate=0.0)
    assert m.hit_rate == pytest.approx(2 / 3)
    assert m.best_month == pytest.approx(0.045)
    assert m.worst_month == pytest.approx(-0.02)
    table = pf.monthly_table(r)
    assert table.shape == (1, 12) and table.loc[2021, 2] == pytest.approx(-0.02)
    assert table.loc[2021, 4:].isna().all()


# --------------------------------------------------------------------------- compare, tracking
def test_compare_aligns_and_puts_the_benchmark_against_itself(
    synthetic: tuple[pd.Series, pd.Series],
) -> None:
    r, b = synthetic
    strategy, benchmark = pf.compare(r.iloc[10:], b, risk_free_rate=RF)
    assert strategy.start == b.index[10] and benchmark.start == b.index[10]
    assert strategy.n_periods == benchmark.n_periods == len(b) - 10
    assert benchmark.beta == pytest.approx(1.0, abs=1e-12)
    assert benchmark.alpha == pytest.approx(0.0, abs=1e-12)
    assert benchmark.tracking_error == 0.0 and math.isnan(benchmark.information_ratio)
    assert benchmark.sharpe == pytest.approx(
        empyrical.sharpe_ratio(b.iloc[10:], risk_free=RF_DAILY), abs=TOL
    )
    data = benchmark.to_dict()
    assert data["information_ratio"] is None and data["start"] == f"{b.index[10]:%Y-%m-%d}"


def test_tracking_a_stored_portfolio() -> None:
    dates = pd.bdate_range("2023-03-01", periods=60)
    rng = np.random.default_rng(5)
    bench = pd.Series(4000 * np.cumprod(1 + rng.normal(0, 0.01, 60)), dates)
    values = pd.Series(25_000 * np.cumprod(1 + rng.normal(0.001, 0.012, 60)), dates)
    report = pf.tracking(values.iloc[5:], bench, risk_free_rate=RF)
    own = values.iloc[-1] / values.iloc[5] - 1
    theirs = bench.iloc[-1] / bench.iloc[5] - 1
    assert report.total_return == pytest.approx(own, abs=1e-12)
    assert report.benchmark_total_return == pytest.approx(theirs, abs=1e-12)
    assert report.excess_return == pytest.approx(own - theirs, abs=1e-12)
    assert report.relative.iloc[0] == 1.0
    assert report.relative.iloc[-1] == pytest.approx((1 + own) / (1 + theirs), abs=1e-12)
    assert report.metrics.total_return == pytest.approx(own, abs=1e-12)
    assert report.metrics.beta == pytest.approx(
        empyrical.beta(values.iloc[5:].pct_change().iloc[1:], bench.iloc[5:].pct_change().iloc[1:]),
        abs=TOL,
    )


def test_tracking_carries_the_benchmark_forward_onto_portfolio_dates() -> None:
    dates = pd.bdate_range("2023-03-01", periods=5)
    bench = pd.Series([100.0, 101.0, 102.0], dates[[0, 1, 3]])  # a missing benchmark day
    values = pd.Series([10.0, 10.5, 10.2, 10.4, 10.6], dates)
    report = pf.tracking(values, bench, risk_free_rate=0.0)
    assert report.benchmark_total_return == pytest.approx(0.02)
    assert report.total_return == pytest.approx(0.06)


def test_too_short_histories_raise() -> None:
    one = pd.Series([0.01], pd.bdate_range("2023-01-02", periods=1))
    with pytest.raises(InsufficientHistoryError):
        pf.performance_metrics(one, one, risk_free_rate=0.0)
    with pytest.raises(InsufficientHistoryError):
        pf.tracking(
            pd.Series([1.0, 1.1], pd.bdate_range("2023-01-02", periods=2)), one, risk_free_rate=0.0
        )


def test_worst_drawdowns_by_hand_and_against_max_drawdown() -> None:
    from smallq.performance import max_drawdown, worst_drawdowns

    days = pd.bdate_range("2024-01-01", periods=9)
    # wealth 1.0 → 1.1 → 0.99 (-10%) → 1.1 (recovered) → 1.21 → 0.847 (-30%) → 0.9 ...
    wealth = pd.Series([1.1, 0.99, 1.1, 1.21, 0.847, 0.9, 1.0, 1.0, 0.95], index=days)
    returns = wealth.pct_change().fillna(0.1)
    table = worst_drawdowns(returns, n=5)
    assert list(table["depth"].round(6)) == [0.3, 0.1]
    assert table.loc[0, "peak"] == days[3] and table.loc[0, "trough"] == days[4]
    assert pd.isna(table.loc[0, "recovery"]) and table.loc[0, "days"] == 5
    assert table.loc[1, "recovery"] == days[2] and table.loc[1, "days"] == 2
    deepest = max_drawdown(returns)
    assert table.loc[0, "depth"] == pytest.approx(deepest.depth)
    assert (table.loc[0, "days"], deepest.recovered) == (deepest.duration, False)


def test_yearly_returns_and_rolling_volatility_by_hand() -> None:
    from smallq.performance import rolling_volatility, yearly_returns

    days = pd.bdate_range("2023-12-27", "2024-01-05")
    returns = pd.Series(0.01, index=days)
    yearly = yearly_returns(returns)
    n2023 = int((days.year == 2023).sum())
    assert yearly.loc[2023] == pytest.approx(1.01**n2023 - 1)
    assert yearly.loc[2024] == pytest.approx(1.01 ** (len(days) - n2023) - 1)
    noisy = pd.Series(np.random.default_rng(0).normal(0, 0.01, 300))
    rolled = rolling_volatility(noisy, window=50)
    assert rolled.iloc[:49].isna().all()
    assert rolled.iloc[-1] == pytest.approx(noisy.iloc[-50:].std(ddof=1) * np.sqrt(252))
