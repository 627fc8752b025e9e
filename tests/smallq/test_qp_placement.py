"""The risk levels' placement (:class:`smallq.qp.FrontierPath`) on small and mid-sized problems.

A problem with no more assets than the screening's first candidates is solved whole by daqp on
rows built once (no :class:`smallq.qp.ScreenedQp` bookkeeping); larger ones are screened.
Checked on random problems with 2 to 60 assets, with and without sector caps, including a cap
that leaves a single feasible portfolio (``n · cap = 1``), a sector without assets and ties
in the expected returns:

* every path point equals a :class:`~smallq.qp.ScreenedQp` solve of the whole problem at the
  same ``t`` (weights to 1e-9);
* at volatility targets below the minimum, inside the frontier and above its top, the
  placement equals PyPortfolioOpt solved tightly: ``min_volatility`` below (1e-5),
  ``efficient_risk`` inside (1e-5, as much return at no more volatility) and, above, the
  capped max-return portfolio (1e-6; the path's ``t`` stops at 1e9);
* ten real stocks of one sector (../shared/data; skipped when absent), every risk level
  placed by ``optimize_weights`` against PyPortfolioOpt's ``efficient_risk`` at its target.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

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

Groups = tuple[tuple[np.ndarray, float], ...]
TIGHT = {"tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10}
#: (seed, n_assets, per-asset cap, sector caps?)
PROBLEMS = [
    (1, 2, 1.0, False),
    (2, 2, 0.6, False),
    (3, 3, 0.5, False),
    (4, 4, 0.25, False),  # n · cap = 1: the only portfolio holds every asset at the cap
    (5, 5, 0.25, False),
    (6, 8, 0.25, False),  # the default backtest's shape
    (7, 8, 0.25, True),
    (8, 10, 0.2, True),
    (9, 13, 0.15, False),
    (10, 21, 0.1, True),
    (11, 30, 0.1, False),
    (12, 40, 0.05, True),  # as many as the first candidates at a 5% cap (2 / cap)
    (13, 60, 0.05, False),  # screened
    (14, 60, 0.05, True),  # screened
]


def _problem(seed: int, n_assets: int) -> tuple[np.ndarray, np.ndarray]:
    """Two factors and idiosyncratic risk; returns rising with the market loading."""
    rng = np.random.default_rng(seed)
    loadings = np.c_[rng.normal(1.0, 0.3, n_assets), rng.normal(0.0, 0.4, n_assets)]
    cov = loadings @ np.diag([0.03, 0.01]) @ loadings.T
    cov += np.diag(rng.uniform(0.15, 0.45, n_assets) ** 2)
    mu = 0.02 + 0.06 * loadings[:, 0] + rng.normal(0.0, 0.04, n_assets)
    return mu, cov


def _groups(n_assets: int, cap: float, sector_caps: bool) -> Groups:
    """Sector 0 capped at 30% (or the cap, if higher), sector 1 at 45%, and an empty sector."""
    if not sector_caps:
        return ()
    sectors = np.arange(n_assets) % 3
    empty = np.zeros(n_assets, dtype=bool)
    return ((sectors == 0, max(0.3, cap)), (sectors == 1, 0.45), (empty, 0.1))


def _whole(mu: np.ndarray, cov: np.ndarray, cap: float, groups: Groups, t: float) -> np.ndarray:
    """``argmin ½ wᵀΣw − t μᵀw`` by one ScreenedQp solve on every asset."""
    screened = ScreenedQp(
        cov,
        max_weight=cap,
        sector_rows=np.array([m for m, _ in groups], float).reshape(-1, len(mu)),
        sector_caps=np.array([c for _, c in groups], float),
    )
    weights, _ = screened.solve(np.ones(len(mu), dtype=bool), linear=-t * mu)
    return weights


def _max_return(mu: np.ndarray, cap: float, groups: Groups) -> np.ndarray:
    """The capped max-return portfolio: the highest returns filled up to the caps (greedy)."""
    weights, left = np.zeros(len(mu)), 1.0
    room = [c for _, c in groups]
    for i in np.argsort(-mu, kind="stable"):
        member = [s for s, (mask, _) in enumerate(groups) if mask[i]]
        take = min([cap, left, *(room[s] for s in member)])
        weights[i] = max(take, 0.0)
        left -= weights[i]
        for s in member:
            room[s] -= weights[i]
    return weights


def _frontier(mu: np.ndarray, cov: np.ndarray, cap: float, groups: Groups) -> EfficientFrontier:
    tickers = [f"A{i:02d}" for i in range(len(mu))]
    ef = EfficientFrontier(
        pd.Series(mu, tickers),
        pd.DataFrame(cov, tickers, tickers),
        weight_bounds=(0, cap),
        solver="CLARABEL",
        solver_options=TIGHT,
    )
    if groups:
        sector_map = {t: "" for t in tickers}
        for s, (mask, _) in enumerate(groups):
            sector_map.update(
                {t: f"S{s}" for t, member in zip(tickers, mask, strict=True) if member}
            )
        ef.add_sector_constraints(sector_map, {}, {f"S{s}": c for s, (_, c) in enumerate(groups)})
    return ef


@pytest.mark.parametrize(("seed", "n_assets", "cap", "sector_caps"), PROBLEMS)
def test_path_points_equal_whole_problem_solves(
    seed: int, n_assets: int, cap: float, sector_caps: bool
) -> None:
    mu, cov = _problem(seed, n_assets)
    groups = _groups(n_assets, cap, sector_caps)
    path = FrontierPath(mu, cov, max_weight=cap, groups=groups)
    lean = n_assets <= max(qp.FIRST_CANDIDATES, int(np.ceil(2.0 / cap)))
    assert (path._whole is not None) == lean  # the whole-problem path where it applies
    for t in (0.0, 0.5, 0.05, 2.0, 0.2, 8.0, 1.0, 0.01, 1e4):  # out of order, as a search goes
        weights, vol = path.at(t)
        whole = _whole(mu, cov, cap, groups, t)
        np.testing.assert_allclose(weights, whole, rtol=0, atol=1e-9)
        assert vol == pytest.approx(np.sqrt(whole @ cov @ whole), abs=1e-9)
        assert weights.sum() == pytest.approx(1.0, abs=1e-12)
        assert weights.min() >= 0.0 and weights.max() <= cap + 1e-9
        assert all(weights[mask].sum() <= c + 1e-9 for mask, c in groups)


@pytest.mark.parametrize(("seed", "n_assets", "cap", "sector_caps"), PROBLEMS)
def test_placement_equals_pypfopt_below_inside_and_above_the_frontier(
    seed: int, n_assets: int, cap: float, sector_caps: bool
) -> None:
    mu, cov = _problem(seed, n_assets)
    groups = _groups(n_assets, cap, sector_caps)
    ef = _frontier(mu, cov, cap, groups)
    low = np.array(list(ef.min_volatility().values()))
    low_vol = float(np.sqrt(low @ cov @ low))
    top = _max_return(mu, cap, groups)
    top_vol = float(np.sqrt(top @ cov @ top))

    def placed(target: float) -> np.ndarray:
        return efficient_risk_qp(mu, cov, target_volatility=target, max_weight=cap, groups=groups)

    np.testing.assert_allclose(placed(0.5 * low_vol), low, rtol=0, atol=1e-5)
    np.testing.assert_allclose(placed(top_vol * 1.5), top, rtol=0, atol=1e-6)
    if top_vol - low_vol < 1e-6:  # a single feasible portfolio (n · cap = 1)
        np.testing.assert_allclose(placed(low_vol), low, rtol=0, atol=1e-5)
        return
    for share in (0.05, 0.3, 0.5, 0.8, 0.97):
        target = low_vol + share * (top_vol - low_vol)
        weights = placed(target)
        ef = _frontier(mu, cov, cap, groups)
        exact = np.array(list(ef.efficient_risk(target).values()))
        np.testing.assert_allclose(weights, exact, rtol=0, atol=1e-5)
        # the objective is never worse: as much return at no more volatility
        assert float(np.sqrt(weights @ cov @ weights)) <= target * (1 + 1e-9)
        assert float(mu @ weights) >= float(mu @ exact) - 1e-7


def test_ties_in_expected_returns() -> None:
    """Equal expected returns: every ``t`` gives the min-volatility weights.

    A target above the (flat) path searches ``t`` up to 1e9, where daqp's linear term dwarfs
    the quadratic one: the weights there agree to about 1e-7.
    """
    mu, cov = _problem(21, 8)
    mu[:] = 0.07  # every asset the same return: min volatility is the whole frontier
    low = efficient_risk_qp(mu, cov, target_volatility=0.0, max_weight=0.25)
    above = efficient_risk_qp(mu, cov, target_volatility=1.0, max_weight=0.25)
    np.testing.assert_allclose(above, low, rtol=0, atol=1e-6)
    mu, cov = _problem(22, 8)
    mu[[1, 4]] = mu.max()  # two best assets tied
    top = _max_return(mu, 0.25, ())
    placed = efficient_risk_qp(mu, cov, target_volatility=1.0, max_weight=0.25)
    assert float(mu @ placed) == pytest.approx(float(mu @ top), abs=1e-9)


# --------------------------------------------------------------------------- real stocks
@pytest.mark.parametrize("sector", ["Information Technology", "Health Care"])
def test_real_ten_stock_levels_equal_pypfopt(
    shared_csv_source: CsvSource,  # noqa: F811
    sector: str,
) -> None:
    """Ten real stocks of one sector (../shared/data, 756 days to 2018-02-07), every risk
    level placed by ``optimize_weights`` on the fast path: the whole-problem daqp path,
    equal to PyPortfolioOpt's ``efficient_risk`` at the same target (1e-5, never worse)."""
    companies = shared_csv_source.fetch_companies()
    members = companies.index[companies["sector"] == sector]
    tickers = [str(t).replace(".", "-") for t in members][:14]
    raw = shared_csv_source.fetch_prices(tickers, date(2014, 6, 1), date(2018, 3, 1))
    window = clean_prices(raw).close.iloc[-757:]
    window = window.loc[:, window.notna().all()].iloc[:, :10]
    assert window.shape[1] == 10
    mu = expected_returns(window, ReturnsModel.MEAN, risk_free_rate=0.02, periods_per_year=252)
    cov = covariance(window, CovModel.LEDOIT_WOLF, periods_per_year=252)
    returns = window.pct_change().iloc[1:]
    params = replace(DEFAULT_PARAMS, fast_placement=True)
    profile = make_profile(sectors="tech", capital=10_000.0)
    for policy in RISK_TABLE.values():
        settings = replace(
            resolve_settings(profile, len(mu)), frontier_fraction=policy.frontier_fraction
        )
        result = optimize_weights(mu, cov, settings, returns=returns, params=params)
        assert result.solver == "daqp" and result.placement is not None
        if result.objective_used is not Objective.EFFICIENT_RISK:
            continue
        target = result.placement.target_volatility
        cap = min(settings.max_weight, 1.0 / settings.min_holdings)
        ef = EfficientFrontier(
            mu, cov, weight_bounds=(0, cap), solver="CLARABEL", solver_options=TIGHT
        )
        ef.efficient_risk(target)
        exact = pd.Series(ef.clean_weights(cutoff=1e-4, rounding=None)).reindex(mu.index)
        np.testing.assert_allclose(result.weights, exact, rtol=0, atol=1e-5)
        assert result.volatility <= target * (1 + 1e-9)
        assert float(mu @ result.weights) >= float(mu @ exact) - 1e-7


