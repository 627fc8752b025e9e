"""``optimize_arrays`` (the fast backtest's entry point) decides exactly as ``optimize_weights``.

Both run the same steps on the same numbers, so the weights are compared for equality (not
to a tolerance), with the step used, the solver, the fallbacks, the placement on the frontier
and the ex-ante figures; then the checks that replace ``optimize_weights``' label alignment.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from smallq.constraints import WeightLimits, feasible_limits
from smallq.errors import DataFormatError
from smallq.models import OptimizationResult, Settings
from smallq.optimize import optimize_arrays, optimize_weights
from smallq.params import DEFAULT_PARAMS
from smallq.types import Objective
from tests.smallq.test_optimize import make_settings, random_problem


def _problem(
    seed: int, n_assets: int, n_days: int = 400
) -> tuple[pd.Series, pd.DataFrame, pd.DataFrame]:
    """Expected returns, covariance and daily returns drawn from that covariance."""
    mu, cov = random_problem(seed, n_assets)
    rng = np.random.default_rng(seed)
    daily = rng.multivariate_normal(mu.to_numpy() / 252, cov.to_numpy() / 252, size=n_days)
    return mu, cov, pd.DataFrame(daily, columns=mu.index)


def _limits(
    mu: pd.Series, settings: Settings, sector_caps: dict[str, float] | None = None
) -> WeightLimits:
    sector_map = {t: ("A", "B", "C")[i % 3] for i, t in enumerate(mu.index)}
    return feasible_limits(
        list(mu.index),
        max_weight=settings.max_weight,
        min_holdings=settings.min_holdings,
        sector_map=sector_map if sector_caps else None,
        sector_caps=sector_caps,
    )


def _assert_arrays_decide_the_same(
    mu: pd.Series,
    cov: pd.DataFrame,
    settings: Settings,
    limits: WeightLimits,
    daily: pd.DataFrame,
    *,
    fast: bool,
) -> OptimizationResult:
    """``optimize_arrays`` on the arrays of ``optimize_weights``' inputs gives its result."""
    theirs = optimize_weights(mu, cov, settings, returns=daily, limits=limits, fast=fast)
    ours = optimize_arrays(
        mu.to_numpy(), cov.to_numpy(), settings, limits, tickers=list(mu.index),
        returns=daily.to_numpy(), fast=fast,
    )  # fmt: skip
    _assert_same(ours, theirs)
    return theirs


def _assert_same(ours: OptimizationResult, theirs: OptimizationResult) -> None:
    assert list(ours.weights.index) == list(theirs.weights.index)
    assert np.array_equal(ours.weights.to_numpy(), theirs.weights.to_numpy())
    assert ours.objective_requested is theirs.objective_requested
    assert ours.objective_used is theirs.objective_used
    assert ours.solver == theirs.solver
    assert ours.fallbacks == theirs.fallbacks
    assert ours.placement == theirs.placement
    assert (ours.expected_return, ours.volatility) == (theirs.expected_return, theirs.volatility)
    assert ours.sharpe == theirs.sharpe


@pytest.mark.parametrize(
    ("objective", "fraction", "fast"),
    [
        (Objective.MAX_SHARPE, None, True),
        (Objective.MIN_VOLATILITY, None, True),
        (Objective.MAX_SHARPE, 0.5, True),  # a risk level placed on the frontier, VaR guard
        (Objective.MAX_SHARPE, 1.0, True),
        (Objective.MAX_SHARPE, None, False),  # PyPortfolioOpt
        (Objective.EFFICIENT_RISK, None, False),
        (Objective.HRP, None, False),  # reads the daily returns
        (Objective.MAX_SHARPE, 0.5, False),
    ],
)
@pytest.mark.parametrize("sector_caps", [None, {"A": 0.3, "B": 0.5}])
def test_arrays_decide_as_optimize_weights(
    objective: Objective, fraction: float | None, fast: bool, sector_caps: dict[str, float] | None
) -> None:
    mu, cov, daily = _problem(7, 12)
    settings = replace(
        make_settings(objective, max_weight=0.25, target_volatility=0.2),
        frontier_fraction=fraction,
    )
    limits = _limits(mu, settings, sector_caps)
    _assert_arrays_decide_the_same(mu, cov, settings, limits, daily, fast=fast)


def test_a_fallback_is_the_same() -> None:
    mu, cov, daily = _problem(8, 6)
    settings = make_settings(Objective.MAX_SHARPE, max_weight=0.5, risk_free_rate=0.5)
    limits = _limits(mu, settings)
    theirs = _assert_arrays_decide_the_same(mu, cov, settings, limits, daily, fast=True)
    assert theirs.objective_used is Objective.MIN_VOLATILITY


def test_rows_with_missing_returns_are_dropped_as_optimize_weights_drops_them() -> None:
    mu, cov, daily = _problem(9, 8)
    daily.iloc[[3, 50, 51], [1, 4, 6]] = np.nan
    settings = replace(make_settings(max_weight=0.3), frontier_fraction=0.6)
    limits = _limits(mu, settings)
    _assert_arrays_decide_the_same(mu, cov, settings, limits, daily, fast=True)


def test_an_object_index_is_used_as_it_is() -> None:
    mu, cov, _ = _problem(10, 5)
    settings = make_settings(Objective.MIN_VOLATILITY, max_weight=0.5)
    labels = pd.Index(list(mu.index), dtype=object)
    result = optimize_arrays(
        mu.to_numpy(), cov.to_numpy(), settings, _limits(mu, settings), tickers=labels, fast=True
    )
    assert result.weights.index is labels
    assert result.weights.sum() == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("short mu", "differ in shape"),
        ("duplicate", "duplicate tickers"),
        ("other limits", "other tickers"),
        ("nan mu", "NaN or inf"),
        ("inf cov", "NaN or inf"),
        ("returns shape", "returns and tickers"),
    ],
)
def test_bad_inputs_are_refused(change: str, message: str) -> None:
    mu, cov, daily = _problem(11, 4)
    settings = make_settings(max_weight=0.5)
    values, matrix, returns = mu.to_numpy().copy(), cov.to_numpy().copy(), daily.to_numpy()
    tickers = list(mu.index)
    limits = _limits(mu, settings)
    if change == "short mu":
        values = values[:3]
    elif change == "duplicate":
        tickers = [tickers[0], *tickers[:3]]
    elif change == "other limits":
        limits = WeightLimits.build(["X", "Y", "Z", "W"], 0.5)
    elif change == "nan mu":
        values[2] = np.nan
    elif change == "inf cov":
        matrix[1, 1] = np.inf
    else:
        returns = returns[:, :3]
    with pytest.raises(DataFormatError, match=message):
        optimize_arrays(
            values,
            matrix,
            settings,
            limits,
            tickers=tickers,
            returns=returns,
            params=DEFAULT_PARAMS,
            fast=True,
        )
