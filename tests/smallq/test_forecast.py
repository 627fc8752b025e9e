"""Expected returns and covariance against PyPortfolioOpt and hand computations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pypfopt import expected_returns as pypfopt_returns
from pypfopt import risk_models

from smallq.errors import DataFormatError, DataUnavailableError, InsufficientHistoryError
from smallq.forecast import covariance, daily_returns, expected_returns, forecast_moments
from smallq.types import CovModel, ReturnsModel

TOL = 1e-8


@pytest.fixture(scope="module")
def market() -> tuple[pd.DataFrame, pd.Series]:
    """Five correlated synthetic stocks and a benchmark over 400 business days."""
    rng = np.random.default_rng(7)
    n_days = 400
    common = rng.normal(0.0003, 0.01, (n_days, 1))
    daily = common * rng.uniform(0.5, 1.5, 5) + rng.normal(0.0002, 0.012, (n_days, 5))
    index = pd.bdate_range("2021-01-04", periods=n_days)
    prices = pd.DataFrame(
        50 * np.cumprod(1 + daily, axis=0), index=index, columns=["AAA", "BBB", "CCC", "DDD", "EEE"]
    )
    bench = common[:, 0] + rng.normal(0, 0.002, n_days)
    benchmark = pd.Series(3000 * np.cumprod(1 + bench), index=index, name="SP500")
    return prices, benchmark


def test_mean_matches_pypfopt_arithmetic(market: tuple[pd.DataFrame, pd.Series]) -> None:
    prices, _ = market
    ours = expected_returns(prices, ReturnsModel.MEAN, risk_free_rate=0.02)
    theirs = pypfopt_returns.mean_historical_return(prices, compounding=False)
    pd.testing.assert_series_equal(ours, theirs, check_names=False, atol=TOL, rtol=0)
    # and it is NOT the compounded default
    geometric = pypfopt_returns.mean_historical_return(prices)
    assert (ours - geometric).abs().max() > 1e-4


def test_ema_matches_pypfopt(market: tuple[pd.DataFrame, pd.Series]) -> None:
    prices, _ = market
    ours = expected_returns(prices, ReturnsModel.EMA, risk_free_rate=0.02, span=60)
    theirs = pypfopt_returns.ema_historical_return(prices, span=60, compounding=False)
    pd.testing.assert_series_equal(ours, theirs, check_names=False, atol=TOL, rtol=0)


def test_capm_matches_pypfopt(market: tuple[pd.DataFrame, pd.Series]) -> None:
    prices, benchmark = market
    ours = expected_returns(prices, "capm", benchmark=benchmark, risk_free_rate=0.03)
    theirs = pypfopt_returns.capm_return(
        prices, market_prices=benchmark.to_frame(), risk_free_rate=0.03, compounding=False
    )
    pd.testing.assert_series_equal(ours, theirs, check_names=False, atol=TOL, rtol=0)


def test_capm_needs_benchmark(market: tuple[pd.DataFrame, pd.Series]) -> None:
    prices, _ = market
    with pytest.raises(DataUnavailableError):
        expected_returns(prices, ReturnsModel.CAPM, risk_free_rate=0.02)


def test_capm_hand_check_beta_two() -> None:
    """An asset whose returns are exactly twice the market's has beta 2."""
    rng = np.random.default_rng(3)
    market_returns = rng.normal(0.001, 0.01, 60)
    index = pd.bdate_range("2022-01-03", periods=61)
    bench = pd.Series(100 * np.cumprod(np.r_[1, 1 + market_returns]), index=index)
    prices = pd.DataFrame({"X": 10 * np.cumprod(np.r_[1, 1 + 2 * market_returns])}, index=index)
    rf = 0.01
    got = expected_returns(prices, ReturnsModel.CAPM, benchmark=bench, risk_free_rate=rf)
    expected = rf + 2 * (market_returns.mean() * 252 - rf)
    assert got["X"] == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    ("model", "reference"),
    [
        (CovModel.SAMPLE, lambda p: risk_models.sample_cov(p)),
        (CovModel.LEDOIT_WOLF, lambda p: risk_models.CovarianceShrinkage(p).ledoit_wolf()),
        (CovModel.EXP, lambda p: risk_models.exp_cov(p, span=180)),
    ],
)
def test_covariance_matches_pypfopt(
    market: tuple[pd.DataFrame, pd.Series], model: CovModel, reference: object
) -> None:
    prices, _ = market
    ours = covariance(prices, model)
    theirs = reference(prices)  # type: ignore[operator]
    assert list(ours.index) == list(prices.columns) == list(ours.columns)
    np.testing.assert_allclose(ours.to_numpy(), theirs.to_numpy(), atol=1e-10, rtol=0)


