"""The risk levels' placement on screened assets equals whole-problem solves and PyPortfolioOpt.

:class:`smallq.qp.FrontierPath` solves each point of the mean-variance path with
:class:`smallq.qp.ScreenedQp` (a few candidate assets, checked optimal for all).
Checked against:

* daqp on the whole problem at the same ``t`` (weights to 1e-9), with and without sector caps,
  from the default and from a poor first guess;
* the same path with screening switched off (every solve on every asset), at volatility
  targets: weights to 1e-8, as much expected return at no more volatility;
* a hedge that the first candidates leave out, so the KKT check has to add it, and first
  candidates that cannot meet a sector cap (the whole problem is solved instead);
* at 479 real stocks (../shared/data through the CSV source; skipped when absent), every risk
  level placed by ``optimize_weights`` against the unscreened placement (1e-8) and against
  PyPortfolioOpt's ``efficient_risk`` solved tightly at the same target (1e-5, the objective
  never worse).
"""

from __future__ import annotations

from dataclasses import astuple, replace
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pypfopt import EfficientFrontier

from smallq import qp
from smallq.data.csv import CsvSource
from smallq.data.validation import clean_prices
from smallq.forecast import covariance, expected_returns
from smallq.optimize import optimize_weights
from smallq.params import DEFAULT_PARAMS
from smallq.profile import RISK_TABLE, make_profile, resolve_settings
from smallq.qp import FrontierPath, ScreenedQp, efficient_risk_qp
from smallq.types import CovModel, Objective, ReturnsModel
from tests.shared_csv import shared_csv_dir, shared_csv_source  # noqa: F401  (fixtures)
from tests.smallq.test_frontier import factor_problem

Groups = tuple[tuple[np.ndarray, float], ...]


def _groups(n_assets: int, sector_caps: bool) -> Groups:
    if not sector_caps:
        return ()
    sectors = np.arange(n_assets) % 4
    return ((sectors == 0, 0.2), (sectors == 1, 0.35))


def _whole(cov: np.ndarray, mu: np.ndarray, cap: float, groups: Groups, t: float) -> np.ndarray:
    """``argmin ½ wᵀΣw − t μᵀw`` by one daqp solve on every asset."""
    n_assets = len(mu)
    qp = ScreenedQp(
        cov,
        max_weight=cap,
        sector_rows=np.array([m for m, _ in groups], float).reshape(-1, n_assets),
        sector_caps=np.array([c for _, c in groups], float),
    )
    weights, _ = qp.solve(np.ones(n_assets, dtype=bool), linear=-t * mu)
    return weights


def _screen_off(patch: pytest.MonkeyPatch) -> None:
    """Every ScreenedQp solve on every asset: the placement as it was before screening."""
    solve = ScreenedQp.solve

    def whole(self: ScreenedQp, candidates: np.ndarray, **kwargs: Any) -> Any:
        return solve(self, np.ones_like(candidates, dtype=bool), **kwargs)

    patch.setattr(ScreenedQp, "solve", whole)


@pytest.mark.parametrize("sector_caps", [False, True])
@pytest.mark.parametrize("first_candidates", [qp.FIRST_CANDIDATES, 1])
@pytest.mark.parametrize(("seed", "n_assets", "cap"), [(1, 40, 0.25), (2, 200, 0.05)])
def test_path_points_equal_whole_problem_solves(
    monkeypatch: pytest.MonkeyPatch,
    sector_caps: bool,
    first_candidates: int,
    seed: int,
    n_assets: int,
    cap: float,
) -> None:
    monkeypatch.setattr(qp, "FIRST_CANDIDATES", first_candidates)  # 1: many rounds
    mu, cov = (frame.to_numpy() for frame in factor_problem(seed, n_assets))
    groups = _groups(n_assets, sector_caps)
    path = FrontierPath(mu, cov, max_weight=cap, groups=groups)
    held = []
    for t in (0.0, 0.5, 0.05, 2.0, 0.2, 8.0, 1.0, 0.01):  # out of order, as bisection goes
        weights, vol = path.at(t)
        whole = _whole(cov, mu, cap, groups, t)
        np.testing.assert_allclose(weights, whole, rtol=0, atol=1e-9)
        assert vol == pytest.approx(np.sqrt(whole @ cov @ whole), abs=1e-9)
        held.append(int((weights > 0).sum()))
    if n_assets > 100:
        assert max(held) < n_assets / 2  # screening had assets to leave out


@pytest.mark.parametrize("sector_caps", [False, True])
def test_volatility_targets_equal_the_unscreened_path(
    monkeypatch: pytest.MonkeyPatch, sector_caps: bool
) -> None:
    mu, cov = (frame.to_numpy() for frame in factor_problem(5, 300))
    groups, cap = _groups(300, sector_caps), 0.05
    targets = (0.05, 0.13, 0.16, 0.2, 0.3, 0.6)  # below the minimum to above the maximum
    screened = [efficient_risk_qp(mu, cov, target_volatility=v, max_weight=cap, groups=groups)
                for v in targets]  # fmt: skip
    with monkeypatch.context() as patch:
        _screen_off(patch)
        reference = [efficient_risk_qp(mu, cov, target_volatility=v, max_weight=cap, groups=groups)
                     for v in targets]  # fmt: skip
    for target, weights, whole in zip(targets, screened, reference, strict=True):
        np.testing.assert_allclose(weights, whole, rtol=0, atol=1e-8)
        vol = np.sqrt(weights @ cov @ weights)
        assert vol <= max(target, np.sqrt(whole @ cov @ whole)) * (1 + 1e-9)
        assert weights @ mu >= whole @ mu - 1e-10


