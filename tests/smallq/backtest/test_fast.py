"""Fast path: rolling moments against a fresh recomputation, daqp QPs against PyPortfolioOpt."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pypfopt import EfficientFrontier, expected_returns, risk_models
from pypfopt.exceptions import OptimizationError
from skfolio.datasets import load_sp500_dataset

from smallq.backtest.fast import FastPolicy, RollingMoments
from smallq.errors import (
    DataUnavailableError,
    InfeasibleConstraintsError,
    InsufficientHistoryError,
    UnknownOptionError,
)
from smallq.qp import max_sharpe_qp, min_volatility_qp
from smallq.types import Objective

RF = 0.02
#: window end dates spread over calm and stressed markets
WINDOW_ENDS = ("2000-06-30", "2008-10-15", "2013-03-28", "2020-03-31", "2022-12-28")


@pytest.fixture(scope="module")
def prices() -> pd.DataFrame:
    return load_sp500_dataset()


def window_at(prices: pd.DataFrame, end: str, days: int = 252) -> pd.DataFrame:
    return prices.loc[:end].iloc[-(days + 1) :]


def pypfopt_inputs(window: pd.DataFrame) -> tuple[pd.Series, pd.DataFrame]:
    mu = expected_returns.mean_historical_return(window, compounding=False)
    return mu, risk_models.sample_cov(window)


# --------------------------------------------------------------------------- rolling moments
def test_rolling_moments_match_a_fresh_recomputation(prices: pd.DataFrame) -> None:
    returns = prices.pct_change().iloc[1:].to_numpy()[:3000]
    moments = RollingMoments(252)
    end = 0
    for step in [300, 1, 5, 7, 5, 250, 260, 5, 3, *[5] * 300]:  # grow, slide, overshoot
        moments.push(returns[end : end + step])
        end += step
        window = returns[max(0, end - 252) : end]
        assert moments.n_observations == len(window)
        np.testing.assert_allclose(moments.mean(), window.mean(axis=0), rtol=0, atol=1e-10)
        np.testing.assert_allclose(moments.cov(), np.cov(window.T), rtol=0, atol=1e-10)
    assert end > 1700  # slid over many windows: accumulated error stays below 1e-10
    # annualised, as the policy uses them: still within 1e-10 of a fresh computation
    window = returns[end - 252 : end]
    fresh = np.cov(window.T) * 252
    assert np.abs(moments.cov() * 252 - fresh).max() < 1e-10


def test_rolling_moments_need_two_rows() -> None:
    moments = RollingMoments(10)
    moments.push(np.ones((1, 3)))
    with pytest.raises(InsufficientHistoryError):
        moments.cov()


# --------------------------------------------------------------------------- QP vs PyPortfolioOpt
@pytest.mark.parametrize("end", WINDOW_ENDS)
@pytest.mark.parametrize("cap", [0.10, 0.25])
def test_max_sharpe_matches_pypfopt(prices: pd.DataFrame, end: str, cap: float) -> None:
    mu, cov = pypfopt_inputs(window_at(prices, end))
    frontier = EfficientFrontier(mu, cov, weight_bounds=(0, cap), solver="CLARABEL")
    try:
        reference = frontier.max_sharpe(risk_free_rate=RF)
    except OptimizationError:  # 2008 with a 10% cap: too few winners to fill 10 slots
        with pytest.raises(InfeasibleConstraintsError):
            max_sharpe_qp(mu.to_numpy(), cov.to_numpy(), risk_free_rate=RF, max_weight=cap)
        return
    ours = max_sharpe_qp(mu.to_numpy(), cov.to_numpy(), risk_free_rate=RF, max_weight=cap)
    expected = pd.Series(reference).reindex(mu.index).to_numpy()
    assert np.abs(ours.weights - expected).max() <= 1e-4
    assert ours.weights.sum() == pytest.approx(1.0, abs=1e-12)
    assert ours.weights.min() >= 0.0 and ours.weights.max() <= cap + 1e-9


@pytest.mark.parametrize("end", WINDOW_ENDS)
def test_min_volatility_matches_pypfopt(prices: pd.DataFrame, end: str) -> None:
    mu, cov = pypfopt_inputs(window_at(prices, end))
    frontier = EfficientFrontier(mu, cov, weight_bounds=(0, 0.10), solver="CLARABEL")
    reference = frontier.min_volatility()
    ours = min_volatility_qp(cov.to_numpy(), max_weight=0.10)
    expected = pd.Series(reference).reindex(mu.index).to_numpy()
    assert np.abs(ours.weights - expected).max() <= 1e-4


def test_warm_start_gives_the_same_weights_in_fewer_iterations(prices: pd.DataFrame) -> None:
    first = pypfopt_inputs(window_at(prices, "2019-06-03"))
    second = pypfopt_inputs(window_at(prices, "2019-06-10"))  # one week later
    kwargs = {"risk_free_rate": RF, "max_weight": 0.10}
    previous = max_sharpe_qp(first[0].to_numpy(), first[1].to_numpy(), **kwargs)
    cold = max_sharpe_qp(second[0].to_numpy(), second[1].to_numpy(), **kwargs)
    warm = max_sharpe_qp(
        second[0].to_numpy(), second[1].to_numpy(), warm_start=previous.duals, **kwargs
    )
    np.testing.assert_allclose(warm.weights, cold.weights, atol=1e-10)
    assert warm.iterations < cold.iterations


def test_max_sharpe_without_an_asset_above_the_risk_free_rate_is_infeasible() -> None:
    cov = np.diag([0.04, 0.09, 0.16])
    with pytest.raises(InfeasibleConstraintsError):
        max_sharpe_qp(np.array([0.01, 0.0, -0.1]), cov, risk_free_rate=0.02, max_weight=0.5)


def test_a_cap_too_small_for_the_assets_is_infeasible() -> None:
    with pytest.raises(InfeasibleConstraintsError):
        min_volatility_qp(np.eye(5), max_weight=0.1)


def test_min_volatility_closed_form_for_uncorrelated_assets() -> None:
    variances = np.array([0.01, 0.04, 0.09])
    weights = min_volatility_qp(np.diag(variances), max_weight=1.0).weights
    expected = (1 / variances) / (1 / variances).sum()  # w_i ∝ 1/σ_i² without binding caps
    np.testing.assert_allclose(weights, expected, atol=1e-9)


# --------------------------------------------------------------------------- policy
def test_incremental_policy_equals_fresh_policy(prices: pd.DataFrame) -> None:
    data = prices.loc["2015-01-01":"2017-12-31"]
    fast, fresh = FastPolicy(), FastPolicy(incremental=False, warm_start=False)
    for end in range(260, len(data), 17):
        history = data.iloc[:end]
        pd.testing.assert_series_equal(
            fast(history, history.index[-1]), fresh(history, history.index[-1]), atol=1e-9
        )


def test_policy_matches_pypfopt_on_the_same_window(prices: pd.DataFrame) -> None:
    history = prices.loc[:"2021-09-30"]
    weights = FastPolicy(max_weight=0.10, risk_free_rate=RF)(history, history.index[-1])
    mu, cov = pypfopt_inputs(history.iloc[-253:])
    reference = EfficientFrontier(mu, cov, weight_bounds=(0, 0.10)).max_sharpe(risk_free_rate=RF)
    diff = weights - pd.Series(reference)
    assert diff.abs().max() <= 1e-4


def test_policy_falls_back_to_min_volatility_when_everything_loses(prices: pd.DataFrame) -> None:
    falling = prices.iloc[:300].copy()
    falling[:] = 100.0 * np.exp(
        -0.002 * np.arange(300)[:, None]
        + 0.01 * np.random.default_rng(0).standard_normal(falling.shape)
    )
    policy = FastPolicy()
    weights = policy(falling, falling.index[-1])
    cov = falling.pct_change().iloc[-252:].cov().to_numpy() * 252
    expected = min_volatility_qp(cov, max_weight=0.10).weights
    np.testing.assert_allclose(weights.to_numpy(), expected, atol=1e-8)
    assert [d for d, _ in policy.fallbacks] == [falling.index[-1]]


def test_policy_rejects_gaps_and_short_history(prices: pd.DataFrame) -> None:
    gappy = prices.iloc[:300].copy()
    gappy.iloc[200, 3] = np.nan
    with pytest.raises(DataUnavailableError) as info:
        FastPolicy()(gappy, gappy.index[-1])
    assert info.value.tickers == (str(prices.columns[3]),)
    with pytest.raises(InsufficientHistoryError):
        FastPolicy()(prices.iloc[:100], prices.index[99])
    with pytest.raises(UnknownOptionError):
        FastPolicy(Objective.HRP)