def test_mean_and_covariance_hand_check() -> None:
    """Three daily returns computed by hand."""
    index = pd.bdate_range("2023-01-02", periods=4)
    prices = pd.DataFrame({"A": [100.0, 110.0, 99.0, 99.0], "B": [50.0, 50.0, 55.0, 44.0]}, index)
    # A: +10%, -10%, 0%   B: 0%, +10%, -20%
    mean = expected_returns(prices, ReturnsModel.MEAN, risk_free_rate=0.0, min_observations=3)
    assert mean["A"] == pytest.approx(0.0, abs=1e-12)
    assert mean["B"] == pytest.approx((0.0 + 0.1 - 0.2) / 3 * 252, abs=1e-12)
    cov = covariance(prices, CovModel.SAMPLE, min_observations=3)
    # var(A) = (0.01 + 0.01 + 0) / 2;  cov(A,B): mean B = -1/30
    assert cov.loc["A", "A"] == pytest.approx(0.01 * 252, abs=1e-12)
    cross = (0.1 * (0 + 1 / 30) + (-0.1) * (0.1 + 1 / 30) + 0.0) / 2
    assert cov.loc["A", "B"] == pytest.approx(cross * 252, abs=1e-12)


def test_exp_cov_weights_recent_data_more() -> None:
    """A volatility regime change shows more in EXP than in SAMPLE."""
    rng = np.random.default_rng(11)
    calm = rng.normal(0, 0.005, (200, 2))
    wild = rng.normal(0, 0.03, (60, 2))
    daily = np.vstack([calm, wild])
    index = pd.bdate_range("2020-01-01", periods=len(daily) + 1)
    prices = pd.DataFrame(100 * np.cumprod(np.vstack([[1, 1], 1 + daily]), axis=0), index=index)
    prices.columns = ["A", "B"]
    exp = covariance(prices, CovModel.EXP, span=30)
    sample = covariance(prices, CovModel.SAMPLE)
    assert exp.loc["A", "A"] > 2 * sample.loc["A", "A"]


def test_insufficient_history_for_covariance() -> None:
    index = pd.bdate_range("2023-01-02", periods=25)
    prices = pd.DataFrame(
        np.random.default_rng(0).uniform(90, 110, (25, 30)),
        index=index,
        columns=[f"T{i}" for i in range(30)],
    )
    with pytest.raises(InsufficientHistoryError) as info:
        covariance(prices, CovModel.LEDOIT_WOLF)
    assert info.value.required == 31
    assert info.value.n_observations == 24


def test_insufficient_history_for_returns() -> None:
    index = pd.bdate_range("2023-01-02", periods=10)
    prices = pd.DataFrame({"A": np.linspace(10, 11, 10)}, index=index)
    with pytest.raises(InsufficientHistoryError):
        expected_returns(prices, ReturnsModel.MEAN, risk_free_rate=0.02)


def test_bad_prices_raise() -> None:
    index = pd.bdate_range("2023-01-02", periods=30)
    prices = pd.DataFrame({"A": np.linspace(10, 11, 30), "B": np.nan}, index=index)
    with pytest.raises(DataUnavailableError):
        daily_returns(prices)
    prices["B"] = 5.0
    prices.iloc[3, 1] = 0.0
    with pytest.raises(DataFormatError):
        daily_returns(prices)


def test_rows_with_gaps_are_dropped(market: tuple[pd.DataFrame, pd.Series]) -> None:
    prices, _ = market
    gappy = prices.copy()
    gappy.iloc[:50, 0] = np.nan
    returns = daily_returns(gappy)
    assert len(returns) == len(prices) - 51
    assert not returns.isna().any().any()
    assert not prices.iloc[:50, 0].isna().any()  # input not mutated


def test_real_prices_match_pypfopt() -> None:
    """The 20 embedded S&P 500 stocks over three years (offline skfolio data set)."""
    datasets = pytest.importorskip("skfolio.datasets")
    prices = datasets.load_sp500_dataset().iloc[-757:]
    np.testing.assert_allclose(
        covariance(prices, CovModel.LEDOIT_WOLF).to_numpy(),
        risk_models.CovarianceShrinkage(prices).ledoit_wolf().to_numpy(),
        atol=1e-10,
        rtol=0,
    )
    np.testing.assert_allclose(
        expected_returns(prices, ReturnsModel.MEAN, risk_free_rate=0.02).to_numpy(),
        pypfopt_returns.mean_historical_return(prices, compounding=False).to_numpy(),
        atol=TOL,
        rtol=0,
    )


def test_forecast_moments_uses_the_settings_models(market: tuple[pd.DataFrame, pd.Series]) -> None:
    from smallq.models import Settings
    from smallq.types import Objective

    prices, benchmark = market
    settings = Settings(
        objective=Objective.MAX_SHARPE,
        returns_model=ReturnsModel.CAPM,
        cov_model=CovModel.EXP,
        max_weight=0.5,
        min_holdings=2,
        risk_free_rate=0.03,
        target_volatility=0.2,
        risk_aversion=2.0,
    )
    mu, cov = forecast_moments(prices, settings, benchmark=benchmark)
    expected = expected_returns(prices, ReturnsModel.CAPM, benchmark=benchmark, risk_free_rate=0.03)
    pd.testing.assert_series_equal(mu, expected)
    pd.testing.assert_frame_equal(cov, covariance(prices, CovModel.EXP))
