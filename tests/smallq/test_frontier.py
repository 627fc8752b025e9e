"""The frontier's screened fast path equals whole-problem solves and PyPortfolioOpt.

* :class:`smallq.frontier.LeastVariance` (each point solved on a few candidate assets, checked
  optimal for all) against daqp on the whole problem at the same targets: weights to 1e-9,
  with and without sector caps, from a good and from a poor first guess;
* ``report_frontier(fast=True)`` (what a build draws) against PyPortfolioOpt on the same
  inputs: at each traced point, ``efficient_risk`` at its volatility gives its expected return
  and ``efficient_return`` at its expected return gives its volatility, both to 1e-5.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pypfopt import EfficientFrontier

from smallq import qp
from smallq.constraints import WeightLimits, max_reachable_return
from smallq.frontier import LeastVariance
from smallq.optimize import max_return_weights, report_frontier
from smallq.qp import min_volatility_qp
from tests.smallq.test_optimize import make_settings

TOL = 1e-5


def factor_problem(seed: int, n_assets: int) -> tuple[pd.Series, pd.DataFrame]:
    """A market-like problem: three factors, idiosyncratic risk, returns rising with beta.

    Few assets are held on its frontier (as with real stocks), so screening leaves most out.
    """
    rng = np.random.default_rng(seed)
    tickers = [f"S{i:03d}" for i in range(n_assets)]
    loadings = np.c_[rng.normal(1.0, 0.3, n_assets), rng.normal(0.0, 0.4, (n_assets, 2))]
    factor_cov = np.diag([0.03, 0.01, 0.005])
    idiosyncratic = rng.uniform(0.15, 0.5, n_assets) ** 2
    cov = loadings @ factor_cov @ loadings.T + np.diag(idiosyncratic)
    mu = 0.02 + 0.06 * loadings[:, 0] + rng.normal(0.0, 0.04, n_assets)
    return pd.Series(mu, index=tickers), pd.DataFrame(cov, index=tickers, columns=tickers)


def _sectors(tickers: list[str]) -> tuple[dict[str, str], dict[str, float]]:
    sector_map = {t: ("A", "B", "C", "D")[i % 4] for i, t in enumerate(tickers)}
    return sector_map, {"A": 0.2, "B": 0.35}


def _whole(
    cov: np.ndarray, mu: np.ndarray, limits: WeightLimits, target: float | None
) -> np.ndarray:
    tickers = list(limits.sector_map) or [f"S{i:03d}" for i in range(len(mu))]
    names = list(limits.sector_caps)
    rows = np.array([[limits.sector_map.get(t) == s for t in tickers] for s in names], float)
    return min_volatility_qp(
        cov,
        max_weight=limits.upper,
        sector_rows=rows.reshape(len(names), len(tickers)),
        sector_caps=np.array([limits.sector_caps[s] for s in names]),
        mu=None if target is None else mu,
        target_return=target,
    ).weights


@pytest.mark.parametrize("sector_caps", [False, True])
@pytest.mark.parametrize("first_candidates", [qp.FIRST_CANDIDATES, 1])
@pytest.mark.parametrize(("seed", "n_assets", "bound"), [(1, 40, 0.25), (2, 160, 0.05)])
def test_screened_points_equal_whole_problem_solves(
    monkeypatch: pytest.MonkeyPatch,
    sector_caps: bool,
    first_candidates: int,
    seed: int,
    n_assets: int,
    bound: float,
) -> None:
    monkeypatch.setattr(qp, "FIRST_CANDIDATES", first_candidates)  # 1: many rounds
    mu, cov = factor_problem(seed, n_assets)
    tickers = list(mu.index)
    sector_map, caps = _sectors(tickers) if sector_caps else ({}, {})
    limits = WeightLimits.build(tickers, bound, sector_map=sector_map, sector_caps=caps)
    names = list(limits.sector_caps)
    rows = np.array([[sector_map.get(t) == s for t in tickers] for s in names], float)
    sigma, returns = cov.to_numpy(), mu.to_numpy()
    path = LeastVariance(
        sigma,
        returns,
        max_weight=bound,
        reachable=max_return_weights(mu, limits).to_numpy() > 0,
        sector_rows=rows.reshape(len(names), n_assets),
        sector_caps=np.array([caps[s] for s in names]),
    )
    low_weights = path.solve()
    whole_low = _whole(sigma, returns, limits, None)
    np.testing.assert_allclose(low_weights, whole_low, rtol=0, atol=1e-9)
    low, high = float(low_weights @ returns), max_reachable_return(mu, limits)
    held = []
    for target in np.linspace(low, high - 1e-6 * (high - low), 15)[1:]:
        weights = path.solve(float(target))
        whole = _whole(sigma, returns, limits, float(target))
        np.testing.assert_allclose(weights, whole, rtol=0, atol=1e-9)
        assert weights @ returns >= target - 1e-12
        assert weights @ sigma @ weights <= whole @ sigma @ whole + 1e-10
        held.append(int((weights > 0).sum()))
    if n_assets > 100:
        assert max(held) < n_assets / 2  # screening had assets to leave out


@pytest.mark.parametrize(("seed", "n_assets", "max_weight"), [(3, 30, 0.2), (4, 80, 0.05)])
def test_report_frontier_points_equal_pypfopt_efficient_risk_and_return(
    seed: int, n_assets: int, max_weight: float
) -> None:
    mu, cov = factor_problem(seed, n_assets)
    settings = make_settings(max_weight=max_weight)
    points = report_frontier(mu, cov, settings, n_points=12, fast=True)
    assert points is not None and len(points) == 12

    def pypfopt() -> EfficientFrontier:
        return EfficientFrontier(mu, cov, weight_bounds=(0.0, max_weight), solver="CLARABEL")

    risk, target = pypfopt(), pypfopt()  # one instance per objective (a cvxpy parameter)
    for volatility, expected_return in points.iloc[1:-1].itertuples(index=False):
        risk.efficient_risk(float(volatility))
        assert risk.portfolio_performance()[0] == pytest.approx(expected_return, abs=TOL)
        target.efficient_return(float(expected_return))
        assert target.portfolio_performance()[1] == pytest.approx(volatility, abs=TOL)
    low = pypfopt()
    low.min_volatility()
    assert low.portfolio_performance()[1] == pytest.approx(points["volatility"].iloc[0], abs=TOL)