def test_the_kkt_check_adds_a_hedge_the_first_candidates_leave_out() -> None:
    """The riskiest asset hedges the rest: held at min volatility, yet no first candidate."""
    rng = np.random.default_rng(3)
    n_assets, cap = 60, 0.25
    loadings = rng.normal(1.0, 0.2, n_assets)
    loadings[-1] = -1.5  # short the market factor
    idiosyncratic = rng.uniform(0.1, 0.2, n_assets) ** 2
    idiosyncratic[-1] = 0.3**2
    cov = 0.04 * np.outer(loadings, loadings) + np.diag(idiosyncratic)
    mu = 0.05 + 0.02 * loadings
    qp = ScreenedQp(cov, max_weight=cap)
    first = qp.first_candidates()
    assert not first[-1] and np.diag(cov).argmax() == n_assets - 1
    for t in (0.0, 0.3):
        weights, guess = qp.solve(first, linear=-t * mu)
        assert weights[-1] > 0.01 and guess[-1]  # entered through the check
        np.testing.assert_allclose(weights, _whole(cov, mu, cap, (), t), rtol=0, atol=1e-9)
    path_weights, _ = FrontierPath(mu, cov, max_weight=cap).at(0.0)
    np.testing.assert_allclose(path_weights, _whole(cov, mu, cap, (), 0.0), rtol=0, atol=1e-9)


def test_first_candidates_that_cannot_meet_a_sector_cap_solve_the_whole_problem() -> None:
    mu, cov = (frame.to_numpy() for frame in factor_problem(6, 80))
    cap = 0.1
    calm = np.zeros(80, dtype=bool)
    calm[np.argsort(np.diag(cov), kind="stable")[:30]] = True
    groups: Groups = ((calm, 0.3),)  # the 30 first candidates may hold 30% at most
    qp = ScreenedQp(cov, max_weight=cap, sector_rows=calm[None, :].astype(float),
                    sector_caps=np.array([0.3]))  # fmt: skip
    assert (qp.first_candidates() == calm).all()
    for t in (0.0, 0.4):
        weights, _ = qp.solve(qp.first_candidates(), linear=-t * mu)
        np.testing.assert_allclose(weights, _whole(cov, mu, cap, groups, t), rtol=0, atol=1e-9)
        assert weights[calm].sum() <= 0.3 + 1e-9


# --------------------------------------------------------------------------- 479 real stocks
@pytest.fixture(scope="module")
def real_stocks(
    shared_csv_source: CsvSource,  # noqa: F811
) -> tuple[pd.Series, pd.DataFrame, pd.DataFrame]:
    """Ledoit-Wolf estimates of every S&P 500 stock with 1,000 complete days to 2018-02-07.

    That is 479 stocks, the most this data gives under the engine's history rule (about two
    days per asset, ``smallq.constraints.HISTORY_MARGIN``).
    """
    companies = shared_csv_source.fetch_companies()
    tickers = [str(t).replace(".", "-") for t in companies.index]
    raw = shared_csv_source.fetch_prices(tickers, date(2013, 1, 1), date(2018, 3, 1))
    window = clean_prices(raw).close.iloc[-1000:]
    window = window.loc[:, window.notna().all()]
    assert window.shape[1] >= 470
    mu = expected_returns(window, ReturnsModel.MEAN, risk_free_rate=0.02, periods_per_year=252)
    cov = covariance(window, CovModel.LEDOIT_WOLF, periods_per_year=252)
    return mu, cov, window.pct_change().iloc[1:]


def test_real_479_stock_placement_equals_unscreened_and_pypfopt(
    real_stocks: tuple[pd.Series, pd.DataFrame, pd.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    mu, cov, returns = real_stocks
    params = replace(DEFAULT_PARAMS, fast_placement=True)
    profile = make_profile(sectors="tech", capital=10_000.0)
    tight = {"tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10}
    placed = []
    for policy in RISK_TABLE.values():
        settings = replace(
            resolve_settings(profile, len(mu)), frontier_fraction=policy.frontier_fraction
        )
        placed.append(
            (settings, optimize_weights(mu, cov, settings, returns=returns, params=params))
        )
    with monkeypatch.context() as patch:
        _screen_off(patch)
        reference = [
            optimize_weights(mu, cov, s, returns=returns, params=params) for s, _ in placed
        ]
    for (settings, result), whole in zip(placed, reference, strict=True):
        assert result.solver == "daqp" and result.placement is not None
        assert whole.placement is not None
        assert result.placement.fraction == whole.placement.fraction  # the same guard steps
        np.testing.assert_allclose(astuple(result.placement), astuple(whole.placement), atol=1e-12)
        np.testing.assert_allclose(result.weights, whole.weights, rtol=0, atol=1e-8)
        assert (result.weights > 0).sum() < 100  # few held: screening left most out
        if result.objective_used is not Objective.EFFICIENT_RISK:
            continue
        target = result.placement.target_volatility
        ef = EfficientFrontier(
            mu, cov, weight_bounds=(0, settings.max_weight), solver_options=tight
        )
        ef.efficient_risk(target)
        exact = pd.Series(ef.clean_weights(cutoff=1e-4, rounding=None)).reindex(mu.index)
        np.testing.assert_allclose(result.weights, exact, rtol=0, atol=1e-5)
        # the objective is never worse: as much return at no more volatility
        assert result.volatility <= target * (1 + 1e-9)
        assert float(mu @ result.weights) >= float(mu @ exact) - 1e-7
