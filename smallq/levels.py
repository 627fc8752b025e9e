"""The five risk levels of one universe side by side, cheaply (no full report per level).

For the same candidates, estimates and limits as a build, each level is placed on the capped
frontier (:func:`smallq.optimize.optimize_weights` with the level's ``frontier_fraction``,
see :mod:`smallq.profile`) and described by the figures a person can weigh:

* ``volatility``: annual ex-ante volatility (ordered from level 1 to 5 by construction);
* ``var_95``: 1-day historical 95% VaR of the weights over the lookback returns;
* ``monte_carlo_p5``: 5th percentile of the 1-year bootstrap Monte Carlo return (the same
  draws, seed and paths as the build's report; :func:`bootstrap_percentile`);
* ``crisis_2008``: the weights replayed buy-and-hold through the 2008 crisis window (or
  estimated through beta to the index where the prices do not cover it).

The last two also depend on the expected returns, so they need not be ordered: the table
shows the trade-off instead of promising one. Expected returns are the historical average
over the lookback window, not a forecast.

:func:`placed_settings` says where a built portfolio's level placed it in that range.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date

import numpy as np
import pandas as pd

from smallq.constraints import WeightLimits
from smallq.models import FrontierPlacement, OptimizationResult, RiskPlacement, Settings
from smallq.optimize import optimize_weights
from smallq.params import DEFAULT_PARAMS, EngineParams
from smallq.profile import RISK_TABLE
from smallq.risk import portfolio_returns, value_at_risk
from smallq.simulation import terminal_returns
from smallq.stress import HISTORICAL_WINDOWS, StressWindow, historical_scenarios
from smallq.types import MonteCarloMethod, Objective, RiskLevel, VarMethod

#: the crisis replayed for every level ("a 2008-like year")
CRISIS_2008: StressWindow = next(w for w in HISTORICAL_WINDOWS if w.start == date(2007, 10, 9))


@dataclass(frozen=True, slots=True)
class LevelOutcome:
    """What one risk level means for one universe (fractions; losses negative returns).

    Attributes
    ----------
    level : RiskLevel
    fraction : float
        Where the level sits in the volatility range (0 = calmest, 1 = most aggressive).
    weights : Series of shape (n_candidates,)
        The level's optimized weights.
    objective_used : Objective
        The chain step that produced the weights.
    expected_return : float
        Historical average annual return of the weights over the lookback (not a forecast).
    volatility : float
        Annual ex-ante volatility.
    var_95 : float
        1-day historical 95% value at risk over the lookback, a positive loss fraction.
    monte_carlo_p5 : float
        5th percentile of the simulated 1-year return (bootstrap).
    crisis_2008 : float or None
        Return of the weights through the 2008 crisis window; None when it cannot be replayed.
    crisis_estimated : bool
        True when the replay was estimated through beta to the index.
    placement : FrontierPlacement, optional
        The volatility range and target; None when placement itself failed.
    """

    level: RiskLevel
    fraction: float
    weights: pd.Series
    objective_used: Objective
    expected_return: float
    volatility: float
    var_95: float
    monte_carlo_p5: float
    crisis_2008: float | None
    crisis_estimated: bool
    placement: FrontierPlacement | None


@dataclass(frozen=True, slots=True)
class LevelComparison:
    """The five levels of one profile's universe.

    Attributes
    ----------
    as_of : date
    capital : float
        The profile's capital, the base of every amount in money.
    currency : str
    candidates : tuple of str
    min_volatility, max_volatility : float
        Annual volatility of the calmest and the most aggressive mixes of the candidates.
    outcomes : tuple of LevelOutcome
        Level 1 to 5.
    notes : tuple of str
    """

    as_of: date
    capital: float
    currency: str
    candidates: tuple[str, ...]
    min_volatility: float
    max_volatility: float
    outcomes: tuple[LevelOutcome, ...]
    notes: tuple[str, ...]


def placed_settings(
    settings: Settings, optimization: OptimizationResult, level: RiskLevel
) -> tuple[Settings, RiskPlacement | None]:
    """The settings as the level's placement resolved them, and where the portfolio sits."""
    frontier = optimization.placement
    if frontier is None:
        return settings, None
    resolved = replace(
        settings,
        objective=optimization.objective_requested,
        target_volatility=frontier.target_volatility,
    )
    placement = RiskPlacement(
        level=int(level),
        levels=len(RiskLevel),
        volatility=optimization.volatility,
        min_volatility=frontier.min_volatility,
        max_volatility=frontier.max_volatility,
        target_volatility=frontier.target_volatility,
    )
    return resolved, placement


