"""Risk parity and the MVO+HRP hybrid, against independent computations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pypfopt import EfficientFrontier, HRPOpt
from scipy.optimize import minimize

from smallq.optimize import HYBRID_MVO_SHARE, optimize_weights, risk_parity_weights
from smallq.types import Objective
from tests.smallq.test_optimize import make_settings, random_problem


def _risk_shares(weights: np.ndarray, cov: np.ndarray) -> np.ndarray:
    marginal = cov @ weights
    return weights * marginal / (weights @ marginal)


@pytest.mark.parametrize("seed,n", [(1, 3), (2, 8), (3, 15)])
def test_risk_parity_equalises_risk_and_matches_scipy(seed: int, n: int) -> None:
    _, cov = random_problem(seed, n)
    weights = risk_parity_weights(cov)
    assert weights.sum() == pytest.approx(1.0, abs=1e-12)
    assert (weights > 0).all()
    np.testing.assert_allclose(_risk_shares(weights.to_numpy(), cov.to_numpy()), 1 / n, atol=1e-8)
    # independent: minimise the spread of risk contributions with SLSQP
    sigma = cov.to_numpy()

    def spread(w: np.ndarray) -> float:
        rc = w * (sigma @ w)
        return float(((rc[:, None] - rc[None, :]) ** 2).sum()) * 1e4

    found = minimize(
        spread,
        np.full(n, 1 / n),
        bounds=[(1e-6, 1)] * n,
        constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1}],
        method="SLSQP",
        options={"ftol": 1e-16, "maxiter": 2000},
    )
    np.testing.assert_allclose(weights.to_numpy(), found.x, atol=1e-4)


def test_risk_parity_objective_respects_caps() -> None:
    mu, cov = random_problem(4, 6)
    result = optimize_weights(mu, cov, make_settings(Objective.RISK_PARITY, max_weight=0.2))
    assert result.objective_used is Objective.RISK_PARITY
    assert result.weights.sum() == pytest.approx(1.0)
    assert result.weights.max() <= 0.2 + 1e-9


def test_hybrid_is_the_stated_blend_of_pypfopt_max_sharpe_and_hrp() -> None:
    mu, cov = random_problem(5, 7)
    rng = np.random.default_rng(5)
    returns = pd.DataFrame(
        rng.multivariate_normal(np.zeros(7), cov.to_numpy() / 252, size=600), columns=mu.index
    )
    result = optimize_weights(mu, cov, make_settings(Objective.HYBRID), returns=returns)
    assert result.objective_used is Objective.HYBRID
    ef = EfficientFrontier(mu, cov, weight_bounds=(0, 1))
    ef.max_sharpe(risk_free_rate=0.02)
    mvo = pd.Series(ef.clean_weights(cutoff=0, rounding=None))
    hrp = pd.Series(HRPOpt(returns=returns, cov_matrix=cov).optimize())
    expected = HYBRID_MVO_SHARE * mvo + (1 - HYBRID_MVO_SHARE) * hrp
    np.testing.assert_allclose(result.weights[expected.index], expected, atol=2e-3)


def test_hybrid_falls_back_when_max_sharpe_is_undefined() -> None:
    mu, cov = random_problem(6, 5)
    result = optimize_weights(mu - 1.0, cov, make_settings(Objective.HYBRID))
    assert result.objective_used is not Objective.HYBRID
    assert result.fallbacks[0].objective is Objective.HYBRID
    assert "max Sharpe is undefined" in result.fallbacks[0].reason
