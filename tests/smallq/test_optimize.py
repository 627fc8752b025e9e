"""The PyPortfolioOpt adapter: closed forms, PyPortfolioOpt called directly, limits, fallbacks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pypfopt import EfficientFrontier, HRPOpt
from pypfopt.exceptions import OptimizationError as PypfoptOptimizationError

from smallq import optimize
from smallq.errors import (
    DataFormatError,
    InfeasibleConstraintsError,
    InsufficientHistoryError,
    ProfileError,
    SolverError,
)
from smallq.models import Settings
from smallq.optimize import (
    check_feasibility,
    effective_upper_bound,
    efficient_frontier,
    optimize_weights,
)
from smallq.types import CovModel, Objective, ReturnsModel


def make_settings(
    objective: Objective = Objective.MAX_SHARPE,
    *,
    max_weight: float = 1.0,
    min_holdings: int = 1,
    risk_free_rate: float = 0.02,
    target_volatility: float = 0.15,
    risk_aversion: float = 2.0,
) -> Settings:
    return Settings(
        objective=objective,
        returns_model=ReturnsModel.MEAN,
        cov_model=CovModel.SAMPLE,
        max_weight=max_weight,
        min_holdings=min_holdings,
        risk_free_rate=risk_free_rate,
        target_volatility=target_volatility,
        risk_aversion=risk_aversion,
    )


def random_problem(seed: int, n: int) -> tuple[pd.Series, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    tickers = [f"T{i:02d}" for i in range(n)]
    factor = rng.normal(size=(n, 3)) * 0.1
    vols = rng.uniform(0.15, 0.45, n)
    cov = factor @ factor.T + np.diag(vols**2)
    mu = rng.uniform(-0.02, 0.25, n)
    return pd.Series(mu, index=tickers), pd.DataFrame(cov, index=tickers, columns=tickers)


def assert_within_limits(
    weights: pd.Series,
    upper: float,
    sector_map: dict[str, str] | None = None,
    caps: dict[str, float] | None = None,
) -> None:
    assert weights.sum() == pytest.approx(1.0, abs=1e-9)
    assert weights.min() >= 0.0
    assert weights.max() <= upper + 1e-9
    for sector, cap in (caps or {}).items():
        assert (
            weights[[t for t, s in (sector_map or {}).items() if s == sector]].sum() <= cap + 1e-9
        )


# --------------------------------------------------------------------------- numbers
def test_min_volatility_matches_closed_form() -> None:
    """Σ with an all-positive global minimum-variance portfolio: long-only bounds do not bind."""
    vols = np.array([0.20, 0.25, 0.30, 0.22])
    corr = np.full((4, 4), 0.3) + 0.7 * np.eye(4)
    sigma = np.outer(vols, vols) * corr
    ones = np.ones(4)
    closed = np.linalg.solve(sigma, ones) / (ones @ np.linalg.solve(sigma, ones))
    assert (closed > 0.01).all()
    tickers = list("ABCD")
    cov = pd.DataFrame(sigma, index=tickers, columns=tickers)
    mu = pd.Series([0.05, 0.07, 0.09, 0.06], index=tickers)
    result = optimize_weights(mu, cov, make_settings(Objective.MIN_VOLATILITY))
    np.testing.assert_allclose(result.weights.to_numpy(), closed, atol=1e-6)
    assert result.objective_used is Objective.MIN_VOLATILITY
    assert result.fallbacks == ()
    assert result.solver == "CLARABEL"
    assert result.volatility == pytest.approx(np.sqrt(1 / (ones @ np.linalg.solve(sigma, ones))))
    assert result.expected_return == pytest.approx(closed @ mu.to_numpy())


@pytest.mark.parametrize(("seed", "max_weight"), [(1, 1.0), (2, 0.25), (3, 0.15)])
def test_max_sharpe_matches_pypfopt(seed: int, max_weight: float) -> None:
    mu, cov = random_problem(seed, 12)
    result = optimize_weights(mu, cov, make_settings(max_weight=max_weight, risk_free_rate=0.03))
    ef = EfficientFrontier(mu, cov, weight_bounds=(0, max_weight))
    ef.max_sharpe(risk_free_rate=0.03)
    reference = pd.Series(ef.weights, index=mu.index)
    np.testing.assert_allclose(result.weights.to_numpy(), reference.to_numpy(), atol=1e-4)
    ret, vol, sharpe = ef.portfolio_performance(risk_free_rate=0.03)
    assert result.sharpe == pytest.approx(sharpe, abs=1e-5)
    assert result.expected_return == pytest.approx(ret, abs=1e-5)
    assert result.volatility == pytest.approx(vol, abs=1e-5)
    assert list(result.weights.index) == list(mu.index)


def test_max_utility_and_efficient_risk_match_pypfopt() -> None:
    mu, cov = random_problem(4, 10)
    settings = make_settings(Objective.MAX_UTILITY, max_weight=0.3, risk_aversion=3.0)
    ours = optimize_weights(mu, cov, settings).weights
    ef = EfficientFrontier(mu, cov, weight_bounds=(0, 0.3))
    ef.max_quadratic_utility(risk_aversion=3.0)
    np.testing.assert_allclose(ours.to_numpy(), ef.weights, atol=1e-4)

    settings = make_settings(Objective.EFFICIENT_RISK, max_weight=0.3, target_volatility=0.25)
    result = optimize_weights(mu, cov, settings)
    ef = EfficientFrontier(mu, cov, weight_bounds=(0, 0.3))
    ef.efficient_risk(0.25)
    np.testing.assert_allclose(result.weights.to_numpy(), ef.weights, atol=1e-4)
    assert result.volatility <= 0.25 + 1e-6


def test_hrp_matches_pypfopt_when_bounds_do_not_bind() -> None:
    rng = np.random.default_rng(5)
    returns = pd.DataFrame(rng.normal(0.0005, 0.01, (300, 6)), columns=list("ABCDEF"))
    mu = returns.mean() * 252
    cov = returns.cov() * 252
    result = optimize_weights(mu, cov, make_settings(Objective.HRP), returns=returns)
    reference = pd.Series(HRPOpt(returns).optimize())[mu.index]
    np.testing.assert_allclose(result.weights.to_numpy(), reference.to_numpy(), atol=1e-10)
    assert result.solver == "hrp"


def test_hrp_is_fitted_to_caps() -> None:
    mu, cov = random_problem(6, 8)
    cov.iloc[0, 0] = 0.001  # a very low-variance stock that HRP overweights
    sector_map = {t: ("X" if i < 4 else "Y") for i, t in enumerate(mu.index)}
    caps = {"X": 0.35}
    result = optimize_weights(
        mu,
        cov,
        make_settings(Objective.HRP, max_weight=0.2),
        sector_map=sector_map,
        sector_caps=caps,
    )
    assert result.objective_used is Objective.HRP
    assert_within_limits(result.weights, 0.2, sector_map, caps)


# --------------------------------------------------------------------------- invariants
def test_bounds_and_budget_hold_over_random_problems() -> None:
    """Seeded property loop: every objective respects the bounds, caps and minimum holdings."""
    rng = np.random.default_rng(2024)
    objectives = list(Objective)
    checked = 0
    for seed in range(24):
        n = int(rng.integers(3, 15))
        mu, cov = random_problem(seed + 100, n)
        max_weight = float(rng.uniform(1.05 / n, 1.0))
        min_holdings = int(rng.integers(1, n + 1))
        sector_map = {t: str(rng.choice(["X", "Y", "Z"])) for t in mu.index}
        caps = {"X": float(rng.uniform(0.1, 0.6))} if seed % 2 else {}
        settings = make_settings(
            objectives[seed % len(objectives)],
            max_weight=max_weight,
            min_holdings=min_holdings,
            target_volatility=float(rng.uniform(0.05, 0.4)),
        )
        limits = {"sector_map": sector_map, "sector_caps": caps}
        try:
            check_feasibility(mu.index, max_weight=max_weight, min_holdings=min_holdings, **limits)
        except InfeasibleConstraintsError:
            with pytest.raises(InfeasibleConstraintsError):
                optimize_weights(mu, cov, settings, **limits)
            continue
        result = optimize_weights(mu, cov, settings, **limits)
        upper = effective_upper_bound(
            mu.index, max_weight=max_weight, min_holdings=min_holdings, **limits
        )
        assert_within_limits(result.weights, upper, sector_map, caps)
        assert upper <= max_weight
        if upper == min(max_weight, 1 / min_holdings):
            assert (result.weights > 0).sum() >= min_holdings
        assert list(result.weights.index) == list(mu.index)
        assert ((result.weights == 0) | (result.weights >= 1e-4)).all()
        checked += 1
    assert checked >= 15


def test_sector_caps_hold() -> None:
    mu, cov = random_problem(8, 12)
    mu.iloc[:4] += 0.3  # the "tech" names are the most attractive
    sector_map = {
        t: ("tech" if i < 4 else "energy" if i < 7 else "other") for i, t in enumerate(mu.index)
    }
    caps = {"tech": 0.25, "energy": 0.3}
    for objective in (Objective.MAX_SHARPE, Objective.MAX_UTILITY, Objective.EQUAL_WEIGHT):
        result = optimize_weights(
            mu,
            cov,
            make_settings(objective, max_weight=0.3),
            sector_map=sector_map,
            sector_caps=caps,
        )
        assert result.objective_used is objective
        assert_within_limits(result.weights, 0.3, sector_map, caps)
    assert result.weights[:4].sum() == pytest.approx(0.25, abs=1e-9)  # equal weight capped


def test_min_holdings_forces_spread() -> None:
    mu, cov = random_problem(9, 10)
    result = optimize_weights(mu, cov, make_settings(max_weight=1.0, min_holdings=6))
    assert (result.weights > 0).sum() >= 6
    assert result.weights.max() <= 1 / 6 + 1e-9


# --------------------------------------------------------------------------- fallbacks
def test_every_return_below_rf_falls_back_to_min_volatility() -> None:
    mu, cov = random_problem(10, 6)
    mu = mu - mu.max() - 0.01
    result = optimize_weights(mu, cov, make_settings(risk_free_rate=0.02, max_weight=0.5))
    assert result.objective_requested is Objective.MAX_SHARPE
    assert result.objective_used is Objective.MIN_VOLATILITY
    (step,) = result.fallbacks
    assert step.objective is Objective.MAX_SHARPE
    assert "every expected return" in step.reason
    assert "risk-free rate 2.0%" in step.reason
    ef = EfficientFrontier(mu, cov, weight_bounds=(0, 0.5))
    ef.min_volatility()
    np.testing.assert_allclose(result.weights.to_numpy(), ef.weights, atol=1e-5)


def test_reachable_return_below_rf_falls_back() -> None:
    """One stock beats rf, but the per-stock cap forces most weight into the losers."""
    mu, cov = random_problem(11, 5)
    mu[:] = [0.10, -0.05, -0.05, -0.05, -0.05]
    result = optimize_weights(mu, cov, make_settings(max_weight=0.25, risk_free_rate=0.02))
    assert result.objective_used is Objective.MIN_VOLATILITY
    assert "best reachable expected return" in result.fallbacks[0].reason


def test_efficient_risk_below_min_volatility_falls_back() -> None:
    mu, cov = random_problem(12, 6)
    settings = make_settings(Objective.EFFICIENT_RISK, max_weight=0.4, target_volatility=0.01)
    result = optimize_weights(mu, cov, settings)
    assert result.objective_used is Objective.MIN_VOLATILITY
    (step,) = result.fallbacks
    assert step.objective is Objective.EFFICIENT_RISK
    assert "below the lowest volatility" in step.reason


class _FailingFrontier:
    """Stands in for EfficientFrontier: every solve fails as PyPortfolioOpt reports it."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        pass

    def add_sector_constraints(self, *args: object) -> None:
        pass

    def _fail(self, *args: object, **kwargs: object) -> None:
        raise PypfoptOptimizationError("Solver status: infeasible")

    max_sharpe = min_volatility = efficient_risk = max_quadratic_utility = _fail


