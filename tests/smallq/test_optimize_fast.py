"""The report's fast paths equal the references: daqp vs PyPortfolioOpt, numpy vs scikit-learn.

* ``optimize_weights(..., fast=True)`` (the build's path) against the default PyPortfolioOpt
  path on the same inputs: weights to 1e-5, and an objective never worse (a Sharpe ratio
  at least as high, a volatility at most as high);
* the warm-started frontier against PyPortfolioOpt's ``efficient_return`` sweep;
* :func:`smallq.forecast.ledoit_wolf` against ``sklearn.covariance.ledoit_wolf`` to 1e-10.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.covariance import ledoit_wolf as sklearn_ledoit_wolf

from smallq.constraints import WeightLimits
from smallq.data.sample import SampleSource
from smallq.forecast import covariance, expected_returns, ledoit_wolf
from smallq.models import Settings
from smallq.optimize import optimize_weights, trace_frontier
from smallq.types import CovModel, Objective, ReturnsModel
from tests.smallq.test_optimize import make_settings, random_problem

WEIGHT_TOL = 1e-5


@pytest.mark.parametrize(("n_obs", "n_assets"), [(756, 20), (300, 100), (1200, 500), (40, 3)])
def test_numpy_ledoit_wolf_equals_sklearn(n_obs: int, n_assets: int) -> None:
    rng = np.random.default_rng(n_assets)
    returns = rng.standard_normal((n_obs, n_assets)) * 0.01 + rng.standard_normal(n_assets) * 1e-3
    expected, expected_shrinkage = sklearn_ledoit_wolf(returns)
    cov, shrinkage = ledoit_wolf(returns)
    np.testing.assert_allclose(cov, expected, rtol=0, atol=1e-10)
    assert shrinkage == pytest.approx(expected_shrinkage, abs=1e-10)


def test_ledoit_wolf_of_one_asset_is_its_variance() -> None:
    returns = np.random.default_rng(1).standard_normal((50, 1))
    cov, shrinkage = ledoit_wolf(returns)
    np.testing.assert_allclose(cov, sklearn_ledoit_wolf(returns)[0], atol=1e-12)
    assert shrinkage == 0.0


def _both(
    mu: pd.Series, cov: pd.DataFrame, settings: Settings, **options: object
) -> tuple[pd.Series, pd.Series, float, float, str]:
    fast = optimize_weights(mu, cov, settings, fast=True, **options)  # type: ignore[arg-type]
    reference = optimize_weights(mu, cov, settings, **options)  # type: ignore[arg-type]
    assert fast.objective_used is reference.objective_used
    if settings.objective is Objective.MAX_SHARPE:
        assert fast.sharpe >= reference.sharpe - 1e-9
    else:
        assert fast.volatility <= reference.volatility + 1e-9
    return fast.weights, reference.weights, fast.sharpe, reference.sharpe, fast.solver


@pytest.mark.parametrize("objective", [Objective.MAX_SHARPE, Objective.MIN_VOLATILITY])
@pytest.mark.parametrize(("seed", "n_assets", "max_weight"), [(1, 10, 1.0), (2, 50, 0.1),
                                                              (3, 100, 0.05), (4, 30, 0.2)])
def test_fast_optimize_equals_pypfopt(
    objective: Objective, seed: int, n_assets: int, max_weight: float
) -> None:
    mu, cov = random_problem(seed, n_assets)
    fast, reference, *_, solver = _both(mu, cov, make_settings(objective, max_weight=max_weight))
    assert solver == "daqp"
    np.testing.assert_allclose(fast.to_numpy(), reference.to_numpy(), rtol=0, atol=WEIGHT_TOL)


@pytest.mark.parametrize("objective", [Objective.MAX_SHARPE, Objective.MIN_VOLATILITY])
def test_fast_optimize_with_sector_caps_equals_pypfopt(objective: Objective) -> None:
    mu, cov = random_problem(5, 24)
    sector_map = {t: ("A", "B", "C")[i % 3] for i, t in enumerate(mu.index)}
    fast, reference, *_ = _both(
        mu,
        cov,
        make_settings(objective, max_weight=0.15),
        sector_map=sector_map,
        sector_caps={"A": 0.2, "B": 0.5},
    )
    np.testing.assert_allclose(fast.to_numpy(), reference.to_numpy(), rtol=0, atol=WEIGHT_TOL)


def test_fast_optimize_on_real_prices_equals_pypfopt() -> None:
    prices = SampleSource()._load_prices().loc["2019-12-01":"2022-12-28"]
    mu = expected_returns(prices, ReturnsModel.MEAN, risk_free_rate=0.02)
    cov = covariance(prices, CovModel.LEDOIT_WOLF)
    fast, reference, *_ = _both(mu, cov, make_settings(max_weight=0.25))
    np.testing.assert_allclose(fast.to_numpy(), reference.to_numpy(), rtol=0, atol=WEIGHT_TOL)


def test_max_sharpe_without_a_return_above_the_rate_falls_back_alike() -> None:
    mu, cov = random_problem(6, 8)
    low = mu * 0 - 0.01
    fast = optimize_weights(low, cov, make_settings(max_weight=0.5), fast=True)
    reference = optimize_weights(low, cov, make_settings(max_weight=0.5))
    assert fast.objective_used is reference.objective_used is Objective.MIN_VOLATILITY
    assert [s.reason for s in fast.fallbacks] == [s.reason for s in reference.fallbacks]
    np.testing.assert_allclose(fast.weights, reference.weights, atol=WEIGHT_TOL)


@pytest.mark.parametrize(("seed", "n_assets", "bound"), [(7, 20, 0.25), (8, 100, 0.05)])
def test_fast_frontier_equals_the_pypfopt_sweep(seed: int, n_assets: int, bound: float) -> None:
    mu, cov = random_problem(seed, n_assets)
    limits = WeightLimits.build(list(mu.index), bound)
    fast = trace_frontier(mu, cov, limits, n_points=20, fast=True)
    reference = trace_frontier(mu, cov, limits, n_points=20)
    assert len(fast) >= len(reference) - 1
    # same targets: at each expected return the fast volatility is never higher
    merged = pd.merge_asof(
        reference.sort_values("expected_return"),
        fast.sort_values("expected_return").rename(columns={"volatility": "fast"}),
        on="expected_return",
        direction="nearest",
        tolerance=1e-6,
    ).dropna()
    assert len(merged) >= len(reference) - 1
    assert (merged["fast"] <= merged["volatility"] + 1e-6).all()
    np.testing.assert_allclose(merged["fast"], merged["volatility"], atol=1e-5)


def test_the_reports_weekly_fan_is_the_daily_fan_on_those_days() -> None:
    from smallq.stress import REPORT_FAN_STEP_DAYS, monte_carlo
    from smallq.types import MonteCarloMethod

    prices = SampleSource()._load_prices().loc["2020-01-01":"2022-12-28", ["AAPL", "KO", "XOM"]]
    weights = pd.Series([0.5, 0.3, 0.2], index=prices.columns)
    returns = prices.pct_change().iloc[1:]
    for method in MonteCarloMethod:
        options = {"method": method, "n_paths": 2_000, "horizon_days": 252, "seed": 3}
        daily = monte_carlo(weights, returns, **options)  # type: ignore[arg-type]
        weekly = monte_carlo(weights, returns, fan_step_days=REPORT_FAN_STEP_DAYS, **options)  # type: ignore[arg-type]
        assert list(weekly.fan.index) == [*range(0, 252, 5), 252]
        pd.testing.assert_frame_equal(weekly.fan, daily.fan.loc[weekly.fan.index])
        assert weekly.percentiles == daily.percentiles
        assert weekly.loss_probabilities == daily.loss_probabilities