def bootstrap_percentile(
    daily: pd.Series, quantile: float, *, params: EngineParams = DEFAULT_PARAMS
) -> float:
    """A quantile of the 1-year bootstrap Monte Carlo return, without the value fan.

    The draws are those of :func:`smallq.stress.monte_carlo` with ``MonteCarloMethod.BOOTSTRAP``
    and the same seed, paths and horizon, so the result equals its ``percentiles[quantile]``
    (:func:`smallq.simulation.terminal_returns`: only the terminal values are kept, which is
    what makes it cheap).

    Parameters
    ----------
    daily : Series of shape (n_days,)
        Daily portfolio returns (rebalanced daily).
    quantile : float
        For example 0.05.
    params : EngineParams
        ``mc_paths``, ``mc_horizon_days`` and ``seed``.

    Returns
    -------
    float
        The terminal-return quantile (negative is a loss).
    """
    terminal = terminal_returns(
        daily.to_numpy(dtype=float),
        MonteCarloMethod.BOOTSTRAP,
        n_paths=params.mc_paths,
        horizon_days=params.mc_horizon_days,
        seed=params.seed,
    )
    return float(np.quantile(terminal, quantile))


def level_outcomes(
    mu: pd.Series,
    cov: pd.DataFrame,
    settings: Settings,
    *,
    returns: pd.DataFrame,
    history: pd.DataFrame,
    index_history: pd.Series,
    sector_map: Mapping[str, str] | None = None,
    sector_caps: Mapping[str, float] | None = None,
    limits: WeightLimits | None = None,
    params: EngineParams = DEFAULT_PARAMS,
) -> tuple[LevelOutcome, ...]:
    """Place every risk level on the same universe and measure it.

    Parameters
    ----------
    mu : Series of shape (n_assets,)
        Annual expected returns (historical mean over the lookback).
    cov : DataFrame of shape (n_assets, n_assets)
        Annual covariance.
    settings : Settings
        The resolved settings of any level (cap, models, risk-free rate); only
        ``frontier_fraction`` and the objective change per level.
    returns : DataFrame of shape (n_days, n_assets)
        Daily lookback returns (VaR, Monte Carlo).
    history : DataFrame of shape (n_long_days, n_assets)
        Long price history of the candidates for the 2008 replay.
    index_history : Series of shape (n_index_days,)
        Long index level history for the replay's beta estimate.
    sector_map, sector_caps : mapping, optional
        Sector limits as in :func:`smallq.optimize.optimize_weights`.
    limits : WeightLimits, optional
        Limits already checked for these tickers (then the sector arguments are unused).
    params : EngineParams
        Monte Carlo paths, horizon and seed; the fallback chain.

    Returns
    -------
    tuple of LevelOutcome
        One per level, level 1 first.

    Raises
    ------
    SmallQError
        As :func:`smallq.optimize.optimize_weights` (infeasible limits, every step failing).
    """
    outcomes = []
    for level in RiskLevel:
        fraction = RISK_TABLE[level].frontier_fraction
        result = optimize_weights(
            mu,
            cov,
            replace(settings, objective=Objective.EFFICIENT_RISK, frontier_fraction=fraction),
            returns=returns,
            sector_map=sector_map,
            sector_caps=sector_caps,
            chain=params.fallback_chain,
            params=params,
            limits=limits,
        )
        weights = result.weights
        held = weights[weights > 0]
        daily = portfolio_returns(returns, held)
        replay = historical_scenarios(
            held, history[list(held.index)], index_history, windows=(CRISIS_2008,)
        )
        outcomes.append(
            LevelOutcome(
                level=level,
                fraction=fraction,
                weights=weights,
                objective_used=result.objective_used,
                expected_return=result.expected_return,
                volatility=result.volatility,
                var_95=value_at_risk(daily, 0.95, method=VarMethod.HISTORICAL),
                monte_carlo_p5=bootstrap_percentile(daily, 0.05, params=params),
                crisis_2008=replay[0].portfolio_return if replay else None,
                crisis_estimated=bool(replay) and replay[0].estimated,
                placement=result.placement,
            )
        )
    return tuple(outcomes)