class _FailingHRP:
    def __init__(self, *args: object, **kwargs: object) -> None:
        pass

    def optimize(self) -> None:
        raise ValueError("linkage failed")


def test_equal_weight_is_the_last_resort(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(optimize, "EfficientFrontier", _FailingFrontier)
    monkeypatch.setattr(optimize, "HRPOpt", _FailingHRP)
    mu, cov = random_problem(13, 5)
    result = optimize_weights(mu, cov, make_settings(max_weight=0.5))
    assert result.objective_used is Objective.EQUAL_WEIGHT
    assert [s.objective for s in result.fallbacks] == [
        Objective.MAX_SHARPE,
        Objective.MIN_VOLATILITY,
        Objective.HRP,
    ]
    assert "infeasible" in result.fallbacks[0].reason
    assert "CLARABEL" in result.fallbacks[0].reason
    assert "linkage failed" in result.fallbacks[2].reason
    np.testing.assert_allclose(result.weights.to_numpy(), 0.2)
    assert result.solver == "closed form"


def test_utility_chain_skips_max_sharpe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(optimize, "EfficientFrontier", _FailingFrontier)
    mu, cov = random_problem(14, 5)
    result = optimize_weights(mu, cov, make_settings(Objective.MAX_UTILITY, max_weight=0.5))
    assert [s.objective for s in result.fallbacks] == [
        Objective.MAX_UTILITY,
        Objective.MIN_VOLATILITY,
    ]
    assert result.objective_used is Objective.HRP


def test_whole_chain_failing_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(problem: object) -> tuple[pd.Series, str]:
        raise SolverError("x", "broken on purpose")

    for objective in Objective:
        monkeypatch.setitem(optimize._STEPS, objective, broken)
    mu, cov = random_problem(15, 4)
    with pytest.raises(SolverError, match="broken on purpose"):
        optimize_weights(mu, cov, make_settings())


# --------------------------------------------------------------------------- feasibility
def test_max_weight_too_small_raises_with_suggestion() -> None:
    mu, cov = random_problem(16, 5)
    with pytest.raises(InfeasibleConstraintsError) as info:
        optimize_weights(mu, cov, make_settings(max_weight=0.15))
    assert info.value.constraint == "max_weight"
    assert "1/5 = 20.0%" in info.value.suggestion
    assert "add stocks" in info.value.user_message()


def test_sector_caps_that_cannot_reach_100_percent() -> None:
    tickers = ["A", "B", "C", "D"]
    sector_map = {"A": "X", "B": "X", "C": "Y", "D": "Y"}
    with pytest.raises(InfeasibleConstraintsError) as info:
        check_feasibility(
            tickers,
            max_weight=0.5,
            min_holdings=1,
            sector_map=sector_map,
            sector_caps={"X": 0.3, "Y": 0.4},
        )
    assert info.value.constraint == "sector_caps"
    assert "70.0%" in info.value.detail
    # the per-stock cap also limits a sector: one stock in Z at 40% max
    with pytest.raises(InfeasibleConstraintsError):
        check_feasibility(
            ["A", "B", "C"],
            max_weight=0.4,
            min_holdings=1,
            sector_map={"A": "X", "B": "X", "C": "Z"},
            sector_caps={"X": 0.5},
        )
    check_feasibility(  # feasible: 0.5 + 0.4 + 0.4
        ["A", "B", "C", "D"],
        max_weight=0.4,
        min_holdings=1,
        sector_map={"A": "X", "B": "X", "C": "Z", "D": "W"},
        sector_caps={"X": 0.5, "Q": 0.0},
    )


def test_min_holdings_above_candidates_and_bad_ranges() -> None:
    with pytest.raises(InfeasibleConstraintsError, match="min_holdings"):
        check_feasibility(["A", "B"], max_weight=1.0, min_holdings=3)
    with pytest.raises(ProfileError):
        check_feasibility(["A", "B"], max_weight=0.0, min_holdings=1)
    with pytest.raises(ProfileError):
        check_feasibility(["A"], max_weight=1.0, min_holdings=1, sector_caps={"X": 1.5})
    with pytest.raises(InfeasibleConstraintsError):
        check_feasibility([], max_weight=1.0, min_holdings=1)


def test_too_little_history_for_the_number_of_assets() -> None:
    tickers = [f"T{i}" for i in range(30)]
    with pytest.raises(InsufficientHistoryError) as info:
        check_feasibility(tickers, max_weight=1.0, min_holdings=1, n_observations=50)
    assert info.value.required == 60
    check_feasibility(tickers, max_weight=1.0, min_holdings=1, n_observations=60)
    mu, cov = random_problem(17, 5)
    returns = pd.DataFrame(np.zeros((10, 5)), columns=mu.index)
    with pytest.raises(InsufficientHistoryError):
        optimize_weights(mu, cov, make_settings(), returns=returns)


def test_effective_upper_bound_stays_feasible() -> None:
    tickers = [f"T{i}" for i in range(10)]
    assert effective_upper_bound(tickers, max_weight=0.3, min_holdings=5) == pytest.approx(0.2)
    assert effective_upper_bound(tickers, max_weight=0.05 * 3, min_holdings=2) == pytest.approx(
        0.15
    )
    # 3 energy names capped at 20% in total: 1/10 per stock would reach only 90%
    sector_map = {t: ("E" if i < 3 else "O") for i, t in enumerate(tickers)}
    upper = effective_upper_bound(
        tickers, max_weight=0.25, min_holdings=10, sector_map=sector_map, sector_caps={"E": 0.2}
    )
    assert 0.8 / 7 <= upper <= 0.25
    check_feasibility(
        tickers, max_weight=upper, min_holdings=1, sector_map=sector_map, sector_caps={"E": 0.2}
    )


def test_inconsistent_inputs_raise() -> None:
    mu, cov = random_problem(18, 4)
    with pytest.raises(DataFormatError):
        optimize_weights(mu.iloc[:3], cov, make_settings())
    bad = cov.copy()
    bad.iloc[0, 0] = np.nan
    with pytest.raises(DataFormatError):
        optimize_weights(mu, bad, make_settings())


# --------------------------------------------------------------------------- frontier
def test_efficient_frontier_shape_and_values() -> None:
    mu, cov = random_problem(19, 20)
    frontier = efficient_frontier(mu, cov, max_weight=0.2, n_points=40)
    assert list(frontier.columns) == ["volatility", "expected_return"]
    assert len(frontier) >= 35
    assert frontier["volatility"].is_monotonic_increasing
    assert frontier["expected_return"].is_monotonic_increasing
    ef = EfficientFrontier(mu, cov, weight_bounds=(0, 0.2))
    ef.min_volatility()
    _, min_vol, _ = ef.portfolio_performance()
    assert frontier["volatility"].iloc[0] == pytest.approx(min_vol, abs=1e-6)
    top = mu.sort_values(ascending=False).iloc[:5].mean()  # 5 best names at 20% each
    assert frontier["expected_return"].iloc[-1] == pytest.approx(top, abs=1e-4)
    middle = frontier.iloc[len(frontier) // 2]
    ef = EfficientFrontier(mu, cov, weight_bounds=(0, 0.2))
    ef.efficient_return(float(middle["expected_return"]))
    _, vol, _ = ef.portfolio_performance()
    assert middle["volatility"] == pytest.approx(vol, abs=1e-5)


# --------------------------------------------------------------------------- checked once
def test_limits_checked_by_the_caller_give_the_same_weights_without_a_second_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from smallq.constraints import feasible_limits

    mu, cov = random_problem(8, 12)
    sector_map = {t: ("tech" if i < 4 else "other") for i, t in enumerate(mu.index)}
    caps = {"tech": 0.25}
    settings = make_settings(max_weight=0.3, min_holdings=5)
    checked = optimize_weights(mu, cov, settings, sector_map=sector_map, sector_caps=caps)
    limits = feasible_limits(
        list(mu.index), max_weight=0.3, min_holdings=5, sector_map=sector_map, sector_caps=caps
    )

    def no_check(*args: object, **kwargs: object) -> None:
        raise AssertionError("checked feasibility again")

    monkeypatch.setattr(optimize, "feasible_limits", no_check)
    monkeypatch.setattr(optimize, "check_feasibility", no_check)
    given = optimize_weights(mu, cov, settings, limits=limits)
    pd.testing.assert_series_equal(given.weights, checked.weights)
    frontier = optimize.trace_frontier(mu, cov, limits, n_points=5)
    assert frontier["volatility"].is_monotonic_increasing


def test_limits_for_other_tickers_are_refused() -> None:
    from smallq.constraints import feasible_limits

    mu, cov = random_problem(8, 6)
    limits = feasible_limits(["A", "B", "C", "D"], max_weight=0.5, min_holdings=2)
    with pytest.raises(DataFormatError):
        optimize_weights(mu, cov, make_settings(), limits=limits)