@pytest.mark.parametrize(("seed", "n_assets", "cap", "sector_caps"), PROBLEMS)
def test_the_exact_chord_equals_a_solve_at_its_t(
    monkeypatch: pytest.MonkeyPatch, seed: int, n_assets: int, cap: float, sector_caps: bool
) -> None:
    """When both ends of the bracket hold the same constraints with equality, the search
    returns the chord's crossing without a QP: equal to the search that solves it (1e-9)."""
    mu, cov = _problem(seed, n_assets)
    groups = _groups(n_assets, cap, sector_caps)
    top = _max_return(mu, cap, groups)
    low, _ = FrontierPath(mu, cov, max_weight=cap, groups=groups).at(0.0)
    low_vol, top_vol = float(np.sqrt(low @ cov @ low)), float(np.sqrt(top @ cov @ top))
    targets = [low_vol + s * (top_vol - low_vol) for s in (0.1, 0.4, 0.45, 0.7, 0.9)]
    shortcut = FrontierPath(mu, cov, max_weight=cap, groups=groups)
    chords = [shortcut.at_volatility(v) for v in targets]
    with monkeypatch.context() as patch:
        unique = iter(range(10**6))
        patch.setattr(FrontierPath, "_tight", lambda self, weights: next(unique).to_bytes(4))
        solved = FrontierPath(mu, cov, max_weight=cap, groups=groups)
        reference = [solved.at_volatility(v) for v in targets]
        assert len(solved._points) >= len(shortcut._points)
    for chord, whole in zip(chords, reference, strict=True):
        np.testing.assert_allclose(chord, whole, rtol=0, atol=1e-9)
